"""Importers: one module per source kind.

Each importer module defines a class with ``kind`` and ``run(source, ctx)``;
``run`` writes the payload through ``ctx`` and reports items, member records,
derived records and source checks to it. Register a new kind by adding it to
``IMPORTERS`` below.
"""

from __future__ import annotations

from .base import Importer, ImportContext, SourceCheck
from .files import FilesImporter
from .device import DeviceImporter
from .osint import OsintImporter
from .wechat_production import WechatProductionImporter

IMPORTERS: dict[str, type[Importer]] = {
    FilesImporter.kind: FilesImporter,
    DeviceImporter.kind: DeviceImporter,
    WechatProductionImporter.kind: WechatProductionImporter,
    OsintImporter.kind: OsintImporter,
}


def importer_for(kind: str) -> Importer | None:
    cls = IMPORTERS.get(kind)
    return cls() if cls else None


__all__ = ["IMPORTERS", "Importer", "ImportContext", "SourceCheck", "importer_for"]
