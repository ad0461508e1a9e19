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

Printable ASCII (:func:`plain`) — most of a large schedule — takes a short
way: it is measured with two table look-ups done in C (:func:`plain_width`)
and written as itself in the base font's first subset (:func:`select`),
with no per-character work in Python.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from zlib import adler32

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
_PRINTABLE_ASCII = re.compile("([ -~]+)")  # split() keeps these runs, at odd places
# Every character that is right to left, or that poppler reads as such (and some more).
_MAY_BE_RTL = re.compile("[\u0590-\u08ff\u200f\u202b\u202e\ufb1d-\ufdff\ufe70-\ufeff\U00010800-\U00010fff\U0001e800-\U0001efff]")
_WIDE_SPACE = re.compile("[\u1680\u2000-\u200a\u202f\u205f\u3000]")  # spaces but " " and U+00A0
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
_registering = threading.Lock()


def font(name: str) -> ttfonts.TTFont:
    """A shipped font, registered with reportlab on first use (the fallback
    fonts are large; most documents never need them)."""
    if name not in _registered:
        with _registering:  # a build registers the base fonts in a thread while it copies
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
# A joiner is ordinary only where it joins something (see stray_joiners).
_ORDINARY_FORMAT = frozenset({0x200C, 0x200D}) | frozenset(range(0xE0020, 0xE0080))
JOINERS = "\u200c\u200d"  # ZERO WIDTH NON-JOINER, ZERO WIDTH JOINER


def stray_joiners(text: str) -> frozenset[int]:
    """The positions of the joiners (U+200C, U+200D) in ``text`` that join
    nothing a reader could see, and so are drawn as ``[U+XXXX]`` markers like
    any other invisible character (``"ab.txt"`` and ``"a\\u200db.txt"`` must
    not look alike). A joiner is ordinary text only between two characters
    that use it:

    - a ZWJ between two pictographs (an emoji ZWJ sequence, ``👩\\u200d💻``;
      the one before may carry variation selectors, a skin tone or tags);
    - a ZWJ or ZWNJ between two letters (or marks) of one script that uses
      joiners to choose its letters' forms: Arabic (Persian, Urdu…), Syriac,
      N'Ko, Mongolian, or one of the Brahmic scripts of India and Sri Lanka
      (Devanagari to Sinhala), as in ``می\\u200cخواهم`` or ``क्\\u200dष``.

    Anywhere else — at either end of a line, beside a space, a digit, a Latin
    letter or another joiner, or between two different scripts — it is shown."""
    if "\u200c" not in text and "\u200d" not in text:
        return _NONE
    return frozenset(i for i, ch in enumerate(text) if ch in JOINERS and not _joins(text, i))


_NONE: frozenset[int] = frozenset()


def _joins(text: str, i: int) -> bool:
    if i == 0 or i + 1 >= len(text):
        return False
    after = text[i + 1]
    if text[i] == "\u200d" and _pictograph(after):
        j = i - 1
        while j > 0 and _emoji_extender(text[j]):
            j -= 1
        if _pictograph(text[j]):
            return True
    script = _joining_script(text[i - 1])
    return script is not None and script == _joining_script(after)


@cache
def _pictograph(ch: str) -> bool:
    """Roughly Unicode's Extended_Pictographic (which unicodedata does not
    give): the emoji and pictograph blocks, and symbols (So) among the
    arrows, technical and miscellaneous symbols and dingbats; not regional
    indicators nor skin-tone modifiers, which are never joined."""
    code = ord(ch)
    if 0x1F1E6 <= code <= 0x1F1FF or 0x1F3FB <= code <= 0x1F3FF:
        return False
    if 0x1F000 <= code <= 0x1FAFF or 0x1FC00 <= code <= 0x1FFFD:
        return True
    if code in (0xA9, 0xAE, 0x203C, 0x2049, 0x3030, 0x303D, 0x3297, 0x3299):
        return True
    return 0x2100 <= code <= 0x2BFF and unicodedata.category(ch) == "So"


def _emoji_extender(ch: str) -> bool:
    """What may follow a pictograph before a ZWJ: a variation selector, a
    skin-tone modifier, a tag character or the enclosing keycap."""
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F or code == 0x20E3


# Scripts whose letters take different forms with a joiner beside them: code
# point ranges -> script. Brahmic blocks of India and Sri Lanka are 128 code
# points each (U+0900 Devanagari ... U+0D80 Sinhala).
_JOINING_SCRIPTS = (
    (0x0600, 0x06FF, "Arabic"),
    (0x0700, 0x074F, "Syriac"),
    (0x0750, 0x077F, "Arabic"),
    (0x07C0, 0x07FF, "NKo"),
    (0x0860, 0x086F, "Syriac"),
    (0x0870, 0x08FF, "Arabic"),
    (0x1800, 0x18AF, "Mongolian"),
    (0xA8E0, 0xA8FF, "Brahmic-0900"),  # Devanagari Extended
    (0xFB50, 0xFDFF, "Arabic"),
    (0xFE70, 0xFEFE, "Arabic"),
)


@cache
def _joining_script(ch: str) -> str | None:
    """The joining script of a letter or mark (None for anything else: digits,
    punctuation, format and control characters)."""
    code = ord(ch)
    if unicodedata.category(ch)[0] not in "LM":
        return None
    if 0x0900 <= code <= 0x0DFF:
        return f"Brahmic-{code & ~0x7F:04X}"
    for low, high, script in _JOINING_SCRIPTS:
        if low <= code <= high:
            return script
    return None


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
        return ord(ch) not in _ORDINARY_FORMAT  # (a joiner, unless it joins nothing: stray_joiners)
    return _font_for("sans", ch) is None


def plain(text: str) -> bool:
    """Printable ASCII: drawn in one font, in order, with nothing to look up per
    character (most of a large schedule: ids, digests, most paths)."""
    return text.isascii() and text.isprintable()


@cache
def _ascii_advances(role: str) -> tuple[float, ...]:
    """The advance (at size 1) of each ASCII code in the role's base font."""
    advances = _advances(CHAINS[role][0])
    return tuple(advances.get(code, 0.0) for code in range(128))


@lru_cache(maxsize=64)
def scaled_advances(role: str, size: float) -> tuple[float, ...]:
    """The advance of each ASCII code in the role's base font at ``size``."""
    return tuple(a * size for a in _ascii_advances(role))


def plain_width(text: str, role: str, size: float) -> float:
    """The width of a :func:`plain` string (no font fallback can apply)."""
    measure = _measures.get(role) or _measure(role)
    if measure[0] is not None:  # fixed width
        return len(text) * measure[0] * size
    data = text.encode("ascii")
    if measure[1] is None:
        return sum(map(_ascii_advances(role).__getitem__, data)) * size
    if len(data) <= 256:  # the sums are below Adler-32's modulus: its low half is 1 + the sum, done in C
        return ((adler32(data.translate(measure[1])) & 0xFFFF) * 256 + (adler32(data.translate(measure[2])) & 0xFFFF) - 257) * measure[3] * size
    return (sum(data.translate(measure[1])) * 256 + sum(data.translate(measure[2]))) * measure[3] * size


# role -> (fixed advance or None, high bytes, low bytes, font unit): see _measure
_measures: dict[str, tuple[float | None, bytes | None, bytes | None, float]] = {}


def _measure(role: str) -> tuple[float | None, bytes | None, bytes | None, float]:
    """How plain text in the role's base font is measured: by its length, if
    the font is fixed-width; else with its ASCII advances in font units, split
    into high and low bytes, so a width is two table look-ups and two sums
    done in C (exactly the sum of the advances: they are whole font units)."""
    unit = 1 / font(CHAINS[role][0]).face.unitsPerEm
    units = [a / unit for a in _ascii_advances(role)]
    high = low = None
    if all(u.is_integer() and 0 <= u < 65536 for u in units):
        whole = [int(u) for u in units] + [0] * 128
        high, low = bytes(u >> 8 for u in whole), bytes(u & 255 for u in whole)
    _measures[role] = measured = (fixed_advance(role), high, low, unit)
    return measured


def pdf_string(text: str) -> str:
    """A :func:`plain` string as a PDF literal string, parentheses included."""
    return f"({escaped(text)})"


def escaped(text: str) -> str:
    """A :func:`plain` string escaped for a PDF literal string (between parentheses)."""
    if "\\" in text or "(" in text or ")" in text:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return text


def select(canv: Canvas, role: str, size: float) -> str:
    """The operator that selects the role's base font at ``size`` for plain
    text (which reportlab encodes as itself in the font's first subset)."""
    made = _kept(canv, "_evidpack_select")
    if (role, size) in made:
        return made[role, size]
    name = CHAINS[role][0]
    if not _ascii_complete(name):
        raise ValueError(f"{name} cannot show every printable ASCII character as itself")
    made[role, size] = op = f"{font(name).getSubsetInternalName(0, canv._doc)} {_num(size)} Tf"  # noqa: SLF001
    return op


def _kept(canv: Canvas, name: str) -> dict:
    """A dictionary kept with the canvas's document (what it holds depends on
    the document's font subsets)."""
    doc = canv._doc  # noqa: SLF001 - reportlab's document
    kept = doc.__dict__.get(name)
    if kept is None:
        kept = doc.__dict__[name] = {}
    return kept


@lru_cache(maxsize=16)
def runs(text: str, role: str = "sans") -> tuple[Run, ...]:
    """One line of text (logical order, no newlines) as runs in visual order
    (the last few lines asked for are remembered: a line is measured, drawn
    and checked for extraction one after the other)."""
    base = CHAINS[role][0]
    if plain(text):
        return (Run(base, text),) if text else ()
    out: list[Run] = []
    font = base  # the font of the run being gathered
    pending: list[str] = []  # its text
    for piece in rtl.visual(text, must_show_as_marker, lambda ch: _font_for(role, ch) is not None, stray_joiners(text)):
        if not isinstance(piece, str):
            if pending:
                out.append(Run(font, "".join(pending)))
                pending = []
            if isinstance(piece, rtl.Marker):
                code = ord(piece.char)  # a lone surrogate (from JSON's \\ud800) cannot be written as text: read back as its escape
                actual = f"\\u{code:04x}" if 0xD800 <= code <= 0xDFFF else piece.char
                out.append(Run(MARKER_FONT, f"[U+{code:04X}]", actual, marker=True))
            else:
                out.append(Run(_font_for(role, piece.drawn) or base, piece.drawn, piece.char))
            continue
        for name, chunk in _font_chunks(piece, role, base):
            if name != font and pending:
                out.append(Run(font, "".join(pending)))
                pending = []
            font = name
            pending.append(chunk)
    if pending:
        out.append(Run(font, "".join(pending)))
    return tuple(out)


def _font_chunks(piece: str, role: str, base: str) -> Iterator[tuple[str, str]]:
    """The text of a piece (in visual order) with the font each part is drawn
    in: printable ASCII in whole runs, in the base font (when it has all of
    ASCII); any other character alone, in the first font of the chain that
    has it, or the font of the character before if it belongs with it."""
    prev: str | None = None
    for k, part in enumerate(_PRINTABLE_ASCII.split(piece) if _ascii_complete(base) else [piece]):
        if k % 2:
            prev = base
            yield base, part
            continue
        for ch in part:
            name = prev if prev and _sticks_to_previous(ch) and has_glyph(prev, ch) else _font_for(role, ch)
            prev = name or base  # an invisible format character no font maps: kept for extraction
            yield prev, ch


def run_width(run: Run, size: float) -> float:
    advances = _advances(run.font)
    return sum(advances.get(ord(c), 0.0) for c in run.text) * (size * MARKER_SCALE if run.marker else size)


def width(text: str, role: str, size: float) -> float:
    """The drawn width of one line of text."""
    if plain(text):
        return plain_width(text, role, size)
    return sum(run_width(r, size) for r in runs(text, role))


def char_widths(text: str, role: str, size: float) -> list[float]:
    """The width of each character, in logical order, for line breaking (a shaped
    Arabic letter is never wider than the letter alone, so lines never overflow)."""
    if plain(text):
        return list(map(scaled_advances(role, size).__getitem__, text.encode("ascii")))
    widths = [_char_width(role, ch) * size for ch in text]
    for i in stray_joiners(text):
        widths[i] = _marker_width(text[i]) * size
    return widths


@cache
def fixed_advance(role: str) -> float | None:
    """The advance (at size 1) shared by every printable ASCII character of the
    role's font, if it is fixed-width."""
    advances = _advances(CHAINS[role][0])
    found = {advances.get(c) for c in range(32, 127)}
    return found.pop() if len(found) == 1 else None


@cache
def _marker_width(ch: str) -> float:
    return run_width(Run(MARKER_FONT, f"[U+{ord(ch):04X}]", ch, marker=True), 1.0)


@cache
def _char_width(role: str, ch: str) -> float:
    if must_show_as_marker(ch):
        return _marker_width(ch)
    return _advances(_font_for(role, ch) or CHAINS[role][0]).get(ord(ch), 0.0)


def draw(canv: Canvas, x: float, y: float, text: str, role: str, size: float) -> None:
    """Draw one line of text with its left end at ``x``, in the current fill colour."""
    canv._code.append(ops(canv, x, y, text, role, size))  # noqa: SLF001


def ops(canv: Canvas, x: float, y: float, text: str, role: str, size: float) -> str:
    """The content-stream operators that draw one line of text with its left
    end at ``x``, in the current fill colour. They leave the graphics state as
    it was, but for the font selected; the same text, place and document give
    the same operators.

    A line is written as one PDF text object (reportlab's drawString makes one
    per call and measures every string again); a run that stands for other text
    (a marker, a mirrored bracket) is drawn inside its /ActualText span."""
    if plain(text):
        return f"BT {select(canv, role, size)} {_num(x)} {_num(y)} Td {pdf_string(text)} Tj ET"
    made = _kept(canv, "_evidpack_ops")  # a heading repeated on every page is made once
    key = (x, y, text, role, size)
    if key not in made:
        if len(made) >= 256:
            made.clear()
        made[key] = _ops(canv, canv._doc, x, y, text, role, size)  # noqa: SLF001
    return made[key]


def _ops(canv: Canvas, doc: object, x: float, y: float, text: str, role: str, size: float) -> str:
    out: list[str] = []
    at = x
    shown: list[str] = []  # plain runs, in one text object
    for run in runs(text, role):
        if run.actual is None:
            if not shown:
                shown.append(f"BT 1 0 0 1 {_num(at)} {_num(y)} Tm")
            shown += _show(run, size, canv, doc)
            at += run_width(run, size)
            continue
        if shown:
            out.append(" ".join(shown) + " ET")
            shown = []
        drawn = size * MARKER_SCALE if run.marker else size
        colour = f"{' '.join(_num(c) for c in MARKER_COLOR)} rg " if run.marker else ""
        out.append(
            f"q /Span <</ActualText <{_utf16_hex(run.actual, bom=True)}>>> BDC {colour}"
            f"BT 1 0 0 1 {_num(at)} {_num(y)} Tm {' '.join(_show(Run(run.font, run.text), drawn, canv, doc))} ET EMC Q"
        )
        at += run_width(run, size)
    if shown:
        out.append(" ".join(shown) + " ET")
    return "\n".join(out)


def _show(run: Run, size: float, canv: Canvas, doc: object) -> list[str]:
    """The PDF operators that show one plain run (font subset and encoded text)."""
    face = font(run.font)
    if plain(run.text) and _ascii_complete(run.font) and doc in face.state:
        # reportlab encodes printable ASCII as itself in subset 0 (asciiReadable); skip its per-character loop
        return [f"{face.getSubsetInternalName(0, doc)} {_num(size)} Tf {pdf_string(run.text)} Tj"]
    return [f"{face.getSubsetInternalName(subset, doc)} {_num(size)} Tf ({canv._escape(data)}) Tj" for subset, data in face.splitString(run.text, doc)]


@cache
def _ascii_complete(name: str) -> bool:
    face = font(name)
    return bool(face._asciiReadable) and all(c in face.face.charToGlyph for c in range(32, 127))


def number(value: float) -> str:
    """A number in a content stream: at most three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


_num = number


# --- text extraction -------------------------------------------------------------------


def _utf16_hex(text: str, bom: bool = False) -> str:
    return (("\ufeff" if bom else "") + text).encode("utf-16-be").hex().upper()


def extracted(text: str, role: str = "sans") -> str:
    """What ``pdftotext`` gives back for one line drawn by :func:`ops`, on a
    page of mostly left-to-right text: each glyph as its ToUnicode value (a
    marker or a mirrored bracket as its /ActualText), every gap between words
    as one space (a space or a no-break space drawn is a gap, none is kept at
    either end; a wider space is read as a gap between columns: a line break;
    and between words of one character each, poppler sees letter spacing, no
    gap at all), and right-to-left text put back in order as poppler does it
    (:func:`rtl.pdftotext_order`), which is not always the logical order."""
    if plain(text) or not _MAY_BE_RTL.search(text):
        drawn = text  # drawn in order, each marker standing for its character
    else:
        drawn = "".join(run.actual if run.actual is not None else run.text.translate(_PRESENTATION_FORMS) for run in runs(text, role))
    words = [word for word in _WIDE_SPACE.sub("\n", drawn.replace("\xa0", " ")).split(" ") if word]
    gap = "" if len(words) > 1 and max(map(len, words)) == 1 else " "  # single characters evenly spaced: one word
    return rtl.pdftotext_order(gap.join(words))


def _extracted(code: int) -> str:
    """What a glyph drawn for ``code`` should read as. An Arabic presentation
    form reads as the letter(s) it shows; a ligature of two letters is given in
    visual order, as the glyphs around it are, so readers that reorder
    right-to-left text restore the logical order."""
    ch = chr(code)
    if 0xFB50 <= code <= 0xFDFF or 0xFE70 <= code <= 0xFEFF:
        return unicodedata.normalize("NFKC", ch)[::-1]
    return ch


# Each Arabic presentation form as what its glyph reads as.
_PRESENTATION_FORMS = {code: _extracted(code) for code in (*range(0xFB50, 0xFE00), *range(0xFE70, 0xFF00))}


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
