"""Keys: Ed25519, passphrase-encrypted PKCS#8 at rest, passphrase never an argument."""

from __future__ import annotations

import stat
from pathlib import Path

from conftest import DEMO_PUB, run_proc, tool

from evidpack import keys


def test_keys_new_writes_encrypted_key_and_public_key(cli, tmp_path: Path) -> None:
    r = cli("keys", "new", "--name", "Det. Jane Roe", "--role", "examiner", "--out", tmp_path / "jroe",
            env={"EVIDPACK_PASSPHRASE": "correct horse battery"})
    assert r.exit_code == 0, r.output
    key_text = (tmp_path / "jroe.key").read_text()
    assert "-----BEGIN ENCRYPTED PRIVATE KEY-----" in key_text
    assert "PRIVATE KEY-----" in key_text and "BEGIN PRIVATE KEY" not in key_text
    assert stat.S_IMODE((tmp_path / "jroe.key").stat().st_mode) == 0o600
    assert "Evidpack-Name: Det. Jane Roe" in (tmp_path / "jroe.pub").read_text()


def test_private_key_uses_strong_pbkdf2(tmp_path: Path) -> None:
    key = keys.generate("A B", "examiner")
    key_path, _ = keys.write_key_pair(key, tmp_path / "k", b"passphrase-1")
    pem = key_path.read_bytes()
    out = run_proc("openssl", "asn1parse", input=pem[pem.index(b"-----BEGIN"):])
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert "PBKDF2" in text and "aes-256-cbc" in text and "hmacWithSHA256" in text
    assert f"INTEGER:{keys.KDF_ROUNDS:06X}" in text.replace(" ", "")  # iteration count, hex


def test_openssl_decrypts_the_key_with_the_passphrase(tmp_path: Path) -> None:
    key = keys.generate("A B", "examiner")
    key_path, _ = keys.write_key_pair(key, tmp_path / "k", b"passphrase-2")
    ok = run_proc("openssl", "pkey", "-in", key_path, "-passin", "pass:passphrase-2", "-noout")
    bad = run_proc("openssl", "pkey", "-in", key_path, "-passin", "pass:wrong-one", "-noout")
    assert ok.returncode == 0 and bad.returncode != 0


def test_keys_show_fingerprint_matches_ssh_keygen(cli, tmp_path: Path) -> None:
    r = cli("keys", "show", DEMO_PUB)
    assert r.exit_code == 0
    fp = next(line.split()[-1] for line in r.output.splitlines() if line.startswith("fingerprint:"))
    openssh = next(line.split(None, 1)[1] for line in r.output.splitlines() if line.startswith("openssh:"))
    (tmp_path / "k.pub").write_text(openssh + "\n")
    out = run_proc(tool("ssh-keygen"), "-lf", tmp_path / "k.pub")
    assert out.stdout.decode().split()[1] == fp
    assert "role:        examiner" in r.output


def test_wrong_passphrase_is_one_line_error(cli, case: Path, tmp_path: Path) -> None:
    from conftest import DEMO_KEY

    r = cli("build", case, "--key", DEMO_KEY, "--out", tmp_path / "b", env={"EVIDPACK_PASSPHRASE": "not the passphrase"})
    assert r.exit_code == 2
    assert r.stderr.strip() == f"evidpack: error: {DEMO_KEY}: wrong passphrase"
    assert not (tmp_path / "b").exists()


def test_passphrase_cannot_be_given_as_an_argument(cli, tmp_path: Path) -> None:
    r = cli("keys", "new", "--name", "X Y", "--out", tmp_path / "x", "--passphrase", "hunter22")
    assert r.exit_code == 2 and "No such option" in r.output
    assert not (tmp_path / "x.key").exists()


def test_passphrase_from_file_and_no_passphrase_without_terminal(cli, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("file-passphrase\n")
    r = cli("keys", "new", "--name", "X Y", "--out", tmp_path / "x", "--passphrase-file", pw)
    assert r.exit_code == 0, r.output
    assert keys.load_signing_key(tmp_path / "x.key", b"file-passphrase").public.name == "X Y"
    r = cli("keys", "new", "--name", "X Y", "--out", tmp_path / "y", env={"EVIDPACK_PASSPHRASE": ""})
    assert r.exit_code == 2 and "no passphrase" in r.stderr


def test_keys_new_refuses_to_overwrite(cli, tmp_path: Path) -> None:
    env = {"EVIDPACK_PASSPHRASE": "long enough"}
    assert cli("keys", "new", "--name", "A", "--out", tmp_path / "a", env=env).exit_code == 0
    before = (tmp_path / "a.key").read_bytes()
    r = cli("keys", "new", "--name", "A", "--out", tmp_path / "a", env=env)
    assert r.exit_code == 2 and "already exists" in r.stderr
    assert (tmp_path / "a.key").read_bytes() == before


def test_short_passphrase_refused(cli, tmp_path: Path) -> None:
    r = cli("keys", "new", "--name", "A", "--out", tmp_path / "a", env={"EVIDPACK_PASSPHRASE": "short"})
    assert r.exit_code == 2 and "at least 8" in r.stderr


def test_sshsig_round_trip_and_tamper() -> None:
    key = keys.generate("A B", "examiner")
    sig = key.sshsig(b"message")
    assert keys.verify_sshsig(sig, b"message", key.public) is None
    assert keys.verify_sshsig(sig, b"messagf", key.public) is not None
    assert "namespace" in (keys.verify_sshsig(sig, b"message", key.public, namespace="other") or "")
