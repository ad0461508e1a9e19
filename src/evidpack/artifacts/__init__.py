"""Artifact recognisers: small modules that mark catalogued paths (ALEAPP-style).

Each recogniser module in this package declares, with :func:`recogniser`, the
paths it matches — regular expressions searched in a catalogued path: a copied
file's path in its source folder, a container member's path, or an iTunes
backup file's ``<domain>/<relativePath>`` — and a handler that looks at one
:class:`Hit` and returns an :class:`Artifact`: tags for the item or member
record and details for ``evidpack/records/<source>-artifacts.json`` and the
catalogue's ``artifacts`` table.

Adding a recogniser is adding one module here; it is found by name (modules
whose names start with ``_`` are helpers, not recognisers). A module may also
register a :func:`summary` that draws findings from all the artifacts of a
source (e.g. a uin that names an account folder).

Recognisers never decrypt anything and never open evidence in place: a
handler sees the path, the size, the first bytes, the whole content only when
it asked for it (``content=`` bytes at most), and, for an unencrypted SQLite
database, its table names and row counts — read from a private temporary copy.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Hit:
    """One catalogued file or member that a recogniser's path matched."""

    path: str
    match: re.Match[str]
    size: int
    head: bytes  # the first bytes (up to 512); empty when not known
    content: bytes | None = None  # the whole file, when asked for and small enough
    database: dict[str, Any] | None = None  # tables and row counts of an unencrypted SQLite database

    @property
    def encrypted_database(self) -> bool | None:
        """True when a database file does not start with the SQLite header (e.g.
        SQLCipher, which encrypts the header too); None when that is not known."""
        if not self.head or self.size == 0:
            return None
        return not self.head.startswith(SQLITE_MAGIC)


@dataclass(frozen=True)
class Artifact:
    """What a handler found. Hits with the same ``group`` (e.g. one media
    folder) are counted together instead of listed one by one."""

    kind: str
    tags: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    group: str | None = None


@dataclass(frozen=True)
class Recogniser:
    name: str
    app: str
    platform: str
    description: str
    patterns: tuple[re.Pattern[str], ...]
    hint: str  # a literal every matching path contains: a cheap first test
    content: int  # bytes of content the handler wants (0: none)
    handler: Callable[[Hit], Artifact | None]

    def match(self, path: str) -> re.Match[str] | None:
        if self.hint not in path:
            return None
        for pattern in self.patterns:
            m = pattern.search(path)
            if m:
                return m
        return None

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "app": self.app, "platform": self.platform, "description": self.description}


Summary = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]

_recognisers: dict[str, Recogniser] = {}
_summaries: dict[str, Summary] = {}
_loaded = False
_lock = threading.Lock()


def recogniser(
    name: str,
    *,
    app: str,
    platform: str,
    paths: Iterable[str],
    hint: str,
    description: str,
    content: int = 0,
) -> Callable[[Callable[[Hit], Artifact | None]], Callable[[Hit], Artifact | None]]:
    """Register the decorated handler for paths matching any of ``paths``."""

    def register(handler: Callable[[Hit], Artifact | None]) -> Callable[[Hit], Artifact | None]:
        if name in _recognisers:
            raise ValueError(f"artifact recogniser {name!r} is registered twice")
        patterns = tuple(re.compile(p) for p in paths)
        _recognisers[name] = Recogniser(name, app, platform, description, patterns, hint, content, handler)
        return handler

    return register


def summary(name: str) -> Callable[[Summary], Summary]:
    """Register a function that draws findings from all artifacts of a source."""

    def register(fn: Summary) -> Summary:
        _summaries[name] = fn
        return fn

    return register


def _load() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True


_by_name: tuple[dict[str, Recogniser] | None, int, list[Recogniser]] = (None, 0, [])  # (registry, its size, sorted): asked for every member


def _ordered() -> list[Recogniser]:
    global _by_name
    _load()
    registry, size, ordered = _by_name
    if registry is not _recognisers or size != len(_recognisers):
        ordered = [_recognisers[k] for k in sorted(_recognisers)]
        _by_name = (_recognisers, len(_recognisers), ordered)
    return ordered


def recognisers() -> list[Recogniser]:
    """Every registered recogniser, by name."""
    return list(_ordered())


def summaries() -> list[tuple[str, Summary]]:
    _load()
    return sorted(_summaries.items())


def matching(path: str) -> list[tuple[Recogniser, re.Match[str]]]:
    """The recognisers whose paths match ``path``, with their matches."""
    out = []
    for r in _ordered():
        m = r.match(path)
        if m is not None:
            out.append((r, m))
    return out


__all__ = ["Artifact", "Hit", "Recogniser", "SQLITE_MAGIC", "matching", "recogniser", "recognisers", "summary", "summaries"]
