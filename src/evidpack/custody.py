"""The custody log: append-only, every event signed by its actor and chained by hash.

Each line of ``evidpack/custody.jsonl`` is one canonical JSON event. ``prev`` is
the SHA-256 of the previous line's bytes (without its newline); the first event's
``prev`` is 64 zeros. ``sig`` is the actor's Ed25519 signature over the canonical
event without ``sig``. The head hash (SHA-256 of the last line) is the receipt
every custody command prints.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
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
    "repaired",
)


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def event_time(moment: datetime) -> datetime:
    """When an event read from the clock is recorded: in UTC, cut (never rounded up) to the
    whole second, so that no event claims a moment later than it was made. A naive time,
    or one outside the years 1-9999, is passed on for :func:`format_utc` to refuse."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(timezone.utc).replace(microsecond=0)
    except OverflowError:
        return moment


def make_event(
    *,
    seq: int,
    at: datetime,
    action: str,
    key: SigningKey,
    subject: dict[str, Any],
    details: dict[str, Any] | None,
    prev: str,
    exact_time: bool = False,
) -> bytes:
    """The canonical, signed line for one event (without the newline).

    ``at`` is written to the whole second (:func:`event_time`: ``2026-11-23T09:14:02Z``),
    whatever clock it was read from; with ``exact_time`` it is written as given (a build
    time given with a fraction, ``--time``, which ``seal.json`` and ``case.json`` carry
    too; or an event that, cut, would be earlier than the one before it)."""
    if action not in ACTIONS:
        raise EvidpackError(f"unknown custody action {action!r}; one of: {', '.join(ACTIONS)}")
    event: dict[str, Any] = {
        "seq": seq,
        "at": format_utc(at if exact_time else event_time(at)),
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
        # (the build time as given: whole seconds from the clock, or --time / SOURCE_DATE_EPOCH
        # as written, the same moment seal.json's sealed_at and case.json's created name)
        line = make_event(seq=len(self.lines) + 1, at=at, action=action, key=key, subject=subject, details=details, prev=self.head,
                          exact_time=True)
        self.lines.append(line)
        return line

    def data(self) -> bytes:
        return b"".join(line + b"\n" for line in self.lines)


# One event is a few kilobytes (a note of megabytes is possible, and is kept whole); an
# append never writes a longer line than this. A longer line is not read as an event (its
# hash is still taken, streamed): decoding a line of hundreds of megabytes would take
# gigabytes of memory, in verify, show and every append.
MAX_LINE = 32 << 20
# How far after this computer's clock an event's time may lie (clocks disagree a little);
# an event dated later was not recorded when it says, and would block every honest append.
FUTURE_SLACK = timedelta(days=1)


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
    # events dated more than FUTURE_SLACK after this computer's clock: not an integrity
    # problem (the bytes and signatures may be intact, and the clock reading them may be
    # wrong), but no event can be appended after them honestly; verify warns, add refuses
    future: list[str] = field(default_factory=list)
    count: int = 0  # events read (also when ``events`` is not kept)
    last: dict[str, Any] | None = None  # the last event read
    last_line: int = 0  # its line number


@dataclass(frozen=True)
class RawLine:
    """One line of a log read as a stream: its bytes (None when longer than ``MAX_LINE``:
    not kept), the SHA-256 of all of them, its length, and whether it lacks its newline."""

    n: int
    data: bytes | None
    digest: str
    size: int
    torn: bool
    start: bytes = b""  # of a line too long to keep: its first bytes, when asked for (``keep_start``)


def iter_raw_lines(
    read: Callable[[int], bytes], max_line: int = MAX_LINE, chunk: int = 1 << 20, *, keep_start: int = 0
) -> Iterator[RawLine]:
    """The lines of a stream (``read(n)`` returns b"" at its end), each hashed as read and
    kept only up to ``max_line`` bytes: memory stays flat however long a line or log is.
    Of a longer line, only its first ``keep_start`` bytes are kept (``RawLine.start``)."""
    n = 0
    parts: list[bytes] = []
    kept = 0
    size = 0
    start = b""
    h = hashlib.sha256()
    while True:
        buf = read(chunk)
        if not buf:
            break
        at = 0
        while at < len(buf):
            nl = buf.find(b"\n", at)
            piece = buf[at:] if nl < 0 else buf[at:nl]
            h.update(piece)
            size += len(piece)
            if kept <= max_line:
                parts.append(piece)
                kept += len(piece)
                if kept > max_line:
                    start = b"".join(parts)[:keep_start] if keep_start else b""
                    parts = []  # (too long to be an event: only its hash and length are kept)
            if nl < 0:
                break
            n += 1
            yield RawLine(n, b"".join(parts) if kept <= max_line else None, h.hexdigest(), size, False, start)
            parts, kept, size, start, h = [], 0, 0, b"", hashlib.sha256()
            at = nl + 1
    if size or parts:
        n += 1
        yield RawLine(n, b"".join(parts) if kept <= max_line else None, h.hexdigest(), size, True, start)


def _raw_lines_of(data: bytes) -> Iterator[RawLine]:
    view = memoryview(data)
    pos = 0

    def read(k: int) -> bytes:
        nonlocal pos
        out = bytes(view[pos : pos + k])
        pos += len(out)
        return out

    return iter_raw_lines(read)


def parse_event(raw: RawLine, where: str) -> tuple[dict[str, Any] | None, str | None]:
    """A custody line read back: (the event, None), or (None, why it cannot be
    one: a torn last line, a line too long to read, not a JSON object), the
    problem naming ``where`` and the line's number."""
    n = raw.n
    if raw.torn:
        return None, f"{where} line {n}: incomplete last line (no newline): an interrupted write"
    if raw.data is None:
        return None, f"{where} line {n}: {raw.size} bytes long, more than the {MAX_LINE >> 20} MiB an event can hold; not read"
    try:
        event = json.loads(raw.data)
        if not isinstance(event, dict):
            raise ValueError(f"a JSON {type(event).__name__}, not an object")
    except RecursionError:  # hostile nesting ("[[[[…"): the decoder's depth limit
        return None, f"{where} line {n}: not a JSON event (nested too deeply)"
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"{where} line {n}: not a JSON event ({_brief(str(exc), limit=120)})"
    return event, None


def parse_lines(data: bytes, where: str = CUSTODY_FILE) -> Iterator[tuple[int, bytes, dict[str, Any] | None, str | None]]:
    """(line number, raw line, event or None, problem or None) for every line. A line
    longer than ``MAX_LINE`` is not decoded (its problem says so)."""
    at = 0
    n = 0
    while at < len(data):
        nl = data.find(b"\n", at)
        end = len(data) if nl < 0 else nl
        line = data[at:end]
        n += 1
        raw = RawLine(n, line if len(line) <= MAX_LINE else None, "", len(line), nl < 0)
        event, problem = parse_event(raw, where)
        yield n, line, event, problem
        at = end + 1


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


class _Capped(list):  # type: ignore[type-arg]
    """A list that keeps its first ``cap`` items and only counts the rest (``dropped``)."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap
        self.dropped = 0

    def append(self, item: Any) -> None:
        if len(self) < self.cap:
            super().append(item)
        else:
            self.dropped += 1


def total(items: list[Any]) -> int:
    """How many items were added to a (possibly capped) list of problems."""
    return len(items) + getattr(items, "dropped", 0)


class ChainChecker:
    """Checks a log line by line (:meth:`feed`), keeping the events only when asked.
    Without them, only the first ``MAX_KEPT`` problems are kept (the rest are counted):
    a log of a million bad lines is read in flat memory too."""

    MAX_KEPT = 1000

    def __init__(self, *, keep_events: bool = True, now: datetime | None = None) -> None:
        self.rep = ChainReport()
        if not keep_events:
            self.rep.problems = _Capped(self.MAX_KEPT)
            self.rep.unverified = _Capped(self.MAX_KEPT)
            self.rep.future = _Capped(self.MAX_KEPT)
        self.keep_events = keep_events
        self.prev = GENESIS
        self.last_at: datetime | None = None
        self.expected_seq = 1
        self.latest = (now or datetime.now(timezone.utc)) + FUTURE_SLACK

    def feed(self, raw: RawLine) -> dict[str, Any] | None:
        """Check one line; its event (None when unreadable)."""
        rep = self.rep
        n = raw.n
        if self.keep_events:  # (receipts are looked up by verify; an append needs only the head)
            rep.line_hashes.append(raw.digest)
        event, problem = parse_event(raw, CUSTODY_FILE)
        if event is None:
            rep.problems.append(problem or f"line {n}: unreadable")
            rep.unverified.append(f"{CUSTODY_FILE} line {n}: unreadable, signature not checked")
            self.prev = raw.digest
            self.expected_seq += 1
            return None
        line = raw.data or b""
        seq = event.get("seq")
        label = f"{CUSTODY_FILE}: event seq {_brief(seq)} (line {n})"
        if type(seq) is not int or seq != self.expected_seq:  # (true == 1 and 7.0 == 7 in Python)
            rep.problems.append(f"{label}: expected seq {self.expected_seq} (an event was removed, inserted or reordered)")
        if event.get("prev") != self.prev:
            rep.problems.append(f"{label}: prev does not match the hash of the line before (chain broken)")
        if not canonical.is_canonical(line):
            rep.problems.append(f"{label}: not in canonical form (edited by hand?)")
        try:
            at = parse_rfc3339(event["at"] if isinstance(event.get("at"), str) else "")
            if self.last_at is not None and at < self.last_at:
                rep.problems.append(f"{label}: time {_brief(event['at'])} is earlier than the event before")
            if at > self.latest:
                rep.future.append(
                    f"{label}: time {_brief(event['at'])} is in the future (this computer's clock says "
                    f"{format_utc(self.latest - FUTURE_SLACK)}): not when it was recorded"
                )
            self.last_at = at
        except (ValueError, RecursionError, OverflowError):
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
        if self.keep_events:
            rep.events.append(event)
        rep.count += 1
        rep.last, rep.last_line = event, n
        self.prev = raw.digest
        self.expected_seq += 1
        return event

    def done(self) -> ChainReport:
        self.rep.head = self.prev
        return self.rep


def check_chain(data: bytes, *, now: datetime | None = None) -> ChainReport:
    """Check every link, sequence number, time order, form and signature.

    Each event carries its actor's public key, so every signature can be checked
    for integrity; whether that key is *trusted* is the caller's question."""
    checker = ChainChecker(now=now)
    for raw in _raw_lines_of(data):
        checker.feed(raw)
    return checker.done()


def check_chain_stream(read: Callable[[int], bytes], *, keep_events: bool = False, now: datetime | None = None) -> ChainReport:
    """:func:`check_chain` of a stream, in flat memory (the events are not kept unless asked:
    ``last`` and ``count`` say what an append needs)."""
    checker = ChainChecker(keep_events=keep_events, now=now)
    for raw in iter_raw_lines(read):
        checker.feed(raw)
    return checker.done()


def _brief(value: Any, quoted: bool = False, limit: int = 40) -> str:
    """A value from a hostile line, shown short: a sequence number is an int; anything
    else is cut to a few dozen characters (it may be megabytes, or nested too deep to print)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return str(value)
    if isinstance(value, str) and len(value) > 4 * limit:
        value = value[: 4 * limit]  # (never repr megabytes to show a few dozen characters)
    try:
        text = repr(value) if quoted else str(value)
    except (RecursionError, ValueError):
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    the log itself, so no extra file appears in the bundle).

    Only a regular file inside the bundle's own ``evidpack`` folder is opened: no
    symbolic link is followed, neither for the log nor for its folder, and a FIFO or
    device put in its place is refused (never waited on, never read). A log replaced
    while this process waited for the lock is refused too (its lock guards nothing)."""
    path = Path(path)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | nofollow)
    except FileNotFoundError:
        raise EvidpackError(f"{path}: no custody log; not an evidpack bundle?") from None
    except OSError as exc:
        why = "a symbolic link or not a folder" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else exc.strerror
        raise EvidpackError(f"{path.parent}: cannot open the folder of the custody log ({why})") from None
    try:
        fd = os.open(path.name, os.O_RDWR | os.O_APPEND | os.O_NONBLOCK | nofollow, dir_fd=dfd)
    except FileNotFoundError:
        raise EvidpackError(f"{path}: no custody log; not an evidpack bundle?") from None
    except PermissionError:
        raise EvidpackError(f"{path}: cannot write the custody log (read-only bundle or folder)") from None
    except OSError as exc:
        why = "a symbolic link, never followed" if exc.errno == errno.ELOOP else exc.strerror
        raise EvidpackError(f"{path}: cannot open the custody log ({why})") from None
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise IntegrityError(f"{path}: not a regular file (a FIFO, device or socket); refusing to read or append to it")
        os.set_blocking(fd, True)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            now = os.stat(path, follow_symlinks=False)
        except OSError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise IntegrityError(f"{path}: the custody log was replaced while waiting for the lock; nothing appended, try again")
        yield fd
    finally:
        os.close(fd)


def _most(limit: int) -> str:
    """A read limit, as messages name it (as :class:`~evidpack.bundle.Bundle` does)."""
    return f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"


def _log_reader(fd: int, path: Path) -> Callable[[int], bytes]:
    """``read(n)`` over the whole log from its start, refusing a log larger than
    ``verify`` reads (it would be refused there)."""
    from .bundle import TAG_READ_LIMIT

    size = os.fstat(fd).st_size
    if size > TAG_READ_LIMIT:
        raise IntegrityError(
            f"{path.parent.parent}: {CUSTODY_FILE} is {size} bytes, more than the {_most(TAG_READ_LIMIT)} a custody log can plausibly hold "
            "(evidpack verify refuses it); refusing to append"
        )
    os.lseek(fd, 0, os.SEEK_SET)
    return _bounded(fd, lambda: IntegrityError(f"{path}: grew past {_most(TAG_READ_LIMIT)} while being read; refusing to append"))


def _bounded(fd: int, too_large: Callable[[], Exception]) -> Callable[[int], bytes]:
    """``read(n)`` from ``fd`` that raises ``too_large()`` rather than read past the
    tag-file limit (a log that grows while it is read)."""
    from .bundle import TAG_READ_LIMIT

    left = TAG_READ_LIMIT + 1

    def read(n: int) -> bytes:
        nonlocal left
        out = os.read(fd, min(n, left)) if left > 0 else b""
        left -= len(out)
        if left <= 0 and out:
            raise too_large()
        return out

    return read


@contextmanager
def open_log(bundle: Path) -> Iterator[Callable[[int], bytes]]:
    """``read(n)`` over a bundle's custody log (a folder's or a zip's), for reading it as a
    stream. In a folder, neither the log nor ``evidpack/`` may be a symbolic link, and the
    log must be a regular file (a FIFO is never waited on); a log larger than ``verify``
    reads, or a zip member that would inflate implausibly, is refused unread."""
    from .bundle import TAG_READ_LIMIT, Bundle, zip_bomb_problem

    bundle = Path(bundle)
    log = bundle / CUSTODY_FILE
    too_large = f"{bundle}: {CUSTODY_FILE} is {{}} bytes, more than the {_most(TAG_READ_LIMIT)} a custody log can plausibly hold; refusing to read it"
    with Bundle.open(bundle) as b:
        if b.is_zip:
            info = b.zip_member(CUSTODY_FILE)
            if info is None:
                raise EvidpackError(f"{bundle}: no {CUSTODY_FILE}")
            bomb = zip_bomb_problem(info)
            if bomb is not None:
                raise EvidpackError(f"{bundle}: {bomb}")
            if info.file_size > TAG_READ_LIMIT:
                raise EvidpackError(too_large.format(info.file_size))
            import zipfile

            with b.open_stream(CUSTODY_FILE) as fh:

                def read_zip(n: int) -> bytes:
                    try:
                        return fh.read(n)
                    except (zipfile.BadZipFile, OSError, EOFError) as exc:
                        raise EvidpackError(f"{bundle}: member {info.filename} cannot be read ({exc})") from None

                yield read_zip
            return
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    fd = dfd = -1
    try:
        dfd = os.open(bundle / "evidpack", os.O_RDONLY | os.O_DIRECTORY | nofollow)
        fd = os.open("custody.jsonl", os.O_RDONLY | os.O_NONBLOCK | nofollow, dir_fd=dfd)
    except FileNotFoundError:
        raise EvidpackError(f"{bundle}: no {CUSTODY_FILE}") from None
    except OSError as exc:
        what = f"{bundle}/evidpack" if fd == -1 and dfd == -1 else str(log)
        why = "a symbolic link, never followed" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else exc.strerror
        raise EvidpackError(f"{what}: cannot read the custody log ({why})") from None
    finally:
        if dfd != -1:
            os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise EvidpackError(f"{log}: not a regular file (a FIFO, device or socket); refusing to read it")
        if st.st_size > TAG_READ_LIMIT:
            raise EvidpackError(too_large.format(st.st_size))
        os.set_blocking(fd, True)
        yield _bounded(fd, lambda: EvidpackError(too_large.format(f"over {TAG_READ_LIMIT}")))
    finally:
        os.close(fd)


@contextmanager
def bundle_log(b: "Bundle") -> Iterator[Callable[[int], bytes] | None]:
    """``read(n)`` over the custody log of an opened bundle, or None when it has none (or
    it is not a regular file: ``b.special`` names that), for reading it as a stream with
    the limits and messages of ``Bundle.read``: a zip member that would inflate
    implausibly, or a log larger than ``TAG_READ_LIMIT`` (also one that grows past it
    while it is read), raises :class:`~evidpack.bundle.TagFileRefused`. Memory stays flat
    however long the log (``verify``, ``custody add``'s checks, the index)."""
    import zipfile

    from .bundle import TAG_READ_LIMIT, TagFileRefused, zip_bomb_problem

    info = b.zip_member(CUSTODY_FILE)
    if b.is_zip:
        if info is None:
            yield None
            return
        bomb = zip_bomb_problem(info)
        if bomb is not None:
            raise TagFileRefused(f"{b.path}: {bomb}")
        if info.file_size > TAG_READ_LIMIT:
            raise TagFileRefused(b._too_large(info.filename, info.file_size, TAG_READ_LIMIT))
        left = TAG_READ_LIMIT + 1
        with b.open_stream(CUSTODY_FILE) as fh:

            def read_zip(n: int) -> bytes:
                nonlocal left
                try:
                    out = fh.read(min(n, left)) if left > 0 else b""
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise EvidpackError(f"{b.path}: member {info.filename} cannot be read ({exc})") from None
                left -= len(out)
                if left <= 0 and out:  # (it inflates to more than its header said)
                    raise TagFileRefused(b._too_large(info.filename, TAG_READ_LIMIT + 1, TAG_READ_LIMIT))
                return out

            yield read_zip
        return
    path = b.path / CUSTODY_FILE
    if path.is_symlink() or not path.is_file():
        yield None
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        yield None
        return
    except OSError as exc:
        raise EvidpackError(f"{b.path}: {CUSTODY_FILE} cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # (replaced by a FIFO since it was looked at: never waited on)
            yield None
            return
        if st.st_size > TAG_READ_LIMIT:
            raise TagFileRefused(b._too_large(CUSTODY_FILE, st.st_size, TAG_READ_LIMIT))
        os.set_blocking(fd, True)
        yield _bounded(fd, lambda: TagFileRefused(b._too_large(CUSTODY_FILE, TAG_READ_LIMIT + 1, TAG_READ_LIMIT)))
    finally:
        os.close(fd)


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
    bundle = _bundle_folder(bundle, "add custody events to the bundle folder")
    subject = _subject(bundle)
    if not _VERIFIED_BY_CALLER.get() and not _records_own_check(action, details):
        if CHECKED_KEY in details:
            raise EvidpackError(f"detail {CHECKED_KEY!r} is written by evidpack (what it checked before the event); use another name")
        _check_before_append(bundle, action)
        details = {**details, CHECKED_KEY: CHECKED}
    path = bundle / CUSTODY_FILE
    with locked(path) as fd:
        # (streamed: memory stays flat however long the log; only the last event is kept)
        checker = ChainChecker(keep_events=False)
        torn = False
        for raw in iter_raw_lines(_log_reader(fd, path)):
            torn = raw.torn
            checker.feed(raw)
        chain = checker.done()
        if chain.problems:
            hint = ""
            if torn and total(chain.problems) == 1:  # (only the torn last line: `custody repair` can move it out)
                hint = (
                    f"; to recover, move it out of the log, kept in a file of your choice and recorded in a signed event: "
                    f"evidpack custody repair {bundle} --key KEY --tail-to FILE (docs/custody.md, 'A torn last line')"
                )
            raise IntegrityError(f"{path}: refusing to append to a broken custody log: {chain.problems[0]}{hint}")
        when = _append_time(path, chain, at)
        seq = chain.count + 1
        line = _event_line(seq, when, action, key, subject, details, chain.head)
        _write_line(fd, path, line + b"\n")
    return Appended(seq, line_hash(line), json.loads(line))


def _append_time(path: Path, chain: ChainReport, at: datetime | None) -> datetime:
    """When an event chained onto ``chain`` (checked, without problems) is recorded: now
    (or ``at``), refused when the log is empty or it would be earlier than its last event;
    as it is written (:func:`event_time`: cut to the whole second, unless that would put it
    before the last event, which a log written by an earlier version can end with: its
    times could carry a fraction of a second; then the moment as read, to the microsecond)."""
    if chain.last is None:
        raise IntegrityError(f"{path}: the custody log is empty; the bundle's history is missing")
    if chain.future:
        raise EvidpackError(f"{path}: refusing to append: {chain.future[0]}; an event appended now would be earlier than it")
    when = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    last_at = parse_rfc3339(chain.last["at"])
    if when < last_at:
        raise EvidpackError(
            f"this computer's clock ({format_utc(when)}) is behind the last custody event "
            f"(seq {chain.count}, {_brief(chain.last['at'])}); fix the clock"
        )
    cut = event_time(when)
    return cut if cut >= last_at else when


def _bundle_folder(bundle: Path | str, advice: str) -> Path:
    """``bundle`` as a bundle folder whose log may be written, or one line saying why not."""
    bundle = Path(bundle)
    if bundle.is_file():
        raise EvidpackError(f"{bundle}: a zipped bundle is read-only; {advice}")
    if not (bundle / "bagit.txt").is_file() or not (bundle / "evidpack/seal.json").is_file():
        raise EvidpackError(f"{bundle}: not an evidpack bundle folder")
    return bundle


def _event_line(seq: int, when: datetime, action: str, key: SigningKey, subject: dict[str, Any], details: dict[str, Any], prev: str) -> bytes:
    # (``when`` is as it is to be written: :func:`_append_time` made it)
    line = make_event(seq=seq, at=when, action=action, key=key, subject=subject, details=details, prev=prev, exact_time=True)
    if len(line) > MAX_LINE:
        raise EvidpackError(f"the event would be {len(line)} bytes, more than the {MAX_LINE >> 20} MiB an event can hold; shorten its details")
    return line


# --- a torn last line ------------------------------------------------------------------------
#
# An append killed mid-write (a crash, a power cut) can leave the log ending in part of a line,
# without its newline. Nothing can be chained onto that: its bytes are no event, and the next
# event's `prev` could not name it. `evidpack custody repair` moves those bytes out of the log,
# into a file the examiner names (outside the bundle: any file added inside it fails `verify`),
# and in their place appends a signed 'repaired' event recording their offset, length and
# SHA-256 and the file's name. Nothing is deleted unrecorded: the bytes are in the file, and
# anyone can check that file against the signed event; the log verifies again, and `verify`
# names the repair.


@dataclass(frozen=True)
class Repaired:
    seq: int
    head: str
    event: dict[str, Any]
    torn_bytes: int
    torn_sha256: str
    offset: int
    saved_to: Path


def repair(bundle: Path, key: SigningKey, save_to: Path, *, note: str | None = None, at: datetime | None = None) -> Repaired:
    """Move the incomplete last line of a bundle folder's custody log into ``save_to`` (a
    new file: never overwritten) and append, in its place, a signed 'repaired' event that
    records its offset, length, SHA-256 and the file's name.

    Only a torn last line is moved: every line before it must be intact (links, order,
    signatures), and the seal is checked first, as for any event (:func:`append`). Under
    the log's lock, the bytes are copied to ``save_to`` and fsynced, checked against what
    was read, and only then replaced by the event (written over them, then the log cut to
    its end): a crash at any point leaves either the torn log as it was, or the event
    followed by what is left of the torn bytes, which a second repair moves out in turn."""
    bundle = _bundle_folder(bundle, "repair the custody log of the bundle folder")
    subject = _subject(bundle)
    _check_before_append(bundle, "repaired")
    path = bundle / CUSTODY_FILE
    with locked(path) as fd:
        checker = ChainChecker(keep_events=False)
        torn: RawLine | None = None
        offset = 0
        for raw in iter_raw_lines(_log_reader(fd, path)):
            if raw.torn:
                torn = raw
                break
            checker.feed(raw)
            offset += raw.size + 1
        chain = checker.done()
        if torn is None:
            raise EvidpackError(f"{path}: nothing to repair: the custody log ends with a complete line (repair moves out only an incomplete last line)")
        if chain.problems:
            more = f" (and {total(chain.problems) - 1} more)" if total(chain.problems) > 1 else ""
            raise IntegrityError(
                f"{path}: refusing to repair: the custody log is broken before its incomplete last line: {chain.problems[0]}{more}; "
                "repair moves out only an incomplete last line (run evidpack verify)"
            )
        when = _append_time(path, chain, at)
        end = os.fstat(fd).st_size
        if end != offset + torn.size:
            raise IntegrityError(f"{path}: changed while it was read (it is {end} bytes, not {offset + torn.size}); nothing changed, try again")
        details: dict[str, Any] = {
            "torn_line": torn.n,
            "torn_offset": offset,
            "torn_bytes": torn.size,
            "torn_sha256": torn.digest,
            "saved_as": save_to.name,
        }
        if note is not None:
            details["note"] = note
        details[CHECKED_KEY] = CHECKED
        seq = chain.count + 1
        line = _event_line(seq, when, "repaired", key, subject, details, chain.head)
        digest = _save_tail(fd, offset, end, save_to)
        if digest != torn.digest:
            raise IntegrityError(f"{path}: its last line changed while it was read; the log is unchanged, {save_to} holds what was read last")
        _replace_tail(fd, path, offset, end, line + b"\n", save_to)
    return Repaired(seq, line_hash(line), json.loads(line), torn.size, torn.digest, offset, save_to)


def _save_tail(fd: int, offset: int, end: int, save_to: Path) -> str:
    """Copy the log's bytes from ``offset`` to ``end`` into the new file ``save_to`` (made
    read-only, fsynced with its folder); their SHA-256."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        out = os.open(save_to, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o444)
    except FileExistsError:
        raise EvidpackError(f"{save_to}: already exists; it is never overwritten: name a new file for the torn bytes") from None
    except OSError as exc:
        raise EvidpackError(f"{save_to}: cannot create it for the torn bytes ({exc.strerror or exc}); the log is unchanged") from None
    h = hashlib.sha256()
    try:
        at = offset
        while at < end:
            chunk = os.pread(fd, min(1 << 20, end - at), at)
            if not chunk:
                break
            h.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view) :]
            at += len(chunk)
        os.fsync(out)
    except OSError as exc:
        os.close(out)
        out = -1
        try:
            os.unlink(save_to)
        except OSError:
            pass
        raise EvidpackError(f"{save_to}: cannot write the torn bytes ({exc.strerror or exc}); the log is unchanged") from None
    finally:
        if out != -1:
            os.close(out)
    _fsync_folder(save_to.parent)
    return h.hexdigest()


def _fsync_folder(folder: Path) -> None:
    try:
        dfd = os.open(folder if str(folder) else ".", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _replace_tail(fd: int, path: Path, offset: int, end: int, data: bytes, saved: Path) -> None:
    """Write ``data`` (the 'repaired' event and its newline) over the torn bytes at
    ``offset`` and cut the log to its end; on failure, put the torn bytes back (from
    ``saved``), so the log is as it was."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_APPEND)  # (pwrite on an O_APPEND descriptor appends, on Linux)
    try:
        done = os.pwrite(fd, data, offset)
        if done != len(data):
            raise OSError(errno.ENOSPC, f"only {done} of {len(data)} bytes written")
        if offset + len(data) < end:
            os.ftruncate(fd, offset + len(data))
        os.fsync(fd)
    except OSError as exc:
        try:
            with open(saved, "rb") as src:
                at = offset
                while chunk := src.read(1 << 20):
                    os.pwrite(fd, chunk, at)
                    at += len(chunk)
            os.ftruncate(fd, end)
            os.fsync(fd)
        except OSError as undo:
            raise EvidpackError(
                f"{path}: could not write the 'repaired' event ({exc.strerror}), nor put the torn bytes back ({undo.strerror}): "
                f"the log still ends in an incomplete line (run evidpack custody repair again); the torn bytes are in {saved}"
            ) from None
        raise EvidpackError(f"{path}: could not write the 'repaired' event ({exc.strerror}); the log is as it was, the torn bytes also in {saved}") from None
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)


def _write_line(fd: int, path: Path, data: bytes) -> None:
    """Append ``data`` (one event and its newline) and fsync it, or leave the log exactly as
    it was: a short write (a full disk) or a failed write or fsync is cut off again, so no
    half-written event stays behind (the lock is held: nobody else appended meanwhile)."""
    size = os.fstat(fd).st_size
    try:
        done = os.write(fd, data)
        if done != len(data):
            raise OSError(errno.ENOSPC, f"only {done} of {len(data)} bytes written")
        os.fsync(fd)
    except OSError as exc:
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError as undo:
            raise EvidpackError(
                f"{path}: could not append ({exc.strerror}), nor remove the partial event ({undo.strerror}): "
                f"the log now ends in an incomplete line; it was {size} bytes (evidpack custody repair moves it out: docs/custody.md)"
            ) from None
        raise EvidpackError(f"{path}: could not append ({exc.strerror}); the log is unchanged") from None


def _subject(bundle: Path) -> dict[str, Any]:
    """What every post-seal event is about: the case and the sealed tag manifest."""
    try:
        case_id = json.loads((bundle / "evidpack/case.json").read_bytes())["id"]
        tm = (bundle / "tagmanifest-sha256.txt").read_bytes()
    except (OSError, ValueError, KeyError):
        raise EvidpackError(f"{bundle}: not an evidpack bundle folder (case.json or tag manifest unreadable)") from None
    return {"case": case_id, "tagmanifest_sha256": hashlib.sha256(tm).hexdigest()}
