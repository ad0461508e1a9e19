"""The custody log as a table. In the sealed index it runs up to the seal: the
``sealed`` event is written after the index (it records the index's SHA-256),
so its row describes the seal being made. A reading copy shows every event in
the log, including those recorded after the seal."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from reportlab.platypus import Flowable

from .. import canonical
from .document import Entry
from .flowables import Column, Lines, Para, Row, Table
from .kinds.common import text
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
            "receipts, verifications) are in the log, and a reading copy made with evidpack index shows them."
        )
    else:
        after = _after_seal(events)
        intro = (
            f"Every event in the custody log when this copy was rendered: {len(events)}, of which {after} "
            "were recorded after the seal. Each event is signed by its actor and chained to the one before by hash."
        )
    table = Table(
        [Column("#", 24), Column("Time (UTC)", 92), Column("Action", 70), Column("By", 0.36), Column("Details", 0.64)],
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
    last = data.custody[-1]
    return hashlib.sha256(canonical.dumps(last)).hexdigest()


def _rows(data: "IndexInput") -> Iterator[Row]:
    sealed_seen = False
    for e in data.custody:
        yield _event_row(e, after_seal=sealed_seen)
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


def _event_row(e: dict[str, Any], *, after_seal: bool) -> Row:
    subject = e.get("subject") or {}
    details = [(f"{k}: {text(v)}", CELL_NOTE if k != "detail" else CELL) for k, v in _flat(e.get("details") or {})]
    if subject.get("source"):
        details.insert(0, (f"source: {subject['source']}", CELL_NOTE))
    if e.get("action") == "sealed" and subject.get("tagmanifest_sha256"):
        details[:0] = _digest("tagmanifest_sha256", str(subject["tagmanifest_sha256"]))
    return [
        str(e.get("seq", "?")),
        Lines.of((e.get("at"), CELL_MONO), ("after the seal" if after_seal else None, CELL_NOTE)),
        Lines.of((e.get("action"), CELL_BOLD)),
        _actor(e.get("actor") or {}),
        Lines.of(*details),
    ]


def _actor(actor: dict[str, Any]) -> Lines:
    return Lines.of((actor.get("name"), CELL), (actor.get("role"), CELL_NOTE), (actor.get("key"), CELL_MONO))


def _flat(details: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key in sorted(details):
        value = details[key]
        if isinstance(value, dict) and value:
            out += _flat(value, f"{prefix}{key}.")
        elif value not in (None, "", [], {}):
            out.append((f"{prefix}{key}", value))
    return out
