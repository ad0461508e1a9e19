"""The look of evidpack's PDFs: page geometry, type sizes, colours and the
verdict marks. Everything a report draws takes its measures from here, so the
index and the disclosure schedule look alike."""

from __future__ import annotations

from dataclasses import dataclass, replace

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm

PAGE_SIZE = A4
MARGIN_LEFT = MARGIN_RIGHT = 16 * mm
MARGIN_TOP = 20 * mm
MARGIN_BOTTOM = 20 * mm
FRAME_WIDTH = PAGE_SIZE[0] - MARGIN_LEFT - MARGIN_RIGHT
FRAME_HEIGHT = PAGE_SIZE[1] - MARGIN_TOP - MARGIN_BOTTOM

Colour = tuple[float, float, float]
INK: Colour = (0.11, 0.12, 0.14)
MUTED: Colour = (0.38, 0.40, 0.44)
RULE: Colour = (0.78, 0.80, 0.83)
RULE_WIDTH = 0.4  # table rules
SHADE: Colour = (0.955, 0.96, 0.97)
HEADER_FILL: Colour = (0.89, 0.91, 0.94)
ACCENT: Colour = (0.10, 0.25, 0.45)
PANEL: Colour = (0.93, 0.95, 0.98)


@dataclass(frozen=True)
class TextStyle:
    """How a piece of text is set. ``role`` picks the font chain (sans, bold,
    mono: see :mod:`evidpack.report.fonts`); ``wrap`` where lines may break:
    ``words`` (prose), ``path`` (after ``/`` and other separators, else anywhere),
    ``code`` (after spaces, else anywhere) or ``chars`` (anywhere: digests).
    ``exact`` marks names (paths, nicknames, titles): evidence that must read
    back exactly, so a table prints a name's exact form under it when text
    extraction would not give the name back as it is (``layout.exact``)."""

    role: str = "sans"
    size: float = 9.0
    leading: float = 12.0
    colour: Colour = INK
    align: str = "left"
    wrap: str = "words"
    exact: bool = False


BODY = TextStyle("sans", 9.5, 13.5)
SMALL = TextStyle("sans", 8, 10.5)
NOTE = replace(SMALL, colour=MUTED)
TITLE = TextStyle("bold", 20, 25, ACCENT)
H1 = TextStyle("bold", 15, 19, ACCENT)
H2 = TextStyle("bold", 11.5, 15, ACCENT)
H3 = TextStyle("bold", 9.5, 13, INK)
LABEL = TextStyle("bold", 8, 10.5, MUTED)
CODE = TextStyle("mono", 7.5, 9.8, INK, wrap="code")

CELL = TextStyle("sans", 7.5, 9.6)
CELL_BOLD = replace(CELL, role="bold")
CELL_NOTE = replace(CELL, colour=MUTED)
CELL_HEADER = TextStyle("bold", 7.2, 9.2, INK)
CELL_MONO = TextStyle("mono", 7, 9.2, wrap="chars")
CELL_PATH = replace(CELL, wrap="path", exact=True)
CELL_NAME = replace(CELL, exact=True)
CELL_NOTE_NAME = replace(CELL_NOTE, exact=True)
HASH = TextStyle("mono", 7, 9.2, wrap="chars")
# A name's exact form, printed under a name pdftotext would not give back as it is (see layout.exact).
EXACT = TextStyle("mono", 6, 8, MUTED, wrap="chars")
FOOTER = TextStyle("sans", 7.5, 9, MUTED)
HEADER = TextStyle("sans", 7.5, 9, MUTED)

CELL_PAD_X = 3.0
CELL_PAD_Y = 2.4

DIGEST_NAMES = {"sha256": "SHA-256", "sha1": "SHA-1", "sha512": "SHA-512", "md5": "MD5"}


def digest_name(algorithm: str) -> str:
    return DIGEST_NAMES.get(algorithm, algorithm.upper())


# Source-check verdicts as printed: label, fill colour (the label is white on it).
VERDICTS: dict[str, tuple[str, Colour]] = {
    "pass": ("PASS", (0.12, 0.50, 0.24)),
    "fail": ("FAIL", (0.75, 0.12, 0.14)),
    "warn": ("WARN", (0.70, 0.45, 0.02)),
    "not-checkable": ("NOT CHECKABLE", (0.36, 0.40, 0.47)),
}
MARK = TextStyle("bold", 6.5, 9.2, (1, 1, 1))
VERDICT_WIDTH = 72.0  # a table column that holds verdict marks
