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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import canonical
from .errors import EvidpackError
from .keys import PublicKey, SigningKey
from .timeutil import format_utc, parse_rfc3339

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
CUSTODY_FILE = "evidpack/custody.jsonl"


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
        "actor": {"name": key.public.name, "role": key.public.role, "key": key.public.fingerprint},
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
    signers: dict[str, str] = field(default_factory=dict)  # fingerprint -> name


def parse_lines(data: bytes, where: str = CUSTODY_FILE) -> Iterator[tuple[int, bytes, dict[str, Any] | None, str | None]]:
    """(line number, raw line, event or None, problem or None) for every line."""
    if data and not data.endswith(b"\n"):
        # A final line without newline is an interrupted append: still examined.
        pass
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError) as exc:
            yield n, line, None, f"{where} line {n}: not a JSON event ({exc})"
            continue
        yield n, line, event, None


def check_chain(data: bytes, known_keys: dict[str, PublicKey]) -> ChainReport:
    """Check links, order, sequence numbers and every signature.

    ``known_keys`` maps SSH fingerprints to public keys able to check signatures
    (the sealer's key from the bundle, plus every key the verifier trusts). An
    event whose key is not known cannot have its signature checked: a problem."""
    rep = ChainReport()
    prev = GENESIS
    last_at: datetime | None = None
    expected_seq = 1
    for n, line, event, problem in parse_lines(data):
        if problem:
            rep.problems.append(problem)
            prev = line_hash(line)
            expected_seq += 1
            continue
        assert event is not None
        seq = event.get("seq")
        label = f"event seq {seq} (line {n})"
        if seq != expected_seq:
            rep.problems.append(f"{label}: expected seq {expected_seq} (an event was removed, inserted or reordered)")
        if event.get("prev") != prev:
            rep.problems.append(f"{label}: prev does not match the hash of the line before (chain broken)")
        if not canonical.is_canonical(line):
            rep.problems.append(f"{label}: not in canonical form (edited by hand?)")
        try:
            at = parse_rfc3339(event.get("at", ""))
            if last_at is not None and at < last_at:
                rep.problems.append(f"{label}: time {event['at']} is earlier than the event before")
            last_at = at
        except (ValueError, TypeError):
            rep.problems.append(f"{label}: bad time {event.get('at')!r}")
        if event.get("action") not in ACTIONS:
            rep.problems.append(f"{label}: unknown action {event.get('action')!r}")
        actor = event.get("actor") or {}
        fp = actor.get("key", "") if isinstance(actor, dict) else ""
        key = known_keys.get(fp)
        body = {k: v for k, v in event.items() if k != "sig"}
        if key is None:
            rep.problems.append(f"{label}: signed by unknown key {fp or '(none)'}; cannot check its signature")
        else:
            try:
                sig = base64.b64decode(event.get("sig", ""), validate=True)
            except (ValueError, TypeError):
                sig = b""
            if not key.verify(sig, canonical.dumps(body)):
                rep.problems.append(f"{label}: signature does not match the event (altered, or not signed by {fp})")
            else:
                rep.signers[fp] = actor.get("name", "")
        rep.events.append(event)
        prev = line_hash(line)
        expected_seq += 1
    rep.head = prev
    return rep


@contextmanager
def locked(path: Path) -> Iterator[int]:
    """An exclusive lock on the custody log for one append (POSIX advisory lock)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except PermissionError:
        raise EvidpackError(f"{path}: cannot write the custody log (read-only bundle?)") from None
    except FileNotFoundError:
        raise EvidpackError(f"{path}: no custody log; not an evidpack bundle?") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)
