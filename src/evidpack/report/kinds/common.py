"""What the per-kind source renderers share: the view of one source, headings,
reading nested values safely, and a table for facts no renderer knows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reportlab.platypus import Flowable

from ..flowables import Column, Group, Lines, Para, Table
from ..styles import CELL_MONO, CELL_NAME, CELL_NOTE, H3, NOTE

if TYPE_CHECKING:
    from ..index import IndexInput


@dataclass
class SourceView:
    """One source: its line in sources.jsonl, its derived records (by name,
    without the ``<source>-`` prefix) and the whole index input."""

    row: dict[str, Any]
    records: dict[str, Any]
    data: "IndexInput"

    @property
    def id(self) -> str:
        return str(self.row.get("id", "?"))

    @property
    def facts(self) -> dict[str, Any]:
        facts = self.row.get("facts")
        return facts if isinstance(facts, dict) else {}

    def streamed(self, name: str, lists: tuple[str, ...]) -> Any:
        """The record ``name`` with its top-level lists named in ``lists`` read
        back entry by entry as they are drawn, never held (where the records
        can: see :meth:`evidpack.report.index.SourceRecords.streamed`); each
        such list has a length and can be iterated, as a list."""
        streamed = getattr(self.records, "streamed", None)
        return streamed(name, lists) if streamed is not None else self.records.get(name)


def subheading(text: str) -> list[Flowable]:
    return [Para(text, H3, space_before=8, space_after=3)]


def first(obj: Any, *keys: str) -> Any:
    """The first of ``keys`` that ``obj`` has a value for (importers name things differently)."""
    if isinstance(obj, dict):
        for key in keys:
            if obj.get(key) not in (None, ""):
                return obj[key]
    return None


def text(value: Any) -> str:
    """A value as printed: strings as they are, numbers with separators, lists
    and objects as ``key: value`` pieces. Read without recursion: a value
    nested deeper than :data:`MAX_DEPTH` levels shows :data:`DEEPER` there."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, str)):
        return _scalar(value)
    return "".join(_pieces(value))


MAX_DEPTH = 32  # levels of lists and objects a value is printed to (hostile input may nest thousands)
DEEPER = f"[… nested deeper than {MAX_DEPTH} levels]"


@dataclass(frozen=True)
class Clipped:
    """A value as printed, cut to a length: the text shown, how many characters
    of the whole were left out, and whether some of it was nested too deep to print."""

    text: str
    more: int = 0
    deep: bool = False


def clipped(value: Any, limit: int) -> Clipped:
    """:func:`text` of ``value`` cut to at most ``limit`` characters, without
    building more of it than that (a value may be megabytes): the rest is only
    counted."""
    if isinstance(value, str):
        return Clipped(value[:limit], max(0, len(value) - limit))
    shown: list[str] = []
    room = limit
    more = 0
    deep = False
    for piece in _pieces(value):
        if piece is DEEPER:
            deep = True
        if room <= 0:
            more += len(piece)
            continue
        shown.append(piece[:room])
        room -= len(piece)
        if room < 0:
            more, room = -room, 0
    return Clipped("".join(shown), more, deep)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class _Value:
    """A value still to be printed, inside a list or an object."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _members(value: dict[Any, Any] | list[Any]) -> Iterator[str | _Value]:
    if isinstance(value, dict):
        for n, (k, v) in enumerate(value.items()):
            yield f", {k}: " if n else f"{k}: "
            yield _Value(v)
    else:
        for n, v in enumerate(value):
            if n:
                yield "; "
            yield _Value(v)


def _pieces(value: Any) -> Iterator[str]:
    """:func:`text` of ``value`` in pieces, in order: objects as ``k: v``
    joined by ``, ``, lists joined by ``; `` (as if each member were printed
    on its own), walked with a stack of its own, not Python's."""
    if not isinstance(value, (dict, list)):
        yield _scalar(value)
        return
    stack = [_members(value)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, str):
            yield item
        elif not isinstance(item.value, (dict, list)):
            yield _scalar(item.value)
        elif len(stack) >= MAX_DEPTH and item.value:
            yield DEEPER
        else:
            stack.append(_members(item.value))


def time_cell(value: Any) -> Lines | str | None:
    """A time as evidpack records it: UTC first, the original text (with its
    zone, and where the zone came from) beside it."""
    if not isinstance(value, dict):
        return text(value) or None
    utc = value.get("utc")
    original = first(value, "original", "text")
    zone = first(value, "zone", "offset")
    note = None
    if original and original != utc:
        where = f", from {value['zone_source']}" if value.get("zone_source") else ""
        note = f"as given: {original}" + (f" ({zone}{where})" if zone else "")
    day = value.get("date") if not utc and isinstance(value.get("date"), str) else None  # a date only: no time of day, no zone
    return Lines.of(
        (utc or day or "not read", CELL_MONO if utc or day else CELL_NOTE),
        ("date only (no time of day, so no UTC)" if day else None, CELL_NOTE),
        (note, CELL_NOTE),
        (value.get("order") if value.get("order") and "assumed" in str(value.get("order")) else None, CELL_NOTE),
        (value.get("problem"), CELL_NOTE),
    )


def facts_table(facts: dict[str, Any], *, skip: tuple[str, ...] = ()) -> list[Flowable]:
    """Facts an importer recorded that no renderer prints otherwise: scalars and
    short lists as key/value rows, lists of objects as their own tables. Nothing
    an importer records is left out of the index."""
    from ..cover import key_values

    scalars: list[tuple[str, Any]] = []
    tables: list[Flowable] = []
    for key, value in _flatten(facts, skip):
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables += [Para(key, NOTE, space_before=4, space_after=2), records_table(value)]
        else:
            scalars.append((key, text(value)))
    out: list[Flowable] = []
    if scalars:
        out.append(key_values(scalars))
    return out + tables


def _flatten(facts: dict[str, Any], skip: tuple[str, ...], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key in sorted(facts):
        if not prefix and key in skip:
            continue
        value = facts[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += _flatten(value, (), name + ".")
        else:
            out.append((name, value))
    return out


#: Keys a list of objects may have and still be drawn one column per key; with
#: more, each column would be too narrow to read (a hostile report.xml can give
#: an element hundreds of attributes), so each object is drawn as key/value rows.
MAX_COLUMNS = 6


def records_table(rows: list[dict[str, Any]]) -> Table:
    """Objects as a table, one column per key (in first-seen order); objects with
    more than :data:`MAX_COLUMNS` keys between them as key/value rows, each
    object headed by its number. Every value is shown."""
    keys: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for k in row:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    if len(keys) <= MAX_COLUMNS:
        width = 1 / max(1, len(keys))
        return Table([Column(k, width, CELL_NAME) for k in keys], ([text(row.get(k)) for k in keys] for row in rows))
    return Table([Column("", 0.3, CELL_NAME), Column("", 0.7, CELL_NAME)], _key_value_rows(rows), header=False)


def _key_value_rows(rows: list[dict[str, Any]]) -> Iterator[Group | list[str]]:
    for n, row in enumerate(rows, 1):
        yield Group(f"entry {n} of {len(rows)}")
        for key, value in row.items():
            yield [str(key), text(value)]
