"""Right-to-left text for a PDF that draws glyphs left to right.

reportlab draws characters in the order given and does no shaping, so a line
holding Arabic or Hebrew is first shaped (Arabic letters take their joined
forms, with arabic-reshaper) and then put into visual order by the Unicode
Bidirectional Algorithm (python-bidi: its compiled implementation for most
lines, its pure-Python one, which exposes each character's level, for lines
with brackets to mirror or markers to place). Lines are broken before this, in
logical order, as UAX #9 prescribes.

A bracket in right-to-left text is drawn mirrored (rule L4), and comes back as
a :class:`Mirrored` piece so the drawing can keep the original character for
text extraction.

Bidi control characters (overrides, embeddings, isolates, marks) are never
obeyed: an override inside a file name or nickname must not silently reorder
what the reader sees. They, and any other character the caller wants shown
as a marker, come back as :class:`Marker` pieces in their visual position.

Text extraction reorders what is drawn its own way: :func:`pdftotext_order`
tells what poppler's ``pdftotext`` makes of a line, so a name it cannot give
back exactly can be printed again in an exact form.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache, lru_cache

import arabic_reshaper
from bidi import algorithm as uba
from bidi import get_display as fast_display

CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_STAND_IN = "\ufffc"  # OBJECT REPLACEMENT CHARACTER: bidi class ON, as an ignored control is
_RTL_CLASSES = frozenset({"R", "AL", "AN"})
_PRINTABLE_ASCII = re.compile("[ -~]+")
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")


@dataclass(frozen=True)
class Marker:
    """A character to be shown as a visible marker instead of drawn as itself."""

    char: str


@dataclass(frozen=True)
class Mirrored:
    """A character drawn with its mirror image's glyph (``drawn``), e.g. ``(`` as ``)``."""

    drawn: str
    char: str


Piece = str | Marker | Mirrored


@cache
def _reshaper() -> arabic_reshaper.ArabicReshaper:
    # Keep harakat (the text must come back out exactly); of the ligatures only
    # the obligatory lam-alef ones, which every Arabic font has.
    return arabic_reshaper.ArabicReshaper(configuration={"delete_harakat": False, "ARABIC LIGATURE ALLAH": False})


# Arabic letters join only with the Arabic letters, marks and joiners beside them,
# so each run of these is shaped on its own (and a name shaped once).
_ARABIC_RUN = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff\u200c\u200d]+")


def _shaped(run: re.Match[str]) -> str:
    return _shape(run.group())


@lru_cache(maxsize=4096)
def _shape(run: str) -> str:
    try:
        return _reshaper().reshape(run)
    except (IndexError, KeyError, ValueError):  # arabic-reshaper fails on some joiner sequences (e.g. ZWJ lam alef)
        return run  # drawn unshaped, still read back exactly


def is_rtl(text: str) -> bool:
    return not text.isascii() and any(unicodedata.bidirectional(ch) in _RTL_CLASSES for ch in text)


def _is_presentation_form(ch: str) -> bool:
    code = ord(ch)
    return 0xFB50 <= code <= 0xFDFF or 0xFE70 <= code <= 0xFEFF


def visual(text: str, is_marker: Callable[[str], bool], drawable: Callable[[str], bool], marked: Collection[int] = ()) -> list[Piece]:
    """One line in visual (left-to-right drawing) order. ``drawable`` says
    whether a shaped Arabic form can be drawn; a form no font has falls back to
    the plain letter. ``marked``: the positions of characters shown as markers
    because of where they are (a joiner that joins nothing), besides those
    ``is_marker`` names."""
    others = set(_PRINTABLE_ASCII.sub("", text))  # printable ASCII is never a marker, nor right to left
    if not marked and not any(ch == _STAND_IN or ch in CONTROLS or is_marker(ch) or unicodedata.bidirectional(ch) in _RTL_CLASSES for ch in others):
        return [text]  # left to right, with nothing to show as a marker: drawn as it is
    markers: list[str] = []
    chars = []
    for i, ch in enumerate(text):
        if ch == _STAND_IN or ch in CONTROLS or is_marker(ch) or i in marked:
            markers.append(ch)
            ch = _STAND_IN
        chars.append(ch)
    logical = "".join(chars)
    if not is_rtl(logical):
        order = [(i, False) for i in range(len(logical))]
    else:
        if _ARABIC.search(logical):
            logical = "".join(
                ch if not _is_presentation_form(ch) or drawable(ch) else unicodedata.normalize("NFKC", ch)
                for ch in _ARABIC_RUN.sub(_shaped, logical)
            )
        if not markers and not any(unicodedata.mirrored(ch) for ch in logical):
            return [fast_display(logical)]  # nothing to track through the reordering
        order = _reorder(logical)
    # Stand-ins keep their logical order through shaping: the n-th is the n-th marker.
    marker_at = dict(zip((i for i, ch in enumerate(logical) if ch == _STAND_IN), markers))
    out: list[Piece] = []
    run: list[str] = []
    for i, at_rtl_level in order:
        ch = logical[i]
        piece: Piece | None = None
        if ch == _STAND_IN:
            piece = Marker(marker_at[i])
        elif at_rtl_level and uba.MIRRORED.get(ch, ch) != ch:
            piece = Mirrored(uba.MIRRORED[ch], ch)
        if piece is None:
            run.append(ch)
            continue
        if run:
            out.append("".join(run))
            run = []
        out.append(piece)
    if run:
        out.append("".join(run))
    return out


def _reorder(text: str) -> list[tuple[int, bool]]:
    """(logical index, at a right-to-left level) of each character in visual
    order: python-bidi's UBA steps up to reordering (L2). Mirroring (L4) is the
    caller's, so that a mirrored bracket can still be read as itself."""
    storage = uba.get_empty_storage()
    storage["base_level"] = uba.get_base_level(text)
    storage["base_dir"] = ("L", "R")[storage["base_level"]]
    uba.get_embedding_levels(text, storage, False, False)
    for i, c in enumerate(storage["chars"]):
        c["index"] = i
    uba.explicit_embed_and_overrides(storage, False)
    uba.resolve_weak_types(storage, False)
    uba.resolve_neutral_types(storage, False)
    uba.resolve_implicit_levels(storage, False)
    uba.reorder_resolved_levels(storage, False)
    order = [(c["index"], c["level"] % 2 == 1) for c in storage["chars"]]
    # Rule X9 drops boundary neutrals (ZWJ, ZWNJ, soft hyphen...). They must
    # still be drawn and read back: each goes beside the character before it,
    # on the side the reading direction puts it.
    kept = {i for i, _ in order}
    for i in range(len(text)):
        if i in kept:
            continue
        at = next((k for k, (j, _) in enumerate(order) if j == i - 1), None)
        if at is None:
            order.insert(0, (i, False))
        else:
            rtl_level = order[at][1]
            order.insert(at if rtl_level else at + 1, (i, rtl_level))
        kept.add(i)
    return order


# How poppler's pdftotext (TextOutputDev.cc, reorderText) classes characters when
# it puts a line back into logical order: right to left (bidi classes R and AL,
# and the right-to-left embedding and override) and what ends a
# right-to-left stretch (L with its embedding and override, and its "numbers":
# EN, AN, ES, CS, ET). Checked against pdftotext 22.12.
_POPPLER_RTL = frozenset({"R", "AL", "RLE", "RLO"})
_POPPLER_ENDS_RTL = frozenset({"L", "LRE", "LRO", "EN", "AN", "ES", "CS", "ET"})


def pdftotext_order(visual: str) -> str:
    """The logical order poppler's ``pdftotext`` gives a line whose characters
    are drawn left to right in the order ``visual``, on a page of mostly
    left-to-right text: it alternates a stretch up to the next right-to-left
    character, kept as drawn, and a stretch up to the next left-to-right
    character or number, reversed. (It is no bidi algorithm: a right-to-left
    word, a space and a digit, in that logical order, cannot come out of it.)"""
    classes = _poppler_classes(visual)
    if "r" not in classes:
        return visual
    out: list[str] = []
    i, n = 0, len(visual)
    while i < n:
        j = classes.find("r", i)
        j = n if j < 0 else j
        out.append(visual[i:j])
        k = classes.find("l", j)
        k = n if k < 0 else k
        out.append(visual[j:k][::-1])
        i = k
    return "".join(out)


# code point -> r (right to left), l (ends a right-to-left stretch) or n. The three
# letters used as classes are classed from the start: a text made of them alone
# would otherwise look classed already.
_POPPLER_CLASS: dict[int, str] = {ord(ch): "l" for ch in "rln"}
_CLASSES = frozenset("rln")


def _poppler_classes(text: str) -> str:
    """Each character of ``text`` as its poppler class (see :data:`_POPPLER_CLASS`)."""
    classes = text.translate(_POPPLER_CLASS)
    if not _CLASSES.issuperset(classes):  # characters not seen before
        for ch in set(text):
            bidi = unicodedata.bidirectional(ch)
            _POPPLER_CLASS[ord(ch)] = "r" if bidi in _POPPLER_RTL else "l" if bidi in _POPPLER_ENDS_RTL else "n"
        classes = text.translate(_POPPLER_CLASS)
    return classes
