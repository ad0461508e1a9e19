"""Single-item proofs: one exhibit provable on its own against the signed seal.

An item is proved by four links, each checkable without the rest of the bundle:

1. the file's bytes match its record (size, SHA-256, MD5);
2. the record, hashed as a Merkle leaf, leads through its audit path to a root
   (RFC 9162 inclusion proof);
3. that root is the one in ``seal.json``, and ``seal.json``'s SHA-256 is the one
   listed for it in ``tagmanifest-sha256.txt``;
4. the tag manifest carries a valid Ed25519 signature (raw and SSHSIG) by a key
   the verifier trusts (``--trust``; the key shipped with the proof proves nothing).

A proof file (``evidpack proof``) is small self-contained JSON holding the record,
its inclusion proof and the master's signed material. Disclosure packages use the
same per-item JSON (without the master material, which the package holds once).
Leaves are salted, so the sibling hashes in an audit path reveal nothing about
the items they stand for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyzipper

from . import FORMAT, bag, canonical, merkle
from .names import SIG_FILE, SSHSIG_FILE, TAGMANIFEST
from .bundle import Bundle
from .errors import EvidpackError, IntegrityError
from .hashing import DEFAULT_ALGORITHMS, Digests, copy_and_hash, short as _short
from .keys import PublicKey, parse_public_key, verify_sshsig
from .verify import Report

PROOF_FORMAT = "evidpack-proof/1"
MERKLE_ALG = "sha256-rfc6962"
SEAL_FILE = "evidpack/seal.json"
SIGNER_FILE = "evidpack/signer.pem"
ITEMS_FILE = "evidpack/items.jsonl"
CASE_FILE = "evidpack/case.json"
ALLOWED_SIGNERS = "evidpack/allowed_signers"
# The master's signed material every proof needs, by bag-relative name.
MASTER_FILES = (TAGMANIFEST, SIG_FILE, SSHSIG_FILE, SEAL_FILE, SIGNER_FILE)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# What reading a file out of a zip (stdlib or pyzipper, plain or AES) raises when its bytes are bad.
READ_ERRORS = (OSError, EOFError, RuntimeError, ValueError, NotImplementedError, zipfile.BadZipFile, pyzipper.BadZipFile, zlib.error)
PROOF_LIMIT = 16 * 1024 * 1024  # a proof file is small; refuse anything absurd



# --- the master's signed material --------------------------------------------------


@dataclass(frozen=True)
class SealedMaster:
    """The signed tag manifest, its signatures, ``seal.json`` and the signer's key,
    plus any further tag files (``case.json``...) whose hashes the tag manifest lists."""

    files: dict[str, bytes]

    def get(self, rel: str) -> bytes | None:
        return self.files.get(rel)

    @property
    def tagmanifest(self) -> bytes:
        return self.files.get(TAGMANIFEST, b"")

    @property
    def tagmanifest_sha256(self) -> str:
        return hashlib.sha256(self.tagmanifest).hexdigest()


@dataclass
class SealCheck:
    """What :func:`check_master` established: the signer, and the sealed root when usable."""

    signer: PublicKey | None = None
    seal: dict[str, Any] = field(default_factory=dict)
    root: str | None = None
    leaves: int | None = None


def check_master(rep: Report, master: SealedMaster, trusted: list[PublicKey], *, extra: tuple[str, ...] = ()) -> SealCheck:
    """Add the ``signature``, ``signer-trusted`` and ``seal`` checks for ``master``.

    ``extra`` names further tag files present in ``master`` (``case.json``,
    ``allowed_signers``) that must match their tag-manifest lines too."""
    out = SealCheck()
    out.signer = _check_signature(rep, master)
    check_trust(rep, "signer-trusted", out.signer, trusted, "sealer")
    _check_seal_json(rep, master, out, extra)
    return out


def _check_signature(rep: Report, master: SealedMaster) -> PublicKey | None:
    """The raw and SSHSIG signatures over the tag manifest, by the key in signer.pem."""
    tm = master.tagmanifest
    signer = None
    problems: list[str] = []
    pem = master.get(SIGNER_FILE)
    if pem is None:
        problems.append(f"{SIGNER_FILE}: missing, cannot check the signature")
    else:
        try:
            signer = parse_public_key(pem, SIGNER_FILE)
        except EvidpackError as exc:
            problems.append(str(exc))
    if signer is not None:
        raw = master.get(SIG_FILE)
        if raw is None:
            problems.append(f"{SIG_FILE}: missing")
        elif not signer.verify(raw, tm):
            problems.append(f"{SIG_FILE}: Ed25519 signature does not match {TAGMANIFEST} and signer.pem (signature or tag manifest altered)")
        armored = master.get(SSHSIG_FILE)
        why = "missing" if armored is None else verify_sshsig(armored, tm, signer)
        if why:
            problems.append(f"{SSHSIG_FILE}: {why}")
    rep.signer = signer
    rep.fail(
        "signature",
        problems,
        f"Ed25519 signature (raw and SSHSIG) over the master's {TAGMANIFEST} is valid for signer.pem ({signer.fingerprint if signer else '?'})",
    )
    return signer


def _check_seal_json(rep: Report, master: SealedMaster, out: SealCheck, extra: tuple[str, ...]) -> None:
    """seal.json (and signer.pem, ``extra``) match their lines in the signed tag manifest,
    and seal.json names this signer and a usable Merkle root."""
    entries, bad = bag.parse_manifest(master.tagmanifest, TAGMANIFEST)
    problems = [p.text for p in bad]
    for rel in (SEAL_FILE, SIGNER_FILE, *extra):
        data = master.get(rel)
        want = entries.get(rel)
        if data is None:
            problems.append(f"{rel}: missing")
        elif want is None:
            problems.append(f"{rel}: not listed in {TAGMANIFEST}, so not covered by the seal")
        elif hashlib.sha256(data).hexdigest() != want:
            got = hashlib.sha256(data).hexdigest()
            problems.append(f"{rel}: changed (sha256 {_short(got)}, the signed tag manifest says {_short(want)})")
    try:
        seal = json.loads(master.get(SEAL_FILE) or b"")
        if not isinstance(seal, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError, RecursionError):
        seal = {}
        problems.append(f"{SEAL_FILE}: not a JSON object (or nested too deeply)")
    m = seal.get("merkle") if isinstance(seal.get("merkle"), dict) else {}
    if seal and seal.get("format") != FORMAT:
        problems.append(f"{SEAL_FILE}: format is {show(seal.get('format'), True)}, expected {FORMAT!r}")
    if seal and m.get("alg") != MERKLE_ALG:
        problems.append(f"{SEAL_FILE}: Merkle algorithm {show(m.get('alg'), True)}, expected {MERKLE_ALG!r}")
    if seal and not (isinstance(m.get("root"), str) and _HEX64.match(m["root"]) and type(m.get("leaves")) is int):
        problems.append(f"{SEAL_FILE}: no valid merkle root and leaf count")
    named = seal.get("signer")
    if seal and not isinstance(named, dict):
        problems.append(f"{SEAL_FILE}: \"signer\" is not an object naming the signer's fingerprint")
    elif seal and out.signer is not None and named.get("fingerprint") != out.signer.fingerprint:
        problems.append(f"{SEAL_FILE}: names a different signer than signer.pem")
    out.seal = seal
    if not problems:
        out.root, out.leaves = m["root"], m["leaves"]
    rep.fail(
        "seal",
        problems,
        f"seal.json of case {show(seal.get('case'))} matches the signed tag manifest; Merkle root {show(m.get('root'))} over {show(m.get('leaves'))} items",
    )


def check_trust(rep: Report, name: str, key: PublicKey | None, trusted: list[PublicKey], who: str) -> PublicKey | None:
    """Add check ``name``: is ``key`` one of the verifier's ``--trust`` keys?"""
    if key is None:
        rep.add(name, "untrusted", f"no readable {who} key")
        return None
    if not trusted:
        rep.add(name, "untrusted", f"no --trust given: the {who}'s key ({key.fingerprint}) proves nothing by itself")
        return None
    match = next((k for k in trusted if k.raw == key.raw), None)
    if match is None:
        rep.add(name, "untrusted", f"{who} {key.describe()} is not among the {len(trusted)} trusted key(s)")
        return None
    rep.add(name, "pass", f"{who} is trusted key {match.describe()}")
    return match


# --- items and inclusion proofs -------------------------------------------------


@dataclass(frozen=True)
class ItemLine:
    """One line of ``items.jsonl``: its position (leaf index), exact bytes and parsed record."""

    index: int
    line: bytes
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.record.get("id"))


@dataclass
class Master:
    """A master bundle opened for proofs and disclosure, its seal already checked."""

    path: Path
    sealed: SealedMaster
    signer: PublicKey
    seal: dict[str, Any]
    case: dict[str, Any]
    items: list[ItemLine]
    leaves: list[bytes]
    by_id: dict[str, ItemLine]

    @property
    def root(self) -> str:
        return str(self.seal["merkle"]["root"])

    def inclusion(self, item: ItemLine) -> dict[str, Any]:
        path = merkle.inclusion_proof(self.leaves, item.index)
        return {
            "alg": MERKLE_ALG,
            "leaf_index": item.index,
            "tree_size": len(self.leaves),
            "leaf_hash": self.leaves[item.index].hex(),
            "audit_path": [h.hex() for h in path],
        }

    def item_proof(self, item: ItemLine) -> dict[str, Any]:
        """The per-item proof (record and inclusion proof), as a disclosure package holds it."""
        return {
            "format": PROOF_FORMAT,
            "case": self.case.get("id"),
            "id": item.id,
            "record": item.line.decode("utf-8"),
            "inclusion": self.inclusion(item),
        }


def open_master(b: Bundle) -> Master:
    """Read the master's seal and items, refusing (IntegrityError) a bundle whose
    seal, signature or Merkle root does not hold: nothing is proved or disclosed
    from a bundle that no longer matches its own seal."""
    files: dict[str, bytes] = {}
    for rel in (*MASTER_FILES, CASE_FILE, ALLOWED_SIGNERS, ITEMS_FILE):
        data = b.read(rel)
        if data is None and rel != ALLOWED_SIGNERS:
            raise EvidpackError(f"{b.path}: {rel} is missing; not a sealed evidpack bundle")
        if data is not None:
            files[rel] = data
    items_data = files.pop(ITEMS_FILE)
    sealed = SealedMaster(files)
    rep = Report(str(b.path))
    sc = check_master(rep, sealed, [], extra=(CASE_FILE,))
    bad = [c for c in rep.checks if c.verdict == "fail"]
    tm_entries, _ = bag.parse_manifest(sealed.tagmanifest, TAGMANIFEST)
    if tm_entries.get(ITEMS_FILE) != hashlib.sha256(items_data).hexdigest():
        raise IntegrityError(f"{b.path}: {ITEMS_FILE} does not match the signed tag manifest; refusing to prove or disclose from it")
    if bad:
        raise IntegrityError(f"{b.path}: the master's seal does not hold ({bad[0].name}: {bad[0].reason}); refusing to prove or disclose from it")
    assert sc.signer is not None and sc.root is not None
    items: list[ItemLine] = []
    leaves: list[bytes] = []
    lines = items_data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError(f"{b.path}: {ITEMS_FILE} line {n + 1} is not JSON") from None
        items.append(ItemLine(n, line, rec))
        leaves.append(merkle.leaf_hash(line))
    if merkle.root(leaves).hex() != sc.root or len(leaves) != sc.leaves:
        raise IntegrityError(f"{b.path}: the Merkle root of {ITEMS_FILE} differs from seal.json; refusing to prove or disclose from it")
    by_id = {it.id: it for it in items}
    try:
        case = json.loads(files[CASE_FILE])
    except ValueError:
        raise IntegrityError(f"{b.path}: {CASE_FILE} is not JSON") from None
    return Master(Path(b.path), sealed, sc.signer, sc.seal, case, items, leaves, by_id)


def check_item_proof(proof: Any, root: str | None, leaves: int | None, *, where: str) -> tuple[dict[str, Any] | None, list[str]]:
    """Check one per-item proof object against the sealed root.

    Returns (the record when it is proven, problems). Each problem names what is
    wrong: the record (altered: its leaf hash differs), the audit path (a node
    altered), or the form."""
    if not isinstance(proof, dict) or proof.get("format") != PROOF_FORMAT:
        return None, [f"{where}: not an {PROOF_FORMAT} item proof"]
    rid = proof.get("id")
    text = proof.get("record")
    inc = proof.get("inclusion")
    if not isinstance(text, str) or not isinstance(inc, dict):
        return None, [f"{where}: has no record or no inclusion proof"]
    try:
        line = text.encode("utf-8")
    except UnicodeEncodeError:
        return None, [f"{where}: the record is not valid Unicode text (it holds a lone surrogate)"]
    problems: list[str] = []
    try:
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError
    except (ValueError, RecursionError):
        return None, [f"{where}: the record is not a JSON object (or is nested too deeply)"]
    if not canonical.is_canonical(line):
        problems.append(f"{where}: the record is not in canonical form (edited?)")
    if record.get("id") != rid:
        problems.append(f"{where}: the record is exhibit {show(record.get('id'), True)}, the proof says {show(rid, True)}")
    index, size, path = inc.get("leaf_index"), inc.get("tree_size"), inc.get("audit_path")
    if inc.get("alg") != MERKLE_ALG or not isinstance(path, list):
        return None, problems + [f"{where}: inclusion proof is not {MERKLE_ALG} with leaf_index, tree_size and audit_path"]
    # type() is int: a JSON true/false is a bool, which isinstance(..., int) would take for 1/0
    not_int = [f"{where}: inclusion proof's {name} is {show(value, True)}, not an integer"
               for name, value in (("leaf_index", index), ("tree_size", size)) if type(value) is not int]
    if not_int:
        return None, problems + not_int
    if not all(isinstance(h, str) and _HEX64.match(h) for h in path):
        return None, problems + [f"{where}: audit path holds something that is not a SHA-256 hex digest"]
    leaf = merkle.leaf_hash(line)
    if inc.get("leaf_hash") not in (None, leaf.hex()):
        problems.append(f"{where}: record altered: its leaf hash is {_short(leaf.hex())}, the proof was made for {_short(str(inc.get('leaf_hash')))}")
    if root is None:
        return None, problems + [f"{where}: cannot be checked: no usable sealed root"]
    if leaves is not None and size != leaves:
        problems.append(f"{where}: proof is for a tree of {show(size)} items, the seal has {show(leaves)}: a proof from another bundle?")
    if not 0 <= index < size:  # (said here, not by merkle: a hostile number is shown shortened)
        return None, problems + [f"{where}: inclusion proof does not fit the tree (leaf_index {show(index)} is outside a tree of {show(size)} leaves)"]
    try:
        got = merkle.root_from_proof(leaf, index, size, [bytes.fromhex(h) for h in path]).hex()
    except ValueError as exc:
        return None, problems + [f"{where}: inclusion proof does not fit the tree ({exc})"]
    if got != root:
        what = "an audit-path node was altered" if not problems else "the record was altered"
        problems.append(f"{where}: record and audit path lead to root {_short(got)}, not the sealed root {_short(root)} ({what}, or the proof is from another bundle)")
    return (record if not problems else None), problems


def check_stream(fh: BinaryIO, record: dict[str, Any], where: str) -> list[str]:
    """Hash ``fh`` once and compare size, SHA-256 and MD5 with ``record``."""
    algs = tuple(a for a in ("sha256", "md5") if isinstance(record.get(a), str))
    if "sha256" not in algs:
        return [f"{where}: record {show(record.get('id'))} has no sha256: nothing to check the file against"]
    try:
        got = copy_and_hash(fh, None, algs)
    except READ_ERRORS as exc:
        return [f"{where}: cannot be read ({exc}): altered inside the zip?"]
    return digest_problems(got.size, got.hex, record, where)


def hash_input(path: Path, what: str, algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS, *, limit: int | None = None) -> Digests:
    """Digests of a file the user named (one read; at most ``limit`` bytes when given),
    or one line saying why it cannot be read. Anything but a regular file (a FIFO,
    a device, a socket) is refused at once, never opened for a blocking or endless read."""
    fd = _open_regular(path, what, "file")
    try:
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return copy_and_hash(fh, None, algorithms, limit=limit)
    except OSError as exc:
        raise EvidpackError(f"{what}: cannot read ({exc.strerror})") from None
    finally:
        if fd >= 0:
            os.close(fd)


def digest_problems(size: int, hexes: dict[str, str], record: dict[str, Any], where: str) -> list[str]:
    problems = []
    if size != record.get("size"):
        problems.append(f"{where}: size {size} bytes, sealed record {show(record.get('id'))} says {show(record.get('size'))}")
    for alg, value in hexes.items():
        if value != record.get(alg):
            problems.append(f"{where}: {alg} {_short(value)} differs from sealed record {show(record.get('id'))} ({_short(show(record.get(alg)))})")
    return problems


# --- proof files --------------------------------------------------------------------


_TEXT_MASTER = (TAGMANIFEST, SSHSIG_FILE, SEAL_FILE, SIGNER_FILE)


def make_proof(bundle: Path, exhibit_id: str) -> tuple[dict[str, Any], Master, ItemLine]:
    """A self-contained proof for one exhibit of ``bundle`` (a folder or zip)."""
    with Bundle.open(bundle) as b:
        master = open_master(b)
    item = master.by_id.get(exhibit_id)
    if item is None:
        raise EvidpackError(f"{bundle}: no exhibit {exhibit_id} in this bundle")
    proof = master.item_proof(item)
    embedded: dict[str, str] = {rel: master.sealed.files[rel].decode("utf-8") for rel in _TEXT_MASTER}
    embedded[SIG_FILE] = base64.b64encode(master.sealed.files[SIG_FILE]).decode()
    proof["master"] = embedded
    return proof, master, item


def proof_bytes(proof: dict[str, Any]) -> bytes:
    return json.dumps(proof, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"


def show(value: Any, quoted: bool = False) -> str:
    """``value`` (from a hostile file) for a message: short, and never raising on deep nesting."""
    if isinstance(value, str) and not quoted:
        text = value
    else:
        try:
            text = repr(value)
        except RecursionError:
            return "(a value nested too deeply)"
    return text if len(text) <= 80 else text[:77] + "..."


def _open_regular(path: Path, name: str, what: str) -> int:
    """A read-only descriptor of ``path``, refusing at once (never blocking) anything
    that is not a regular file: a FIFO, a device or a socket. Errors are one line
    starting with ``name``; ``what`` is the kind of file expected ("proof file")."""
    noun = "" if what == "file" else f" {what}"  # "cannot read (...)" / "cannot read proof file (...)"
    irregular = f"{name}: not a regular file (a FIFO, device or socket?)" + ("" if what == "file" else f"; a {what} must be a file")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise EvidpackError(f"{name}: no such {what}") from None
    except OSError as exc:
        raise EvidpackError(f"{name}: cannot read{noun} ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise EvidpackError(f"{name}: is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise EvidpackError(irregular)
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, open still returns at once
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise EvidpackError(f"{name}: no such {what}") from None
    except OSError as exc:
        raise EvidpackError(f"{name}: cannot read{noun} ({exc.strerror})") from None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError as exc:
        os.close(fd)
        raise EvidpackError(f"{name}: cannot read{noun} ({exc.strerror})") from None
    if not regular:
        os.close(fd)
        raise EvidpackError(irregular)
    return fd


def _read_regular(path: Path, what: str, limit: int) -> bytes:
    """The bytes of ``path``, refusing at once (never blocking) anything that is not
    a regular file: a FIFO, a device or a socket named as the proof file."""
    fd = _open_regular(path, str(path), what)
    try:
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read(limit + 1)
    except OSError as exc:
        raise EvidpackError(f"{path}: cannot read {what} ({exc.strerror})") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:
        raise EvidpackError(f"{path}: too large to be a {what}")
    return data


def load_proof(path: Path) -> dict[str, Any]:
    data = _read_regular(path, "proof file", PROOF_LIMIT)
    try:
        proof = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise EvidpackError(f"{path}: not a JSON proof file") from None
    except RecursionError:
        raise EvidpackError(f"{path}: not a usable proof file (JSON nested too deeply)") from None
    if not isinstance(proof, dict) or proof.get("format") != PROOF_FORMAT or not isinstance(proof.get("master"), dict):
        raise EvidpackError(f"{path}: not an {PROOF_FORMAT} proof file (made by `evidpack proof`)")
    return proof


def _master_from_proof(proof: dict[str, Any], where: str) -> tuple[SealedMaster, list[str]]:
    """The master's signed material embedded in a proof, and what in it is unusable
    (each problem names the proof file and the field)."""
    files: dict[str, bytes] = {}
    problems: list[str] = []
    for rel, value in proof["master"].items():
        if rel not in MASTER_FILES:
            continue
        if not isinstance(value, str):
            problems.append(f"{where}: master[{rel!r}] is not a string")
            continue
        if rel == SIG_FILE:
            try:
                files[rel] = base64.b64decode(value, validate=True)
            except (ValueError, binascii.Error):
                files[rel] = b""
        else:
            try:
                files[rel] = value.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(f"{where}: master[{rel!r}] is not valid Unicode text (it holds a lone surrogate)")
    return SealedMaster(files), problems


@dataclass
class ItemReport(Report):
    """A verify-item report: its summary names the exhibit and the case it belongs to."""

    exhibit: str = ""
    case: str = ""
    file: str = ""

    @property
    def summary(self) -> str:
        if self.exit_code != 0 or self.trusted_as is None:
            return super().summary
        return f"VERIFIED: {self.file} is exhibit {self.exhibit} of case {self.case}, exactly as sealed by trusted key {self.trusted_as.describe()}{self.warnings}"


def record_notes(record: dict[str, Any]) -> list[str]:
    """What a sealed record says about its own bytes: its ``problems`` (a member cut
    short, a bad CRC-32...) and, for a member read only in part, the size its
    container declares. A proof shows the bytes are exactly those sealed; these say
    what the sealed bytes are (e.g. 700 of a 51,200-byte member), and must be shown with it."""
    found = record.get("problems")
    notes = [p if isinstance(p, str) else show(p, True) for p in (found if isinstance(found, list) else [found] if found else [])]
    if "declared_size" in record:
        notes.append(f"declared size: its container declares {show(record.get('declared_size'))} bytes; "
                     f"the sealed digests cover the {show(record.get('size'))} bytes that were read")
    return notes


def verify_item(file: Path, proof_path: Path, trusted: list[PublicKey]) -> ItemReport:
    """Check ``file`` against a proof file: bytes -> record -> root -> seal -> signature -> trust."""
    proof = load_proof(proof_path)
    pid = show(proof.get("id"))
    rep = ItemReport(f"{file} against {proof_path}", trusted_fingerprints=tuple(k.fingerprint for k in trusted),
                     exhibit=pid, file=file.name)
    sealed, unusable = _master_from_proof(proof, str(proof_path))
    if unusable:
        rep.fail("proof-file", unusable, "")
    sc = check_master(rep, sealed, trusted)
    rep.case = show(sc.seal.get("case"))
    rep.trusted_as = next((k for k in trusted if sc.signer is not None and k.raw == sc.signer.raw), None)
    where = f"exhibit {pid}"
    record, problems = check_item_proof(proof, sc.root, sc.leaves, where=where)
    proven = record is not None
    rep.fail("inclusion-proof", problems, f"record of {pid} is leaf {show(proof['inclusion'].get('leaf_index')) if isinstance(proof.get('inclusion'), dict) else '?'} of the sealed Merkle tree (root {sc.root})")
    if record is None:
        # an unproven record is still what the proof claims; compare with it, but it proves nothing
        try:
            record = json.loads(proof["record"]) if isinstance(proof.get("record"), str) else {}
        except (ValueError, RecursionError):
            record = {}
    record = record if isinstance(record, dict) else {}
    size = record.get("size")
    size = size if type(size) is int and size >= 0 else None
    # never more than one byte past the sealed size: a wrong, huge file fails at once
    got = hash_input(file, str(file), tuple(a for a in ("sha256", "md5") if isinstance(record.get(a), str)) or ("sha256",),
                     limit=None if size is None else size + 1)
    if size is not None and got.size > size:
        problems = [f"{file}: larger than the {size} bytes of sealed record {show(record.get('id'))} (reading stopped there)"]
    else:
        problems = digest_problems(got.size, got.hex, record, str(file))
    rep.fail(
        "file",
        problems,
        f"{file.name}: {show(record.get('size'))} bytes, sha256{' and md5' if 'md5' in record else ''} match sealed record {show(record.get('id'))}",
        f"{file.name} is not the sealed exhibit {pid}: {problems[0] if problems else ''}",
    )
    notes = record_notes(record) if proven else []
    if notes:
        # not a failure (the bytes are exactly those sealed), but what the sealed record says about them
        more = f" (and {len(notes) - 1} more)" if len(notes) > 1 else ""
        rep.add("record", "warn", f"sealed record {show(record.get('id'))} says: {notes[0]}{more}", notes)
    return rep
