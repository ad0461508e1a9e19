"""Importers: one module per source kind.

Each importer module defines a class with ``kind`` and ``run(source, ctx)``;
``run`` writes the payload through ``ctx`` and reports items, member records,
derived records and source checks to it. Register a new kind by adding it to
``IMPORTERS`` below (kind -> module and class); a module is imported only when
a case has a source of its kind.
"""

from __future__ import annotations

from importlib import import_module

from .base import Importer, ImportContext, SourceCheck

IMPORTERS: dict[str, tuple[str, str] | type[Importer]] = {
    "files": (".files", "FilesImporter"),
    "device": (".device", "DeviceImporter"),
    "wechat-production": (".wechat_production", "WechatProductionImporter"),
    "osint": (".osint", "OsintImporter"),
}


def importer_for(kind: str) -> Importer | None:
    where = IMPORTERS.get(kind)
    if where is None:
        return None
    cls = getattr(import_module(where[0], __name__), where[1]) if isinstance(where, tuple) else where
    return cls()  # type: ignore[no-any-return]


__all__ = ["IMPORTERS", "Importer", "ImportContext", "SourceCheck", "importer_for"]
