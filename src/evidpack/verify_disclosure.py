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
import hashlib
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyzipper
from cryptography.exceptions import UnsupportedAlgorithm

from . import canonical, custody
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
from .keys import PublicKey, parse_public_key, verify_sshsig
from .hashing import copy_and_hash, short as _short
from .proof import (
    ALLOWED_SIGNERS,
    CASE_FILE,
    READ_ERRORS,
    SealCheck,
    SealedMaster,
    check_item_proof,
    check_master,
    check_stream,
    check_trust,
)
from .timeutil import parse_rfc3339
from .custody import _brief, _event_key
from .verify import Report, _kind, _obj, add_custody_signers_check, receipt_and_identity_problems

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_UNSIGNED = (CUSTODY_MEMBER, README, SCHEDULE)  # covered by disclosure.json's "contents" hashes
_FIXED = (DISCLOSURE_FILE, DISCLOSURE_SIG, DISCLOSURE_SSHSIG, DISCLOSER_KEY, *_UNSIGNED)



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
        if self.path.is_dir():
            self.names = sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file() or p.is_symlink())
            return
        try:
            self._zip = pyzipper.AESZipFile(self.path)
        except READ_ERRORS as exc:
            raise EvidpackError(f"{self.path}: not a readable zip ({exc}); truncated or damaged?") from None
        infos = [i for i in self._zip.infolist() if not i.is_dir()]
        tops = {i.filename.split("/", 1)[0] for i in infos}
        if len(tops) != 1:
            raise EvidpackError(f"{self.path}: a disclosure package holds exactly one top folder")
        prefix = tops.pop() + "/"
        for info in infos:
            rel = info.filename[len(prefix) :]
            if rel in self._infos:
                raise EvidpackError(f"{self.path}: member {info.filename} appears twice: a doctored package")
            self._infos[rel] = info
        self.names = sorted(self._infos)
        self.encrypted = any(i.flag_bits & 0x1 for i in infos)
        if DISCLOSURE_FILE not in self._infos:
            raise EvidpackError(f"{self.path}: not a disclosure package (no {DISCLOSURE_FILE})")
        if self.encrypted:
            if password is None:
                raise EvidpackError(f"{self.path}: the package is encrypted; give --password-file")
            self._zip.setpassword(password())
            try:
                self._zip.read(self._infos[DISCLOSURE_FILE])
            except RuntimeError:
                raise EvidpackError(f"{self.path}: wrong password") from None
            except READ_ERRORS as exc:
                raise EvidpackError(f"{self.path}: cannot decrypt {DISCLOSURE_FILE} ({exc}): wrong password or damaged package") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "Package":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has(self, rel: str) -> bool:
        return rel in self._infos if self._zip is not None else rel in self.names

    def read(self, rel: str) -> bytes:
        with self.open(rel) as fh:
            try:
                return fh.read()
            except READ_ERRORS as exc:
                raise _Unreadable(f"{rel}: cannot be read ({exc}): altered inside the zip?") from None

    def open(self, rel: str) -> BinaryIO:
        if not self.has(rel):
            raise _Unreadable(f"{rel}: missing from the package")
        if self._zip is None:
            p = self.path / rel
            if p.is_symlink():
                raise _Unreadable(f"{rel}: is a symbolic link")
            return open(p, "rb")
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
        return f"VERIFIED: {self.files_verified} disclosed file(s) exactly as sealed by trusted key {who}; disclosure signed by trusted key {by}{red}"


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
    _check_package(rep, pkg, items, redactions)
    discloser = _check_discloser(rep, pkg, raw, statement, trusted)
    sealed, sc = _check_seal(rep, pkg, trusted)
    _check_statement(rep, pkg, statement, sealed, sc)
    records = _check_proofs(rep, pkg, items, sc)
    _check_files(rep, pkg, items, records)
    _check_redactions(rep, pkg, redactions, records, discloser)
    _check_log(rep, pkg, statement, sc.signer, sealed.tagmanifest_sha256, discloser, trusted, expect_head)
    return rep


def _check_package(rep: DisclosureReport, pkg: Package, items: list[dict[str, Any]], redactions: list[dict[str, Any]]) -> None:
    """Exactly the members the statement accounts for, each where it belongs."""
    expected = set(_FIXED) | {f"master/{rel}" for rel in MASTER_IN_PACKAGE}
    expected |= {proof_member(str(i.get("id"))) for i in items}
    files = [str(i["file"]) for i in items if i.get("file")]
    derivatives = [str(r.get("file")) for r in redactions]
    expected |= set(files) | set(derivatives)
    problems = [f"{n}: missing" for n in sorted(expected - {f"master/{ALLOWED_SIGNERS}"}) if not pkg.has(n)]
    problems += [f"{n}: not listed in {DISCLOSURE_FILE}, so covered by no signature" for n in pkg.names if n not in expected]
    problems += [f"{n}: unsafe member name" for n in pkg.names if n.startswith("/") or ".." in n.split("/") or "\\" in n]
    problems += [f"{n}: a disclosed file must be under files/" for n in files if not n.startswith("files/")]
    problems += [f"{n}: a redacted derivative must be under redactions/" for n in derivatives if not n.startswith("redactions/")]
    ids = [str(i.get("id")) for i in items]
    if len(set(ids)) != len(ids):
        problems.append(f"{DISCLOSURE_FILE}: an exhibit is listed twice")
    redacted = {str(r.get("of")) for r in redactions}
    problems += [f"{DISCLOSURE_FILE}: {i.get('id')} is both disclosed as sealed and redacted" for i in items if i.get("file") and i.get("id") in redacted]
    problems += [f"{DISCLOSURE_FILE}: redaction of {of}, which is not a disclosed item" for of in sorted(redacted - set(ids))]
    encrypted = " (AES-256 encrypted)" if pkg.encrypted else " (not encrypted)"
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
    try:
        sc = check_master(rep, sealed, trusted, extra=extra)
    except RecursionError:  # a master file nested too deeply to decode
        files.pop("evidpack/seal.json", None)
        rep.add("seal", "fail", "master/evidpack/seal.json: not JSON (nested too deeply)")
        sc = check_master(rep, SealedMaster(files), trusted, extra=extra)
    rep.trusted_as = next((k for k in trusted if sc.signer is not None and k.raw == sc.signer.raw), None)
    return sealed, sc


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
    rep.fail("disclosure", problems, f"{DISCLOSURE_FILE} names this seal (root {sc.root}); custody log, README and schedule match it")


def _check_proofs(rep: DisclosureReport, pkg: Package, items: list[dict[str, Any]], sc: SealCheck) -> dict[str, dict[str, Any]]:
    """Every record proven against the sealed root; returns the proven records by id."""
    problems: list[str] = []
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
        problems += probs
        if record is not None and record.get("id") != rid:
            problems.append(f"{proof_member(rid)}: proves exhibit {_brief(record.get('id'))}, {DISCLOSURE_FILE} lists {rid}")
        elif record is not None:
            records[rid] = record
    rep.fail("inclusion-proofs", problems, f"{len(records)} record(s) proven to be leaves of the sealed Merkle tree (root {sc.root})")
    return records


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
    it derives from is proven sealed. Reported as WARN: attested, never a verified original."""
    by = discloser.describe() if discloser else "an unidentified discloser"
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
    problems: list[str] = []
    key = None
    pem = pkg.get(DISCLOSER_KEY, problems)
    if pem is not None:
        try:
            key = parse_public_key(pem, DISCLOSER_KEY)
        except EvidpackError as exc:
            problems.append(str(exc))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # a key type the library does not know
            problems.append(f"{DISCLOSER_KEY}: not a usable Ed25519 public key ({type(exc).__name__}: {exc})")
    if key is not None:
        sig = pkg.get(DISCLOSURE_SIG, problems)
        if sig is not None and not key.verify(sig, raw):
            problems.append(f"{DISCLOSURE_SIG}: Ed25519 signature does not match {DISCLOSURE_FILE} and {DISCLOSER_KEY} (statement or signature altered)")
        armored = pkg.get(DISCLOSURE_SSHSIG, problems)
        why = armored is not None and verify_sshsig(armored, raw, key)
        if why:
            problems.append(f"{DISCLOSURE_SSHSIG}: {why}")
        named = _obj(statement.get("discloser")).get("key")
        if named != key.fingerprint:
            problems.append(f"{DISCLOSURE_FILE} names discloser key {_brief(named)}, {DISCLOSER_KEY} is {key.fingerprint}")
    rep.discloser = key
    rep.fail("disclosure-signature", problems, f"{DISCLOSURE_FILE} is signed (raw and SSHSIG) by {key.describe() if key else '?'}")
    rep.discloser_trusted = check_trust(rep, "discloser-trusted", key, trusted, "discloser") is not None
    return key


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
    problems += receipt_and_identity_problems(chain.line_hashes, chain.signers, trusted, expect_head)
    rep.custody_head = chain.head
    shown = len(events)
    withheld = f"; {len(chain.withheld)} withheld by the discloser as line hashes only (seq {_ranges(chain.withheld)})" if chain.withheld else ""
    rep.fail("custody", problems, f"{shown + len(chain.withheld)} custody events up to the disclosure: links, order and signatures intact{withheld}; head {chain.head}")
    add_custody_signers_check(
        rep, chain.signers, trusted, "every visible custody event is signed by a trusted key",
        unverified=chain.unverified, events=len(chain.line_hashes) - len(chain.withheld),
    )


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


