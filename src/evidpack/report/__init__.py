"""evidpack's PDFs.

Building blocks shared by every report: :mod:`.fonts` (shipped fonts, fallback,
drawing), :mod:`.rtl` (right-to-left text), :mod:`.layout` (line breaking),
:mod:`.styles` (the look), :mod:`.flowables` (paragraphs, streamed tables,
verdict marks, pictures) and :mod:`.document` (pages, header and footer,
contents, deterministic output; :mod:`.pdfstream` writes each page as it is
finished). The index of a bundle is :func:`write_index` (to a file, page by
page) or :func:`render_index` (as bytes).
"""

from __future__ import annotations

from .index import render_index, write_index

__all__ = ["render_index", "write_index"]
