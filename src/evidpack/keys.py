"""Ed25519 keys: create, load, fingerprint, sign (raw and SSHSIG).

A private key file is passphrase-encrypted PKCS#8 PEM. A public key file is
SubjectPublicKeyInfo PEM. Both may carry header lines before the PEM block
(``Evidpack-Name: ...``, ``Evidpack-Role: ...``), which OpenSSL and
``cryptography`` skip, so ``openssl pkeyutl -pubin -inkey FILE`` reads them as is.
OpenSSH ``ssh-ed25519 AAAA...`` lines are also accepted as public keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import keys as akeys
from asn1crypto import pem as apem
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import EvidpackError, read_input

SSHSIG_NAMESPACE = "evidpack"
KDF_ROUNDS = 600_000  # PBKDF2-HMAC-SHA256, as OWASP recommends for passphrases
_HEADER = re.compile(r"^Evidpack-([A-Za-z]+):[ \t]?(.*)$")
_PEM_BEGIN = "-----BEGIN "
ROLES = ("examiner", "analyst", "custodian", "prosecutor", "defence", "reviewer", "other")


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey = field(repr=False, compare=False)
    raw: bytes
    name: str = ""
    role: str = ""

    @classmethod
    def from_key(cls, key: Ed25519PublicKey, name: str = "", role: str = "") -> "PublicKey":
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(key, raw, name, role)

    @property
    def ssh_blob(self) -> bytes:
        return _ssh_string(b"ssh-ed25519") + _ssh_string(self.raw)

    @property
    def fingerprint(self) -> str:
        """As ``ssh-keygen -l`` prints it: ``SHA256:<base64, unpadded>``."""
        digest = hashlib.sha256(self.ssh_blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    @property
    def principal(self) -> str:
        """The name used in ``allowed_signers`` (no spaces, so any OpenSSH accepts it)."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        return slug or "evidpack-signer"

    def openssh(self) -> str:
        return "ssh-ed25519 " + base64.b64encode(self.ssh_blob).decode()

    def pem(self) -> bytes:
        body = self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return _headers(self.name, self.role) + body

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self.key.verify(signature, data)
            return True
        except InvalidSignature:
            return False

    def describe(self) -> str:
        who = self.name or "(unnamed)"
        return f"{who} ({self.role or 'no role'}) {self.fingerprint}"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey = field(repr=False)
    public: PublicKey

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def sshsig(self, data: bytes, namespace: str = SSHSIG_NAMESPACE) -> bytes:
        """An armored SSHSIG (PROTOCOL.sshsig) that ``ssh-keygen -Y verify`` accepts."""
        ns = namespace.encode()
        digest = hashlib.sha512(data).digest()
        to_sign = b"SSHSIG" + _ssh_string(ns) + _ssh_string(b"") + _ssh_string(b"sha512") + _ssh_string(digest)
        sig = self.private.sign(to_sign)
        blob = (
            b"SSHSIG"
            + struct.pack(">I", 1)
            + _ssh_string(self.public.ssh_blob)
            + _ssh_string(ns)
            + _ssh_string(b"")
            + _ssh_string(b"sha512")
            + _ssh_string(_ssh_string(b"ssh-ed25519") + _ssh_string(sig))
        )
        body = "\n".join(textwrap.wrap(base64.b64encode(blob).decode(), 70))
        return f"-----BEGIN SSH SIGNATURE-----\n{body}\n-----END SSH SIGNATURE-----\n".encode()

    def derive_secret(self, label: str) -> bytes:
        """A secret for ``label`` that only the holder of this key can compute.

        Used for the Merkle leaf salts: deterministic for a key and label, so a
        rebuild gives the same root, and unpredictable to anyone else."""
        seed = self.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return hmac.new(seed, b"evidpack/1 " + label.encode("utf-8"), hashlib.sha256).digest()


def _headers(name: str, role: str) -> bytes:
    lines = []
    if name:
        lines.append(f"Evidpack-Name: {name}")
    if role:
        lines.append(f"Evidpack-Role: {role}")
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _read_headers(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith(_PEM_BEGIN):
            break
        m = _HEADER.match(line)
        if m:
            found[m.group(1).lower()] = m.group(2).strip()
    return found


def generate(name: str, role: str) -> SigningKey:
    _check_identity(name, role)
    private = Ed25519PrivateKey.generate()
    return SigningKey(private, PublicKey.from_key(private.public_key(), name, role))


# Characters a name or role may not hold: control characters (C0 with CR, LF, TAB and
# ESC; DEL; C1), the line and paragraph separators (which end a header line for
# str.splitlines), the Unicode bidi controls that reorder a line as displayed, and
# lone surrogates. The name is printed on every report that names the signer: it must
# be plain text that shows as what it is.
_NOT_IN_IDENTITY = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _check_identity(name: str, role: str) -> None:
    if not name.strip() or any(c in name for c in "\r\n"):
        raise EvidpackError("--name must be a non-empty single line")
    bad = _NOT_IN_IDENTITY.search(name)
    if bad:
        raise EvidpackError(f"--name holds the control character U+{ord(bad.group()):04X}; give the name as plain text")
    bad = _NOT_IN_IDENTITY.search(role)
    if bad:
        raise EvidpackError(f"--role holds the control character U+{ord(bad.group()):04X}; give one of: {', '.join(ROLES)}")
    if role not in ROLES:
        raise EvidpackError(f"--role {role!r} is not one of: {', '.join(ROLES)}")


def write_key_pair(key: SigningKey, out_base: Path, passphrase: bytes) -> tuple[Path, Path]:
    """Write ``<out>.key`` (encrypted, mode 0600) and ``<out>.pub``; never overwrite."""
    if len(passphrase) < 8:
        raise EvidpackError("the passphrase must be at least 8 characters")
    key_path = out_base.with_name(out_base.name + ".key")
    pub_path = out_base.with_name(out_base.name + ".pub")
    for p in (key_path, pub_path):
        if p.exists() or p.is_symlink():
            raise EvidpackError(f"{p}: already exists; refusing to overwrite a key")
    if not out_base.parent.is_dir():
        raise EvidpackError(f"{out_base.parent}: no such folder")
    body = encrypt_pkcs8(key.private, passphrase)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_headers(key.public.name, key.public.role) + body)
    with open(pub_path, "xb") as fh:
        fh.write(key.public.pem())
    return key_path, pub_path


def encrypt_pkcs8(private: Ed25519PrivateKey, passphrase: bytes, rounds: int = KDF_ROUNDS) -> bytes:
    """PKCS#8 EncryptedPrivateKeyInfo PEM: PBES2, PBKDF2-HMAC-SHA256 with ``rounds``
    iterations, AES-256-CBC. (``cryptography`` alone would use only 2048 rounds.)"""
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    salt, iv = os.urandom(16), os.urandom(16)
    kek = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=rounds).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(der) + padder.finalize()
    enc = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    blob = enc.update(padded) + enc.finalize()
    info = akeys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "pbes2",
                "parameters": {
                    "key_derivation_func": {
                        "algorithm": "pbkdf2",
                        "parameters": {"salt": {"specified": salt}, "iteration_count": rounds, "prf": {"algorithm": "sha256"}},
                    },
                    "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
                },
            },
            "encrypted_data": blob,
        }
    )
    return apem.armor("ENCRYPTED PRIVATE KEY", info.dump())


def load_signing_key(path: Path, passphrase: bytes) -> SigningKey:
    data = _read_key_file(path)
    try:
        private = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        raise EvidpackError(f"{path}: the private key is not encrypted; evidpack keys must be passphrase-protected") from None
    except ValueError as exc:
        if "password" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise EvidpackError(f"{path}: wrong passphrase") from None
        raise EvidpackError(f"{path}: not a PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise EvidpackError(f"{path}: not an Ed25519 key")
    headers = _read_headers(data.decode("utf-8", "replace"))
    public = PublicKey.from_key(private.public_key(), headers.get("name", ""), headers.get("role", ""))
    return SigningKey(private, public)


def load_public_key(path: Path) -> PublicKey:
    data = _read_key_file(path)
    return parse_public_key(data, str(path))


def parse_public_key(data: bytes, where: str) -> PublicKey:
    """A public key (SubjectPublicKeyInfo PEM or ``ssh-ed25519`` line) that must be Ed25519.
    Anything else (not a key, a private key, another or an unknown algorithm) is an
    :class:`EvidpackError` naming ``where``, never a library exception."""
    from cryptography.exceptions import UnsupportedAlgorithm  # (here: only this function may change)

    text = data.decode("utf-8", "replace")
    stripped = text.strip()
    if stripped.startswith("ssh-ed25519 "):
        parts = stripped.split(None, 2)
        try:
            base64.b64decode(parts[1], validate=True)  # a clear error for a damaged body
            key = serialization.load_ssh_public_key(b"ssh-ed25519 " + parts[1].encode())
        except (ValueError, IndexError, TypeError, UnsupportedAlgorithm, base64.binascii.Error):
            raise EvidpackError(f"{where}: malformed OpenSSH public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise EvidpackError(f"{where}: not an Ed25519 key")
        return PublicKey.from_key(key, parts[2].strip() if len(parts) > 2 else "")
    if "PRIVATE KEY-----" in text:
        raise EvidpackError(f"{where}: this is a private key; give the public key (.pub)")
    try:
        key = serialization.load_pem_public_key(data)
    except UnsupportedAlgorithm:  # e.g. a SubjectPublicKeyInfo whose OID the library does not know
        raise EvidpackError(f"{where}: not an Ed25519 key (a public key of an algorithm evidpack does not use)") from None
    except (ValueError, TypeError):
        raise EvidpackError(f"{where}: not a public key (PEM or ssh-ed25519)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidpackError(f"{where}: not an Ed25519 key")
    headers = _read_headers(text)
    return PublicKey.from_key(key, headers.get("name", ""), headers.get("role", ""))


def load_trusted(paths: list[Path]) -> list[PublicKey]:
    """Keys named by the verifier: files, or folders of ``*.pub``/``*.pem`` files."""
    keys: list[PublicKey] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".pub", ".pem") and p.is_file())
            if not files:
                raise EvidpackError(f"{path}: --trust folder holds no .pub or .pem key files")
            keys.extend(load_public_key(p) for p in files)
        else:
            keys.append(load_public_key(path))
    return keys


def _read_key_file(path: Path) -> bytes:
    return read_input(path, "key file", limit=64 * 1024)


_SSHSIG_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_SSHSIG_END = "-----END SSH SIGNATURE-----"
_SSHSIG_LINE = 70  # ssh-keygen and SigningKey.sshsig wrap the base64 body at 70 columns
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _sshsig_armour_body(armored: bytes) -> bytes:
    """The blob inside the armour, which must be exactly what ``ssh-keygen -Y sign``
    (and :meth:`SigningKey.sshsig`) writes: BEGIN line, the base64 of the blob
    wrapped at 70 columns, END line, each line ending in a single LF."""
    if b"\r" in armored:
        raise ValueError("CR in the armour; SSHSIG lines must end in LF only")
    try:
        text = armored.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("non-ASCII bytes in the armour") from None
    if not text.startswith(_SSHSIG_BEGIN + "\n"):
        raise ValueError(f"does not start with a {_SSHSIG_BEGIN!r} line")
    if not text.endswith("\n" + _SSHSIG_END + "\n"):
        raise ValueError(f"does not end with a {_SSHSIG_END!r} line and a single newline")
    lines = text[len(_SSHSIG_BEGIN) + 1 : -(len(_SSHSIG_END) + 1)].split("\n")[:-1]
    if not lines:
        raise ValueError("empty armour body")
    for i, line in enumerate(lines, start=2):
        if not line:
            raise ValueError(f"blank line {i} in the armour")
        if not _BASE64_LINE.fullmatch(line):
            raise ValueError(f"line {i} of the armour is not base64 (whitespace or other characters)")
    body = "".join(lines)
    try:
        blob = base64.b64decode(body, validate=True)
    except ValueError:
        raise ValueError("the armour body is not valid base64") from None
    canonical = textwrap.wrap(base64.b64encode(blob).decode(), _SSHSIG_LINE)
    if lines != canonical:
        raise ValueError(f"the armour body is not canonical base64 wrapped at {_SSHSIG_LINE} columns")
    return blob


class _SshReader:
    """Bounds-checked reader of SSH wire-format fields; every failure is a ValueError."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def fixed(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        if len(out) != n:
            raise ValueError(f"truncated {self.what}")
        self.pos += n
        return out

    def uint32(self) -> int:
        (value,) = struct.unpack(">I", self.fixed(4))
        return value

    def string(self) -> bytes:
        return self.fixed(self.uint32())

    def text(self, field_name: str) -> str:
        try:
            return self.string().decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{self.what} {field_name} is not UTF-8") from None

    def end(self) -> None:
        left = len(self.data) - self.pos
        if left:
            raise ValueError(f"{left} unexpected byte(s) after the end of the {self.what}")


def parse_sshsig(armored: bytes) -> tuple[bytes, str, str, bytes]:
    """Return (public key blob, namespace, hash algorithm, raw signature) of an SSHSIG.

    Strict, per OpenSSH PROTOCOL.sshsig: the exact armour :meth:`SigningKey.sshsig`
    writes, magic ``SSHSIG``, version 1, an empty reserved field, no bytes after
    the last field, and an Ed25519 signature (``string "ssh-ed25519"``, ``string``
    of exactly 64 bytes) with nothing after it. Anything else raises ValueError
    with the reason, so a modified signature file cannot pass as the original."""
    blob = _sshsig_armour_body(armored)
    r = _SshReader(blob, "SSHSIG blob")
    if r.fixed(6) != b"SSHSIG":
        raise ValueError("bad SSHSIG magic")
    version = r.uint32()
    if version != 1:
        raise ValueError(f"unsupported SSHSIG version {version}")
    pub = r.string()
    namespace = r.text("namespace")
    if r.string() != b"":
        raise ValueError("the SSHSIG reserved field is not empty")
    hash_alg = r.text("hash algorithm")
    sigblob = r.string()
    r.end()
    s = _SshReader(sigblob, "SSHSIG signature field")
    if s.string() != b"ssh-ed25519":
        raise ValueError("SSHSIG is not an Ed25519 signature")
    raw = s.string()
    if len(raw) != 64:
        raise ValueError(f"the Ed25519 signature is {len(raw)} bytes, not 64")
    s.end()
    return pub, namespace, hash_alg, raw


def verify_sshsig(armored: bytes, data: bytes, key: PublicKey, namespace: str = SSHSIG_NAMESPACE) -> str | None:
    """None when the SSHSIG is a valid signature of ``data`` by ``key``; else the reason."""
    try:
        pub, ns, hash_alg, raw = parse_sshsig(armored)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        return f"malformed SSHSIG ({exc})"
    if pub != key.ssh_blob:
        return "SSHSIG was made by a different key than signer.pem"
    if ns != namespace:
        return f"SSHSIG namespace is {ns!r}, expected {namespace!r}"
    if hash_alg not in ("sha256", "sha512"):
        return f"SSHSIG hash algorithm {hash_alg!r} is not allowed"
    digest = hashlib.new(hash_alg, data).digest()
    signed = b"SSHSIG" + _ssh_string(ns.encode()) + _ssh_string(b"") + _ssh_string(hash_alg.encode()) + _ssh_string(digest)
    return None if key.verify(raw, signed) else "SSHSIG signature does not match the tag manifest"
