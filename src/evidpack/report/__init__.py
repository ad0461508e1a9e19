"""evidpack's PDFs.

Building blocks shared by every report: :mod:`.fonts` (shipped fonts, fallback,
drawing), :mod:`.rtl` (right-to-left text), :mod:`.layout` (line breaking),
:mod:`.styles` (the look), :mod:`.flowables` (paragraphs, streamed tables,
verdict marks, pictures) and :mod:`.document` (pages, header and footer,
contents, deterministic output). The index of a bundle is :func:`render_index`.
"""

from __future__ import annotations

from .index import render_index

__all__ = ["render_index"]
