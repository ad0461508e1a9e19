"""The Sources part: an overview, then one section per source with its
acquisition details, every source check with its verdict, and what the source's
kind adds (see :mod:`evidpack.report.kinds`)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reportlab.platypus import Flowable

from . import kinds
from .cover import key_values
from .document import Entry, Heading, short_title
from .flowables import Column, Lines, Mark, Para, Table
from .kinds.common import SourceView, subheading
from .styles import BODY, CELL_BOLD, CELL_MONO, CELL_NOTE, CELL_PATH, H2, NOTE, VERDICT_WIDTH, VERDICTS

LABEL = replace(CELL_BOLD, exact=True)  # a source's label, as the case manifest gives it

if TYPE_CHECKING:
    from .index import IndexInput


def section(data: "IndexInput") -> tuple[Entry, list[Entry], list[Flowable]]:
    story: list[Flowable] = [
        Para(
            "Each source as the case manifest declares it and as evidpack read it. Acquisition details are declared by "
            "the examiner (evidpack records the claim; it did not witness the acquisition). Every check evidpack made on "
            "a source is listed with its verdict: PASS, FAIL, WARN (worth a look), or NOT CHECKABLE (with the reason).",
            BODY,
            space_after=8,
        ),
        overview(data.sources),
    ]
    subs = []
    for row in data.sources:
        view = SourceView(row, data.records_of(str(row.get("id"))), data)
        key = f"source-{view.id}"
        title = short_title(f"{view.id} — {row.get('label', '')}")
        subs.append(Entry(title, key, 1))
        story += [Heading(title, H2, key=key, level=1, space_before=12), *source_section(view)]
    return Entry("Sources", "sources"), subs, story


def overview(rows: list[dict[str, Any]]) -> Table:
    def line(row: dict[str, Any]) -> list[Any]:
        acq = row.get("acquisition") or {}
        counts = row.get("counts") or {}
        verdicts = Counter(c.get("verdict") for c in row.get("checks") or [])
        tally = ", ".join(f"{verdicts[v]} {VERDICTS[v][0]}" for v in VERDICTS if verdicts.get(v))
        return [
            row.get("id"),
            Lines.of((row.get("label"), LABEL), (row.get("kind"), CELL_NOTE)),
            Lines.of((acq.get("tool"), CELL_NOTE), (f"{acq.get('by', '')}, {acq.get('at', '')}", CELL_NOTE)),
            f"{counts.get('files', 0):,} files\n{counts.get('bytes', 0):,} bytes\n{counts.get('items', 0):,} items",
            tally or "none",
        ]

    return Table(
        [Column("Source", 38), Column("Label and kind", 0.36), Column("Acquisition (declared)", 0.34), Column("Payload", 0.15), Column("Checks", 0.15)],
        (line(r) for r in rows),
    )


def source_section(view: SourceView) -> list[Flowable]:
    row = view.row
    acq = dict(row.get("acquisition") or {})
    counts = row.get("counts") or {}
    location = row.get("location")
    resolved = row.get("resolved")
    rows = [
        ("Kind", row.get("kind")),
        ("Folder in the bundle", Lines.of((row.get("folder"), CELL_PATH))),
        ("Location (as written)", Lines.of((_listing(location), CELL_PATH))),
        ("Location (resolved)", Lines.of((_listing(resolved), CELL_PATH)) if resolved and resolved != location else None),
        ("Acquisition tool", acq.pop("tool", None)),
        ("Acquired by", acq.pop("by", None)),
        ("Acquired at (UTC)", _time_with_original(acq.pop("at", None), acq.pop("at_original", None))),
        ("Declared", "yes: stated in the case manifest, not witnessed by evidpack" if acq.pop("declared", None) else None),
        *((k.replace("_", " ").capitalize(), _text(v)) for k, v in sorted(acq.items())),
        ("Payload", f"{counts.get('files', 0):,} files, {counts.get('bytes', 0):,} bytes, {counts.get('items', 0):,} item records"),
        ("Notes", row.get("notes")),
        ("Options", json.dumps(row["options"], ensure_ascii=False, sort_keys=True) if row.get("options") else None),
    ]
    story: list[Flowable] = [key_values(rows)]
    story += subheading("Checks")
    story.append(checks_table(row.get("checks") or []))
    story += kinds.render(view)
    return story


# A check's subject: an item id, a file or member name, an account. A name breaks
# after / . _ and the like, never inside a word if it can, and is given back exactly.
SUBJECT = replace(CELL_MONO, wrap="path", exact=True)


def checks_table(checks: list[dict[str, Any]]) -> Flowable:
    if not checks:
        return Para("No checks were recorded for this source.", NOTE)
    return Table(
        [Column("Verdict", VERDICT_WIDTH), Column("Check", 0.26), Column("Detail", 0.46), Column("Subject", 0.28)],
        ([Mark(str(c.get("verdict"))), c.get("check"), c.get("detail"), Lines.of((c.get("subject"), SUBJECT))] for c in checks),
    )


def _listing(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def _time_with_original(utc: str | None, original: str | None) -> str | None:
    if utc and original and original != utc:
        return f"{utc} (as written: {original})"
    return utc


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
