"""The fonts evidpack's PDFs use, shipped in ``report/fonts/`` and embedded (as
subsets) in every PDF, and the one way text is measured and drawn.

No single TrueType font covers Latin, Arabic, Hebrew, CJK, Hangul and emoji, so
every string is split into runs, each in the first font of its role's chain
that has the character (see :data:`CHAINS`). Right-to-left text is put into
visual order first (:mod:`evidpack.report.rtl`). A character no font can show
— or one that must be seen rather than obeyed, such as a bidi override — is
drawn as a visible ``[U+XXXX]`` marker, with the original character kept as
the marker's ``/ActualText`` so text extraction still returns it exactly.

reportlab writes each glyph's Unicode value into the font's ToUnicode map, which
text extraction (``pdftotext``, copy and paste) reads. Two corrections are made
to that map (:func:`_to_unicode_cmap`): characters beyond the BMP (emoji) are
written as UTF-16 surrogate pairs, as the PDF format requires, and Arabic
presentation forms map back to the letters they show.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfgen.canvas import Canvas

from . import rtl

# reportlab font name -> file in report/fonts/ (licences beside them)
FONT_FILES = {
    "DejaVuSans": "DejaVuSans.ttf",
    "DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
    "DejaVuSansMono": "DejaVuSansMono.ttf",
    "DroidSansFallbackFull": "DroidSansFallbackFull.ttf",
    "WenQuanYiMicroHei-Hangul": "WenQuanYiMicroHei-Hangul.ttf",
    "Symbola": "Symbola.ttf",
}
# Han (with Extension A), kana, bopomofo; then Hangul; then emoji and symbols.
FALLBACK = ("DroidSansFallbackFull", "WenQuanYiMicroHei-Hangul", "Symbola")
CHAINS = {
    "sans": ("DejaVuSans", *FALLBACK),
    "bold": ("DejaVuSans-Bold", "DejaVuSans", *FALLBACK),
    "mono": ("DejaVuSansMono", "DejaVuSans", *FALLBACK),
}
MARKER_FONT = "DejaVuSansMono"
MARKER_SCALE = 0.8
MARKER_COLOR = (0.6, 0.1, 0.1)


@dataclass(frozen=True)
class Run:
    """A piece of a line in visual order, in one font. With ``actual`` set, the
    drawn text stands for ``actual`` (kept as /ActualText for extraction): a
    mirrored bracket, or (``marker``) a ``[U+XXXX]`` marker."""

    font: str
    text: str
    actual: str | None = None
    marker: bool = False


_registered: set[str] = set()


def font(name: str) -> ttfonts.TTFont:
    """A shipped font, registered with reportlab on first use (the fallback
    fonts are large; most documents never need them)."""
    if name not in _registered:
        filename = FONT_FILES[name]
        path = resources.files("evidpack.report").joinpath("fonts", filename)
        pdfmetrics.registerFont(ttfonts.TTFont(name, str(path), shapable=False))
        ttfonts.makeToUnicodeCMap = _to_unicode_cmap
        _registered.add(name)
    return pdfmetrics.getFont(name)


def register() -> None:
    """Register the base fonts (the fallbacks follow when a character needs them)."""
    for name in {chain[0] for chain in CHAINS.values()}:
        font(name)


@cache
def _cmap(name: str) -> frozenset[int]:
    return frozenset(font(name).face.charToGlyph)


@cache
def _advances(name: str) -> dict[int, float]:
    """Advance width of each character at size 1."""
    face = font(name).face
    return {code: w / 1000 for code, w in face.charWidths.items()}


def has_glyph(name: str, ch: str) -> bool:
    return ord(ch) in _cmap(name)


@cache
def _sticks_to_previous(ch: str) -> bool:
    """Combining marks, joiners, variation selectors and emoji modifiers belong
    with the character before them, so they stay in its font when it has them."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me")
        or code in (0x200C, 0x200D)
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF
    )


@cache
def _font_for(role: str, ch: str) -> str | None:
    for name in CHAINS[role]:
        if has_glyph(name, ch):
            return name
    return None


# Invisible format characters that belong in ordinary text: joiners (emoji
# sequences, Persian and Indic scripts) and tag characters (subdivision flags).
_ORDINARY_FORMAT = frozenset({0x200C, 0x200D}) | frozenset(range(0xE0020, 0xE0080))


@cache
def must_show_as_marker(ch: str) -> bool:
    """Characters drawn as ``[U+XXXX]`` (and read back as themselves): control
    characters; invisible format characters such as a zero-width space or a
    bidi override, which are shown, never obeyed — a name must not hide or
    reorder anything unseen; and anything no shipped font has."""
    category = unicodedata.category(ch)
    if category == "Cc" or ch in rtl.CONTROLS:
        return True
    if category == "Cf":
        return ord(ch) not in _ORDINARY_FORMAT
    return _font_for("sans", ch) is None


def _plain(text: str) -> bool:
    return text.isascii() and text.isprintable()


def runs(text: str, role: str = "sans") -> list[Run]:
    """One line of text (logical order, no newlines) as runs in visual order."""
    base = CHAINS[role][0]
    if _plain(text):
        return [Run(base, text)] if text else []
    out: list[Run] = []
    prev: str | None = None
    for piece in rtl.visual(text, must_show_as_marker, lambda ch: _font_for(role, ch) is not None):
        if isinstance(piece, rtl.Marker):
            out.append(Run(MARKER_FONT, f"[U+{ord(piece.char):04X}]", piece.char, marker=True))
            prev = None
            continue
        if isinstance(piece, rtl.Mirrored):
            out.append(Run(_font_for(role, piece.drawn) or base, piece.drawn, piece.char))
            prev = None
            continue
        for ch in piece:
            name = prev if prev and _sticks_to_previous(ch) and has_glyph(prev, ch) else _font_for(role, ch)
            if name is None:  # an invisible format character no font maps: kept for extraction
                name = base
            if out and out[-1].font == name and out[-1].actual is None:
                out[-1] = Run(name, out[-1].text + ch)
            else:
                out.append(Run(name, ch))
            prev = name
    return out


def run_width(run: Run, size: float) -> float:
    advances = _advances(run.font)
    return sum(advances.get(ord(c), 0.0) for c in run.text) * (size * MARKER_SCALE if run.marker else size)


def width(text: str, role: str, size: float) -> float:
    """The drawn width of one line of text."""
    return sum(run_width(r, size) for r in runs(text, role))


def char_widths(text: str, role: str, size: float) -> list[float]:
    """The width of each character, in logical order, for line breaking (a shaped
    Arabic letter is never wider than the letter alone, so lines never overflow)."""
    if _plain(text):
        advances = _advances(CHAINS[role][0])
        return [advances.get(ord(c), 0.0) * size for c in text]
    return [_char_width(role, ch) * size for ch in text]


@cache
def fixed_advance(role: str) -> float | None:
    """The advance (at size 1) shared by every printable ASCII character of the
    role's font, if it is fixed-width."""
    advances = _advances(CHAINS[role][0])
    found = {advances.get(c) for c in range(32, 127)}
    return found.pop() if len(found) == 1 else None


@cache
def _char_width(role: str, ch: str) -> float:
    if must_show_as_marker(ch):
        return run_width(Run(MARKER_FONT, f"[U+{ord(ch):04X}]", ch, marker=True), 1.0)
    return _advances(_font_for(role, ch) or CHAINS[role][0]).get(ord(ch), 0.0)


def draw(canv: Canvas, x: float, y: float, text: str, role: str, size: float) -> None:
    """Draw one line of text with its left end at ``x``, in the current fill colour.

    Plain runs are written as one PDF text object per line (reportlab's
    drawString makes one per call and measures every string again, which is
    most of the cost of a long schedule); a run that stands for other text
    (a marker, a mirrored bracket) is drawn inside its /ActualText span."""
    ops: list[str] = []
    doc = canv._doc  # noqa: SLF001 - reportlab's document, for font subsets
    at = x
    since: list[Run] = []  # plain runs drawn since ``at``
    for run in runs(text, role):
        if run.actual is None:
            if not ops:
                ops.append(f"BT 1 0 0 1 {_num(at)} {_num(y)} Tm")
            ops += _show(run, size, canv, doc)
            since.append(run)
            continue
        if ops:
            canv._code.append(" ".join(ops) + " ET")  # noqa: SLF001
            ops = []
        at += sum(run_width(r, size) for r in since)
        since = []
        canv.saveState()
        canv.addLiteral(f"/Span <</ActualText <{_utf16_hex(run.actual, bom=True)}>>> BDC")
        if run.marker:
            canv.setFillColorRGB(*MARKER_COLOR)
        canv.setFont(run.font, size * MARKER_SCALE if run.marker else size)
        canv.drawString(at, y, run.text)
        canv.addLiteral("EMC")
        canv.restoreState()
        at += run_width(run, size)
    if ops:
        canv._code.append(" ".join(ops) + " ET")  # noqa: SLF001


def _show(run: Run, size: float, canv: Canvas, doc: object) -> list[str]:
    """The PDF operators that show one plain run (font subset and encoded text)."""
    face = font(run.font)
    if _plain(run.text) and _ascii_complete(run.font) and doc in face.state:
        # reportlab encodes printable ASCII as itself in subset 0 (asciiReadable); skip its per-character loop
        escaped = run.text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return [f"{face.getSubsetInternalName(0, doc)} {_num(size)} Tf ({escaped}) Tj"]
    return [f"{face.getSubsetInternalName(subset, doc)} {_num(size)} Tf ({canv._escape(data)}) Tj" for subset, data in face.splitString(run.text, doc)]


@cache
def _ascii_complete(name: str) -> bool:
    face = font(name)
    return bool(face._asciiReadable) and all(c in face.face.charToGlyph for c in range(32, 127))


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


# --- text extraction -------------------------------------------------------------------


def _utf16_hex(text: str, bom: bool = False) -> str:
    return (("\ufeff" if bom else "") + text).encode("utf-16-be").hex().upper()


def _extracted(code: int) -> str:
    """What a glyph drawn for ``code`` should read as. An Arabic presentation
    form reads as the letter(s) it shows; a ligature of two letters is given in
    visual order, as the glyphs around it are, so readers that reorder
    right-to-left text restore the logical order."""
    ch = chr(code)
    if 0xFB50 <= code <= 0xFDFF or 0xFE70 <= code <= 0xFEFF:
        return unicodedata.normalize("NFKC", ch)[::-1]
    return ch


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """reportlab's ToUnicode CMap, with every value written as UTF-16 (reportlab
    writes a non-BMP code point as five hex digits, which readers misread) and
    Arabic presentation forms mapped to their letters."""
    entries = [f"<{i:02X}> <{_utf16_hex(_extracted(code))}>" for i, code in enumerate(subset)]
    return "\n".join(
        [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            "/CIDSystemInfo",
            f"<< /Registry ({fontname})",
            f"/Ordering ({fontname})",
            "/Supplement 0",
            ">> def",
            f"/CMapName /{fontname} def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            f"<00> <{len(subset) - 1:02X}>",
            "endcodespacerange",
            f"{len(entries)} beginbfchar",
            *entries,
            "endbfchar",
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
    )
