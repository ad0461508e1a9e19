"""Disclosure packages: the evidence relied on, checkable against the sealed original.

A package is one zip (AES-256 with a password) holding the disclosed files, each
item's record and Merkle inclusion proof, the master's signed tag manifest, its
signatures and ``seal.json``, any redacted derivatives (with the sealed item each
was made from and why), the custody log up to and including the ``disclosed``
event, a ``disclosure.json`` signed by the discloser, and a PDF schedule.

Nothing about an undisclosed item goes in: salted leaves make the audit paths
opaque, and custody events that could describe undisclosed items are carried
only as their line hash (see :func:`custody_plan`), which keeps the chain checkable.

Order of work, so that a failed disclosure leaves no package and no event: the
selection is checked, the package is written completely into a hidden temporary
file (every file re-checked against its sealed digests on the way in), then the
``disclosed`` event — predicted exactly, since Ed25519 is deterministic — is
appended to the master's log, and the only step after that is the rename.
"""

from __future__ import annotations

import copy
import fnmatch
import gzip
import hashlib
import io
import os
import re
import secrets
import signal
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import pyzipper

from . import __version__, canonical, custody
from .atomic import Interrupted, fsync_dir, in_main_thread, sigterm_interrupts
from .names import DISCLOSURE_FILE, SIG_FILE, SSHSIG_FILE, TAGMANIFEST
from .bundle import Bundle
from .errors import EvidpackError, IntegrityError
from .hashing import DEFAULT_ALGORITHMS, copy_and_hash
from .keys import SigningKey
from .proof import ALLOWED_SIGNERS, CASE_FILE, SEAL_FILE, SIGNER_FILE, ItemLine, Master, digest_problems, hash_input, open_master
from .timeutil import format_utc, parse_rfc3339

DISCLOSURE_FORMAT = "evidpack-disclosure/1"
DISCLOSURE_SIG = "disclosure.json.sig"
DISCLOSURE_SSHSIG = "disclosure.json.sshsig"
DISCLOSER_KEY = "discloser.pem"
CUSTODY_MEMBER = "custody.jsonl"
SCHEDULE = "schedule.pdf"
README = "README.txt"
# The master's files carried in the package, under master/ with their bag-relative names.
MASTER_IN_PACKAGE = (TAGMANIFEST, SIG_FILE, SSHSIG_FILE, SEAL_FILE, SIGNER_FILE, CASE_FILE, ALLOWED_SIGNERS)
MIN_PASSWORD = 8

_ID = re.compile(r"^E\d{4,}(/M\d{6,})?$")
_MEMBERS_OF = re.compile(r"^(E\d{4,})/\*$")
_SOURCE = re.compile(r"^(S\d{2,})(/\*)?$")
_HEXTOKEN = re.compile(r"^[0-9a-fA-F]{32,}$")
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")  # key fingerprints: random text, never names
_UNSAFE_CHARS = re.compile(r'[\\:*?"<>|\x00-\x1f\x7f]')


def member_dir(exhibit_id: str) -> str:
    """``E0001/M000017`` -> ``E0001_M000017``: one folder per exhibit in the package."""
    return exhibit_id.replace("/", "_")


def proof_member(exhibit_id: str) -> str:
    return f"items/{member_dir(exhibit_id)}.proof.json"


def safe_name(name: str, fallback: str = "file") -> str:
    """A file name any extractor can write (the record keeps the exact original)."""
    base = _UNSAFE_CHARS.sub("_", name.rstrip("/").rsplit("/", 1)[-1]).strip()  # (a folder entry's name ends in '/')
    return fallback if base in ("", ".", "..") else base


# --- selection ----------------------------------------------------------------------


def display_name(rec: dict[str, Any]) -> str:
    return str(rec.get("path") or rec.get("member_path") or rec.get("original_path") or "")


def _match_glob(pattern: str, rec: dict[str, Any]) -> bool:
    """``*`` matches across ``/``; a pattern without ``/`` also matches the bare file name."""
    for key in ("path", "original_path", "member_path"):
        value = rec.get(key)
        if not isinstance(value, str):
            continue
        if fnmatch.fnmatchcase(value, pattern):
            return True
        if "/" not in pattern and fnmatch.fnmatchcase(value.rsplit("/", 1)[-1], pattern):
            return True
    return False


@dataclass(frozen=True)
class Spec:
    """One --include/--exclude argument: an exhibit id, ``E0001/*`` (its members),
    a source (``S02`` or ``S02/*``), ``tag:NAME``, or a glob on the item's path."""

    text: str
    option: str

    @property
    def shown(self) -> str:
        """As the user typed it, for messages."""
        return f"{self.option} {self.text[4:] if self.option.endswith('-tag') else self.text}"

    def matches(self, item: ItemLine) -> bool:
        rec = item.record
        if self.text.startswith("tag:"):
            return self.text[4:] in (rec.get("tags") or [])
        if _ID.match(self.text):
            return item.id == self.text
        m = _MEMBERS_OF.match(self.text)
        if m:
            return rec.get("kind") == "member" and rec.get("container") == m.group(1)
        m = _SOURCE.match(self.text)
        if m:
            return rec.get("source") == m.group(1)
        return _match_glob(self.text, rec)

    def check_known(self, master: Master) -> None:
        """Bad input that is not merely 'matches nothing': an id or source the bundle lacks."""
        if _ID.match(self.text) and self.text not in master.by_id:
            raise EvidpackError(f"{self.option} {self.text}: no such exhibit in {master.path.name}")
        m = _SOURCE.match(self.text)
        if m and not any(it.record.get("source") == m.group(1) for it in master.items):
            raise EvidpackError(f"{self.option} {self.text}: no source {m.group(1)} in {master.path.name}")
        if self.text.startswith("tag:") and not self.text[4:]:
            raise EvidpackError(f"{self.option} {self.text}: empty tag")


@dataclass(frozen=True)
class Redaction:
    """A redacted derivative made outside evidpack from sealed item ``of``."""

    of: str
    path: Path
    reason: str
    size: int
    sha256: str
    md5: str

    @property
    def member(self) -> str:
        return f"redactions/{member_dir(self.of)}/{safe_name(self.path.name, 'redacted')}"

    def to_json(self) -> dict[str, Any]:
        return {"of": self.of, "file": self.member, "size": self.size, "sha256": self.sha256, "md5": self.md5, "reason": self.reason}


@dataclass(frozen=True)
class Entry:
    """One selected item and what goes into the package for it."""

    item: ItemLine
    file: str | None  # package member holding the bytes, or None
    note: str  # why there is no file, or "" when there is
    redaction: Redaction | None = None

    @property
    def id(self) -> str:
        return self.item.id

    @property
    def size(self) -> int:
        if self.redaction is not None:
            return self.redaction.size
        return int(self.item.record.get("size") or 0) if self.file else 0


@dataclass
class Plan:
    """What a disclosure will contain; made without writing anything."""

    master: Master
    entries: list[Entry]
    excluded: list[str] = field(default_factory=list)  # "E0007 (tag privileged)" lines, for the discloser
    warnings: list[str] = field(default_factory=list)
    recipient: str = ""
    note: str = ""
    withhold: frozenset[int] = frozenset()

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.entries]

    @property
    def redactions(self) -> list[Redaction]:
        return [e.redaction for e in self.entries if e.redaction is not None]

    @property
    def files(self) -> int:
        return sum(1 for e in self.entries if e.file)

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.entries)


def _hash_redaction(of: str, path: Path, reason: str) -> Redaction:
    d = hash_input(path, f"--redact {of}={path}")
    return Redaction(of, path, reason, d.size, d["sha256"], d["md5"])


def parse_redactions(redact: Iterable[str], reasons: Iterable[str]) -> list[tuple[str, Path, str]]:
    """``--redact ID=PATH`` with ``--reason``: one reason for all, or one per redaction in order."""
    pairs = []
    for text in redact:
        if "=" not in text:
            raise EvidpackError(f"--redact {text!r}: expected EXHIBIT=PATH, e.g. E0042=redacted/E0042.pdf")
        of, path = text.split("=", 1)
        if not _ID.match(of.strip()) or not path.strip():
            raise EvidpackError(f"--redact {text!r}: expected EXHIBIT=PATH, e.g. E0042=redacted/E0042.pdf")
        pairs.append((of.strip(), Path(path)))
    reasons = [r.strip() for r in reasons]
    if not pairs:
        if reasons:
            raise EvidpackError("--reason is for redactions: give it with --redact EXHIBIT=PATH")
        return []
    if any(not r for r in reasons):
        raise EvidpackError("--reason must not be empty")
    if not reasons:
        raise EvidpackError("each --redact needs a --reason saying what was redacted and why")
    if len(reasons) not in (1, len(pairs)):
        raise EvidpackError(f"{len(pairs)} --redact but {len(reasons)} --reason: give one reason for all, or one for each")
    seen: set[str] = set()
    for of, _ in pairs:
        if of in seen:
            raise EvidpackError(f"--redact {of}: given twice")
        seen.add(of)
    return [(of, path, reasons[0] if len(reasons) == 1 else reasons[i]) for i, (of, path) in enumerate(pairs)]


def plan(
    bundle: Path,
    *,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    include_tags: Iterable[str] = (),
    exclude_tags: Iterable[str] = (),
    redact: Iterable[tuple[str, Path, str]] = (),
    recipient: str = "",
    note: str = "",
    withhold_events: Iterable[int] = (),
) -> Plan:
    """Select the items to disclose and check everything that can be checked before writing."""
    bundle = Path(bundle)
    with Bundle.open(bundle) as b:
        master = open_master(b)
    incs = [Spec(t, "--include") for t in include] + [Spec(f"tag:{t}", "--include-tag") for t in include_tags]
    excs = [Spec(t, "--exclude") for t in exclude] + [Spec(f"tag:{t}", "--exclude-tag") for t in exclude_tags]
    if not incs:
        raise EvidpackError("nothing selected: give --include (an exhibit id, a source such as S02/*, tag:NAME or a path glob)")
    for s in incs + excs:
        s.check_known(master)
    p = Plan(master, [], recipient=recipient.strip(), note=note.strip(), withhold=frozenset(withhold_events))
    chosen = _select(p, incs, excs)
    chosen_ids = {it.id for it in chosen}
    redactions: dict[str, Redaction] = {}
    for of, path, reason in redact:
        if of not in master.by_id:
            raise EvidpackError(f"--redact {of}: no such exhibit in {master.path.name}")
        if of not in chosen_ids:
            raise EvidpackError(f"--redact {of}: {of} is not selected for disclosure; a redaction must replace a disclosed item")
        if not isinstance(master.by_id[of].record.get("sha256"), str):
            raise EvidpackError(f"--redact {of}: {of} has no sealed content to derive from ({master.by_id[of].record.get('kind')})")
        redactions[of] = _hash_redaction(of, path, reason)
    p.entries = [_entry(it, redactions.get(it.id), master) for it in chosen]
    _check_words(p)
    return p


def _select(p: Plan, incs: list[Spec], excs: list[Spec]) -> list[ItemLine]:
    """Included minus excluded (exclusions win), in items.jsonl order; notes what was left out."""
    master = p.master
    all_tags = sorted({t for it in master.items for t in (it.record.get("tags") or [])})
    for s in excs:
        if s.text.startswith("tag:") and s.text[4:] not in all_tags:
            p.warnings.append(f"{s.shown}: no item in the bundle has this tag (tags present: {', '.join(all_tags) or 'none'}) — check the spelling")
    for s in incs:
        if not any(s.matches(it) for it in master.items):
            raise EvidpackError(f"{s.shown}: matches no item in {master.path.name}")
    chosen: list[ItemLine] = []
    excluded: set[str] = set()
    for it in master.items:
        why = next((s for s in excs if s.matches(it)), None)
        if why is not None:
            excluded.add(it.id)
            if any(s.matches(it) for s in incs):
                p.excluded.append(f"{it.id} ({why.shown})")
        elif any(s.matches(it) for s in incs):
            chosen.append(it)
    # A container carries every member's bytes: it cannot go out whole when one is excluded.
    held = _members_of(master)
    for it in list(chosen):
        kept_back = [m for m in held.get(it.id, []) if m in excluded]
        if kept_back:
            chosen.remove(it)
            more = f" and {len(kept_back) - 3} more" if len(kept_back) > 3 else ""
            p.excluded.append(f"{it.id} (a container holding excluded {', '.join(kept_back[:3])}{more}: it cannot go out whole; its selected members go out one by one)")
    if not chosen:
        raise EvidpackError("the selection is empty: every included item is excluded")
    return chosen


def _check_words(p: Plan) -> None:
    """The discloser's own words must not name undisclosed items; the signed tag
    manifest cannot be changed, so what it might reveal is only warned about."""
    guard = LeakGuard.for_plan(p)
    texts = [("--to", p.recipient), ("--note", p.note)]
    texts += [(f"--reason for {r.of}", r.reason) for r in p.redactions]
    texts += [(f"--redact {r.of}", r.path.name) for r in p.redactions]
    for label, text in texts:
        hit = guard.find(text)
        if hit:
            raise EvidpackError(
                f"{label} {text!r} contains {hit[1]!r}, which names or identifies {hit[0]}; "
                "a disclosure must say nothing about what it does not disclose — rephrase it"
            )
    hit = guard.find(p.master.sealed.tagmanifest.decode("utf-8", "replace"), seq=0)
    if hit:
        p.warnings.append(f"the signed tag manifest (which must be disclosed as it is) contains {hit[1]!r}, linked to {hit[0]}")


def _members_of(master: Master) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for it in master.items:
        if it.record.get("kind") == "member":
            out.setdefault(str(it.record.get("container")), []).append(it.id)
    return out


def _entry(it: ItemLine, redaction: Redaction | None, master: Master) -> Entry:
    rec = it.record
    if redaction is not None:
        return Entry(it, None, "redacted: see the derivative", redaction)
    if rec.get("kind") == "not-copied":
        return Entry(it, None, f"record only: not copied when sealed ({rec.get('reason', 'no reason given')})")
    if rec.get("member_type") not in (None, "file") and not isinstance(rec.get("sha256"), str):
        # (one that carries bytes — a zip entry marked as a folder or special file holding
        # data, a tar member of an unknown type — was hashed when sealed: its content goes
        # in as a file member's does)
        return Entry(it, None, f"record only: a {rec['member_type']} in its container, no content of its own")
    if not isinstance(rec.get("sha256"), str):
        why = "encrypted in its container" if rec.get("encrypted") else rec.get("not_read") or "no digest was recorded"
        return Entry(it, None, f"record only: not hashed when sealed ({why})")
    if rec.get("kind") == "member":
        container = master.by_id.get(str(rec.get("container")))
        if container is None or container.record.get("kind") != "file":
            raise IntegrityError(f"{it.id}: its container {rec.get('container')} is not a payload file of this bundle")
    elif rec.get("kind") != "file":
        raise EvidpackError(f"{it.id}: kind {rec.get('kind')!r} cannot be disclosed by this version of evidpack")
    return Entry(it, f"files/{member_dir(it.id)}/{safe_name(display_name(rec))}", "")


# --- what must not leak -------------------------------------------------------------


class LeakGuard:
    """Finds text that names or identifies what a package does not disclose: an
    undisclosed item's exhibit id, path, file name (when no disclosed item has the same
    name) or a digest of it; and the words of an earlier disclosure (its recipient,
    note, package name, redaction reasons) or the digest of a derivative it disclosed.

    :meth:`find` returns ``(what, text found)``: ``what`` is "undisclosed item E0002"
    or "an earlier disclosure (custody event seq 45)"."""

    MIN_NAME = 4

    def __init__(self, items: list[ItemLine], disclosed: set[str], whole: set[str],
                 earlier: Iterable[dict[str, Any]] = (), own: dict[str, list[str]] | None = None) -> None:
        """``disclosed``: the ids whose records go out; ``whole``: those whose bytes
        go out too (a container's bytes hold its members' names and bytes);
        ``earlier``: the custody log's earlier ``disclosed`` events; ``own``: this
        disclosure's own words by field (``to``, ``note``, ``reason``), which its package
        shows anyway: an earlier disclosure's recipient, note or reason that is the same
        as this one's (a recipient: or part of it, "Defence" and "Defence A") is not
        searched for."""
        disclosed = disclosed | {it.id for it in items if it.record.get("kind") == "member" and it.record.get("container") in whole}
        shown: set[str] = set()
        for it in items:
            if it.id in disclosed:
                shown.update(_names(it.record))
        self.names: dict[str, str] = {}
        self.digests: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        for it in items:
            if it.id in disclosed:
                continue
            what = f"undisclosed item {it.id}"
            self.ids[it.id] = what
            for n in _names(it.record):
                if len(n) >= self.MIN_NAME and n not in shown:
                    self.names.setdefault(n, what)
            for alg in ("sha256", "md5", "sha1"):
                v = it.record.get(alg)
                if isinstance(v, str) and v:
                    self.digests[v.lower()] = what
        # An earlier disclosure's words and derivative digests: only text written after it
        # can refer to it (the seq), and words this disclosure itself uses are no secret.
        own = own or {}
        self.phrases: dict[str, tuple[str, int]] = {}
        self.earlier_digests: dict[str, tuple[str, int]] = {}
        for e in earlier:
            seq = e.get("seq") if isinstance(e.get("seq"), int) else 0
            what = f"an earlier disclosure (custody event seq {seq})"
            d = e.get("details") if isinstance(e.get("details"), dict) else {}
            words = [("to", d.get("to")), ("note", d.get("note")), ("package", d.get("package"))]
            for r in d.get("redactions") if isinstance(d.get("redactions"), list) else []:
                if isinstance(r, dict):
                    words.append(("reason", r.get("reason")))
                    if isinstance(r.get("sha256"), str) and r["sha256"]:
                        self.earlier_digests.setdefault(r["sha256"].lower(), (what, seq))
            for kind, w in words:
                w = w.strip() if isinstance(w, str) else ""
                mine = own.get(kind, [])
                if len(w) >= self.MIN_NAME and w not in mine and not (kind == "to" and any(w in m for m in mine)):
                    self.phrases.setdefault(w, (what, seq))
        self._lengths = sorted({len(n) for n in self.names})
        self._phrase_lengths = sorted({len(n) for n in self.phrases})

    @classmethod
    def for_plan(cls, p: Plan, events: list[dict[str, Any]] | None = None) -> "LeakGuard":
        """The guard for plan ``p``; ``events``: the custody log (read from the bundle,
        leniently, when not given: a broken log is refused later, when it is read to
        be disclosed)."""
        if events is None:
            events = _log_events(p.master.path)
        own = {"to": [p.recipient] if p.recipient else [], "note": [p.note] if p.note else [], "reason": [r.reason for r in p.redactions]}
        earlier = [e for e in events if e.get("action") == "disclosed"]
        return cls(p.master.items, set(p.ids), {e.id for e in p.entries if e.file}, earlier, own)

    def find(self, text: str, seq: int | None = None) -> tuple[str, str] | None:
        """(what it identifies, the text found) or None. ``seq``: the custody event the
        text is from (an earlier disclosure's words count only in events after it)."""
        if _FINGERPRINT.match(text):
            return None
        after = (lambda s: True) if seq is None else (lambda s: seq > s)
        for m in _EXHIBIT_ID.finditer(text):
            hit = self.ids.get(m.group(0))
            if hit:
                return hit, m.group(0)
        for token in re.findall(r"[0-9a-fA-F]{32,}", text) if not _HEXTOKEN.match(text) else [text]:
            t = token.lower()
            if t in self.digests:
                return self.digests[t], token
            if t in self.earlier_digests and after(self.earlier_digests[t][1]):
                return self.earlier_digests[t][0], token
        if _HEXTOKEN.match(text):
            return None
        for length in self._lengths:
            for i in range(len(text) - length + 1):
                hit = self.names.get(text[i : i + length])
                if hit:
                    return hit, text[i : i + length]
        for length in self._phrase_lengths:
            for i in range(len(text) - length + 1):
                found = self.phrases.get(text[i : i + length])
                if found and after(found[1]):
                    return found[0], text[i : i + length]
        return None

    def scan(self, obj: Any, seq: int | None = None) -> tuple[str, str] | None:
        for text in _strings(obj):
            hit = self.find(text, seq)
            if hit:
                return hit
        return None

    def exhibit_ids(self, obj: Any) -> set[str]:
        """Every exhibit id (disclosed or not) named in ``obj``'s text."""
        return {m.group(0) for text in _strings(obj) for m in _EXHIBIT_ID.finditer(text)}


# An exhibit id in free text: E0001, E0001/M000017 (not inside a longer word or number).
_EXHIBIT_ID = re.compile(r"(?<![A-Za-z0-9])E\d{4,}(?:/M\d{6,})?(?![A-Za-z0-9])")


def _log_events(bundle: Path) -> list[dict[str, Any]]:
    """The custody log's events, read leniently (unreadable lines skipped)."""
    try:
        with Bundle.open(bundle) as b:
            data = b.read(custody.CUSTODY_FILE) or b""
    except EvidpackError:
        return []
    return [e for _, _, e, _ in custody.parse_lines(data) if e is not None]


def _names(rec: dict[str, Any]) -> set[str]:
    out = set()
    for key in ("path", "original_path", "member_path"):
        v = rec.get(key)
        if isinstance(v, str) and v:
            out.add(v)
            out.add(v.rsplit("/", 1)[-1])
            if key == "path":
                out.add(v.split("/", 2)[-1])  # relative to the source folder, as checks name it
    return out


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


# --- the custody log as disclosed ---------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    """One custody event as it goes into the package: in full, or withheld (its
    line hash only, with why), which keeps the chain checkable."""

    seq: int
    line: bytes
    withheld: str = ""

    def package_line(self) -> bytes:
        if not self.withheld:
            return self.line
        return canonical.dumps({"seq": self.seq, "withheld": custody.line_hash(self.line), "why": self.withheld})


WHY_SOURCE = "build event about a source not wholly disclosed"
WHY_NAMES = "names or identifies an undisclosed item"
WHY_EARLIER = "an earlier disclosure (what it disclosed, to whom and why is not this package's to show)"
WHY_MENTIONS_EARLIER = "could describe an earlier disclosure"
WHY_REDACTION = "a redaction naming no disclosed item"
WHY_DISCLOSER = "withheld by the discloser"


def custody_plan(p: Plan, lines: list[bytes], events: list[dict[str, Any]]) -> list[LogLine]:
    """Which custody events go into the package in full.

    * ``created`` and ``sealed``: always (case-level; ``sealed`` ties the log to the seal).
    * Build events about one source: ``acquired`` (who acquired it, how, when) when
      any item of that source is disclosed; every other (``imported`` counts,
      ``source-verified`` checks that may name files) only when the whole source is.
    * Earlier ``disclosed`` events: never (their exhibit ids, recipient, reasons and
      derivative digests describe what this package does not disclose).
    * A ``redacted`` event: only when it names a disclosed exhibit (and, as every
      event, nothing undisclosed).
    * Other events after the seal: in full.
    Any event whose subject or details name or identify an undisclosed item (its
    exhibit id, path, file name or digest: LeakGuard) or repeat the words or digests
    of an earlier disclosure, or that the discloser names with --withhold-event, is
    withheld."""
    selected = set(p.ids)
    by_source: dict[str, list[str]] = {}
    for it in p.master.items:
        by_source.setdefault(str(it.record.get("source")), []).append(it.id)
    some = {s for s, ids in by_source.items() if any(i in selected for i in ids)}
    whole = {s for s, ids in by_source.items() if all(i in selected for i in ids)}
    guard = LeakGuard.for_plan(p, events)
    sealed_seq = next((e.get("seq") for e in events if e.get("action") == "sealed"), None)
    unknown = sorted(p.withhold - {e.get("seq") for e in events})
    if unknown:
        raise EvidpackError(f"--withhold-event {unknown[0]}: the custody log has no event with that seq")
    if sealed_seq in p.withhold:
        raise EvidpackError(f"--withhold-event {sealed_seq}: the 'sealed' event ties the log to the seal and cannot be withheld")
    out = []
    for line, e in zip(lines, events):
        seq = int(e.get("seq") or 0)
        subject = e.get("subject") or {}
        about = {"subject": subject, "details": e.get("details")}
        why = ""
        source = subject.get("source") if isinstance(subject, dict) else None
        if source is not None and sealed_seq is not None and seq < sealed_seq:
            if (source not in some) if e.get("action") == "acquired" else (source not in whole):
                why = WHY_SOURCE
        if not why and e.get("action") == "disclosed" and seq != sealed_seq:
            why = WHY_EARLIER
        hit = None if why else guard.scan(about, seq)
        if hit and seq == sealed_seq:
            raise EvidpackError(f"the 'sealed' event (seq {seq}) contains {hit[1]!r}, which identifies {hit[0]}, "
                                "and cannot be withheld; disclose that item too")
        if hit:
            why = WHY_NAMES if hit[0].startswith("undisclosed item") else WHY_MENTIONS_EARLIER
        if not why and e.get("action") == "redacted" and not (guard.exhibit_ids(about) & selected):
            why = WHY_REDACTION
        if not why and seq in p.withhold:
            why = WHY_DISCLOSER
        out.append(LogLine(seq, line, why))
    return out


# --- members out of their containers -----------------------------------------------
#
# A member is streamed out of the container kept whole in the payload, straight
# into the package, and hashed on the way: nothing is unpacked to disk. A zip is
# read at random (only the members wanted); tar (plain or compressed), a lone gzip
# and an Android backup are read front to back. A member is found by its
# ``member_index`` when the record has one, else by its recorded name (the n-th
# record with a name is the n-th entry with it); either way its bytes must match
# the sealed digests, or nothing is disclosed.


def _container_format(head: bytes) -> str:
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "gzip"  # tar+gzip or a lone gzip: the reader tells them apart
    if head.startswith(b"ANDROID BACKUP\n"):
        return "android-backup"
    return "tar"


def _occurrences(master: Master) -> dict[str, int]:
    """For each member record, how many earlier records of its container have its name
    (a name can appear twice in a container; each copy has its own record)."""
    seen: dict[tuple[str, str], int] = {}
    out: dict[str, int] = {}
    for it in master.items:
        if it.record.get("kind") == "member":
            key = (str(it.record.get("container")), str(it.record.get("member_path")))
            out[it.id] = seen.get(key, 0)
            seen[key] = out[it.id] + 1
    return out


def _zip_names(info: zipfile.ZipInfo) -> tuple[set[str], str]:
    """The names an importer may have recorded for a zip entry, and its raw bytes in hex."""
    raw = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "surrogateescape")
    names = {info.filename, info.orig_filename}
    try:
        names.add(raw.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    return names, raw.hex()


def _find_zip_info(infos: list[zipfile.ZipInfo], rec: dict[str, Any], occurrence: int) -> zipfile.ZipInfo | None:
    index = rec.get("member_index")
    if isinstance(index, int) and 1 <= index <= len(infos):
        return infos[index - 1]
    matches = []
    for info in infos:
        names, raw = _zip_names(info)
        if rec.get("member_path_raw") == raw or (not rec.get("member_path_raw") and rec.get("member_path") in names):
            matches.append(info)
    return matches[occurrence] if occurrence < len(matches) else None


def _check_out(e: Entry, size: int, hexes: dict[str, str]) -> None:
    problems = digest_problems(size, hexes, e.item.record, f"{e.id} ({display_name(e.item.record)})")
    if problems:
        raise IntegrityError(f"{problems[0]}: it is not what was sealed; nothing was disclosed")


def _algorithms(rec: dict[str, Any]) -> tuple[str, ...]:
    return tuple(a for a in DEFAULT_ALGORITHMS if isinstance(rec.get(a), str))


class _Inflate(io.RawIOBase):
    """A zlib stream (an Android backup's body) as a forward-only file object."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._z = zlib.decompressobj()
        self._tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while not self._z.eof:
            data = self._tail or self._raw.read(1 << 16)
            if not data:
                raise EOFError("the compressed stream ends early (truncated)")
            out = self._z.decompress(data, len(buf))
            self._tail = self._z.unconsumed_tail
            if out:
                buf[: len(out)] = out
                return len(out)
        return 0


def _streamed(fh: BinaryIO, fmt: str) -> Iterator[tuple[int, str, BinaryIO]]:
    """(member index, raw name in hex, data) for each member of a tar (plain or
    compressed), a lone gzip, or an unencrypted Android backup that has content,
    front to back: a regular file, or a member of a type tarfile does not know
    (read as a regular file, as GNU tar, tarfile and the importer read it). The
    index counts every entry from 1, as the importer does."""
    if fmt == "android-backup":
        header = [fh.readline() for _ in range(4)]
        if header[3].strip() != b"none":
            raise EvidpackError("the Android backup is encrypted; its members cannot be disclosed")
        stream: Any = io.BufferedReader(_Inflate(fh)) if header[2].strip() == b"1" else fh
        mode = "r|"
    else:
        stream, mode = fh, "r|*"
    try:
        with tarfile.open(fileobj=stream, mode=mode, encoding="utf-8", errors="surrogateescape") as tf:
            for n, ti in enumerate(tf, 1):
                tf.members.clear()  # memory must not grow with the member count
                data = tf.extractfile(ti) if ti.isreg() or ti.type not in tarfile.SUPPORTED_TYPES else None
                if data is not None:
                    yield n, ti.name.encode("utf-8", "surrogateescape").hex(), data
        return
    except tarfile.ReadError:
        if fmt != "gzip":
            raise
    fh.seek(0)
    with gzip.GzipFile(fileobj=fh) as gz:  # a lone gzip: its one member
        yield 1, "", gz  # type: ignore[misc]


def _raw_key(rec: dict[str, Any]) -> str:
    """A member's recorded name as raw bytes (hex), whichever way it was recorded."""
    return str(rec.get("member_path_raw") or str(rec.get("member_path", "")).encode("utf-8", "surrogateescape").hex())


def _read_in_part(rec: dict[str, Any]) -> bool:
    """A member sealed from only part of what its container declares (cut short,
    unreadable past a point, or a folder entry declaring 0 bytes that stores
    some): its digests cover the ``size`` bytes read, and so does its copy."""
    return "declared_size" in rec


def _extract(pkg: "_Package", e: Entry, src: BinaryIO, cid: str) -> None:
    """Copy one member into the package, hashing it; never more than one byte past
    its sealed size is read, so a doctored container cannot balloon (and, for a
    member read only in part when sealed, nothing past its sealed size)."""
    size = int(e.item.record.get("size") or 0)
    try:
        with pkg.stream(str(e.file), size) as dst:
            got = copy_and_hash(src, dst, _algorithms(e.item.record), limit=size if _read_in_part(e.item.record) else size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error, tarfile.TarError) as exc:
        raise IntegrityError(f"{e.id}: cannot be read out of container {cid} ({exc}); nothing was disclosed") from None
    _check_out(e, got.size, got.hex)


def _as_sealed(info: zipfile.ZipInfo, rec: dict[str, Any]) -> zipfile.ZipInfo:
    """The zip entry to read a member by: as the zip says, or, for a member read
    only in part when sealed, declaring the size sealed (zipfile reads no more
    than an entry declares, and a folder entry declaring 0 bytes was sealed with
    the bytes it stores)."""
    if not _read_in_part(rec):
        return info
    sealed = copy.copy(info)
    sealed.file_size = int(rec.get("size") or 0)
    return sealed


def _write_members(pkg: "_Package", bundle: Bundle, master: Master, cid: str, entries: list[Entry], occ: dict[str, int]) -> None:
    rel = str(master.by_id[cid].record.get("path"))
    if not bundle.exists(rel):
        raise IntegrityError(f"{cid} {rel}: the container is missing from the bundle; nothing was disclosed")
    with bundle.open_stream(rel) as fh:
        fmt = _container_format(fh.read(64))
        fh.seek(0)
        if fmt == "zip":
            try:
                zf = zipfile.ZipFile(fh)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise IntegrityError(f"{cid} {rel}: the container cannot be read as a zip ({exc})") from None
            with zf:
                infos = zf.infolist()
                for e in entries:
                    info = _find_zip_info(infos, e.item.record, occ.get(e.id, 0))
                    if info is None:
                        raise IntegrityError(f"{e.id}: member {e.item.record.get('member_path')!r} is not in container {cid}; nothing was disclosed")
                    try:
                        src = zf.open(_as_sealed(info, e.item.record))
                    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                        raise IntegrityError(f"{e.id}: cannot be read out of container {cid} ({exc}); nothing was disclosed") from None
                    with src:
                        # The sealed SHA-256 and MD5 check what comes out (_check_out), not the
                        # zip's CRC-32: a member sealed with a bad CRC (a member-crc problem),
                        # or read only in part, is disclosed as it was sealed.
                        if hasattr(src, "_expected_crc"):
                            src._expected_crc = None
                        _extract(pkg, e, src, cid)
            return
        by_index = {e.item.record["member_index"]: e for e in entries if isinstance(e.item.record.get("member_index"), int)}
        by_name = {(_raw_key(e.item.record), occ.get(e.id, 0)): e for e in entries if e not in by_index.values()}
        seen: dict[str, int] = {}
        try:
            for index, raw, data in _streamed(fh, fmt):
                n = seen.get(raw, 0)
                seen[raw] = n + 1
                e = by_index.pop(index, None) or by_name.pop((raw, n), None)
                if e is None and fmt == "gzip" and raw == "" and len(by_name) == 1:
                    e = by_name.popitem()[1]  # a lone gzip's one member, whatever it was named
                if e is not None:
                    # (read in part when sealed: from tarfile's unbuffered reader, which reads
                    # no more than asked; its buffered one reads ahead, past where the data end)
                    _extract(pkg, e, getattr(data, "raw", data) if _read_in_part(e.item.record) else data, cid)
                if not by_index and not by_name:
                    break
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise IntegrityError(f"{cid} {rel}: the container cannot be read ({exc}); nothing was disclosed") from None
    for e in [*by_index.values(), *by_name.values()]:
        raise IntegrityError(f"{e.id}: member {e.item.record.get('member_path')!r} is not in container {cid}; nothing was disclosed")


# --- writing the package --------------------------------------------------------------


class _Package:
    """A zip under one top folder; AES-256 (WinZip AE, as 7-Zip reads it) with a password."""

    def __init__(self, path: Path, top: str, password: bytes | None, stamp: tuple[int, ...]) -> None:
        self.top = top
        self.stamp = stamp
        self.zf = pyzipper.AESZipFile(path, "x", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        if password:
            self.zf.setpassword(password)
            self.zf.setencryption(pyzipper.WZ_AES, nbits=256)

    def _info(self, name: str, compress: bool) -> Any:
        info = self.zf.zipinfo_cls(f"{self.top}/{name}", date_time=self.stamp)
        info.external_attr = 0o100444 << 16
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        return info

    def add(self, name: str, data: bytes) -> None:
        self.zf.writestr(self._info(name, True), data)

    def open(self, name: str, size: int) -> BinaryIO:
        """A write handle for one stored (not deflated) member; close it before the next."""
        return self.zf.open(self._info(name, False), "w", force_zip64=size >= 2**31)

    @contextmanager
    def stream(self, name: str, size: int) -> Iterator[BinaryIO]:
        with self.open(name, size) as dst:
            yield dst

    def close(self) -> None:
        self.zf.close()


@dataclass(frozen=True)
class Disclosed:
    """The result of a disclosure."""

    path: Path
    files: int
    bytes: int
    custody_seq: int
    custody_head: str
    disclosure_sha256: str
    encrypted: bool


def body(p: Plan, key: SigningKey, at: datetime, package: str, encrypted: bool) -> dict[str, Any]:
    """What the discloser states; its hash goes into the ``disclosed`` event."""
    m = p.master
    return {
        "format": DISCLOSURE_FORMAT,
        "case": m.case.get("id"),
        "package": package,
        "made_at": format_utc(at),
        "encrypted": encrypted,
        "recipient": p.recipient or None,
        "note": p.note or None,
        "discloser": {"name": key.public.name, "role": key.public.role, "key": key.public.fingerprint, "public_key": key.public.openssh()},
        "master": {
            "tagmanifest_sha256": m.sealed.tagmanifest_sha256,
            "merkle_root": m.root,
            "leaves": len(m.leaves),
            "signer": m.signer.fingerprint,
        },
        "items": [
            {"id": e.id, "kind": e.item.record.get("kind"), "proof": proof_member(e.id), "file": e.file, **({"note": e.note} if e.note else {})}
            for e in p.entries
        ],
        "redactions": [r.to_json() for r in p.redactions],
        "tool": {"name": "evidpack", "version": __version__},
    }


def body_sha256(b: dict[str, Any]) -> str:
    return hashlib.sha256(canonical.dumps(b)).hexdigest()


def event_details(p: Plan, b: dict[str, Any]) -> dict[str, Any]:
    """The ``disclosed`` event: exhibit ids and the hash of the signed statement —
    nothing that would describe items to whoever later sees this log."""
    out: dict[str, Any] = {
        "package": b["package"],
        "items": p.ids,
        "files": p.files,
        "encrypted": b["encrypted"],
        "disclosure_sha256": body_sha256(b),
        "redactions": [{"of": r.of, "sha256": r.sha256, "reason": r.reason} for r in p.redactions],
    }
    if p.recipient:
        out["to"] = p.recipient
    if p.note:
        out["note"] = p.note
    return out


def write(p: Plan, key: SigningKey, out: Path, password: bytes | None, *, now: datetime | None = None) -> Disclosed:
    """Write the package and record the ``disclosed`` event; all or nothing."""
    out = Path(out)
    bundle = p.master.path
    if not bundle.is_dir():
        raise EvidpackError(f"{bundle}: a zipped bundle is read-only; disclose from the bundle folder (the 'disclosed' event is added to its custody log)")
    if out.exists() or out.is_symlink():
        raise EvidpackError(f"{out}: already exists; evidpack never overwrites a package")
    if out.parent.exists() and not out.parent.is_dir():
        raise EvidpackError(f"{out.parent}: not a folder")
    if out.suffix.lower() != ".zip":
        raise EvidpackError(f"{out}: a disclosure package is a zip; name it *.zip")
    if password is not None and len(password) < MIN_PASSWORD:
        raise EvidpackError(f"the package password must be at least {MIN_PASSWORD} characters")
    lines, events = _read_log(bundle)
    at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    last_at = parse_rfc3339(events[-1]["at"])
    if at < last_at:
        raise EvidpackError(f"this computer's clock ({format_utc(at)}) is behind the last custody event ({events[-1]['at']}); fix the clock")
    # The package's made_at and its event's time are one: cut to the whole second as
    # every event time is (custody.event_time), unless that would put it before the last
    # event (a log written by an earlier version may end with a fraction of a second).
    cut = custody.event_time(at)
    at = cut if cut >= last_at else at
    b = body(p, key, at, out.stem, password is not None)
    details = event_details(p, b)
    subject = {"case": p.master.case.get("id"), "tagmanifest_sha256": p.master.sealed.tagmanifest_sha256}
    line = custody.make_event(seq=len(events) + 1, at=at, action="disclosed", key=key, subject=subject, details=details, prev=custody.line_hash(lines[-1]), exact_time=True)
    log = custody_plan(p, lines, events)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    with sigterm_interrupts():
        appended: custody.Appended | None = None
        try:
            _write_package(tmp, p, key, b, log, line, password, at)
            if in_main_thread():
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            with custody.verified_by_caller():  # the seal, the root and every disclosed file: checked above
                appended = custody.append(bundle, "disclosed", key, details, at=at)
            if appended.head != custody.line_hash(line):
                # Someone appended to the log between our read and our append: the event is
                # recorded, so the package must carry the log as it now is.
                lines, events = _read_log(bundle, upto=appended.head)
                line = lines.pop()
                events.pop()
                _write_package(tmp, p, key, b, custody_plan(p, lines, events), line, password, at)
            os.link(tmp, out)
            tmp.unlink()
            fsync_dir(out.parent)
        except BaseException as exc:
            if appended is None:
                tmp.unlink(missing_ok=True)
                if isinstance(exc, Interrupted):
                    raise EvidpackError(f"disclosure interrupted ({exc}); no package was written and no event recorded") from None
                raise
            raise EvidpackError(
                f"the 'disclosed' event (seq {appended.seq}) was recorded but the package could not be put in place "
                f"({exc}); it is at {tmp}"
            ) from None
        finally:
            if in_main_thread():
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    return Disclosed(out, p.files, p.bytes, appended.seq, appended.head, details["disclosure_sha256"], password is not None)


def preview_custody(p: Plan) -> list[LogLine]:
    """The custody log as the package would carry it now (before the 'disclosed' event)."""
    return custody_plan(p, *_read_log(p.master.path))


def _read_log(bundle: Path, upto: str | None = None) -> tuple[list[bytes], list[dict[str, Any]]]:
    with Bundle.open(bundle) as b:
        data = b.read(custody.CUSTODY_FILE)
    if data is None:
        raise IntegrityError(f"{bundle}: the custody log is missing; refusing to disclose")
    chain = custody.check_chain(data)
    if chain.problems:
        raise IntegrityError(f"{bundle}: the custody log is broken ({chain.problems[0]}); refusing to disclose")
    if not chain.events:
        raise IntegrityError(f"{bundle}: the custody log is empty")
    lines = data.split(b"\n")[:-1]
    if upto is not None:
        n = chain.line_hashes.index(upto) + 1
        return lines[:n], chain.events[:n]
    return lines, chain.events


def _write_package(tmp: Path, p: Plan, key: SigningKey, b: dict[str, Any], log: list[LogLine], event: bytes,
                   password: bytes | None, at: datetime) -> None:
    from .report.disclosure import render_schedule

    tmp.unlink(missing_ok=True)
    head = custody.line_hash(event)
    custody_data = b"".join(x.package_line() + b"\n" for x in log) + event + b"\n"
    withheld = [{"seq": x.seq, "why": x.withheld} for x in log if x.withheld]
    schedule = render_schedule(p, b, head=head, seq=len(log) + 1, withheld=len(withheld))
    readme = readme_text(p, b, head).encode("utf-8")
    statement = {
        **b,
        "custody": {"head": head, "disclosed_seq": len(log) + 1, "events": len(log) + 1, "withheld": withheld},
        "contents": {name: hashlib.sha256(data).hexdigest() for name, data in ((CUSTODY_MEMBER, custody_data), (README, readme), (SCHEDULE, schedule))},
    }
    disclosure = canonical_pretty(statement)
    stamp = max(at.timetuple()[:6], (1980, 1, 1, 0, 0, 0))
    pkg = _Package(tmp, b["package"], password, stamp)
    try:
        pkg.add(README, readme)
        pkg.add(DISCLOSURE_FILE, disclosure)
        pkg.add(DISCLOSURE_SIG, key.sign(disclosure))
        pkg.add(DISCLOSURE_SSHSIG, key.sshsig(disclosure))
        pkg.add(DISCLOSER_KEY, key.public.pem())
        pkg.add(SCHEDULE, schedule)
        pkg.add(CUSTODY_MEMBER, custody_data)
        for rel in MASTER_IN_PACKAGE:
            data = p.master.sealed.get(rel)
            if data is not None:
                pkg.add(f"master/{rel}", data)
        for e in p.entries:
            pkg.add(proof_member(e.id), canonical_pretty(p.master.item_proof(e.item)))
        _write_files(pkg, p)
        pkg.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        try:
            pkg.close()
        except Exception:
            pass
        tmp.unlink(missing_ok=True)
        raise


def _write_files(pkg: _Package, p: Plan) -> None:
    """Stream each disclosed file (a member straight out of its container) into the
    package, hashing it on the way; any difference from the sealed record aborts."""
    members: dict[str, list[Entry]] = {}
    for e in p.entries:
        if e.file and e.redaction is None and e.item.record.get("kind") == "member":
            members.setdefault(str(e.item.record.get("container")), []).append(e)
    occ = _occurrences(p.master)
    with Bundle.open(p.master.path) as bundle:
        for e in p.entries:
            rec = e.item.record
            if e.redaction is not None:
                r = e.redaction
                with open(r.path, "rb") as src, pkg.stream(r.member, r.size) as dst:
                    got = copy_and_hash(src, dst, DEFAULT_ALGORITHMS)
                if (got.size, got["sha256"]) != (r.size, r.sha256):
                    raise EvidpackError(f"--redact {r.of}={r.path}: the file changed while the disclosure was being made")
            elif e.file is None:
                continue
            elif rec.get("kind") == "member":
                group = members.pop(str(rec.get("container")), None)
                if group:  # the first member of a container brings all of them
                    _write_members(pkg, bundle, p.master, str(rec.get("container")), group, occ)
            else:
                rel = str(rec.get("path"))
                if not bundle.exists(rel):
                    raise IntegrityError(f"{e.id} {rel}: the payload file is missing from the bundle; nothing was disclosed")
                with bundle.open_stream(rel) as src, pkg.stream(e.file, int(rec.get("size") or 0)) as dst:
                    got = copy_and_hash(src, dst, _algorithms(rec))
                _check_out(e, got.size, got.hex)


def canonical_pretty(obj: Any) -> bytes:
    """Readable JSON with sorted keys (its hash is never taken over the formatting)."""
    import json

    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"


def readme_text(p: Plan, b: dict[str, Any], head: str) -> str:
    m = p.master
    return f"""Disclosure package {b['package']}
Case {m.case.get('id')}: {m.case.get('title', '')}
Made {b['made_at']} by {b['discloser']['name']} ({b['discloser']['role']}) {b['discloser']['key']}
Recipient: {b['recipient'] or '(not stated)'}

{len(p.entries)} item(s) disclosed: {p.files} file(s), {len(p.redactions)} redacted derivative(s).
Sealed master: tag manifest sha256 {m.sealed.tagmanifest_sha256}
               Merkle root {m.root}, signed by {m.signer.fingerprint}
Custody head after the 'disclosed' event: {head}

What is here
  files/<exhibit>/...          the disclosed files, exactly as sealed
  redactions/<exhibit>/...     redacted derivatives: made by the discloser FROM the
                               sealed item named, NOT the sealed original
  items/<exhibit>.proof.json   each item's sealed record and Merkle inclusion proof
  master/                      the master's signed tag manifest, signatures, seal.json,
                               signer.pem, case.json (as in the sealed bundle)
  custody.jsonl                the custody log up to and including this disclosure
                               (events that would describe undisclosed items are
                               carried as their line hash only)
  disclosure.json (+ .sig, .sshsig, discloser.pem)
                               what was disclosed, signed by the discloser
  schedule.pdf                 the disclosure schedule

Check it (trust only keys you obtained yourself, never the ones in here):
  evidpack verify {b['package']}.zip --trust KEYS/ [--password-file FILE]

Or with stock tools, in the master/ folder:
  grep '  evidpack/seal.json$' tagmanifest-sha256.txt | sha256sum -c
  openssl pkeyutl -verify -pubin -inkey SEALER.pub -rawin -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig
then for each file: its sha256 equals the record's, and the record's leaf
SHA-256(0x00 || record) with the audit path gives seal.json's merkle.root
(RFC 9162 section 2.1.3.2).  See docs/disclosure.md of evidpack.
"""
