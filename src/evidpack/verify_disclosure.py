"""Verify a disclosure package against the master seal, without any undisclosed item.

Checks, each named in the report:

* ``package``: the zip (or an extracted folder) holds exactly what ``disclosure.json`` lists;
* ``disclosure-signature`` / ``discloser-trusted``: the discloser's Ed25519 signature
  (raw and SSHSIG) over ``disclosure.json``, and whether the verifier trusts that key;
* ``signature`` / ``signer-trusted`` / ``seal``: the master's signed tag manifest,
  and ``seal.json`` (holding the Merkle root) matching its line in it;
* ``disclosure``: the statement names this seal, and every unsealed member
  (custody log, README, schedule) matches the hash it gives;
* ``inclusion-proofs``: every record leads through its audit path to the sealed root;
* ``files``: every disclosed file matches its proven record (size, SHA-256, MD5);
* ``redaction <exhibit>``: each redacted derivative, reported as what it is — made
  and attested by the discloser from a sealed item, never a verified original;
* ``custody`` / ``custody-signers``: the log up to the ``disclosed`` event, with
  withheld events carried as line hashes that keep the chain checkable.

Exit codes as ``verify``: 0 verified and trusted, 1 integrity failure, 2 unusable
input (not a package, wrong password, truncated zip), 3 intact but untrusted.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import stat as statmod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyzipper
from cryptography.exceptions import UnsupportedAlgorithm

from . import bag, canonical, custody
from .bundle import file_kind, refuse_zip_prefix, zip_entry_problem, zip_outside_bytes
from .disclose import (
    CUSTODY_MEMBER,
    DISCLOSER_KEY,
    DISCLOSURE_FILE,
    DISCLOSURE_FORMAT,
    DISCLOSURE_SIG,
    DISCLOSURE_SSHSIG,
    MASTER_IN_PACKAGE,
    README,
    SCHEDULE,
    body_sha256,
    proof_member,
)
from .errors import EvidpackError
from .names import TAGMANIFEST
from .keys import PublicKey, parse_public_key, verify_sshsig
from .hashing import copy_and_hash, short as _short
from .proof import (
    ALLOWED_SIGNERS,
    CASE_FILE,
    READ_ERRORS,
    MERKLE_ALG,
    PROOF_FORMAT,
    SEAL_FILE,
    SealCheck,
    SealedMaster,
    check_item_proof,
    check_master,
    check_stream,
)
from .timeutil import parse_rfc3339
from .custody import _brief, _event_key, as_object as _obj, json_kind as _kind
from .verify import Report, add_custody_signers_check, receipt_and_identity_problems

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_UNSIGNED = (CUSTODY_MEMBER, README, SCHEDULE)  # covered by disclosure.json's "contents" hashes
_FIXED = (DISCLOSURE_FILE, DISCLOSURE_SIG, DISCLOSURE_SSHSIG, DISCLOSER_KEY, *_UNSIGNED)
# An item proof member holds exactly what ``Master.item_proof`` writes, nothing else.
_PROOF_KEYS = {"format", "case", "id", "record", "inclusion"}
_INCLUSION_KEYS = {"alg", "leaf_index", "tree_size", "leaf_hash", "audit_path"}
_AES_256 = 3  # WinZip AE strength value for AES-256



# --- reading a package -----------------------------------------------------------------


class _Unreadable(Exception):
    pass


class Package:
    """A disclosure package opened for reading: a zip (plain or AES) or an extracted folder."""

    def __init__(self, path: Path, password: Callable[[], bytes] | None) -> None:
        self.path = Path(path)
        self.encrypted = False
        self._zip: Any = None
        self._infos: dict[str, Any] = {}
        self.names: list[str] = []
        # entries that are not regular files (symlinks, FIFOs, devices; in a zip also a
        # folder entry carrying bytes): never opened, each a failure of the package check
        self.special: dict[str, str] = {}
        self.unencrypted: list[str] = []  # (a zip) members not AES-256 encrypted
        self.outside: list[str] = []  # (a zip) bytes in no entry: a comment, a prefix, a tail
        if self.path.is_dir():
            self._list_folder()
            return
        if not self.path.is_file():  # (a FIFO or a device would be read forever)
            raise EvidpackError(f"{self.path}: not a disclosure package folder or a zip file")
        try:
            self._zip = pyzipper.AESZipFile(self.path)
        except READ_ERRORS as exc:
            raise EvidpackError(f"{self.path}: not a readable zip ({exc}); truncated or damaged?") from None
        all_infos = self._zip.infolist()
        tops = {i.filename.split("/", 1)[0] for i in all_infos}
        if len(tops) != 1:
            raise EvidpackError(f"{self.path}: a disclosure package holds exactly one top folder")
        prefix = tops.pop() + "/"
        infos = []
        for info in all_infos:
            rel = info.filename[len(prefix) :]
            why = zip_entry_problem(info)
            if why is not None:
                self.special[rel.rstrip("/")] = why
                continue
            if info.is_dir():
                continue
            if rel in self._infos:
                raise EvidpackError(f"{self.path}: member {info.filename} appears twice: a doctored package")
            self._infos[rel] = info
            infos.append(info)
        self.names = sorted(self._infos)
        refuse_zip_prefix(self._zip, self.path, "a disclosure package")
        self.outside = zip_outside_bytes(self._zip, self.path)
        self.unencrypted = sorted(rel for rel, i in self._infos.items() if not _aes256(i))
        self.encrypted = bool(infos) and not self.unencrypted
        if DISCLOSURE_FILE not in self._infos:
            raise EvidpackError(f"{self.path}: not a disclosure package (no {DISCLOSURE_FILE})")
        locked = [i for i in infos if i.flag_bits & 0x1]
        if locked:  # (all of them, or the package check names those that are not)
            if password is None:
                raise EvidpackError(f"{self.path}: the package is encrypted; give --password-file")
            self._zip.setpassword(password())
            first = self._infos[DISCLOSURE_FILE] if self._infos[DISCLOSURE_FILE].flag_bits & 0x1 else locked[0]
            try:
                self._zip.read(first)
            except RuntimeError:
                raise EvidpackError(f"{self.path}: wrong password") from None
            except READ_ERRORS as exc:
                raise EvidpackError(f"{self.path}: cannot decrypt {first.filename} ({exc}): wrong password or damaged package") from None

    def _list_folder(self) -> None:
        """Regular files by relative name; anything else (symlink, FIFO, socket, device)
        goes to ``special`` without being opened, and no symlinked folder is followed."""
        names: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            rel_dir = Path(dirpath).relative_to(self.path)
            for d in list(dirnames):
                if os.path.islink(os.path.join(dirpath, d)):
                    self.special[(rel_dir / d).as_posix()] = "a symbolic link, not a folder"
                    dirnames.remove(d)
            for f in filenames:
                rel = (rel_dir / f).as_posix()
                try:
                    mode = os.lstat(os.path.join(dirpath, f)).st_mode
                except OSError as exc:
                    self.special[rel] = f"cannot be examined ({exc.strerror})"
                    continue
                if statmod.S_ISREG(mode):
                    names.append(rel)
                else:
                    self.special[rel] = f"not a regular file ({file_kind(mode)})"
        self.names = sorted(names)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "Package":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def has(self, rel: str) -> bool:
        return rel in self._infos if self._zip is not None else rel in self.names

    def read(self, rel: str) -> bytes:
        with self.open(rel) as fh:
            try:
                return fh.read()
            except READ_ERRORS as exc:
                raise _Unreadable(f"{rel}: cannot be read ({exc}): altered inside the zip?") from None

    def open(self, rel: str) -> BinaryIO:
        if rel in self.special:
            raise _Unreadable(f"{rel}: {self.special[rel]}; not read")
        if not self.has(rel):
            raise _Unreadable(f"{rel}: missing from the package")
        if self._zip is None:
            p = self.path / rel
            try:
                if not statmod.S_ISREG(os.lstat(p).st_mode):  # (changed since it was listed)
                    raise _Unreadable(f"{rel}: not a regular file; not read")
                fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
                if not statmod.S_ISREG(os.fstat(fd).st_mode):
                    os.close(fd)
                    raise _Unreadable(f"{rel}: not a regular file; not read")
                return os.fdopen(fd, "rb")
            except OSError as exc:
                raise _Unreadable(f"{rel}: cannot be read ({exc.strerror})") from None
        try:
            return self._zip.open(self._infos[rel])
        except READ_ERRORS as exc:
            raise _Unreadable(f"{rel}: cannot be read ({exc}): altered inside the zip?") from None

    def get(self, rel: str, problems: list[str]) -> bytes | None:
        try:
            return self.read(rel)
        except _Unreadable as exc:
            problems.append(str(exc))
            return None


def _aes256(info: Any) -> bool:
    """Is this zip member WinZip AES-256 encrypted (not legacy ZipCrypto, not plain)?"""
    return bool(info.flag_bits & 0x1) and getattr(info, "wz_aes_strength", None) == _AES_256


# --- the report ------------------------------------------------------------------------


@dataclass
class DisclosureReport(Report):
    discloser: PublicKey | None = None
    discloser_trusted: bool = False
    files_verified: int = 0
    redactions: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        code = self.exit_code
        red = (
            f"; {len(self.redactions)} redacted derivative(s) ({', '.join(self.redactions)}) are attested by the discloser only, not sealed originals"
            if self.redactions
            else ""
        )
        if code == 1:
            return super().summary
        if code == 3:
            untrusted = "; ".join(c.reason for c in self.checks if c.verdict == "untrusted")
            return f"INTACT BUT NOT VERIFIED: {untrusted}{red}"
        who = self.trusted_as.describe() if self.trusted_as else "?"
        by = self.discloser.describe() if self.discloser else "?"
        return f"VERIFIED: {self.files_verified} disclosed file(s) exactly as sealed by trusted key {who}; disclosure signed by trusted key {by}{red}{self.warnings}"


# --- verification ----------------------------------------------------------------------


def verify_disclosure(
    path: Path, trusted: list[PublicKey], *, password: Callable[[], bytes] | None = None, expect_head: str | None = None
) -> DisclosureReport:
    with Package(path, password) as pkg:
        return _verify(pkg, trusted, expect_head)


def _verify(pkg: Package, trusted: list[PublicKey], expect_head: str | None) -> DisclosureReport:
    rep = DisclosureReport(str(pkg.path), trusted_fingerprints=tuple(k.fingerprint for k in trusted))
    problems: list[str] = []
    raw = pkg.get(DISCLOSURE_FILE, problems) or b""
    try:
        statement = json.loads(raw)
        if not isinstance(statement, dict) or statement.get("format") != DISCLOSURE_FORMAT:
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError):  # (RecursionError: hostile nesting)
        rep.add("package", "fail", f"{DISCLOSURE_FILE}: not an {DISCLOSURE_FORMAT} statement", problems)
        return rep
    items = [i for i in _list(statement.get("items")) if isinstance(i, dict)]
    redactions = [r for r in _list(statement.get("redactions")) if isinstance(r, dict)]
    _check_package(rep, pkg, statement, items, redactions)
    if pkg.outside:
        extras = [f"{pkg.path.name}: {o}, outside every entry: no digest or signature covers it" for o in pkg.outside]
        rep.add("outside-package", "warn", f"{extras[0]} (evidpack writes none; it changes no disclosed byte)", extras)
    discloser = _check_discloser(rep, pkg, raw, statement, trusted)
    sealed, sc = _check_seal(rep, pkg, trusted)
    _check_statement(rep, pkg, statement, sealed, sc)
    records = _check_proofs(rep, pkg, items, sc, _case_id(sealed, sc))
    _check_files(rep, pkg, items, records)
    _check_redactions(rep, pkg, redactions, records, discloser)
    _check_log(rep, pkg, statement, sc.signer, sealed.tagmanifest_sha256, discloser, trusted, expect_head)
    return rep


def _check_package(rep: DisclosureReport, pkg: Package, statement: dict[str, Any], items: list[dict[str, Any]],
                   redactions: list[dict[str, Any]]) -> None:
    """Exactly the members the statement accounts for, each a regular file where it belongs,
    and (a zip) encrypted as the statement says: every member AES-256, or none."""
    problems = [f"{DISCLOSURE_FILE}: item {n} has an id that is {_what(i.get('id'))}, not a string"
                for n, i in enumerate(items, 1) if not isinstance(i.get("id"), str)]
    problems += [f"{DISCLOSURE_FILE}: redaction {n} has {f} that is {_what(r.get(f))}, not a string"
                 for n, r in enumerate(redactions, 1) for f in ("of", "file") if not isinstance(r.get(f), str)]
    expected = set(_FIXED) | {f"master/{rel}" for rel in MASTER_IN_PACKAGE}
    expected |= {proof_member(str(i.get("id"))) for i in items}
    files = [str(i["file"]) for i in items if i.get("file")]
    derivatives = [str(r.get("file")) for r in redactions]
    expected |= set(files) | set(derivatives)
    problems += [f"{n}: {why}, inside the package" for n, why in sorted(pkg.special.items())]
    problems += [f"{n}: missing" for n in sorted(expected - {f"master/{ALLOWED_SIGNERS}"}) if not pkg.has(n) and n not in pkg.special]
    problems += [f"{n}: not listed in {DISCLOSURE_FILE}, so covered by no signature" for n in pkg.names if n not in expected]
    problems += [f"{n}: unsafe member name" for n in pkg.names if n.startswith("/") or ".." in n.split("/") or "\\" in n]
    problems += [f"{n}: a disclosed file must be under files/" for n in files if not n.startswith("files/")]
    problems += [f"{n}: a redacted derivative must be under redactions/" for n in derivatives if not n.startswith("redactions/")]
    ids = [str(i.get("id")) for i in items]
    if len(set(ids)) != len(ids):
        problems.append(f"{DISCLOSURE_FILE}: an exhibit is listed twice")
    redacted = {str(r.get("of")) for r in redactions}
    problems += [f"{DISCLOSURE_FILE}: {i.get('id')} is both disclosed as sealed and redacted" for i in items if i.get("file") and str(i.get("id")) in redacted]
    problems += [f"{DISCLOSURE_FILE}: redaction of {of}, which is not a disclosed item" for of in sorted(redacted - set(ids))]
    if pkg.is_zip:
        said = statement.get("encrypted")
        if pkg.encrypted and said is not True:
            problems.append(f"{DISCLOSURE_FILE} says encrypted is {_said(said)}, but every member of the zip is AES-256 encrypted")
        elif not pkg.encrypted:
            if said is not False:
                problems.append(f"{DISCLOSURE_FILE} says encrypted is {_said(said)}, but {len(pkg.unencrypted)} of {len(pkg.names)} members are not AES-256 encrypted")
            if len(pkg.unencrypted) < len(pkg.names):  # a mixture: name every member left without AES-256
                problems += [f"{n}: not AES-256 encrypted, in a package whose other members are" for n in pkg.unencrypted]
    encrypted = " (AES-256 encrypted)" if pkg.encrypted else " (not encrypted)" if pkg.is_zip else " (an extracted folder)"
    rep.fail("package", problems, f"{len(pkg.names)} members, exactly those {DISCLOSURE_FILE} lists{encrypted}")


def _check_seal(rep: DisclosureReport, pkg: Package, trusted: list[PublicKey]) -> tuple[SealedMaster, SealCheck]:
    files: dict[str, bytes] = {}
    for rel in MASTER_IN_PACKAGE:
        try:
            files[rel] = pkg.read(f"master/{rel}")
        except _Unreadable:
            pass  # named by the package and seal checks
    sealed = SealedMaster(files)
    extra = (CASE_FILE, *((ALLOWED_SIGNERS,) if ALLOWED_SIGNERS in files else ()))
    before = len(rep.checks)
    try:
        sc = check_master(rep, sealed, trusted, extra=extra)
    except RecursionError:  # seal.json nested too deeply to decode: each check still once
        del rep.checks[before:]
        sc = _check_master_without_seal_json(rep, sealed, trusted, extra)
    rep.trusted_as = next((k for k in trusted if sc.signer is not None and k.raw == sc.signer.raw), None)
    return sealed, sc


def _check_master_without_seal_json(rep: DisclosureReport, sealed: SealedMaster, trusted: list[PublicKey],
                                    extra: tuple[str, ...]) -> SealCheck:
    """``check_master`` for a seal.json that cannot be decoded: the signature and trust
    checks as usual, and a failed ``seal`` check that names why (no usable root)."""
    scratch = DisclosureReport(rep.target)
    rest = {k: v for k, v in sealed.files.items() if k != SEAL_FILE}
    sc = check_master(scratch, SealedMaster(rest), trusted, extra=extra)
    rep.checks += [c for c in scratch.checks if c.name != "seal"]
    rep.signer = scratch.signer
    data = sealed.get(SEAL_FILE) or b""
    want = bag.parse_manifest(sealed.tagmanifest, TAGMANIFEST)[0].get(SEAL_FILE)
    problems = [f"master/{SEAL_FILE}: not JSON (nested too deeply)"]
    if want is None:
        problems.append(f"{SEAL_FILE}: not listed in {TAGMANIFEST}, so not covered by the seal")
    elif hashlib.sha256(data).hexdigest() != want:
        problems.append(f"{SEAL_FILE}: changed (sha256 {_short(hashlib.sha256(data).hexdigest())}, the signed tag manifest says {_short(want)})")
    seal_check = next((c for c in scratch.checks if c.name == "seal"), None)
    problems += [q for q in (seal_check.problems if seal_check else ()) if not q.startswith(f"{SEAL_FILE}:")]
    rep.add("seal", "fail", problems[0], problems)
    sc.seal, sc.root, sc.leaves = {}, None, None
    return sc


def _case_id(sealed: SealedMaster, sc: SealCheck) -> Any:
    """The master's case id, as every item proof must name it: case.json's id (the tag
    manifest covers case.json; the seal check names it if it does not match)."""
    try:
        case = json.loads(sealed.get(CASE_FILE) or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        case = None
    return case.get("id") if isinstance(case, dict) and "id" in case else sc.seal.get("case")


def _check_statement(rep: DisclosureReport, pkg: Package, statement: dict[str, Any], sealed: SealedMaster, sc: SealCheck) -> None:
    """The statement names this seal; the members no seal covers match its hashes."""
    problems: list[str] = []
    problems += _not_objects(statement, ("master", "contents", "custody", "discloser"))
    m = _obj(statement.get("master"))
    if m.get("tagmanifest_sha256") != sealed.tagmanifest_sha256:
        problems.append(f"{DISCLOSURE_FILE} names tag manifest {_short(_brief(m.get('tagmanifest_sha256')))}, the package holds {_short(sealed.tagmanifest_sha256)}")
    if sc.root is not None and (m.get("merkle_root"), m.get("leaves")) != (sc.root, sc.leaves):
        problems.append(f"{DISCLOSURE_FILE} names Merkle root {_short(_brief(m.get('merkle_root')))}, seal.json has {_short(sc.root)}")
    if sc.signer is not None and m.get("signer") != sc.signer.fingerprint:
        problems.append(f"{DISCLOSURE_FILE} names sealer {_brief(m.get('signer'))}, signer.pem is {sc.signer.fingerprint}")
    if sc.seal and statement.get("case") != sc.seal.get("case"):
        problems.append(f"{DISCLOSURE_FILE} is for case {_brief(statement.get('case'), True)}, the seal for {_brief(sc.seal.get('case'), True)}")
    contents = _obj(statement.get("contents"))
    for name in _UNSIGNED:
        data = pkg.get(name, problems)
        if data is not None and hashlib.sha256(data).hexdigest() != contents.get(name):
            problems.append(f"{name}: changed (sha256 {_short(hashlib.sha256(data).hexdigest())}, {DISCLOSURE_FILE} says {_short(_brief(contents.get(name)))})")
    if sc.root is None:
        problems.append(f"{DISCLOSURE_FILE}: cannot be compared with the seal: the master has no usable sealed Merkle root")
    rep.fail("disclosure", problems, f"{DISCLOSURE_FILE} names this seal (root {sc.root}); custody log, README and schedule match it")


def _check_proofs(rep: DisclosureReport, pkg: Package, items: list[dict[str, Any]], sc: SealCheck, case_id: Any) -> dict[str, dict[str, Any]]:
    """Every record proven against the sealed root; returns the proven records by id.
    Each proof member holds exactly what evidpack writes for this master: its case id,
    the listed exhibit, and an inclusion proof with every field of the right type."""
    problems: list[str] = []
    if sc.root is None and not items:  # (otherwise each proof names it)
        problems.append("no record can be proven: the master has no usable sealed Merkle root")
    records: dict[str, dict[str, Any]] = {}
    for i in items:
        rid = str(i.get("id"))
        data = pkg.get(proof_member(rid), problems)
        if data is None:
            continue
        try:
            proof = json.loads(data)
            record, probs = check_item_proof(proof, sc.root, sc.leaves, where=proof_member(rid))
        except (ValueError, UnicodeDecodeError, RecursionError):  # (RecursionError: hostile nesting)
            problems.append(f"{proof_member(rid)}: not JSON, or its record is not (nested too deeply?)")
            continue
        form = _proof_form(proof, case_id, proof_member(rid))
        problems += probs + form
        if form:
            continue
        if record is not None and record.get("id") != rid:
            problems.append(f"{proof_member(rid)}: proves exhibit {_brief(record.get('id'))}, {DISCLOSURE_FILE} lists {rid}")
        elif record is not None:
            records[rid] = record
    rep.fail("inclusion-proofs", problems, f"{len(records)} record(s) proven to be leaves of the sealed Merkle tree (root {sc.root})")
    return records


def _proof_form(proof: Any, case_id: Any, where: str) -> list[str]:
    """What ``check_item_proof`` leaves open: the case, stray or missing fields, and
    the exact JSON types (a bool is not a leaf index)."""
    if not isinstance(proof, dict):
        return []  # (named by check_item_proof)
    out: list[str] = []
    if proof.get("case") != case_id:
        out.append(f"{where}: is for case {_brief(proof.get('case'), True)}, the master is case {_brief(case_id, True)}")
    if set(proof) != _PROOF_KEYS:
        out += _fields(where, set(proof), _PROOF_KEYS)
    inc = proof.get("inclusion")
    if isinstance(inc, dict):
        if set(inc) != _INCLUSION_KEYS:
            out += _fields(f"{where}: inclusion", set(inc), _INCLUSION_KEYS)
        for f in ("leaf_index", "tree_size"):
            if f in inc and (not isinstance(inc[f], int) or isinstance(inc[f], bool)):
                out.append(f"{where}: inclusion {f} is {_kind(inc[f])}, not an integer")
        if "leaf_hash" in inc and not (isinstance(inc["leaf_hash"], str) and _HEX64.match(inc["leaf_hash"])):
            out.append(f"{where}: inclusion leaf_hash is not a SHA-256 hex digest")
    if proof.get("format") != PROOF_FORMAT or not isinstance(proof.get("id"), str):
        out.append(f"{where}: format or id is not that of an {PROOF_FORMAT} item proof")
    elif isinstance(inc, dict) and inc.get("alg") != MERKLE_ALG:
        out.append(f"{where}: inclusion alg is {_brief(inc.get('alg'), True)}, not {MERKLE_ALG}")
    return out


def _fields(where: str, got: set[str], want: set[str]) -> list[str]:
    out = [f"{where}: has field {_brief(k, True)}, which no evidpack proof holds" for k in sorted(got - want)]
    return out + [f"{where}: field {k} is missing" for k in sorted(want - got)]


def _check_files(rep: DisclosureReport, pkg: Package, items: list[dict[str, Any]], records: dict[str, dict[str, Any]]) -> None:
    """Every disclosed file against its proven record."""
    problems: list[str] = []
    verified = 0
    without = [f"{i.get('id')} ({i.get('note') or 'no file'})" for i in items if not i.get("file")]
    for i in items:
        rid, member = str(i.get("id")), i.get("file")
        if not member:
            continue
        if rid not in records:
            problems.append(f"{member}: its record ({rid}) is not proven, so the file cannot be checked")
            continue
        try:
            with pkg.open(str(member)) as fh:
                probs = check_stream(fh, records[rid], str(member))
        except _Unreadable as exc:
            probs = [str(exc)]
        problems += probs
        verified += not probs
    rep.files_verified = verified
    also = f"; without a sealed file: {', '.join(without)}" if without else ""
    rep.fail("files", problems, f"{verified} disclosed file(s) match their sealed records (size, sha256, md5){also}")


def _check_redactions(rep: DisclosureReport, pkg: Package, redactions: list[dict[str, Any]], records: dict[str, dict[str, Any]],
                      discloser: PublicKey | None) -> None:
    """Each redacted derivative: its bytes are those the discloser attests, and the item
    it derives from is proven sealed. Reported as WARN: attested, never a verified original.
    The discloser is named only as the verifier's trusted key names them."""
    if discloser is None:
        by = "an unidentified discloser"
    elif rep.discloser_trusted:
        by = f"trusted key {discloser.describe()}"
    else:
        by = f"the discloser's key {discloser.fingerprint}, which is not among the trusted keys"
    for r in redactions:
        of, member = str(r.get("of")), str(r.get("file"))
        problems = []
        try:
            with pkg.open(member) as fh:
                got = copy_and_hash(fh, None, ("sha256", "md5"))
            if (got.size, got["sha256"], got["md5"]) != (r.get("size"), r.get("sha256"), r.get("md5")):
                problems.append(f"{member}: sha256 {_short(got['sha256'])} ({got.size} bytes) is not the derivative {DISCLOSURE_FILE} attests ({_short(str(r.get('sha256')))})")
        except (_Unreadable, *READ_ERRORS) as exc:
            problems.append(f"{member}: {exc}")
        if of not in records:
            problems.append(f"redaction of {of}: the record of {of} is not proven against the seal")
        if problems:
            rep.add(f"redaction {of}", "fail", problems[0], problems)
            continue
        orig = records[of]
        name = orig.get("path") or orig.get("member_path") or of
        rep.add(
            f"redaction {of}",
            "warn",
            f"REDACTED DERIVATIVE, not the sealed original: {member} is attested by {by} as derived from sealed item {of} "
            f"({name}, sha256 {_short(str(orig.get('sha256')))}); reason: {r.get('reason')}",
        )
    rep.redactions = tuple(str(r.get("of")) for r in redactions)


def _check_discloser(rep: DisclosureReport, pkg: Package, raw: bytes, statement: dict[str, Any], trusted: list[PublicKey]) -> PublicKey | None:
    """The discloser's signature, and whether the verifier trusts the key. The
    ``Evidpack-Name``/``-Role`` lines of discloser.pem are covered by no signature, and
    a key's own statement of who holds it proves nothing: the discloser is named only
    from the matching ``--trust`` key, and a package that names them otherwise fails."""
    problems: list[str] = []
    key = claimed = None
    pem = pkg.get(DISCLOSER_KEY, problems)
    if pem is not None:
        try:
            key = parse_public_key(pem, DISCLOSER_KEY)
        except EvidpackError as exc:
            problems.append(str(exc))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # a key type the library does not know
            problems.append(f"{DISCLOSER_KEY}: not a usable Ed25519 public key ({type(exc).__name__}: {exc})")
    if key is not None:
        claimed = key
        key = dataclasses.replace(key, name="", role="")  # (the header lines are no one's word)
        sig = pkg.get(DISCLOSURE_SIG, problems)
        if sig is not None and not key.verify(sig, raw):
            problems.append(f"{DISCLOSURE_SIG}: Ed25519 signature does not match {DISCLOSURE_FILE} and {DISCLOSER_KEY} (statement or signature altered)")
        armored = pkg.get(DISCLOSURE_SSHSIG, problems)
        why = armored is not None and verify_sshsig(armored, raw, key)
        if why:
            problems.append(f"{DISCLOSURE_SSHSIG}: {why}")
        named = _obj(statement.get("discloser"))
        if named.get("key") != key.fingerprint:
            problems.append(f"{DISCLOSURE_FILE} names discloser key {_brief(named.get('key'))}, {DISCLOSER_KEY} is {key.fingerprint}")
        if "public_key" in named and named.get("public_key") != key.openssh():
            problems.append(f"{DISCLOSURE_FILE} gives a discloser public key other than {DISCLOSER_KEY}")
    rep.fail("disclosure-signature", problems, f"{DISCLOSURE_FILE} is signed (raw and SSHSIG) by key {key.fingerprint if key else '?'}")
    match = _check_discloser_trust(rep, key, claimed, _obj(statement.get("discloser")), trusted)
    rep.discloser_trusted = match is not None
    rep.discloser = match or key
    return rep.discloser


def _check_discloser_trust(rep: DisclosureReport, key: PublicKey | None, claimed: PublicKey | None, named: dict[str, Any],
                           trusted: list[PublicKey]) -> PublicKey | None:
    """``discloser-trusted``: the key is one of the ``--trust`` keys (named as that key
    names its holder), and neither discloser.pem nor disclosure.json names anyone else."""
    if key is None:
        rep.add("discloser-trusted", "untrusted", "no readable discloser key")
        return None
    claim = ""
    if claimed is not None and (claimed.name or claimed.role):
        claim = f" (discloser.pem calls its holder {_brief(claimed.name, True)}, role {_brief(claimed.role, True)}: unverified)"
    if not trusted:
        rep.add("discloser-trusted", "untrusted", f"no --trust given: the discloser's key ({key.fingerprint}) proves nothing by itself{claim}")
        return None
    match = next((k for k in trusted if k.raw == key.raw), None)
    if match is None:
        rep.add("discloser-trusted", "untrusted", f"discloser key {key.fingerprint} is not among the {len(trusted)} trusted key(s){claim}")
        return None
    problems = []
    if match.name:
        want = (match.name, match.role)
        for what, name, role in ((DISCLOSER_KEY, claimed.name if claimed else "", claimed.role if claimed else ""),
                                 (DISCLOSURE_FILE, named.get("name"), named.get("role"))):
            if (name, role) != want and (what == DISCLOSURE_FILE or name or role):
                problems.append(f"{what} names the discloser {_brief(name, True)} ({_brief(role, True)}), "
                                f"but key {key.fingerprint} is trusted as {match.name} ({match.role or 'no role'})")
    rep.fail("discloser-trusted", problems, f"discloser is trusted key {match.describe()}",
             f"the package names the discloser otherwise than the trusted key does: {problems[0]}" if problems else None)
    return match


def _check_log(rep: DisclosureReport, pkg: Package, statement: dict[str, Any], sealer: PublicKey | None, tm_hash: str,
               discloser: PublicKey | None, trusted: list[PublicKey], expect_head: str | None) -> None:
    """The custody log as disclosed: every visible event checked as in a bundle;
    each withheld event is its line hash, which the next visible event's ``prev``
    must match, so the chain runs unbroken from the first event to ``disclosed``."""
    problems: list[str] = []
    data = pkg.get(CUSTODY_MEMBER, problems)
    if data is None:
        rep.add("custody", "fail", problems[0])
        rep.add("custody-signers", "fail", f"{CUSTODY_MEMBER}: missing, so no custody signature was checked")
        return
    chain = _walk(data)
    problems += chain.problems
    events = chain.events
    # (_walk has named every subject, details or actor that is not a JSON object; events are
    # in line order, so "before the seal" is by position, whatever a hostile seq holds)
    sealed = [i for i, e in enumerate(events) if e.get("action") == "sealed"]
    if len(sealed) != 1:
        problems.append(f"{CUSTODY_MEMBER}: shows {len(sealed)} 'sealed' events, expected exactly one")
    else:
        s = events[sealed[0]]
        if _obj(s.get("subject")).get("tagmanifest_sha256") != tm_hash:
            problems.append(f"{CUSTODY_MEMBER}: event seq {_brief(s.get('seq'))}: 'sealed' names another tag manifest than the one in this package")
        for i, e in enumerate(events):
            before = i <= sealed[0]
            if before and sealer is not None and _obj(e.get("actor")).get("key") != sealer.fingerprint:
                problems.append(f"{CUSTODY_MEMBER}: event seq {_brief(e.get('seq'))}: written at build time but not signed by the sealer's key")
            if not before and _obj(e.get("subject")).get("tagmanifest_sha256") != tm_hash:
                problems.append(f"{CUSTODY_MEMBER}: event seq {_brief(e.get('seq'))}: is about another sealed bundle (tag manifest differs)")
    last = events[-1] if events and chain.last_visible else None
    c = _obj(statement.get("custody"))
    if last is None or last.get("action") != "disclosed":
        problems.append(f"{CUSTODY_MEMBER}: the custody log does not end with the 'disclosed' event")
    else:
        details = _obj(last.get("details"))
        b = {k: v for k, v in statement.items() if k not in ("custody", "contents")}
        try:
            statement_hash: str | None = body_sha256(b)
        except (ValueError, RecursionError):  # NaN/Infinity, or nesting the encoder refuses
            statement_hash = None
            problems.append(f"{DISCLOSURE_FILE}: holds values that are not canonical JSON (NaN, Infinity or deep nesting)")
        if statement_hash is None or details.get("disclosure_sha256") != statement_hash:
            problems.append(f"{CUSTODY_MEMBER}: event seq {_brief(last.get('seq'))}: the 'disclosed' event is for another statement than {DISCLOSURE_FILE}")
        if discloser is not None and _obj(last.get("actor")).get("key") != discloser.fingerprint:
            problems.append(f"{CUSTODY_MEMBER}: event seq {_brief(last.get('seq'))}: the 'disclosed' event is signed by another key than the discloser's")
        if c.get("head") != chain.head or c.get("disclosed_seq") != last.get("seq"):
            problems.append(f"{DISCLOSURE_FILE} gives custody head {_short(_brief(c.get('head')))}, the log ends at {_short(chain.head)}")
    said = [w.get("seq") for w in _list(c.get("withheld")) if isinstance(w, dict)]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in said) or sorted(said) != chain.withheld:
        problems.append(f"{DISCLOSURE_FILE} and the custody log disagree on which events are withheld")
    problems += receipt_and_identity_problems(chain.line_hashes, chain.signers, trusted, expect_head, rep)
    rep.custody_head = chain.head
    shown = len(events)
    withheld = f"; {len(chain.withheld)} withheld by the discloser as line hashes only (seq {_ranges(chain.withheld)})" if chain.withheld else ""
    rep.fail("custody", problems, f"{shown + len(chain.withheld)} custody events up to the disclosure: links, order and signatures intact{withheld}; head {chain.head}")
    add_custody_signers_check(
        rep, chain.signers, trusted, "every visible custody event is signed by a trusted key",
        unverified=chain.unverified, events=len(chain.line_hashes) - len(chain.withheld),
    )


def _what(value: Any) -> str:
    return "a JSON object" if isinstance(value, dict) else _kind(value)


def _said(value: Any) -> str:
    """A JSON scalar as the statement holds it: true, false, absent or the value, short."""
    return {True: "true", False: "false", None: "absent"}.get(value, _brief(value, True)) if isinstance(value, (bool, type(None))) else _brief(value, True)


def _list(value: Any) -> list[Any]:
    """A parsed JSON value that must be a list: itself, or [] (the caller names the problem)."""
    return value if isinstance(value, list) else []


def _not_objects(statement: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    return [f"{DISCLOSURE_FILE}: {f} is {_kind(statement[f])}, not a JSON object"
            for f in fields if f in statement and not isinstance(statement[f], dict)]


def _ranges(seqs: list[int]) -> str:
    out: list[str] = []
    for s in seqs:
        if out and out[-1].split("-")[-1] == str(s - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{s}"
        else:
            out.append(str(s))
    return ", ".join(out)


@dataclass
class _Walk:
    events: list[dict[str, Any]]
    problems: list[str]
    withheld: list[int]
    signers: dict[str, PublicKey]
    line_hashes: list[str]
    head: str
    last_visible: bool
    # every visible line whose signature was not checked and found valid, named:
    # custody-signers never passes over these (withheld events are line hashes by design)
    unverified: list[str] = field(default_factory=list)


def _walk(data: bytes) -> _Walk:
    """Walk a log whose withheld events are ``{"seq", "withheld": <line hash>, "why"}``."""
    w = _Walk([], [], [], {}, [], custody.GENESIS, False)
    prev = custody.GENESIS
    last_at = None
    if data and not data.endswith(b"\n"):
        w.problems.append(f"{CUSTODY_MEMBER}: incomplete last line")
    for n, line in enumerate(data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"), 1):
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # (RecursionError: hostile nesting)
            deep = " (nested too deeply)" if isinstance(exc, RecursionError) else ""
            w.problems.append(f"{CUSTODY_MEMBER} line {n}: not a JSON event{deep}")
            w.unverified.append(f"{CUSTODY_MEMBER} line {n}: unreadable, signature not checked")
            prev, w.last_visible = hashlib.sha256(line).hexdigest(), False
            w.line_hashes.append(prev)
            continue
        label = f"{CUSTODY_MEMBER}: event seq {_brief(event.get('seq'))} (line {n})"
        if event.get("seq") != n:
            w.problems.append(f"{label}: expected seq {n} (an event was removed, inserted or reordered)")
        if set(event) <= {"seq", "withheld", "why"} and "withheld" in event:
            h = event.get("withheld")
            if not isinstance(h, str) or not _HEX64.match(h):
                w.problems.append(f"{label}: withheld event without a valid line hash")
                h = _brief(h)
            w.withheld.append(n)
            w.line_hashes.append(h)
            prev, w.last_visible = h, False
            continue
        w.problems += _check_event(event, line, label, prev, last_at, w.signers, w.unverified)
        try:
            last_at = parse_rfc3339(str(event.get("at")))
        except (ValueError, RecursionError):
            pass
        w.events.append(event)
        prev, w.last_visible = custody.line_hash(line), True
        w.line_hashes.append(prev)
    w.head = prev
    return w


def _check_event(event: dict[str, Any], line: bytes, label: str, prev: str, last_at: Any, signers: dict[str, PublicKey],
                 unverified: list[str]) -> list[str]:
    """One visible event: link, form, time order, action and signature. An event whose
    signature is not checked and found valid is added to ``unverified``."""
    out = []
    if event.get("prev") != prev:
        out.append(f"{label}: prev does not match the hash of the line before (chain broken, or a withheld event's hash altered)")
    if not canonical.is_canonical(line):
        out.append(f"{label}: not in canonical form (edited?)")
    try:
        if last_at is not None and parse_rfc3339(str(event.get("at"))) < last_at:
            out.append(f"{label}: time {_brief(event.get('at'))} is earlier than the event before")
    except (ValueError, RecursionError):
        out.append(f"{label}: bad time {_brief(event.get('at'), True)}")
    if event.get("action") not in custody.ACTIONS:
        out.append(f"{label}: unknown action {_brief(event.get('action'), True)}")
    for name in ("subject", "details"):  # every event has both, as JSON objects
        if not isinstance(event.get(name), dict):
            out.append(f"{label}: {name} is {_kind(event.get(name))}, not a JSON object")
    key = _event_key(event, label, out)
    if key is None:
        unverified.append(f"{label}: no usable actor key, signature not checked")
        return out
    try:
        sig = base64.b64decode(str(event.get("sig", "")), validate=True)
    except (ValueError, RecursionError):
        sig = b""
    body = {k: v for k, v in event.items() if k != "sig"}
    try:
        signed = canonical.dumps(body)
    except (ValueError, RecursionError):  # NaN/Infinity, or nesting the encoder refuses
        unverified.append(f"{label}: signature cannot be checked")
        return out + [f"{label}: holds values that are not canonical JSON (NaN, Infinity or deep nesting); signature cannot be checked"]
    if not key.verify(sig, signed):
        unverified.append(f"{label}: signature does not verify")
        return out + [f"{label}: signature does not match the event (altered after signing)"]
    signers.setdefault(key.fingerprint, key)
    return out


