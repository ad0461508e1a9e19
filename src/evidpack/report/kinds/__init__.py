"""What each source kind adds to its section of the index.

One small module per kind, each with ``render(view) -> list[Flowable]``,
registered in :data:`RENDERERS` (by module name: a module is loaded when a
source of its kind is drawn, so an index of files never loads the WeChat and
OSINT renderers and what they use). A kind without one (or facts a renderer
does not know) is shown by :func:`generic.render`, so whatever an importer
records appears in the index. Renderers read their records defensively: a
field an importer does not write is left out, never an error.
"""

from __future__ import annotations

from importlib import import_module

from reportlab.platypus import Flowable

from .common import SourceView

RENDERERS: dict[str, str] = {
    "files": "files",
    "device": "device",
    "wechat-production": "wechat",
    "osint": "osint",
}


def render(view: SourceView) -> list[Flowable]:
    module = import_module(f"{__name__}.{RENDERERS.get(str(view.row.get('kind')), 'generic')}")
    return module.render(view)  # type: ignore[no-any-return]
