"""The custody log as a table. In the sealed index it runs up to the seal: the
``sealed`` event is written after the index (it records the index's SHA-256),
so its row describes the seal being made. A reading copy shows every event in
the log, including those recorded after the seal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from reportlab.platypus import Flowable

from .document import Entry
from .flowables import Cell, Column, Lines, Para, Row, Table
from .kinds.common import MAX_DEPTH, clipped, text
from .styles import BODY, CELL, CELL_BOLD, CELL_MONO, CELL_NOTE, NOTE, TextStyle

if TYPE_CHECKING:
    from .index import IndexInput


def section(data: "IndexInput") -> tuple[Entry, list[Entry], list[Flowable]]:
    events = data.custody
    if data.at_seal:
        intro = (
            f"The {len(events)} events recorded while the bundle was built, then the seal. Each event is signed by its "
            "actor and chained to the one before by hash (evidpack/custody.jsonl). The 'sealed' event itself is written "
            "just after this index, because it records the index's SHA-256; events recorded after the seal (transfers, "
            "receipts, verifications) are in the log, and a reading copy made with evidpack index shows them. "
            "Each time is when the event was recorded; when a source was acquired, as the case manifest declares it, "
            "is in the Details of its 'acquired' event."
        )
    else:
        after = _after_seal(events)
        intro = (
            f"Every event in the custody log when this copy was rendered: {len(events)}, of which {after} "
            "were recorded after the seal. Each event is signed by its actor and chained to the one before by hash. "
            "Each time is when the event was recorded; when a source was acquired, as the case manifest declares it, "
            "is in the Details of its 'acquired' event."
        )
    table = Table(
        [Column("#", 24), Column("Recorded (UTC)", 92), Column("Action", 70), Column("By", 0.36), Column("Details", 0.64)],
        _rows(data),
    )
    story: list[Flowable] = [Para(intro, BODY, space_after=8), table]
    if not data.at_seal and events:
        story.append(Para(f"Custody head when rendered (SHA-256 of the last event's line): {_head(data)}", NOTE, space_before=4))
    return Entry("Custody log", "custody"), [], story


def _after_seal(events: list[dict[str, Any]]) -> int:
    for n, e in enumerate(events):
        if e.get("action") == "sealed":
            return len(events) - n - 1
    return 0


def _head(data: "IndexInput") -> str:
    return data.custody_head or "?"


def _rows(data: "IndexInput") -> Iterator[Row]:
    sealed_seen = False
    for line, e in enumerate(data.custody, 1):
        yield _event_row(e, after_seal=sealed_seen, line=line)
        sealed_seen = sealed_seen or e.get("action") == "sealed"
    if data.at_seal:
        signer = data.signer
        merkle = data.seal.get("merkle") or {}
        yield [
            str(len(data.custody) + 1),
            Lines.of((data.seal.get("sealed_at"), CELL_MONO)),
            Lines.of(("sealed", CELL_BOLD)),
            _actor({"name": signer.get("name"), "role": signer.get("role"), "key": signer.get("fingerprint")}),
            Lines.of(
                ("The seal: the tag manifest below is signed with the key above. This event is written after this index "
                 "and records its SHA-256 (index_pdf_sha256).", CELL),
                *_digest("tagmanifest_sha256", data.tagmanifest_sha256),
                *_digest("merkle_root", str(merkle.get("root"))),
                (f"items: {text(merkle.get('leaves'))}", CELL_NOTE),
            ),
        ]


def _digest(label: str, value: str) -> list[tuple[str, TextStyle]]:
    """A SHA-256 under its label, in halves (one line each: the column is too
    narrow for it whole, and a hash printed before it is known must not be
    broken anywhere else, see document.LateDigest)."""
    return [(f"{label}:", CELL_MONO), (value[:32], CELL_MONO), (value[32:], CELL_MONO)]


# What the table shows of one event, whose every field is free text anyone who
# can append to the log may have written (megabytes, thousands of levels deep,
# lone surrogates): each value is cut to a length, with a note saying how much
# more there is and where the whole event is. evidpack/custody.jsonl keeps it all.
VALUE_CHARS = 4000  # of one value (a note, a detail)
VALUE_LINES = 40  # lines of one value (its newlines)
FIELD_CHARS = 300  # of the time, action, signer's name, role and key, a detail's name
EVENT_CHARS = 16000  # of all the details of one event together
EVENT_DETAILS = 100  # details shown per event

_SURROGATE = re.compile(r"[\ud800-\udfff]")  # alone: JSON may hold one (\\ud800), UTF-8 cannot


def _escaped(value: str) -> str:
    """Text with each lone surrogate written as its JSON escape (``\\ud800``):
    it has no character to show, and cannot be written to a PDF as text."""
    if value.isascii():
        return value
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)


class _Event:
    """One event as the table shows it: its values cut to length (see :data:`VALUE_CHARS`)."""

    def __init__(self, e: dict[str, Any], line: int) -> None:
        seq = e.get("seq")
        self.where = (
            f"evidpack/custody.jsonl, event seq {seq}" if type(seq) is int and seq == line else f"line {line} of evidpack/custody.jsonl"
        )
        self.deep = False  # a value nested too deep to print
        self.cut = False  # a short field cut

    def field(self, value: Any, limit: int = FIELD_CHARS) -> str | None:
        """A short field (time, action, name...) as printed: text as it is, else
        as :func:`text` prints it; cut with an ellipsis past ``limit``."""
        if value is None or value == "":
            return None
        c = clipped(value, limit)
        self.cut = self.cut or bool(c.more) or c.deep
        return _escaped(c.text + ("…" if c.more else ""))

    def value(self, value: Any, style: TextStyle, *, label: str = "", limit: int = VALUE_CHARS) -> list[tuple[str, TextStyle]]:
        """``label`` and ``value`` as printed, in ``style``; if cut, followed by a note saying so."""
        if label:
            label = _escaped(_clip(label, FIELD_CHARS)) + ": "
        c = clipped(value, limit)
        shown, more = c.text, c.more
        if shown.count("\n") > VALUE_LINES:
            at = _nth(shown, "\n", VALUE_LINES)
            shown, more = shown[:at], more + len(shown) - at
        self.deep = self.deep or c.deep
        out = [(label + _escaped(shown), style)]
        if more:
            out.append((f"… {more:,} more characters; the full text is in {self.where}", CELL_NOTE))
        return out


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _nth(text: str, sub: str, n: int) -> int:
    at = -1
    for _ in range(n):
        at = text.index(sub, at + 1)
    return at


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _event_row(e: dict[str, Any], *, after_seal: bool, line: int) -> Row:
    ev = _Event(e, line)
    subject = _object(e.get("subject"))
    details: list[tuple[str, TextStyle]] = []
    raw = e.get("details")
    entries, hidden = _flat(raw, EVENT_DETAILS) if isinstance(raw, dict) else ([("details", raw)] if raw else [], 0)
    room = EVENT_CHARS
    for k, v in entries:
        if room <= 0:
            hidden += 1
            continue
        pieces = ev.value(v, CELL_NOTE if k != "detail" else CELL, label=k, limit=min(VALUE_CHARS, room))
        room -= len(pieces[0][0])
        details += pieces
    if hidden:
        details.append((f"… {hidden:,} more details; they are in {ev.where}", CELL_NOTE))
    if subject.get("source"):
        details[:0] = ev.value(subject["source"], CELL_NOTE, label="source", limit=FIELD_CHARS)
    if e.get("action") == "sealed" and subject.get("tagmanifest_sha256"):
        details[:0] = _digest("tagmanifest_sha256", ev.field(subject["tagmanifest_sha256"], 64) or "")
    seq = e.get("seq", "?")
    row: list[Cell] = [
        str(seq) if type(seq) is int else ev.field(seq, 12) or "?",
        Lines.of((ev.field(e.get("at")), CELL_MONO), ("after the seal" if after_seal else None, CELL_NOTE)),
        Lines.of((ev.field(e.get("action")), CELL_BOLD)),
        _actor(_object(e.get("actor")), ev),
    ]
    if ev.deep:
        details.append((f"Values nested deeper than {MAX_DEPTH} levels are not shown; the whole event is in {ev.where}", CELL_NOTE))
    if ev.cut:
        details.append((f"Fields marked … are cut; the whole event is in {ev.where}", CELL_NOTE))
    return [*row, Lines.of(*details)]


def _actor(actor: dict[str, Any], ev: _Event | None = None) -> Lines:
    field = ev.field if ev is not None else _Event({}, 0).field
    return Lines.of((field(actor.get("name")), CELL), (field(actor.get("role")), CELL_NOTE), (field(actor.get("key")), CELL_MONO))


def _flat(details: dict[str, Any], most: int) -> tuple[list[tuple[str, Any]], int]:
    """The details with a value, objects within flattened (``a.b``), in order
    of their names: at most ``most``, and how many more there are. Read with
    a stack of its own: a hostile event may nest objects thousands deep (past
    :data:`MAX_DEPTH` levels, what is left is printed as a value)."""
    out: list[tuple[str, Any]] = []
    more = 0
    stack: list[tuple[str, Iterator[str], dict[str, Any]]] = [("", iter(sorted(details)), details)]
    while stack:
        prefix, keys, obj = stack[-1]
        key = next(keys, None)
        if key is None:
            stack.pop()
            continue
        value = obj[key]
        if isinstance(value, dict) and value and len(stack) < MAX_DEPTH:
            stack.append((f"{prefix}{_clip(key, FIELD_CHARS)}.", iter(sorted(value)), value))
        elif value is None or (isinstance(value, (str, list, dict)) and not value):
            continue
        elif len(out) < most:
            out.append((_clip(f"{prefix}{key}", FIELD_CHARS), value))
        else:
            more += 1
    return out, more
