"""Line breaking: text in logical order -> lines that fit a width.

Lines are broken before right-to-left text is reordered (UAX #9), and never
inside a character cluster (a letter and its combining marks, an emoji and its
modifiers or joiners). Nothing is ever cut off: a word or digest longer than a
line is broken between characters.

Printable ASCII, where no character joins another, is broken the same way
without a loop over its characters in Python (:func:`_wrap_plain`).

A name that text extraction would not give back as it is (:func:`exact`) is
followed by its exact form: ``exact: "…"``, a JSON string in which every
character beyond ASCII is written ``\\uXXXX``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate
from functools import cache

from . import fonts
from .styles import EXACT, TextStyle

# Never after a hyphen: text extraction (pdftotext) joins a line ending in "-"
# with the next and drops the hyphen, so a wrapped name would read back wrong.
_PATH_BREAKS = frozenset("/\\_.: ,;=&?")


@cache
def _wide(ch: str) -> bool:
    """East Asian wide characters (Han, kana, Hangul, fullwidth forms): a line
    may break on either side of them."""
    return not ch.isascii() and unicodedata.east_asian_width(ch) in ("W", "F")


@cache
def _joins_previous(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _break_after_words(text: str, i: int) -> bool:
    ch = text[i]
    return ch == " " or _wide(ch) or (i + 1 < len(text) and _wide(text[i + 1]))


def _break_after_path(text: str, i: int) -> bool:
    ch = text[i]
    return ch in _PATH_BREAKS or _wide(ch) or (i + 1 < len(text) and _wide(text[i + 1]))


_BREAKS: dict[str, Callable[[str, int], bool]] = {
    "words": _break_after_words,
    "path": _break_after_path,
    "code": lambda text, i: text[i] == " ",
    "chars": lambda text, i: True,
}


def wrap(text: str, style: TextStyle, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` (``\\n`` always breaks)."""
    if fonts.plain(text):  # printable ASCII: the common case, and no character joins another
        if fonts.plain_width(text, style.role, style.size) <= width:
            return [text]
        if style.wrap in _PLAIN_BREAKS:
            return _wrap_plain(text, style, width)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(_wrap_paragraph(paragraph, style, width))
    return lines


def _wrap_paragraph(text: str, style: TextStyle, width: float) -> list[str]:
    fixed = fonts.fixed_advance(style.role) if text.isascii() else None
    if fixed is not None and len(text) * fixed * style.size <= width:
        return [text]  # fixed-width ASCII (digests, ids) that fits: nothing to measure
    widths = fonts.char_widths(text, style.role, style.size)
    if sum(widths) <= width:
        return [text]
    if style.wrap == "chars" and fixed is not None and "-" not in text:
        per_line = max(1, int(width // (fixed * style.size)))  # a fixed-width font: count characters
        return [text[i : i + per_line] for i in range(0, len(text), per_line)]
    can_break_after = _BREAKS[style.wrap]
    words = style.wrap == "words"
    joined = _joined(text)
    lines: list[str] = []
    n = len(text)
    start, used, i = 0, 0.0, 0
    while i < n:
        if used + widths[i] <= width or i == start or (words and text[i] == " "):
            used += widths[i]  # a space may hang past the margin
            i += 1
            continue
        end = _break_before(text, start, i, can_break_after, _break_after_path if words else None, style.wrap in _BEFORE_HYPHEN, joined)
        lines.append(text[start:end].rstrip(" ") if words else text[start:end])
        start = end
        if words:
            while start < n and text[start] == " ":
                start += 1
        i, used = start, 0.0
    tail = text[start:]
    if tail or not lines:
        lines.append(tail)
    return lines


# Where a line of printable ASCII may break, by wrap style: its break characters
# (after which a line may end) translated to NUL, which printable text never holds.
_PLAIN_BREAKS = {
    "path": bytes.maketrans("".join(sorted(_PATH_BREAKS)).encode(), bytes(len(_PATH_BREAKS))),
    "words": bytes.maketrans(b" ", b"\0"),
    "code": bytes.maketrans(b" ", b"\0"),
    "chars": None,
}


def _wrap_plain(text: str, style: TextStyle, width: float) -> list[str]:
    """:func:`wrap` for printable ASCII, as :func:`_wrap_paragraph` does it:
    each line found by bisecting the running width, then ended after its last
    break opportunity (else where it is full, but never after a hyphen). In
    prose (``words``) a space may hang past the margin, and lines do not
    begin or end with the spaces they break at."""
    fixed = fonts.fixed_advance(style.role)
    if style.wrap == "chars" and fixed is not None and "-" not in text:
        per_line = max(1, int(width // (fixed * style.size)))  # a fixed-width font: count characters
        return [text[i : i + per_line] for i in range(0, len(text), per_line)]
    data = text.encode("ascii")
    total = list(accumulate(map(fonts.scaled_advances(style.role, style.size).__getitem__, data)))  # total[i]: width of text[: i + 1]
    table = _PLAIN_BREAKS[style.wrap]
    breaks = data.translate(table) if table is not None else b""
    words = style.wrap == "words"
    lines: list[str] = []
    n = len(text)
    start = 0
    while True:
        before = total[start - 1] if start else 0.0
        i = max(bisect_right(total, before + width, start), start + 1)  # text[start:i] fits (or is one character)
        if i >= n:
            lines.append(text[start:])
            return lines
        end = breaks.rfind(0, start, i + 1 if words and data[i] == 32 else i) + 1  # a space may hang
        if end <= start and words:  # a word longer than the line (a path): after a / or a dot, if it can
            found = data[start:i].translate(_PLAIN_BREAKS["path"]).rfind(0)
            end = start + found + 1 if found >= 0 else start
        if end <= start and style.wrap in _BEFORE_HYPHEN:  # else before a hyphen (never after one)
            k = data.rfind(45, start + 1, i)
            while k > start and data[k - 1] == 45:
                k = data.rfind(45, start + 1, k)
            end = k if k > start else start
        if end <= start:
            end = i
            while end > start + 1 and text[end - 1] == "-":
                end -= 1
        if words:
            after = end
            while after < n and data[after] == 32:
                after += 1
            if after >= n:  # only spaces follow: they hang on this line
                lines.append(text[start:])
                return lines
            lines.append(text[start:end].rstrip(" "))
            end = after
        else:
            lines.append(text[start:end])
        start = end


def _break_before(
    text: str,
    start: int,
    i: int,
    can_break_after: Callable[[str, int], bool],
    then: Callable[[str, int], bool] | None = None,
    before_hyphen: bool = False,
    joined: frozenset[int] = frozenset(),
) -> int:
    """Where the line from ``start`` ends when ``text[i]`` does not fit: after the
    last break opportunity, else after the last one ``then`` gives (in prose, a
    word longer than the line, such as a path, breaks after a ``/`` or a dot
    rather than inside a name), else (``before_hyphen``) before the last hyphen
    (``openxmlformats`` / ``-officedocument``: a line never ends in one, but
    may begin with one), else before ``i`` (never inside a cluster, nor beside
    a joiner that joins: ``joined``, which a line's end would leave joining
    nothing, and so drawn as a marker)."""
    for rule in (can_break_after, then):
        if rule is None:
            continue
        for j in range(i - 1, start - 1, -1):
            if rule(text, j) and not _joins_previous(text[j + 1]) and not (joined and (j in joined or j + 1 in joined)):
                return j + 1
    if before_hyphen:
        for j in range(i - 1, start, -1):
            if text[j] == "-" and text[j - 1] != "-":
                return j
    end = i
    while end > start + 1 and (_joins_previous(text[end]) or text[end - 1] == "-" or end - 1 in joined or end in joined):
        end -= 1
    return end


def _joined(text: str) -> frozenset[int]:
    """The positions of the joiners in ``text`` that join the characters beside
    them (drawn as text; see :func:`fonts.stray_joiners`): a line never breaks
    beside one. A joiner that joins nothing is a marker, which a line may
    begin or end with like any other."""
    if "\u200c" not in text and "\u200d" not in text:
        return frozenset()
    return frozenset(i for i, ch in enumerate(text) if ch in fonts.JOINERS) - fonts.stray_joiners(text)


# Wrap styles whose words (names, media types) break before a hyphen rather than inside a word.
_BEFORE_HYPHEN = frozenset({"words", "path"})


# --- exact forms ---------------------------------------------------------------------------

EXACT_LABEL = "exact: "
# An escape in an exact form, never broken (a surrogate pair whole).
_EXACT_ESCAPE = re.compile(r"\\ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|\\u[0-9a-f]{4}|\\.")


def exact(text: str, lines: list[str], role: str, width: float) -> list[str]:
    """The exact form of ``text`` (set in ``role``, laid out as ``lines``),
    broken into lines no wider than ``width`` in :data:`EXACT` style, if
    ``pdftotext`` would not give it back as it is; else nothing.

    It would not when the gaps between words do not come back as they are
    (:func:`respaced`; a no-break or a wide space), or when right-to-left
    text on a line is not put back in order: poppler reorders each line its own
    simple way (:func:`fonts.extracted`), which is the logical order unless
    digits or left-to-right text follow right-to-left text on the line (as in
    ``محادثة 7.txt``)."""
    if not respaced(text) and (fonts.plain(text) or all(fonts.extracted(line, role) == line.strip(" ") for line in lines)):
        return []
    return exact_lines(text, width)


def respaced(text: str) -> bool:
    """Whether text extraction would not give back the spaces in ``text`` as
    they are: two together or one at either end (each gap comes back as one
    space, none at the ends), or a space between words of one character each
    (``A B``: poppler takes them for one letter-spaced word, ``AB``)."""
    if " " not in text:
        return False
    words = text.split(" ")
    return "" in words or max(map(len, words)) == 1


def exact_form(text: str) -> str:
    """``exact: "…"``: the text as a JSON string of printable ASCII (every other
    character escaped as ``\\uXXXX``, as ``json.dumps`` does; so are spaces
    that are not one space between two other characters, which extraction
    would drop), so it reads back from the PDF unchanged and ``json.loads``
    gives the text back."""
    return f'{EXACT_LABEL}"{_exact_body(text)}"'


def _exact_body(text: str) -> str:
    body = json.dumps(text)[1:-1].replace("\x7f", "\\u007f")
    return _LOOSE_SPACES.sub(lambda m: "\\u0020" * len(m.group()), body)


_LOOSE_SPACES = re.compile("^ +| +$| {2,}")


def exact_lines(text: str, width: float) -> list[str]:
    """:func:`exact_form` broken into lines no wider than ``width``, to be
    joined as they are: never inside an escape, beside a space or after a
    hyphen (text extraction keeps none of those where a line breaks), nor
    before the closing quote; after a ``/`` or before an escape if it can."""
    per_line = max(16, int(width // (fonts.fixed_advance(EXACT.role) * EXACT.size)))
    form = exact_form(text)
    if len(form) <= per_line:
        return [form]
    spans = [m.span() for m in _EXACT_ESCAPE.finditer(form)]
    starts = [a for a, _ in spans]

    def inside(at: int) -> bool:  # an escape
        k = bisect_right(starts, at) - 1
        return k >= 0 and starts[k] < at < spans[k][1]

    def may_break(at: int) -> bool:
        return not inside(at) and form[at - 1] not in " -" and form[at] != " " and at < len(form) - 1

    lines: list[str] = []
    start = 0
    while len(form) - start > per_line:
        end = start + per_line  # the line is form[start:at], at <= end
        half = start + per_line // 2
        after_slash = form.rfind("/", half, end) + 1
        k = bisect_right(starts, end) - 1
        before_escape = starts[k] if k >= 0 and starts[k] > half else 0
        at = next((b for b in sorted((after_slash, before_escape), reverse=True) if b > half and may_break(b)), 0)
        if not at:
            at = end
            while at > start + 1 and not may_break(at):
                at -= 1
            if at == start + 1 and not may_break(at):
                at = end  # nowhere it may (hyphens or spaces all along): anywhere but inside an escape
                while inside(at):
                    at -= 1
        lines.append(form[start:at])
        start = at
    lines.append(form[start:])
    return lines
