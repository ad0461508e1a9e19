"""The building blocks of a report page, as reportlab platypus flowables.

- :class:`Para`: a paragraph in one :class:`TextStyle`, every script (font fallback, RTL).
- :class:`Table`: columns of wrapped cells, drawn straight onto the canvas. Rows
  may come from an iterator and are laid out a page at a time, so a table of a
  million rows costs no more memory than a page of it; the header is repeated on
  every page, and a row taller than a page is split between its lines.
- Cells: a string (set in the column's style), :class:`Lines` (several pieces,
  each in its own style), :class:`Mark` (a PASS/FAIL/... label) or
  :class:`Picture` (an image, scaled to fit).
- :class:`Group`: a row spanning the whole table, heading the rows after it
  (repeated with "(continued)" when a page break falls inside the group).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from reportlab.lib.utils import ImageReader
from reportlab.platypus import Flowable, Spacer

from . import fonts
from .layout import wrap
from .styles import (
    CELL,
    CELL_HEADER,
    CELL_PAD_X,
    CELL_PAD_Y,
    FRAME_HEIGHT,
    HEADER_FILL,
    MARK,
    RULE,
    SHADE,
    VERDICTS,
    Colour,
    TextStyle,
)


def draw_line(canv: Any, x: float, y: float, width: float, text: str, style: TextStyle, *, ink: Colour | None = None) -> None:
    """One laid-out line at baseline ``y`` in a box from ``x`` of ``width``.
    ``ink`` is the fill colour already set, if known (saves setting it again)."""
    if style.align != "left":
        w = fonts.width(text, style.role, style.size)
        x += (width - w) if style.align == "right" else (width - w) / 2
    if ink != style.colour:
        canv.setFillColorRGB(*style.colour)
    fonts.draw(canv, x, y, text, style.role, style.size)


class Para(Flowable):
    """A paragraph: wrapped to the frame, split between pages at line breaks."""

    def __init__(
        self, text: str, style: TextStyle, *, space_before: float = 0, space_after: float = 0, indent: float = 0, background: Colour | None = None
    ) -> None:
        super().__init__()
        self.text, self.style, self.indent, self.background = text, style, indent, background
        self.spaceBefore, self.spaceAfter = space_before, space_after
        self._lines: list[str] | None = None
        self._width = 0.0

    def _layout(self, width: float) -> list[str]:
        if self._lines is None or width != self._width:
            self._lines, self._width = wrap(self.text, self.style, width - self.indent), width
        return self._lines

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        self.width = aw
        self.height = len(self._layout(aw)) * self.style.leading
        return aw, self.height

    def split(self, aw: float, ah: float) -> list[Flowable]:
        lines = self._layout(aw)
        n = int(ah // self.style.leading)
        if n <= 0 or n >= len(lines):
            return []
        first = Para("\n".join(lines[:n]), self.style, space_before=self.spaceBefore, indent=self.indent, background=self.background)
        rest = Para("\n".join(lines[n:]), self.style, space_after=self.spaceAfter, indent=self.indent, background=self.background)
        return [first, rest]

    def draw(self) -> None:
        lines = self._layout(self.width)
        s = self.style
        if self.background is not None:
            self.canv.setFillColorRGB(*self.background)
            self.canv.rect(0, -1.5, self.width, self.height + 1.5, stroke=0, fill=1)
        y = self.height - s.size
        for line in lines:
            draw_line(self.canv, self.indent, y, self.width - self.indent, line, s)
            y -= s.leading


# --- tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lines:
    """A cell of several pieces, each wrapped on its own lines in its own style."""

    pieces: tuple[tuple[str, TextStyle], ...]

    @classmethod
    def of(cls, *pieces: tuple[str | None, TextStyle]) -> "Lines":
        return cls(tuple((t, s) for t, s in pieces if t))


@dataclass(frozen=True)
class Mark:
    """A verdict label: PASS, FAIL, WARN or NOT CHECKABLE (unknown verdicts print as given)."""

    verdict: str

    @property
    def label(self) -> str:
        return VERDICTS.get(self.verdict, (self.verdict.upper(), (0.3, 0.3, 0.3)))[0]


@dataclass(frozen=True)
class Picture:
    """An image (file bytes) scaled to fit ``max_height`` and the column width."""

    data: bytes
    max_height: float
    caption: str = ""


Cell = Union[str, None, Lines, Mark, Picture]


@dataclass(frozen=True)
class Group:
    """A full-width row that heads the rows after it; with ``key``, also a
    bookmark and contents entry (see :func:`mark_anchor`) at ``level``."""

    text: str
    style: TextStyle = field(default_factory=lambda: CELL_HEADER)
    key: str | None = None
    level: int = 1


@dataclass(frozen=True)
class Column:
    """A table column: header, width (a fraction of the table width when <= 1,
    else points) and the style of plain-string cells."""

    title: str
    width: float
    style: TextStyle = CELL


Row = Union[list[Cell], tuple[Cell, ...], Group]


@dataclass
class _Laid:
    """A row laid out: per cell, its lines as (text, style), a mark, an image
    with its drawn size, or nothing; and the row's height."""

    cells: list[Any]
    height: float
    kind: str = "row"  # row, header or group
    group: Group | None = None


class Table(Flowable):
    """A table of ``rows`` (any iterable; consumed once, a page at a time)."""

    def __init__(self, columns: list[Column], rows: Iterable[Row], *, header: bool = True, zebra: bool = True, space_after: float = 8) -> None:
        super().__init__()
        self.columns = columns
        self.header = header
        self.zebra = zebra
        self.spaceAfter = space_after
        self._rows: Iterator[Row] = iter(rows)
        self._pending: list[_Laid] = []  # laid out, not yet placed
        self._widths: list[float] = []
        self._group: Group | None = None  # the group the next row belongs to
        self._chunk: list[_Laid] | None = None  # set when this flowable is one page's part

    # layout -----------------------------------------------------------------------------

    def _column_widths(self, aw: float) -> list[float]:
        fixed = sum(c.width for c in self.columns if c.width > 1)
        flexible = aw - fixed
        return [c.width if c.width > 1 else c.width * flexible for c in self.columns]

    def _lay(self, row: Row, kind: str = "row") -> _Laid:
        if isinstance(row, Group):
            lines = [(t, row.style) for t in wrap(row.text, row.style, sum(self._widths) - 2 * CELL_PAD_X)]
            return _Laid([lines], _lines_height(lines) + 2 * CELL_PAD_Y, "group", row)
        cells: list[Any] = []
        height = 0.0
        for col, width, cell in zip(self.columns, self._widths, row):
            inner = width - 2 * CELL_PAD_X
            if cell is None or cell == "":
                cells.append(None)
            elif isinstance(cell, Mark):
                cells.append(cell)
                height = max(height, MARK.leading)
            elif isinstance(cell, Picture):
                image = ImageReader(io.BytesIO(cell.data))
                iw, ih = image.getSize()
                scale = min(inner / iw, cell.max_height / ih, 1.0)
                cells.append((image, iw * scale, ih * scale))
                height = max(height, ih * scale)
            else:
                pieces = ((cell, col.style),) if isinstance(cell, str) else cell.pieces
                lines = [(t, s) for text, s in pieces for t in wrap(text, s, inner)]
                cells.append(lines)
                height = max(height, _lines_height(lines))
        return _Laid(cells, height + 2 * CELL_PAD_Y, kind)

    def _next(self) -> _Laid | None:
        if self._pending:
            return self._pending.pop(0)
        row = next(self._rows, None)
        return None if row is None else self._lay(row)

    # platypus ---------------------------------------------------------------------------

    def first_height(self, aw: float) -> float:
        """The height of the header and the first row: what must fit for the table to start."""
        self.wrap(aw, 0)
        head = self._lay([Lines.of((c.title, CELL_HEADER)) for c in self.columns], "header").height if self.header else 0
        return head + (self._pending[0].height if self._pending else 0)

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        self.width = aw
        if self._chunk is not None:
            self.height = sum(r.height for r in self._chunk)
            return aw, self.height
        self._widths = self._column_widths(aw)
        first = self._next()
        if first is None:
            self.height = 0
            return aw, 0
        self._pending.insert(0, first)
        return aw, ah + 1  # a streamed table is always split into page-sized parts

    def split(self, aw: float, ah: float) -> list[Flowable]:
        if self._chunk is not None:
            return []
        self._widths = self._column_widths(aw)
        chunk: list[_Laid] = []
        if self.header:
            chunk.append(self._lay([Lines.of((c.title, CELL_HEADER)) for c in self.columns], "header"))
        used = sum(r.height for r in chunk)
        placed = 0
        while (row := self._next()) is not None:
            if placed == 0 and row.kind == "row" and self._group is not None:
                cont = self._lay(Group(self._group.text + " (continued)", self._group.style))
                chunk.append(cont)
                used += cont.height
            if used + row.height > ah:
                at_top = getattr(getattr(self, "_frame", None), "_atTop", False) or ah >= FRAME_HEIGHT - 1
                if placed == 0 and at_top and ah - used >= 2 * CELL_PAD_Y + _first_line(row):
                    part, rest = _split_row(row, ah - used)  # taller than a page: split between its lines
                    chunk.append(part)
                    self._pending.insert(0, rest)
                    placed += 1
                else:
                    self._pending.insert(0, row)
                break
            if row.kind == "group":
                self._group = row.group
            chunk.append(row)
            used += row.height
            placed += 1
        if placed == 0:
            return []
        part = Table(self.columns, (), header=self.header, zebra=self.zebra, space_after=0)
        part._chunk, part._widths = chunk, self._widths
        if not self._pending:
            peek = next(self._rows, None)
            if peek is None:
                part.spaceAfter = self.spaceAfter
                return [part]
            self._pending.append(self._lay(peek))
        rest = Table(self.columns, self._rows, header=self.header, zebra=self.zebra, space_after=self.spaceAfter)
        rest._pending, rest._group = self._pending, self._group  # a fresh flowable: platypus marks the ones it postpones
        return [part, rest]

    def draw(self) -> None:
        canv = self.canv
        total = sum(self._widths)
        edges = [sum(self._widths[:i]) for i in range(len(self._widths))]
        canv.setLineWidth(0.4)
        canv.setStrokeColorRGB(*RULE)
        y = self.height
        shade = False
        ink: list[Colour | None] = [None]  # the fill colour last set, shared with the cells drawn
        for row in self._chunk or []:
            top, y = y, y - row.height
            fill = HEADER_FILL if row.kind != "row" else SHADE if self.zebra and shade else None
            if fill is not None:
                canv.setFillColorRGB(*fill)
                canv.rect(0, y, total, row.height, stroke=0, fill=1)
                ink[0] = fill
            shade = not shade if row.kind == "row" else False
            if row.kind == "group":
                if row.group is not None and row.group.key:
                    mark_anchor(canv, row.group.key, row.group.text, row.group.level, top)
                _draw_lines(canv, CELL_PAD_X, top - CELL_PAD_Y, total - 2 * CELL_PAD_X, row.cells[0], ink)
            else:
                for x0, width, cell in zip(edges, self._widths, row.cells):
                    _draw_cell(canv, x0, top, width, cell, ink)
            canv.line(0, y, total, y)
        canv.line(0, self.height, total, self.height)


class KeepWithNext(Flowable):
    """Headings and notes kept on the same page as the start of the table
    after them (its header and first row)."""

    def __init__(self, flowables: list[Flowable]) -> None:
        super().__init__()
        self.flowables = flowables  # headings and paragraphs, then a Table

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        return aw, ah + 1  # always placed through split

    def split(self, aw: float, ah: float) -> list[Flowable]:
        *heads, last = self.flowables
        need = sum(f.wrap(aw, ah)[1] + f.getSpaceBefore() + f.getSpaceAfter() for f in heads) + last.getSpaceBefore()
        need += last.first_height(aw)
        if need > ah and not getattr(getattr(self, "_frame", None), "_atTop", False):
            return []
        return list(self.flowables)


def keep_with_next(story: list[Flowable]) -> list[Flowable]:
    """The story with every run of headings and paragraphs that leads into a
    table kept with the table's start."""
    out: list[Flowable] = []
    heads: list[Flowable] = []
    for f in story:
        if isinstance(f, (Para, Spacer)) or getattr(f, "keep_with_next", False):
            heads.append(f)
            continue
        if heads and isinstance(f, Table):
            out.append(KeepWithNext([*heads, f]))
        else:
            out += [*heads, f]
        heads = []
    return out + heads


def mark_anchor(canv: Any, key: str, title: str, level: int, top: float) -> None:
    """A place the contents and the PDF outline point to: a bookmark at ``top``
    (in the current coordinates), an outline entry, and the page number
    recorded for the document's contents (when drawn by a report document)."""
    anchors = getattr(canv, "anchors", None)
    if anchors is not None:
        anchors[key] = canv.getPageNumber()
    canv.bookmarkHorizontal(key, 0, top)
    canv.addOutlineEntry(title, key, level=level, closed=level > 0)


def _lines_height(lines: list[tuple[str, TextStyle]]) -> float:
    return sum(s.leading for _, s in lines)


def _first_line(row: _Laid) -> float:
    return max((c[0][1].leading for c in row.cells if isinstance(c, list) and c), default=0.0)


def _split_row(row: _Laid, room: float) -> tuple[_Laid, _Laid]:
    """A row too tall for a whole page, split between its lines."""
    room -= 2 * CELL_PAD_Y
    first, rest = [], []
    for cell in row.cells:
        if not isinstance(cell, list):
            first.append(cell)
            rest.append(None)
            continue
        used, k = 0.0, 0
        while k < len(cell) and used + cell[k][1].leading <= room:
            used += cell[k][1].leading
            k += 1
        first.append(cell[:k])
        rest.append(cell[k:])
    h1 = max((_lines_height(c) for c in first if isinstance(c, list)), default=0) + 2 * CELL_PAD_Y
    h2 = max((_lines_height(c) for c in rest if isinstance(c, list)), default=0) + 2 * CELL_PAD_Y
    return _Laid(first, h1), _Laid(rest, h2)


def _draw_lines(canv: Any, x: float, top: float, width: float, lines: list[tuple[str, TextStyle]], ink: list[Colour | None]) -> None:
    y = top
    for text, style in lines:
        draw_line(canv, x, y - style.size * 0.98, width, text, style, ink=ink[0])
        ink[0] = style.colour
        y -= style.leading


def _draw_cell(canv: Any, x0: float, top: float, width: float, cell: Any, ink: list[Colour | None]) -> None:
    if cell is None:
        return
    x = x0 + CELL_PAD_X
    inner = width - 2 * CELL_PAD_X
    if isinstance(cell, Mark):
        draw_mark(canv, x, top - CELL_PAD_Y - MARK.leading, cell)  # keeps the graphics state
    elif isinstance(cell, tuple):
        image, w, h = cell
        canv.drawImage(image, x, top - CELL_PAD_Y - h, w, h)
        canv.rect(x, top - CELL_PAD_Y - h, w, h, stroke=1, fill=0)
    else:
        _draw_lines(canv, x, top - CELL_PAD_Y, inner, cell, ink)


def draw_mark(canv: Any, x: float, y: float, mark: Mark) -> float:
    """A verdict label with its box's lower-left corner at (x, y); returns its width."""
    label, fill = VERDICTS.get(mark.verdict, (mark.label, (0.3, 0.3, 0.3)))
    w = fonts.width(label, MARK.role, MARK.size) + 6
    canv.saveState()
    canv.setFillColorRGB(*fill)
    canv.roundRect(x, y + 0.6, w, MARK.leading - 1.2, 1.5, stroke=0, fill=1)
    canv.setFillColorRGB(*MARK.colour)
    fonts.draw(canv, x + 3, y + (MARK.leading - MARK.size) / 2 + 0.9, label, MARK.role, MARK.size)
    canv.restoreState()
    return w


