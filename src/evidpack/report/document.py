"""A report document: page templates, the running header and footer, headings
with bookmarks, the contents list, and deterministic output.

Every page carries the case id, the first 16 hex digits of the tag manifest's
SHA-256 and "Page N of M". M and the page numbers in the contents are not known
until the last page is laid out, so each is a PDF form XObject referenced where
it is printed and defined when the document is saved: one pass, however long
the document. So is the footer's hash: the sealed index is laid out before the
tag manifest exists (:class:`LateDigest`; the build writes the catalogue
meanwhile), and the few other places that print the hash in full hold a
stand-in, filled in when the document is saved (see :mod:`.pdfstream`).

Each page is written to the output as soon as it is finished
(:mod:`.pdfstream`), so a document of any length needs the memory of one page.

Output is byte-identical for the same story and creation time: reportlab runs
in invariant mode, the creation date is the given time, and nothing records the
host, process or wall clock.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import IO, Any

from reportlab.lib.utils import TimeStamp
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, NextPageTemplate, PageBreak, PageTemplate

from .. import TOOL_NAME, __version__
from . import fonts
from .flowables import Pen, draw_line, mark_anchor
from .layout import wrap
from .pdfstream import stream_to
from .styles import (
    BODY,
    FOOTER,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    HEADER,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_TOP,
    MUTED,
    PAGE_SIZE,
    RULE,
    TextStyle,
)

PAGES_FORM = "evidpack-page-count"
HASH_FORM = "evidpack-tag-hash"  # the footer's 16 hex digits of the tag manifest's SHA-256
_SHA256 = re.compile("[0-9a-f]{64}")
_Y_FOOT = MARGIN_BOTTOM - 12  # the footer's baseline
_Y_HEAD = PAGE_SIZE[1] - MARGIN_TOP + 10  # the header's


@dataclass(frozen=True)
class Identity:
    """What a report is about, printed on every page and in the PDF's metadata."""

    case_id: str
    tagmanifest_sha256: str
    title: str  # e.g. "Evidence index"
    kind: str  # shown at the right of every footer, e.g. "Sealed index"
    author: str
    created: datetime


@dataclass(frozen=True)
class LateDigest:
    """The tag manifest's SHA-256, printed before it is known: laid out as
    ``stand_in`` (random hex of the same length, so it is laid out the same
    and no other text can hold it; print it in a fixed-width font, and on one
    line, or as its two halves on two), and replaced, when the document is
    saved, by what ``compute`` returns then."""

    stand_in: str
    compute: Callable[[], str]

    @classmethod
    def of(cls, compute: Callable[[], str]) -> "LateDigest":
        return cls(secrets.token_hex(32), compute)

    @property
    def halves(self) -> tuple[str, str]:
        return self.stand_in[:32], self.stand_in[32:]


class ReportDocument(BaseDocTemplate):
    """Lays out a story on A4 pages: the first page is the cover (footer only),
    the rest carry a header with the current section as well. With ``late``,
    the identity's ``tagmanifest_sha256`` is its stand-in."""

    def __init__(self, identity: Identity, late: LateDigest | None = None) -> None:
        if late is not None and identity.tagmanifest_sha256 != late.stand_in:
            raise ValueError("a late digest is printed as its stand-in")
        self.identity = identity
        self.late = late
        super().__init__(
            "",
            pagesize=PAGE_SIZE,
            leftMargin=MARGIN_LEFT,
            rightMargin=PAGE_SIZE[0] - MARGIN_LEFT - FRAME_WIDTH,
            topMargin=MARGIN_TOP,
            bottomMargin=MARGIN_BOTTOM,
            title=f"{identity.title} — {identity.case_id}",
            author=identity.author,
            subject=f"{identity.kind}, tag manifest SHA-256 {identity.tagmanifest_sha256}",
            keywords=identity.case_id,
            creator=f"{TOOL_NAME} {__version__}",
            invariant=1,
            pageCompression=1,
            initialFontName=fonts.CHAINS["sans"][0],  # never a standard font, which would not be embedded
        )
        frame = Frame(MARGIN_LEFT, MARGIN_BOTTOM, FRAME_WIDTH, FRAME_HEIGHT, 0, 0, 0, 0, id="body")
        self.addPageTemplates(
            [
                PageTemplate("cover", [frame], onPageEnd=self._decorate),
                PageTemplate("body", [frame], onPageEnd=self._decorate),
            ]
        )
        self.anchors: dict[str, int] = {}  # heading key -> page number
        self.referenced: set[str] = set()  # heading keys whose page number is printed
        self.section = ""
        self._frames: dict[tuple[bool, str], str] = {}  # the header and footer, but the page number
        self._number_x = 0.0  # where the page number starts
        self._hash_x = 0.0  # where the footer's hash starts

    def render(self, story: list[Flowable]) -> bytes:
        """The PDF as bytes (see :meth:`write`)."""
        out = io.BytesIO()
        self.write(story, out)
        return out.getvalue()

    def write(self, story: list[Flowable], out: IO[bytes]) -> None:
        """Write the PDF to ``out`` (a binary file opened for writing), each page
        as soon as it is laid out. ``story`` starts on the cover page; put
        :func:`body_pages` after the cover."""
        fonts.register()
        self.filename = out  # where reportlab's canvas writes
        self.build(story, canvasmaker=partial(_ReportCanvas, report=self))

    # page decoration ----------------------------------------------------------------------

    def _decorate(self, canv: Canvas, doc: Any) -> None:
        """The running header and footer. All but the page number is the same
        on every page of a section, so its operators are made once."""
        cover = self.pageTemplate.id == "cover"
        key = (cover, "" if cover else self.section)
        frame = self._frames.get(key)
        if frame is None:
            frame = self._frames[key] = self._frame_ops(canv, cover)
        number = f"{canv.getPageNumber()} of "
        at = self._number_x + fonts.width(number, FOOTER.role, FOOTER.size)
        canv._code.append(f"q {frame}\nq 1 0 0 1 {fonts.number(self._hash_x)} {fonts.number(_Y_FOOT)} cm")
        canv.doForm(HASH_FORM)
        canv._code.append(f"Q\n{fonts.ops(canv, self._number_x, _Y_FOOT, number, FOOTER.role, FOOTER.size)}\nq 1 0 0 1 {fonts.number(at)} {fonts.number(_Y_FOOT)} cm")
        canv.doForm(PAGES_FORM)
        canv._code.append("Q Q")

    def _frame_ops(self, canv: Canvas, cover: bool) -> str:
        ident = self.identity
        pen = Pen(canv)
        pen.add(f"{' '.join(fonts.number(c) for c in RULE)} RG .5 w {_rule(_Y_FOOT + 10)}")
        # "<case id> · <16 hex digits, a form> · Page <N> of <M, a form>"
        prefix = f"{ident.case_id} · "
        pen.text(MARGIN_LEFT, _Y_FOOT, FRAME_WIDTH, prefix, FOOTER)
        self._hash_x = MARGIN_LEFT + fonts.width(prefix, FOOTER.role, FOOTER.size)
        after = self._hash_x + 16 * _mono_advance(FOOTER.size)
        pen.text(after, _Y_FOOT, FRAME_WIDTH, " · Page ", FOOTER)
        self._number_x = after + fonts.width(" · Page ", FOOTER.role, FOOTER.size)
        pen.text(MARGIN_LEFT, _Y_FOOT, FRAME_WIDTH, ident.kind, _right(FOOTER))
        if not cover:
            pen.add(_rule(_Y_HEAD - 3))
            pen.text(MARGIN_LEFT, _Y_HEAD, FRAME_WIDTH, f"{ident.title} — {ident.case_id}", HEADER)
            pen.text(MARGIN_LEFT, _Y_HEAD, FRAME_WIDTH, self.section, _right(HEADER))
        pen.fill(FOOTER.colour)  # for the page number
        return pen.take()

    def define_forms(self, canv: Canvas) -> None:
        """Called as the canvas is saved: the tag manifest's hash (computed now,
        if late), the page count and every printed page number."""
        digest = self.identity.tagmanifest_sha256
        if self.late is not None:
            digest = self.late.compute()
            if not _SHA256.fullmatch(digest):
                raise ValueError(f"not a SHA-256 in hex: {digest!r}")
            for stand_in, value in zip(self.late.halves, (digest[:32], digest[32:])):
                canv._doc.fill(stand_in, value)
            canv.setSubject(canv._doc.info.subject.replace(self.late.stand_in, digest))
        _text_form(canv, HASH_FORM, digest[:16], FOOTER.colour, "mono", FOOTER.size)
        _number_form(canv, PAGES_FORM, str(canv._doc.page_count), "left")
        for key in sorted(self.referenced):
            _number_form(canv, page_form(key), str(self.anchors.get(key, "?")), "right")


def _rule(y: float) -> str:
    """A rule across the frame at ``y``."""
    return f"{fonts.number(MARGIN_LEFT)} {fonts.number(y)} m {fonts.number(MARGIN_LEFT + FRAME_WIDTH)} {fonts.number(y)} l S"


def _right(style: TextStyle) -> TextStyle:
    return TextStyle(style.role, style.size, style.leading, style.colour, "right", style.wrap)


def page_form(key: str) -> str:
    return f"evidpack-page-of-{key}"


def _number_form(canv: Canvas, name: str, text: str, align: str) -> None:
    size = FOOTER.size if name == PAGES_FORM else BODY.size
    x = 0.0 if align == "left" else -fonts.width(text, "sans", size)
    _text_form(canv, name, text, FOOTER.colour if name == PAGES_FORM else BODY.colour, "sans", size, x)


def _text_form(canv: Canvas, name: str, text: str, colour: tuple[float, float, float], role: str, size: float, x: float = 0.0) -> None:
    """A form XObject that draws ``text`` with its baseline at 0, from ``x``."""
    canv.beginForm(name, lowerx=-100, lowery=-4, upperx=100, uppery=12)
    canv.setFillColorRGB(*colour)
    fonts.draw(canv, x, 0, text, role, size)
    canv.endForm()


def _mono_advance(size: float) -> float:
    advance = fonts.fixed_advance("mono")
    assert advance is not None, "the mono role's font is fixed-width"
    return advance * size


class _ReportCanvas(Canvas):
    """reportlab's canvas, made deterministic, writing each page to the output
    as it is finished (see :mod:`.pdfstream`: memory stays that of one page),
    and defining the page-number forms when saved."""

    def __init__(self, *args: Any, report: ReportDocument, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._report = report
        self.anchors = report.anchors  # filled by mark_anchor as headings are drawn
        _fix_time(self._doc, report.identity.created)
        doc = stream_to(self, self._filename)
        if report.late is not None:
            for stand_in in report.late.halves:
                doc.defer(stand_in)

    def showPage(self) -> None:
        super().showPage()
        self._doc.flush_page()

    def save(self) -> None:
        if len(self._code):
            self.showPage()
        self._report.define_forms(self)
        super().save()


def _fix_time(doc: Any, moment: datetime) -> None:
    """Make reportlab's document depend on ``moment`` alone for its time.

    reportlab's PDFDocument takes a time stamp when it is made (from
    ``$SOURCE_DATE_EPOCH`` if set, else 2000-01-01 in invariant mode) and seeds
    the digest that becomes the PDF's /ID with it. evidpack resolves the build
    time itself (``--time``, else ``SOURCE_DATE_EPOCH``, else now), so the time
    stamp (CreationDate, ModDate) and the /ID's seed are both replaced here by
    that time: the same instant gives the same bytes however it was given, and
    whatever the environment holds."""
    if doc.Pages.pages or getattr(doc, "_ID", None):
        raise ValueError("the document's time is fixed before anything is drawn")
    stamp = _timestamp(moment)
    doc._timeStamp = stamp
    signature = hashlib.md5(usedforsecurity=False)
    signature.update(b"a reportlab document")  # as reportlab seeds it, with evidpack's time
    signature.update(repr(stamp.t).encode("ascii"))
    doc.signature = signature


def _timestamp(moment: datetime) -> TimeStamp:
    """reportlab's document time stamp (CreationDate, ModDate), set to ``moment``
    in UTC, without reportlab's constructor (which reads ``$SOURCE_DATE_EPOCH``)."""
    ts = TimeStamp.__new__(TimeStamp)
    utc = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)  # never the host's zone
    ts.t = utc.timestamp()
    ts.lt = utc.timetuple()
    ts.YMDhms = tuple(ts.lt)[:6]
    ts.dhh = ts.dmm = 0
    ts.tzname = "UTC"
    return ts


# --- flowables that need the document ------------------------------------------------------


def body_pages() -> list[Flowable]:
    """What ends the cover: the following pages use the body template."""
    return [NextPageTemplate("body"), PageBreak()]


class Heading(Flowable):
    """A heading: a bookmark and outline entry, and its page number recorded for the contents."""

    keep_with_next = True

    def __init__(self, text: str, style: TextStyle, *, key: str, level: int = 0, space_before: float = 6, space_after: float = 4) -> None:
        super().__init__()
        self.text, self.style, self.key, self.level = text, style, key, level
        self.spaceBefore, self.spaceAfter = space_before, space_after
        self._lines: list[str] = []

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        self.width = aw
        self._lines = wrap(self.text, self.style, aw)
        self.height = len(self._lines) * self.style.leading
        return aw, self.height

    def draw(self) -> None:
        canv = self.canv
        if self.level == 0:
            canv._report.section = self.text  # type: ignore[attr-defined]
        mark_anchor(canv, self.key, self.text, self.level, self.height + self.style.size)
        y = self.height - self.style.size
        for line in self._lines:
            draw_line(canv, 0, y, self.width, line, self.style)
            y -= self.style.leading


TITLE_CHARS = 1000  # of a heading made of a label (the label is printed in full elsewhere)


def short_title(title: str) -> str:
    """A heading (and its bookmark and contents entry) made of free text, cut
    if very long: a heading or a table's group row is never split between
    pages, so one longer than a page could not be laid out at all."""
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"


@dataclass(frozen=True)
class Entry:
    """A line of the contents: a heading's text, key and level."""

    text: str
    key: str
    level: int = 0


class Contents(Flowable):
    """The contents: every entry with dot leaders and its page number, linked to
    its heading. The page numbers are forms, filled in when the PDF is saved."""

    def __init__(self, entries: Iterable[Entry], style: TextStyle = BODY, indent: float = 14) -> None:
        super().__init__()
        self.entries = list(entries)
        self.style, self.indent = style, indent

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        self.width = aw
        self.height = len(self.entries) * self.style.leading
        return aw, self.height

    def split(self, aw: float, ah: float) -> list[Flowable]:
        n = int(ah // self.style.leading)
        if n <= 0 or n >= len(self.entries):
            return []
        return [Contents(self.entries[:n], self.style, self.indent), Contents(self.entries[n:], self.style, self.indent)]

    def draw(self) -> None:
        canv = self.canv
        doc: ReportDocument = canv._report  # type: ignore[attr-defined]
        s = self.style
        number_room = fonts.width("00000", s.role, s.size)
        y = self.height - s.size
        for entry in self.entries:
            doc.referenced.add(entry.key)
            x = entry.level * self.indent
            room = self.width - x - number_room - 8
            text = entry.text if fonts.width(entry.text, s.role, s.size) <= room else _shortened(entry.text, s, room)
            style = s if entry.level else _bold(s)
            draw_line(canv, x, y, self.width, text, style)
            used = fonts.width(text, style.role, style.size)
            canv.setFillColorRGB(*MUTED)
            dots_from, dots_to = x + used + 4, self.width - number_room - 2
            if dots_to > dots_from:
                dot = fonts.width(" .", s.role, s.size)
                count = int((dots_to - dots_from) // dot)
                fonts.draw(canv, dots_to - count * dot, y, " ." * count, s.role, s.size)
            canv.saveState()
            canv.translate(self.width, y)
            canv.doForm(page_form(entry.key))
            canv.restoreState()
            canv.linkRect("", entry.key, (x, y - 2, self.width, y + s.size), relative=1, thickness=0)
            y -= s.leading


def _bold(style: TextStyle) -> TextStyle:
    return TextStyle("bold", style.size, style.leading, style.colour, style.align, style.wrap)


def _shortened(text: str, style: TextStyle, room: float) -> str:
    """A contents line that would not fit, cut with an ellipsis (the heading
    itself is printed in full). A long text (a label may be megabytes) is
    first cut near where it fits by bisection, measuring a few dozen prefixes
    rather than one per character."""

    def fits(n: int) -> bool:
        return fonts.width(text[:n] + "…", style.role, style.size) <= room

    if len(text) > _SHORTEN_SCAN:
        low, high = 0, len(text)  # fits(low) or low == 0; not fits(high)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if fits(mid) else (low, mid)
        text = text[: low + _SHORTEN_SCAN]  # then as for a short text, from a little past it
    while text and not fits(len(text)):
        text = text[:-1]
    return text + "…"


_SHORTEN_SCAN = 256  # a contents line is never near this many characters wide
