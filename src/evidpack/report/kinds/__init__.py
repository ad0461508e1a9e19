"""What each source kind adds to its section of the index.

One small module per kind, each with ``render(view) -> list[Flowable]``,
registered in :data:`RENDERERS`. A kind without one (or facts a renderer does
not know) is shown by :func:`generic.render`, so whatever an importer records
appears in the index. Renderers read their records defensively: a field an
importer does not write is left out, never an error.
"""

from __future__ import annotations

from collections.abc import Callable

from reportlab.platypus import Flowable

from . import device, files, generic, osint, wechat
from .common import SourceView

RENDERERS: dict[str, Callable[[SourceView], list[Flowable]]] = {
    "files": files.render,
    "device": device.render,
    "wechat-production": wechat.render,
    "osint": osint.render,
}


def render(view: SourceView) -> list[Flowable]:
    return RENDERERS.get(str(view.row.get("kind")), generic.render)(view)
