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
from functools import cache, lru_cache
from typing import Any, Union

from reportlab.lib.colors import gray
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Flowable, FrameBreak, Spacer

from . import fonts
from .layout import exact, wrap
from .styles import (
    CELL,
    CELL_HEADER,
    CELL_NOTE,
    CELL_PAD_X,
    CELL_PAD_Y,
    EXACT,
    FRAME_HEIGHT,
    HEADER_FILL,
    MARK,
    RULE,
    RULE_WIDTH,
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


#: Characters of one value a table cell shows. A longer one (a capture's
#: title or URL can be a megabyte) is cut, with a note saying how much is left
#: out: the whole value is in the bundle's records, which the index lists.
CELL_CHARS = 2000


def _capped(pieces: Iterable[tuple[str, TextStyle]], cap: int | None) -> Iterator[tuple[str, TextStyle]]:
    for text, style in pieces:
        if cap is None or len(text) <= cap:
            yield text, style
            continue
        yield text[:cap] + "…", style
        yield f"… {len(text) - cap:,} more characters not shown; the whole value is in the bundle's records", CELL_NOTE


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


@dataclass(slots=True)
class _Laid:
    """A row laid out: per cell, its lines as (text, style), a mark, an image
    with its drawn size, or nothing; and the row's height. A row of text only
    may instead be laid out straight into its drawing operators (``ops``,
    relative to the row's top-left corner, ending in fill colour ``ink``),
    keeping the row it came from in case it must be split between pages."""

    cells: list[Any] | None
    height: float
    kind: str = "row"  # row, header or group
    group: Group | None = None
    ops: str | None = None
    ink: Colour | None = None
    source: Row | None = None
    drawn: tuple[Any, str, Any] | None = None  # a repeated row's operators as drawn: the pen's state before, the operators, its state after


@dataclass(frozen=True)
class _Template:
    """The drawing operators of every row whose lines have the same columns,
    styles and ways of being drawn: the lines' text (or their whole operators)
    is filled in with ``%``."""

    ops: str
    height: float
    ink: Colour | None


@dataclass
class _Memo:
    """What a table remembers for its column widths: a template per row shape,
    and short texts as wrapped. Keys hold styles by id; ``styles`` keeps them
    (so an id is never another style's), with ``advance``: per style, the
    advance of every printable ASCII character at its size if the font is
    fixed-width, else 0."""

    templates: dict[tuple[int, ...], _Template] = field(default_factory=dict)
    wrapped: dict[tuple[str, int, float], list[str]] = field(default_factory=dict)
    styles: dict[int, TextStyle] = field(default_factory=dict)
    advance: dict[int, float] = field(default_factory=dict)
    header: _Laid | None = None
    continued: tuple[Group, _Laid] | None = None  # the last group, and its "(continued)" row
    rows: dict[Any, Any] = field(default_factory=dict)  # what a subclass remembers per kind of row
    aw: float = -1.0  # the width available that gave the column widths

    def learn(self, style: TextStyle) -> float:
        """Remember ``style`` (keyed by four times its id, as in a row's shape)."""
        fixed = fonts.fixed_advance(style.role)
        self.styles[id(style) * 4] = style
        self.advance[id(style) * 4] = advance = fixed * style.size if fixed else 0.0
        return advance


# How a line of a templated row is drawn (added to its style's id in a row's shape).
_PLAIN, _ALIGNED, _OPS = 0, 1, 2  # printable ASCII from its column's left edge; the same, at a given x; operators made for it
_MEMO_MAX = 1024  # templates, and wrapped texts, remembered per table


class Table(Flowable):
    """A table of ``rows`` (any iterable; consumed once, a page at a time)."""

    def __init__(
        self, columns: list[Column], rows: Iterable[Row], *, header: bool = True, zebra: bool = True, space_after: float = 8, cap: int | None = CELL_CHARS
    ) -> None:
        """``cap``: the characters of one value a cell shows (see :data:`CELL_CHARS`);
        None shows every value whole (the item schedule: a path is printed exactly)."""
        super().__init__()
        self.cap = cap
        self.columns = columns
        self.header = header
        self.zebra = zebra
        self.spaceAfter = space_after
        self._rows: Iterator[Row] = iter(rows)
        self._pending: list[_Laid] = []  # laid out, not yet placed
        self._widths: list[float] = []
        self._xs: list[float] = []  # where each column's text starts
        self._group: Group | None = None  # the group the next row belongs to
        self._chunk: list[_Laid] | None = None  # set when this flowable is one page's part
        self._memo = _Memo()  # for the current column widths

    # layout -----------------------------------------------------------------------------

    def _set_widths(self, aw: float) -> None:
        if aw == self._memo.aw:
            return  # as for the page before
        fixed = sum(c.width for c in self.columns if c.width > 1)
        flexible = aw - fixed
        widths = [c.width if c.width > 1 else c.width * flexible for c in self.columns]
        if widths != self._widths:
            self._widths, self._memo = widths, _Memo()  # templates hold the columns' places
            self._xs = [sum(widths[:i]) + CELL_PAD_X for i in range(len(widths))]
        self._memo.aw = aw

    def _lay(self, row: Row, kind: str = "row") -> _Laid:
        if kind == "row" and not isinstance(row, Group):
            canv = getattr(self, "canv", None)  # platypus sets it while the table is split into pages
            if canv is not None:
                laid = self._lay_text(row, canv)
                if laid is not None:
                    return laid
        return self._lay_cells(row, kind)

    def _lay_text(self, row: Row, canv: Any) -> _Laid | None:
        """A row of text cells laid out straight into drawing operators, from a
        template made once for every row of the same shape (most rows of a large
        table are alike: one line per value, or a path on two). A line of printable
        ASCII costs its measuring and escaping; any other line, its operators.

        The shape is a key of integers: per column, ``-1 - column``, then per line
        four times the id of its style, plus 1 if the line is aligned (its x is a
        value) or 2 if its operators are made for it."""
        memo = self._memo
        advance = memo.advance
        key: list[int] = []
        values: list[str] = []  # per line: what fills its place in the template
        for ci, (col, width, cell) in enumerate(zip(self.columns, self._widths, row)):
            if cell is None or cell == "":
                continue
            if type(cell) is str:
                pieces: tuple[tuple[str, TextStyle], ...] = ((cell, col.style),)
            elif type(cell) is Lines:
                pieces = cell.pieces
            else:
                return None  # a mark or a picture: laid out as cells
            key.append(-1 - ci)
            inner = width - 2 * CELL_PAD_X
            top = -CELL_PAD_Y
            for text, style in pieces:
                sid = id(style) * 4
                per = advance.get(sid, -1.0)
                if per == -1.0:
                    per = memo.learn(style)
                if text.isascii() and text.isprintable():
                    used = len(text) * per if per else fonts.plain_width(text, style.role, style.size)
                    if used <= inner and style.align == "left":  # the common case: one line
                        key.append(sid)
                        values.append(fonts.escaped(text))
                        top -= style.leading
                    else:
                        top -= style.leading * self._add_plain(key, values, text, style, ci, used)
                    if style.exact and " " in text:
                        top -= self._add_exact(key, values, exact(text, [], style.role, inner), ci)
                    continue
                lines = wrap(text, style, inner)
                for line in lines:
                    x = self._xs[ci]
                    if style.align != "left":
                        x = _aligned(x, inner, fonts.width(line, style.role, style.size), style.align)
                    key.append(sid + _OPS)
                    values.append(fonts.ops(canv, x, top - style.size * 0.98, line, style.role, style.size))
                    top -= style.leading
                if style.exact:
                    top -= self._add_exact(key, values, exact(text, lines, style.role, inner), ci)
        return self._from_template(canv, key, values, row)

    def _add_exact(self, key: list[int], values: list[str], lines: list[str], column: int) -> float:
        """Add the lines of a name's exact form (:func:`layout.exact`, each fits
        its column) to a row's shape and values; returns their height."""
        for line in lines:
            self._add_plain(key, values, line, EXACT, column)
        return len(lines) * EXACT.leading

    def _add_plain(self, key: list[int], values: list[str], text: str, style: TextStyle, column: int, used: float | None = None) -> int:
        """Add a piece of printable ASCII in ``column`` (``used`` wide, if known)
        to a row's shape and values, on as many lines as it takes; returns how many."""
        sid = id(style) * 4
        if sid not in self._memo.styles:
            self._memo.learn(style)
        inner = self._widths[column] - 2 * CELL_PAD_X
        if used is None:
            used = fonts.plain_width(text, style.role, style.size)
        lines = [text] if used <= inner else self._wrap(text, style, inner)
        for line in lines:
            if style.align == "left":
                key.append(sid)
            else:
                key.append(sid + _ALIGNED)
                if len(lines) > 1:
                    used = fonts.plain_width(line, style.role, style.size)
                values.append(_num(_aligned(self._xs[column], inner, used, style.align)))
            values.append(fonts.escaped(line))
        return len(lines)

    def _from_template(self, canv: Any, key: list[int], values: list[str], source: Any) -> _Laid:
        """A row laid out by its shape's template (see :meth:`_lay_text`); the
        styles in ``key`` must have been learnt (:meth:`_Memo.learn`)."""
        shape = tuple(key)
        template = self._memo.templates.get(shape)
        if template is None:
            template = self._template(canv, shape)
            if len(self._memo.templates) < _MEMO_MAX:
                self._memo.templates[shape] = template
        return _Laid(None, template.height, "row", ops=template.ops % tuple(values), ink=template.ink, source=source)

    def _wrap(self, text: str, style: TextStyle, width: float) -> list[str]:
        """:func:`wrap`, remembering short texts (a media type that does not fit
        its column is wrapped once, not on every row)."""
        if len(text) > 64:
            return wrap(text, style, width)
        key = (text, id(style), width)
        lines = self._memo.wrapped.get(key)
        if lines is None:
            lines = wrap(text, style, width)
            if len(self._memo.wrapped) < _MEMO_MAX:
                self._memo.wrapped[key] = lines  # the style is in memo.styles (learnt first)
        return lines

    def _template(self, canv: Any, shape: tuple[int, ...]) -> _Template:
        """The operators of a row of this shape (see :meth:`_lay_text`), with
        ``%s`` where each line's text, x or operators go."""
        ops: list[str] = []
        column, top, bottom = 0, 0.0, -CELL_PAD_Y  # the column, the top of its next line; the lowest line's bottom
        ink: Colour | None = None
        font: str | None = None
        for code in shape:
            if code < 0:
                column, top = -1 - code, -CELL_PAD_Y
                continue
            how = code % 4
            style = self._memo.styles[code - how]
            baseline = top - style.size * 0.98
            top -= style.leading
            bottom = min(bottom, top)
            if style.colour != ink:
                ops.append(f"{_colour(style.colour)} rg")
                ink = style.colour
            if how == _OPS:
                ops.append("%s")
                font = None
                continue
            select = fonts.select(canv, style.role, style.size)
            select, font = ("" if select == font else select + " "), select
            place = f"{_num(self._xs[column])} {_num(baseline)}" if how == _PLAIN else f"%s {_num(baseline)}"
            ops.append(f"BT {select}{place} Td (%s) Tj ET")
        return _Template("\n".join(ops), -bottom + CELL_PAD_Y, ink)

    def _lay_cells(self, row: Row, kind: str = "row") -> _Laid:
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
                lines = []
                tall = 0.0
                for text, style in _capped(((cell, col.style),) if isinstance(cell, str) else cell.pieces, self.cap):
                    if text.isascii() and text.isprintable() and fonts.plain_width(text, style.role, style.size) <= inner:
                        wrapped = [text]  # most cells of a large table: one line that fits
                    else:
                        wrapped = wrap(text, style, inner)
                    lines += [(line, style) for line in wrapped]
                    tall += style.leading * len(wrapped)
                    if style.exact:
                        extra = exact(text, wrapped, style.role, inner)
                        lines += [(line, EXACT) for line in extra]
                        tall += EXACT.leading * len(extra)
                cells.append(lines)
                if tall > height:
                    height = tall
        return _Laid(cells, height + 2 * CELL_PAD_Y, kind)

    def _header(self) -> _Laid:
        """The header row (the same on every page)."""
        if self._memo.header is None:
            self._memo.header = self._lay([Lines.of((c.title, CELL_HEADER)) for c in self.columns], "header")
        return self._memo.header

    def _continued(self, group: Group) -> _Laid:
        """The group row repeated at the top of a page, marked as continued."""
        if self._memo.continued is None or self._memo.continued[0] is not group:
            self._memo.continued = (group, self._lay(Group(group.text + " (continued)", group.style)))
        return self._memo.continued[1]

    def _next(self) -> _Laid | None:
        if self._pending:
            return self._pending.pop(0)
        row = next(self._rows, None)
        return None if row is None else self._lay(row)

    # platypus ---------------------------------------------------------------------------

    def first_height(self, aw: float) -> float:
        """The height of the header and the first row: what must fit for the table to start."""
        self.wrap(aw, 0)
        head = self._header().height if self.header else 0
        return head + (self._pending[0].height if self._pending else 0)

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        self.width = aw
        if self._chunk is not None:
            self.height = sum(r.height for r in self._chunk)
            return aw, self.height
        self._set_widths(aw)
        first = self._next()
        if first is None:
            self.height = 0
            return aw, 0
        self._pending.insert(0, first)
        return aw, ah + 1  # a streamed table is always split into page-sized parts

    def split(self, aw: float, ah: float) -> list[Flowable]:
        if self._chunk is not None:
            return []
        self._set_widths(aw)
        chunk: list[_Laid] = []
        if self.header:
            chunk.append(self._header())
        used = sum(r.height for r in chunk)
        placed = 0
        pending, rows, lay = self._pending, self._rows, self._lay
        while True:
            if pending:
                row = pending.pop(0)
            else:
                source = next(rows, None)
                if source is None:
                    break
                row = lay(source)
            if placed == 0 and row.kind == "row" and self._group is not None:
                cont = self._continued(self._group)
                chunk.append(cont)
                used += cont.height
            if used + row.height > ah:
                at_top = getattr(getattr(self, "_frame", None), "_atTop", False) or ah >= FRAME_HEIGHT - 1
                if placed == 0 and at_top and row.ops is not None:
                    row = self._lay_cells(row.source)  # taller than a page: its lines, to split it between them
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
        part = Table(self.columns, (), header=self.header, zebra=self.zebra, space_after=0, cap=self.cap)
        part._chunk, part._widths = chunk, self._widths
        if not self._pending:
            peek = next(self._rows, None)
            if peek is None:
                part.spaceAfter = self.spaceAfter
                return [part]
            self._pending.append(self._lay(peek))
        rest = self._again(self._rows)
        rest._pending, rest._group = self._pending, self._group  # a fresh flowable: platypus marks the ones it postpones
        rest._widths, rest._xs, rest._memo = self._widths, self._xs, self._memo
        # The next row did not fit, so the rest (its header, that row) cannot either: on to the next
        # frame at once, rather than after platypus has tried it here.
        return [part, FrameBreak, rest]

    def _again(self, rows: Iterator[Row]) -> "Table":
        """The table that goes on with ``rows`` on the next page (a subclass
        makes one of its own kind)."""
        return Table(self.columns, rows, header=self.header, zebra=self.zebra, space_after=self.spaceAfter, cap=self.cap)

    def drawOn(self, canvas: Any, x: float, y: float, _sW: float = 0) -> None:  # noqa: N802 - reportlab's name
        """reportlab's Flowable.drawOn, the same operators, with the move to
        (x, y) formatted once for every page that puts a table part there
        (reportlab formats its numbers slowly, without its C accelerator)."""
        x = self._hAlignAdjust(x, _sW)
        canvas.saveState()
        if rl_canvas.ENABLE_TRACKING:  # as Canvas.transform(1, 0, 0, 1, x, y) after "q"
            a0, b0, c0, d0, e0, f0 = canvas._currentMatrix
            canvas._currentMatrix = (a0, b0, c0, d0, a0 * x + c0 * y + e0, b0 * x + d0 * y + f0)
        canvas._code.append(_translation(x, y))
        self._drawOn(canvas)
        if getattr(self, "_showBoundary", False):  # reportlab's diagnostic
            canvas.setStrokeColor(gray)
            canvas.rect(0, 0, self.width, self.height)
        canvas.restoreState()

    def draw(self) -> None:
        """Each row is drawn with its top-left corner as the origin (moved down
        row by row), so the operators for a place in a row are the same in
        every row and are made once."""
        total = sum(self._widths)
        edges = [sum(self._widths[:i]) for i in range(len(self._widths))]
        pen = Pen(self.canv)
        pen.add(f"{_num(RULE_WIDTH)} w {_colour(RULE)} RG 1 0 0 1 0 {_num(self.height)} cm")
        y = self.height  # the top of the row, in the flowable's space
        shade = False
        add = pen.ops.append
        for row in self._chunk or []:
            if row.kind != "row":
                pen.fill(HEADER_FILL)
                add(_box(total, row.height))
                shade = False
            else:
                if shade and self.zebra:
                    pen.fill(SHADE)
                    add(_box(total, row.height))
                shade = not shade
            if row.ops is not None:
                add(row.ops)
                pen.ink, pen.font = row.ink, None
                add(_end(total, row.height))
                y -= row.height
                continue
            repeated = row.kind != "row" and not (row.group is not None and row.group.key)  # a header or "(continued)" row
            if repeated and row.drawn is not None and row.drawn[0] == (pen.ink, pen.font):
                add(row.drawn[1])  # as it was drawn on the page before
                pen.ink, pen.font = row.drawn[2]
            elif row.kind == "group":
                if row.group is not None and row.group.key:
                    pen.flush()
                    mark_anchor(self.canv, row.group.key, row.group.text, row.group.level, y)  # the canvas does not know the moves
                before, start = (pen.ink, pen.font), len(pen.ops)
                _draw_lines(pen, CELL_PAD_X, -CELL_PAD_Y, total - 2 * CELL_PAD_X, row.cells[0])
                if repeated:
                    row.drawn = (before, "\n".join(pen.ops[start:]), (pen.ink, pen.font))
            else:
                before, start = (pen.ink, pen.font), len(pen.ops)
                for x0, width, cell in zip(edges, self._widths, row.cells):
                    if type(cell) is not list:
                        _draw_cell(pen, x0, 0.0, width, cell)
                        continue
                    x, inner, top = x0 + CELL_PAD_X, width - 2 * CELL_PAD_X, -CELL_PAD_Y
                    for text, style in cell:
                        pen.text(x, top - style.size * 0.98, inner, text, style)
                        top -= style.leading
                if repeated and all(cell is None or type(cell) is list for cell in row.cells):  # nothing flushed the pen
                    row.drawn = (before, "\n".join(pen.ops[start:]), (pen.ink, pen.font))
            add(_end(total, row.height))
            y -= row.height
        pen.add(_rule(total, self.height - y))  # the top rule, over the header's fill
        pen.flush()


def _aligned(x: float, width: float, used: float, align: str) -> float:
    """Where a line ``used`` wide starts in a box from ``x`` of ``width``."""
    return x if align == "left" else x + (width - used) if align == "right" else x + (width - used) / 2


@lru_cache(maxsize=512)
def _rule(width: float, y: float) -> str:
    return f"0 {_num(y)} m {_num(width)} {_num(y)} l S"


@lru_cache(maxsize=512)
def _box(width: float, height: float) -> str:
    return f"0 {_num(-height)} {_num(width)} {_num(height)} re f"


@lru_cache(maxsize=512)
def _down(height: float) -> str:
    return f"1 0 0 1 0 {_num(-height)} cm"


@lru_cache(maxsize=64)
def _translation(x: float, y: float) -> str:
    return "%s cm" % fp_str(1, 0, 0, 1, x, y)


@lru_cache(maxsize=512)
def _end(width: float, height: float) -> str:
    """What ends a row: its bottom rule, and the move to the next row's top."""
    return f"{_rule(width, -height)} {_down(height)}"


class Pen:
    """Drawing operators for one flowable, collected and written in one piece.
    A line of printable ASCII (most of a large table: ids, digests, most paths)
    is written straight away in the role's base font; any other line is drawn
    by :func:`fonts.draw`, with font fallback, right-to-left order and markers.
    The fill colour and font last set are remembered, so neither is set twice."""

    __slots__ = ("canv", "ops", "ink", "font", "fonts")

    def __init__(self, canv: Any) -> None:
        self.canv = canv
        self.ops: list[str] = []
        self.fonts: dict[tuple[str, float], str] = {}  # (role, size) -> the operator selecting its base font
        self.ink: Colour | None = None  # the fill colour set, if known
        self.font: str | None = None  # the font selected (text state outlasts BT/ET), if known

    def add(self, op: str) -> None:
        self.ops.append(op)

    def fill(self, colour: Colour) -> None:
        if colour != self.ink:
            self.ops.append(f"{_colour(colour)} rg")
            self.ink = colour

    def text(self, x: float, y: float, width: float, text: str, style: TextStyle) -> None:
        """One laid-out line at baseline ``y`` in a box from ``x`` of ``width``."""
        if style.colour != self.ink:
            self.ops.append(f"{_colour(style.colour)} rg")
            self.ink = style.colour
        if not (text.isascii() and text.isprintable()):
            if style.align != "left":
                w = fonts.width(text, style.role, style.size)
                x += (width - w) if style.align == "right" else (width - w) / 2
            self.ops.append(fonts.ops(self.canv, x, y, text, style.role, style.size))
            self.font = None
            return
        if style.align != "left":
            w = fonts.plain_width(text, style.role, style.size)
            x += (width - w) if style.align == "right" else (width - w) / 2
        font = self.fonts.get((style.role, style.size))
        if font is None:
            font = self.fonts[style.role, style.size] = fonts.select(self.canv, style.role, style.size)
        if font is self.font:
            self.ops.append(f"BT {_at(x, y)} {fonts.pdf_string(text)} Tj ET")
        else:
            self.ops.append(f"BT {font} {_at(x, y)} {fonts.pdf_string(text)} Tj ET")
            self.font = font

    def take(self) -> str:
        """What is collected, as one string (and forget it)."""
        out = "\n".join(self.ops)
        self.ops.clear()
        return out

    def flush(self) -> None:
        """Write what is collected (before anything draws on the canvas itself)."""
        if self.ops:
            self.canv._code.append("\n".join(self.ops))  # noqa: SLF001
            self.ops.clear()


_num = fonts.number


@lru_cache(maxsize=4096)
def _at(x: float, y: float) -> str:
    return f"{_num(x)} {_num(y)} Td"


@cache
def _colour(colour: Colour) -> str:
    return " ".join(_num(c) for c in colour)


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


def _draw_lines(pen: Pen, x: float, top: float, width: float, lines: list[tuple[str, TextStyle]]) -> None:
    y = top
    for text, style in lines:
        pen.text(x, y - style.size * 0.98, width, text, style)
        y -= style.leading


def _draw_cell(pen: Pen, x0: float, top: float, width: float, cell: Any) -> None:
    if cell is None:
        return
    x = x0 + CELL_PAD_X
    inner = width - 2 * CELL_PAD_X
    if isinstance(cell, list):
        _draw_lines(pen, x, top - CELL_PAD_Y, inner, cell)
        return
    pen.flush()
    canv = pen.canv
    if isinstance(cell, Mark):
        draw_mark(canv, x, top - CELL_PAD_Y - MARK.leading, cell)  # keeps the graphics state
    else:
        image, w, h = cell
        canv.drawImage(image, x, top - CELL_PAD_Y - h, w, h)
        canv.rect(x, top - CELL_PAD_Y - h, w, h, stroke=1, fill=0)


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


