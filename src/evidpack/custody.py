"""The custody log: append-only, every event signed by its actor and chained by hash.

Each line of ``evidpack/custody.jsonl`` is one canonical JSON event. ``prev`` is
the SHA-256 of the previous line's bytes (without its newline); the first event's
``prev`` is 64 zeros. ``sig`` is the actor's Ed25519 signature over the canonical
event without ``sig``. The head hash (SHA-256 of the last line) is the receipt
every custody command prints.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import UnsupportedAlgorithm

from . import canonical
from .errors import EvidpackError, IntegrityError
from .keys import PublicKey, SigningKey, parse_public_key
from .names import CUSTODY_FILE
from .timeutil import format_utc, parse_rfc3339

if TYPE_CHECKING:
    from .bundle import Bundle

GENESIS = "0" * 64
ACTIONS = (
    "created",
    "acquired",
    "imported",
    "source-verified",
    "sealed",
    "verified",
    "transferred",
    "received",
    "accessed",
    "redacted",
    "disclosed",
    "note",
)


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def make_event(
    *,
    seq: int,
    at: datetime,
    action: str,
    key: SigningKey,
    subject: dict[str, Any],
    details: dict[str, Any] | None,
    prev: str,
) -> bytes:
    """The canonical, signed line for one event (without the newline)."""
    if action not in ACTIONS:
        raise EvidpackError(f"unknown custody action {action!r}; one of: {', '.join(ACTIONS)}")
    event: dict[str, Any] = {
        "seq": seq,
        "at": format_utc(at),
        "action": action,
        "actor": {
            "name": key.public.name,
            "role": key.public.role,
            "key": key.public.fingerprint,
            "public_key": key.public.openssh(),
        },
        "subject": subject,
        "details": details or {},
        "prev": prev,
    }
    event["sig"] = base64.b64encode(key.sign(canonical.dumps(event))).decode()
    return canonical.dumps(event)


class ChainWriter:
    """Builds a fresh log in memory (used by ``build``)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    @property
    def head(self) -> str:
        return line_hash(self.lines[-1]) if self.lines else GENESIS

    def append(self, at: datetime, action: str, key: SigningKey, subject: dict[str, Any], details: dict[str, Any] | None = None) -> bytes:
        line = make_event(seq=len(self.lines) + 1, at=at, action=action, key=key, subject=subject, details=details, prev=self.head)
        self.lines.append(line)
        return line

    def data(self) -> bytes:
        return b"".join(line + b"\n" for line in self.lines)


@dataclass
class ChainReport:
    events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    head: str = GENESIS
    signers: dict[str, PublicKey] = field(default_factory=dict)  # fingerprint -> key (named as in events)
    line_hashes: list[str] = field(default_factory=list)
    # every line whose signature was not checked and found valid (unreadable line, no actor,
    # unusable key, no or wrong signature), named: custody-signers never passes over these
    unverified: list[str] = field(default_factory=list)


def parse_lines(data: bytes, where: str = CUSTODY_FILE) -> Iterator[tuple[int, bytes, dict[str, Any] | None, str | None]]:
    """(line number, raw line, event or None, problem or None) for every line."""
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the data ends with a newline, as every complete log does
    for n, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError(f"a JSON {type(event).__name__}, not an object")
        except RecursionError:  # hostile nesting ("[[[[…"): the decoder's depth limit
            yield n, line, None, f"{where} line {n}: not a JSON event (nested too deeply)"
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            yield n, line, None, f"{where} line {n}: not a JSON event ({exc})"
            continue
        yield n, line, event, None
    if torn:
        n = len(lines) + 1
        yield n, torn, None, f"{where} line {n}: incomplete last line (no newline): an interrupted write"


def _event_key(event: dict[str, Any], label: str, problems: list[str]) -> PublicKey | None:
    actor = event.get("actor")
    if not isinstance(actor, dict):
        what = "no actor" if actor is None else f"actor is {json_kind(actor)}, not a JSON object"
        problems.append(f"{label}: {what}; signature cannot be checked")
        return None
    try:
        key = parse_public_key(str(actor.get("public_key", "")).encode(), label)
    except (EvidpackError, ValueError, TypeError, UnsupportedAlgorithm, RecursionError) as exc:
        # an unusable key (not a key, or not Ed25519: an algorithm the library does not
        # even know) means this event's signature cannot be checked: a failed signature
        why = str(exc) if isinstance(exc, EvidpackError) else f"{type(exc).__name__}: {exc}"
        problems.append(f"{label}: signature cannot be checked: actor has no valid Ed25519 public_key ({why})")
        return None
    if key.fingerprint != actor.get("key"):
        problems.append(f"{label}: actor key {_brief(actor.get('key'))} is not the fingerprint of its public_key")
        return None
    return PublicKey(key.key, key.raw, str(actor.get("name", "")), str(actor.get("role", "")))


def check_chain(data: bytes) -> ChainReport:
    """Check every link, sequence number, time order, form and signature.

    Each event carries its actor's public key, so every signature can be checked
    for integrity; whether that key is *trusted* is the caller's question."""
    rep = ChainReport()
    prev = GENESIS
    last_at: datetime | None = None
    expected_seq = 1
    for n, line, event, problem in parse_lines(data):
        rep.line_hashes.append(line_hash(line))
        if problem or event is None:
            rep.problems.append(problem or f"line {n}: unreadable")
            rep.unverified.append(f"{CUSTODY_FILE} line {n}: unreadable, signature not checked")
            prev = line_hash(line)
            expected_seq += 1
            continue
        seq = event.get("seq")
        label = f"{CUSTODY_FILE}: event seq {_brief(seq)} (line {n})"
        if seq != expected_seq:
            rep.problems.append(f"{label}: expected seq {expected_seq} (an event was removed, inserted or reordered)")
        if event.get("prev") != prev:
            rep.problems.append(f"{label}: prev does not match the hash of the line before (chain broken)")
        if not canonical.is_canonical(line):
            rep.problems.append(f"{label}: not in canonical form (edited by hand?)")
        try:
            at = parse_rfc3339(str(event.get("at", "")))
            if last_at is not None and at < last_at:
                rep.problems.append(f"{label}: time {event['at']} is earlier than the event before")
            last_at = at
        except (ValueError, RecursionError):
            rep.problems.append(f"{label}: bad time {_brief(event.get('at'), True)}")
        if event.get("action") not in ACTIONS:
            rep.problems.append(f"{label}: unknown action {_brief(event.get('action'), True)}")
        for name in ("subject", "details"):  # every event has both, as JSON objects
            if not isinstance(event.get(name), dict):
                rep.problems.append(f"{label}: {name} is {json_kind(event.get(name))}, not a JSON object")
        key = _event_key(event, label, rep.problems)
        if key is None:
            rep.unverified.append(f"{label}: no usable actor key, signature not checked")
        else:
            body = {k: v for k, v in event.items() if k != "sig"}
            try:
                sig = base64.b64decode(str(event.get("sig", "")), validate=True)
            except ValueError:
                sig = b""
            try:
                signed = canonical.dumps(body)
            except (ValueError, RecursionError):  # NaN/Infinity, or nesting the encoder refuses
                signed = None
                rep.problems.append(f"{label}: holds values that are not canonical JSON (NaN, Infinity or deep nesting); signature cannot be checked")
            if signed is not None and key.verify(sig, signed):
                rep.signers.setdefault(key.fingerprint, key)
            else:
                if signed is not None:
                    rep.problems.append(f"{label}: signature does not match the event (altered after signing)")
                rep.unverified.append(f"{label}: signature {'does not verify' if signed is not None else 'cannot be checked'}")
        rep.events.append(event)
        prev = line_hash(line)
        expected_seq += 1
    rep.head = prev
    return rep


def _brief(value: Any, quoted: bool = False) -> str:
    """A value from a hostile line, shown short: a sequence number is an int; anything
    else is cut to a few dozen characters (it may be megabytes, or nested too deep to print)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return str(value)
    try:
        text = repr(value) if quoted else str(value)
    except (RecursionError, ValueError):
        return f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:39] + "…"


def as_object(value: Any) -> dict[str, Any]:
    """A parsed JSON value that should be an object: itself, or {} (the caller names the problem)."""
    return value if isinstance(value, dict) else {}


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, in words, for messages about values of the wrong type."""
    if value is None:
        return "missing (or null)"
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), f"a {type(value).__name__}")


@contextmanager
def locked(path: Path) -> Iterator[int]:
    """The custody log opened for appending, under an exclusive lock (flock on
    the log itself, so no extra file appears in the bundle)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise EvidpackError(f"{path}: no custody log; not an evidpack bundle?") from None
    except PermissionError:
        raise EvidpackError(f"{path}: cannot write the custody log (read-only bundle or folder)") from None
    except OSError as exc:
        raise EvidpackError(f"{path}: cannot open the custody log ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


# --- what an event appended after the seal says was checked -----------------------------
#
# Before a person's event (transferred, received, accessed, note, ...) is signed onto a
# bundle, the cheap part of `evidpack verify` is run: the seal's signature, the tag files
# (items.jsonl, the manifests, seal.json, ...) against the signed tag manifest, and the
# payload's file count and bytes against Payload-Oxum. The payload is not re-hashed (for a
# 50 GB bundle that is `evidpack verify`'s job), and the event says so in its details, so it
# never reads as more than was done. A bundle that fails is refused: a signed receipt is not
# added to evidence that no longer matches its seal (`verify --record` records the failure).

CHECKED_KEY = "checked"
CHECKED = (
    "seal and tag files only, payload files not re-hashed (run evidpack verify): before this event the seal's "
    "signature, every tag file, index.pdf and Payload-Oxum (file count and bytes) matched the seal, and the custody chain was intact"
)
# Set while a caller that has itself verified the bundle (``disclose``: seal, Merkle root
# and every disclosed file re-hashed) appends its event: no second check, no note.
_VERIFIED_BY_CALLER: ContextVar[bool] = ContextVar("evidpack_custody_verified_by_caller", default=False)


@contextmanager
def verified_by_caller() -> Iterator[None]:
    """Appends in this block skip the seal check: the caller has verified the bundle
    itself and its event records what it checked."""
    token = _VERIFIED_BY_CALLER.set(True)
    try:
        yield
    finally:
        _VERIFIED_BY_CALLER.reset(token)


def seal_problems(b: "Bundle") -> list[str]:
    """What differs from the seal, by the checks `evidpack verify` calls ``signature``,
    ``seal`` and ``tag-manifest``: the tag manifest's raw and SSHSIG signatures by
    ``signer.pem``, ``seal.json`` naming that signer and a root, and the SHA-256 of every
    tag file the tag manifest lists (no tag file outside it). No payload file is read.
    Empty when all hold."""
    from . import bag
    from .names import INCOMPLETE_MARKER, TAGMANIFEST
    from .proof import CASE_FILE, MASTER_FILES, SealedMaster, check_master
    from .verify import Report, tag_file_problems

    files = {rel: data for rel in (*MASTER_FILES, CASE_FILE) if (data := b.read(rel)) is not None}
    if TAGMANIFEST not in files:
        return [f"{TAGMANIFEST}: missing; not a sealed bundle"]
    rep = Report(str(b.path))
    check_master(rep, SealedMaster(files), [], extra=(CASE_FILE,))
    problems = [p for c in rep.checks if c.verdict == "fail" for p in (c.problems or (c.reason,))]
    entries, bad = bag.parse_manifest(files[TAGMANIFEST], TAGMANIFEST)
    problems += [p.text for p in bad]
    tag_files = b.files(payload=False)
    # (seal.json, signer.pem and case.json: check_master compared them)
    problems += tag_file_problems(b, entries, tag_files, compared=frozenset(files))
    if INCOMPLETE_MARKER in tag_files:
        problems.append(f"{INCOMPLETE_MARKER}: present: the build that made this bundle did not finish")
    problems += [f"{s}: not a regular file (symlink or special file) inside the bundle" for s in b.special]
    return problems


def history_problems(b: "Bundle", *, chain: bool = True) -> list[str]:
    """What `evidpack verify` names under ``index-pdf`` and ``custody``: index.pdf is
    signed by signer.pem and is the one the 'sealed' event records; with ``chain``, the
    custody log's links, order and signatures hold, with one 'sealed' event naming this
    tag manifest. Whom to trust is not asked. For a bundle :func:`seal_problems` passed."""
    from .keys import parse_public_key
    from .names import TAGMANIFEST
    from .verify import Report, check_custody, check_index_pdf

    signer = parse_public_key(b.read("evidpack/signer.pem") or b"", "evidpack/signer.pem")
    rep = Report(str(b.path))
    check_index_pdf(b, rep, signer)
    if chain:
        check_custody(b, rep, signer, [], hashlib.sha256(b.read(TAGMANIFEST) or b"").hexdigest(), None)
    return [p for c in rep.checks if c.name in ("index-pdf", "custody") and c.verdict == "fail" for p in (c.problems or (c.reason,))]


def payload_count_problems(b: "Bundle") -> list[str]:
    """The payload's file count and bytes against Payload-Oxum (bag-info.txt, a tag file
    covered by the seal): every file is listed, none is read."""
    from . import bag

    files = size = 0
    for _rel, n in b.walk_payload():
        files += 1
        size += n
    oxum = (bag.parse_bag_info(b.read("bag-info.txt") or b"").get("Payload-Oxum") or [""])[0]
    problems = [f"{s}: not a regular file (symlink or special file) in the payload" for s in b.special if s == "data" or s.startswith("data/")]
    if oxum != f"{size}.{files}":
        problems.append(f"the payload holds {files} file(s), {size} bytes; Payload-Oxum (sealed) says {oxum or '(none)'} (bytes.files)")
    return problems


def _check_before_append(bundle: Path, action: str) -> None:
    """Refuse (IntegrityError) to sign an event onto a bundle that no longer matches its seal."""
    from .bundle import Bundle

    with Bundle.open(bundle) as b:
        # (the chain is checked by append, under the lock, just before it writes)
        problems = seal_problems(b) or history_problems(b, chain=False) or payload_count_problems(b)
    refuse_unsealed(bundle, problems, f"add a '{action}' event", " (with --record --key it records the failure)")


def refuse_unsealed(bundle: Path | str, problems: list[str], doing: str, also: str = "") -> None:
    """Raise IntegrityError, in one line, when ``problems`` (from :func:`seal_problems`) is not empty."""
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise IntegrityError(
            f"{bundle}: refusing to {doing}: the bundle does not match its seal: {problems[0]}{more}; "
            f"run `evidpack verify {bundle}` for the full report{also}"
        )


def _records_own_check(action: str, details: dict[str, Any]) -> bool:
    """An event that records a verification itself (``verify --record``: its result,
    failed and skipped checks) is appended whatever the result: a failed verification
    is worth recording."""
    return action == "verified" and "result" in details and "failed_checks" in details


@dataclass(frozen=True)
class Appended:
    seq: int
    head: str
    event: dict[str, Any]


def append(
    bundle: Path,
    action: str,
    key: SigningKey,
    details: dict[str, Any],
    *,
    at: datetime | None = None,
) -> Appended:
    """Append one signed event to a bundle folder's custody log.

    Under the lock, the whole log is re-read and its chain checked first: an
    event is never chained onto a log that is already broken, and nothing
    already in the log is rewritten. The new line is written with one
    ``write`` on an O_APPEND descriptor and fsynced.

    Unless the event records a verification itself (``verify --record``) or the caller
    has verified the bundle (:func:`verified_by_caller`), the seal and tag files are
    checked first (:func:`seal_problems`, :func:`history_problems`, and the payload's count and bytes), a bundle
    that fails is refused, and the event's details say what was checked
    (``checked``: :data:`CHECKED`)."""
    if action not in ACTIONS:
        raise EvidpackError(f"--action {action!r} is not one of: {', '.join(ACTIONS)}")
    bundle = Path(bundle)
    if bundle.is_file():
        raise EvidpackError(f"{bundle}: a zipped bundle is read-only; add custody events to the bundle folder")
    if not (bundle / "bagit.txt").is_file() or not (bundle / "evidpack/seal.json").is_file():
        raise EvidpackError(f"{bundle}: not an evidpack bundle folder")
    subject = _subject(bundle)
    if not _VERIFIED_BY_CALLER.get() and not _records_own_check(action, details):
        if CHECKED_KEY in details:
            raise EvidpackError(f"detail {CHECKED_KEY!r} is written by evidpack (what it checked before the event); use another name")
        _check_before_append(bundle, action)
        details = {**details, CHECKED_KEY: CHECKED}
    path = bundle / CUSTODY_FILE
    with locked(path) as fd:
        data = _read_all(fd)
        chain = check_chain(data)
        if chain.problems:
            raise IntegrityError(f"{path}: refusing to append to a broken custody log: {chain.problems[0]}")
        if not chain.events:
            raise IntegrityError(f"{path}: the custody log is empty; the bundle's history is missing")
        when = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        last_at = parse_rfc3339(chain.events[-1]["at"])
        if when < last_at:
            raise EvidpackError(
                f"this computer's clock ({format_utc(when)}) is behind the last custody event ({chain.events[-1]['at']}); fix the clock"
            )
        seq = len(chain.events) + 1
        line = make_event(seq=seq, at=when, action=action, key=key, subject=subject, details=details, prev=chain.head)
        try:
            os.write(fd, line + b"\n")
            os.fsync(fd)
        except OSError as exc:
            raise EvidpackError(f"{path}: could not append ({exc.strerror}); the log is unchanged") from None
    return Appended(seq, line_hash(line), json.loads(line))


def _subject(bundle: Path) -> dict[str, Any]:
    """What every post-seal event is about: the case and the sealed tag manifest."""
    try:
        case_id = json.loads((bundle / "evidpack/case.json").read_bytes())["id"]
        tm = (bundle / "tagmanifest-sha256.txt").read_bytes()
    except (OSError, ValueError, KeyError):
        raise EvidpackError(f"{bundle}: not an evidpack bundle folder (case.json or tag manifest unreadable)") from None
    return {"case": case_id, "tagmanifest_sha256": hashlib.sha256(tm).hexdigest()}
