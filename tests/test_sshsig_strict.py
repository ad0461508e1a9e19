"""The SSHSIG parser is strict (OpenSSH PROTOCOL.sshsig): a modified .sshsig file
cannot pass as the original, and ``evidpack verify`` says which file failed.

Each case starts from a real signature by the demo key and changes only bytes
that are not covered by the Ed25519 signature (armour, padding, trailing bytes,
the reserved field), so a lax parser would still report "valid".

Where ``ssh-keygen`` is installed, the stock-tool route (``ssh-keygen -Y verify``)
is run on the same file. It rejects CRLF, bytes after the blob and bytes after the
Ed25519 signature, as evidpack does. It is more lenient than evidpack on two
points, which evidpack rejects on purpose because the bytes are unsigned and
evidpack never writes them: a non-empty reserved field (PROTOCOL.sshsig says
implementations "should ignore" it) and blank or whitespace lines in the armour
(OpenSSH's base64 decoder skips whitespace). For those cases only evidpack's
rejection is asserted.
"""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BUILD_TIME, DEMO_KEY, DEMO_PASS, TRUSTED, demo_signing_key, manifest_text, run_cli, write_tree

from evidpack import keys
from evidpack.build import SSHSIG_FILE, TAGMANIFEST

DATA = b"0123abcd  bagit.txt\n"  # any bytes; the signed message
SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen is not installed")


def _s(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _armour(blob: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(blob).decode(), 70))
    return f"-----BEGIN SSH SIGNATURE-----\n{body}\n-----END SSH SIGNATURE-----\n".encode()


def _fields(sig: bytes) -> tuple[bytes, list[bytes]]:
    """(preamble "SSHSIG"+version, [publickey, namespace, reserved, hash_algorithm, signature])."""
    lines = sig.decode().split("\n")
    blob = base64.b64decode("".join(lines[1:-2]))
    pos, parts = 10, []
    for _ in range(5):
        (n,) = struct.unpack(">I", blob[pos : pos + 4])
        parts.append(blob[pos + 4 : pos + 4 + n])
        pos += 4 + n
    assert pos == len(blob)
    return blob[:10], parts


def _rebuild(sig: bytes, **change: bytes) -> bytes:
    head, (pub, ns, reserved, hash_alg, sigfield) = _fields(sig)
    fields = {"pub": pub, "ns": ns, "reserved": reserved, "hash_alg": hash_alg, "sigfield": sigfield, **change}
    return _armour(head + b"".join(_s(fields[k]) for k in ("pub", "ns", "reserved", "hash_alg", "sigfield")))


def _insert_line(sig: bytes, index: int, line: bytes) -> bytes:
    lines = sig.split(b"\n")
    return b"\n".join(lines[:index] + [line] + lines[index:])


def _edit_line(sig: bytes, index: int, edit: Callable[[bytes], bytes]) -> bytes:
    lines = sig.split(b"\n")
    lines[index] = edit(lines[index])
    return b"\n".join(lines)


def _blob_trail(sig: bytes) -> bytes:
    head, parts = _fields(sig)
    return _armour(head + b"".join(_s(p) for p in parts) + b"GARBAGE")


# name -> (modify a good armoured signature, ssh-keygen -Y verify also rejects it)
MODIFICATIONS: dict[str, tuple[Callable[[bytes], bytes], bool]] = {
    "crlf": (lambda sig: sig.replace(b"\n", b"\r\n"), True),
    "crlf-last-line-only": (lambda sig: sig[:-1] + b"\r\n", False),
    "junk-after-blob": (_blob_trail, True),
    "junk-after-ed25519-signature": (lambda sig: _rebuild(sig, sigfield=_fields(sig)[1][4] + b"XTRA"), True),
    "reserved-field-text": (lambda sig: _rebuild(sig, reserved=b"attacker text"), False),
    "blank-line-in-body": (lambda sig: _insert_line(sig, 2, b""), False),
    "blank-line-after-begin": (lambda sig: _insert_line(sig, 1, b""), False),
    "blank-line-before-end": (lambda sig: _insert_line(sig, -2, b""), False),
    "blank-line-after-end": (lambda sig: sig + b"\n", False),
    "blank-line-before-begin": (lambda sig: b"\n" + sig, True),
    "whitespace-only-line": (lambda sig: _insert_line(sig, 2, b" \t "), False),
    "trailing-space": (lambda sig: _edit_line(sig, 1, lambda line: line + b" "), False),
    "indented-line": (lambda sig: _edit_line(sig, 1, lambda line: b"  " + line), False),
}


@pytest.fixture(scope="module")
def signer() -> keys.SigningKey:
    return demo_signing_key()


@pytest.fixture(scope="module")
def good_sig(signer: keys.SigningKey) -> bytes:
    return signer.sshsig(DATA)


def ssh_keygen_verify(sig: bytes, data: bytes, key: keys.PublicKey, where: Path) -> subprocess.CompletedProcess[bytes]:
    """``ssh-keygen -Y verify`` as the README's stock-tool route runs it."""
    assert SSH_KEYGEN
    where.mkdir(parents=True, exist_ok=True)
    (where / "allowed_signers").write_text(f'{key.principal} namespaces="evidpack" {key.openssh()}\n')
    (where / "msg.sshsig").write_bytes(sig)
    return subprocess.run(
        [SSH_KEYGEN, "-Y", "verify", "-f", str(where / "allowed_signers"), "-I", key.principal,
         "-n", keys.SSHSIG_NAMESPACE, "-s", str(where / "msg.sshsig")],
        input=data, capture_output=True, timeout=60,
    )


def test_unmodified_signature_passes(good_sig: bytes, signer: keys.SigningKey) -> None:
    pub, ns, hash_alg, raw = keys.parse_sshsig(good_sig)
    assert (pub, ns, hash_alg, len(raw)) == (signer.public.ssh_blob, "evidpack", "sha512", 64)
    assert keys.verify_sshsig(good_sig, DATA, signer.public) is None
    # the test helpers round-trip a good signature byte for byte
    assert _rebuild(good_sig) == good_sig


@needs_ssh_keygen
def test_unmodified_signature_passes_ssh_keygen(good_sig: bytes, signer: keys.SigningKey, tmp_path: Path) -> None:
    r = ssh_keygen_verify(good_sig, DATA, signer.public, tmp_path)
    assert r.returncode == 0, r.stderr.decode()


@pytest.mark.parametrize("name", sorted(MODIFICATIONS))
def test_evidpack_rejects_modified_sshsig(name: str, good_sig: bytes, signer: keys.SigningKey) -> None:
    modify, _ = MODIFICATIONS[name]
    bad = modify(good_sig)
    assert bad != good_sig
    with pytest.raises(ValueError):
        keys.parse_sshsig(bad)
    why = keys.verify_sshsig(bad, DATA, signer.public)
    assert why and why.startswith("malformed SSHSIG ("), why


@needs_ssh_keygen
@pytest.mark.parametrize("name", sorted(n for n, (_, stock) in MODIFICATIONS.items() if stock))
def test_ssh_keygen_agrees_modified_sshsig_is_bad(name: str, good_sig: bytes, signer: keys.SigningKey, tmp_path: Path) -> None:
    modify, _ = MODIFICATIONS[name]
    r = ssh_keygen_verify(modify(good_sig), DATA, signer.public, tmp_path)
    assert r.returncode != 0, r.stdout.decode() + r.stderr.decode()


@pytest.mark.parametrize(
    "bad, reason",
    [
        (b"", "does not start"),
        (b"-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n", "empty armour body"),
        (b"\xff\xfe", "non-ASCII"),
        (_armour(b"SSHSIG"), "truncated"),
        (_armour(b"SSHSIG\x00\x00\x00\x02"), "version 2"),
        (_armour(b"NOTSIG\x00\x00\x00\x01"), "magic"),
        (_armour(b"SSHSIG\x00\x00\x00\x01" + _s(b"k") + _s(b"\xff") + _s(b"") + _s(b"sha512") + _s(b"")), "not UTF-8"),
        (_armour(b"SSHSIG\x00\x00\x00\x01" + _s(b"k") + _s(b"evidpack") + _s(b"") + _s(b"sha512")
                 + _s(_s(b"ssh-rsa") + _s(b"x" * 64))), "not an Ed25519"),
        (_armour(b"SSHSIG\x00\x00\x00\x01" + _s(b"k") + _s(b"evidpack") + _s(b"") + _s(b"sha512")
                 + _s(_s(b"ssh-ed25519") + _s(b"x" * 63))), "not 64"),
        (_armour(b"SSHSIG\x00\x00\x00\x01" + _s(b"k") + _s(b"evidpack") + _s(b"") + _s(b"sha512")
                 + _s(_s(b"ssh-ed25519") + b"\x00\x00\x00\x40")), "truncated"),
    ],
)
def test_malformed_input_is_a_value_error_with_a_reason(bad: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        keys.parse_sshsig(bad)


def test_non_canonical_base64_wrapping_is_rejected(good_sig: bytes) -> None:
    blob = base64.b64decode("".join(good_sig.decode().split("\n")[1:-2]))
    body = "\n".join(textwrap.wrap(base64.b64encode(blob).decode(), 64))
    with pytest.raises(ValueError, match="canonical"):
        keys.parse_sshsig(f"-----BEGIN SSH SIGNATURE-----\n{body}\n-----END SSH SIGNATURE-----\n".encode())


@needs_ssh_keygen
def test_a_signature_made_by_ssh_keygen_parses(tmp_path: Path) -> None:
    """The strict parser still reads what the stock tool writes (same armour as evidpack's)."""
    assert SSH_KEYGEN
    key = tmp_path / "id"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(key)], check=True, timeout=60)
    (tmp_path / "msg").write_bytes(DATA)
    subprocess.run([SSH_KEYGEN, "-Y", "sign", "-f", str(key), "-n", "evidpack", str(tmp_path / "msg")],
                   check=True, capture_output=True, timeout=60)
    pub = keys.parse_public_key(key.with_suffix(".pub").read_bytes(), "id.pub")
    assert keys.verify_sshsig((tmp_path / "msg.sig").read_bytes(), DATA, pub) is None


# -- end to end: `evidpack verify` fails the signature check naming the file, no traceback


@pytest.fixture(scope="module")
def built_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sshsig-strict")
    write_tree(root / "evidence", {"notes.txt": "Seized handset (synthetic).\n", "ledger.csv": "a,b\n1,2\n"})
    (root / "case.toml").write_text(manifest_text('"evidence"'), "utf-8")
    out = root / "bundle"
    r = run_cli("build", root / "case.toml", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS,
                "--out", out, "--time", BUILD_TIME)
    assert r.exit_code == 0, r.output
    return out


def test_verify_passes_on_the_unmodified_bundle(built_bundle: Path, tmp_path: Path) -> None:
    r = run_cli("verify", built_bundle, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("name", sorted(MODIFICATIONS))
def test_verify_fails_on_modified_sshsig(name: str, built_bundle: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(built_bundle, bundle)
    sig = bundle / SSHSIG_FILE
    sig.write_bytes(MODIFICATIONS[name][0](sig.read_bytes()))
    r = run_cli("verify", bundle, "--trust", TRUSTED)
    assert r.exit_code == 1, r.output
    assert f"{SSHSIG_FILE}: malformed SSHSIG" in r.output, r.output
    assert (bundle / TAGMANIFEST).exists()
