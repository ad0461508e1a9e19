"""Runs the recognisers over one source's catalogued files and members and
collects what they find into ``records/<source>-artifacts.json`` and the
catalogue's ``artifacts`` and ``database_tables`` tables.

:meth:`Scanner.tap` and :meth:`Scanner.result` are called from the threads
that copy files and stream members (each member is seen as it streams past:
nothing is read twice); :meth:`Scanner.collect` and :meth:`Scanner.write` from
the importer's own thread, in item order, so the records are deterministic.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..hashing import CHUNK, HEAD
from . import SQLITE_MAGIC, Hit, matching, recognisers, summaries
from ._sqlite import header_facts, summarise

if TYPE_CHECKING:
    from ..importers.base import ImportContext

DEFAULT_SQLITE_MAX = 256 << 20
COMPANIONS = ("-wal", "-journal")  # a database's journal files: noted beside it (see Scanner.collect)


class ContentTap:
    """A member's bytes kept while they stream past: in memory up to ``keep``
    bytes (for a recogniser that reads small files), and in a private
    temporary file (mode 0600, deleted on close) for an SQLite database."""

    def __init__(self, keep: int, to_file: bool, suffix: str = ".sqlite") -> None:
        self._keep = keep
        self._buf: bytearray | None = bytearray() if keep else None
        self.written = 0
        self._fd: int | None = None
        self.path: str | None = None
        if to_file:
            self._fd, self.path = tempfile.mkstemp(prefix="evidpack-tap-", suffix=suffix)

    def feed(self, piece: bytes) -> None:
        if self._buf is not None:
            if len(self._buf) + len(piece) > self._keep:
                self._buf = None
            else:
                self._buf += piece
        if self._fd is not None:
            view = memoryview(piece)
            while view:
                view = view[os.write(self._fd, view) :]
        self.written += len(piece)

    @property
    def content(self) -> bytes | None:
        return bytes(self._buf) if self._buf is not None else None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.path is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class Scanner:
    """One source's artifact scan."""

    def __init__(self, sqlite_max_bytes: int = DEFAULT_SQLITE_MAX) -> None:
        self.sqlite_max = sqlite_max_bytes
        self._by_name = {r.name: r for r in recognisers()}
        self._artifacts: list[dict[str, Any]] = []
        self._groups: dict[tuple[str, str], dict[str, Any]] = {}
        self._databases: list[dict[str, Any]] = []
        self._companions: set[str] = set()

    # --- from any thread --------------------------------------------------------

    def tap(self, path: str, size: int | None, head: bytes) -> ContentTap | None:
        keep = max((r.content for r, _ in matching(path)), default=0)
        if size is not None and size > keep:
            keep = 0
        database = head.startswith(SQLITE_MAGIC) and (size is None or size <= self.sqlite_max)
        return ContentTap(keep, database) if keep or database else None

    def result(self, path: str, size: int, head: bytes, tap: ContentTap | None) -> dict[str, Any] | None:
        """Tags, artifacts and database summary for one file or member, or None."""
        database = None
        if tap is not None and tap.path is not None and tap.written == size:
            database = summarise(tap.path, head)
        elif head.startswith(SQLITE_MAGIC):
            database = {**header_facts(head), "not_counted": f"larger than {self.sqlite_max} bytes (option sqlite_summary_max_bytes)"}
        found = []
        tags: set[str] = set()
        for r, m in matching(path):
            art = r.handler(Hit(path, m, size, head, tap.content if tap is not None else None, database))
            if art is None:
                continue
            tags.update(art.tags)
            found.append({"recogniser": r.name, "kind": art.kind, "group": art.group, "tags": sorted(art.tags), "details": art.details})
        if database is not None and "tables" in database:
            tags.add("sqlite")
        if not found and database is None:
            return None
        return {"tags": sorted(tags), "artifacts": found, "database": database}

    def scan_copy(self, copy: Path, path: str, size: int, media_type: str) -> dict[str, Any] | None:
        """Scan a file already copied into the bundle, re-reading the copy only
        when a recogniser matches its path or it is an SQLite database."""
        if media_type != "application/vnd.sqlite3" and not matching(path):
            return None
        with open(copy, "rb", buffering=0) as fh:
            head = fh.read(HEAD)
            tap = self.tap(path, size, head)
            try:
                if tap is not None:
                    tap.feed(head)
                    for chunk in iter(lambda: fh.read(CHUNK), b""):
                        tap.feed(chunk)
                return self.result(path, size, head, tap)
            finally:
                if tap is not None:
                    tap.close()

    def rescan(self, path: str, size: int, head: bytes) -> dict[str, Any] | None:
        """Recognise again by another path (e.g. the device path a .ufdr's report
        gives a member), from the first bytes already read; no database summary."""
        out = self.result(path, size, head, None) if matching(path) else None
        if out is None or not out["artifacts"]:
            return None
        out["database"] = None
        return out

    # --- from the importer's thread, in item order --------------------------------

    def collect(self, item_id: str, path: str, size: int, scan: dict[str, Any] | None) -> None:
        if path.endswith(COMPANIONS):
            self._companions.add(path)
        if not scan:
            return
        for a in scan["artifacts"]:
            r = self._by_name[a["recogniser"]]
            if a["group"]:
                g = self._groups.setdefault(
                    (r.name, a["group"]),
                    {"recogniser": r.name, "app": r.app, "platform": r.platform, "kind": a["kind"], "group": a["group"],
                     "tags": a["tags"], "count": 0, "bytes": 0, "first_item": item_id, **a["details"]},
                )
                g["count"] += 1
                g["bytes"] += size
                g["last_item"] = item_id
            else:
                self._artifacts.append(
                    {"item": item_id, "path": path, "recogniser": r.name, "app": r.app, "platform": r.platform,
                     "kind": a["kind"], "tags": a["tags"], **a["details"]}
                )
        if scan["database"] is not None:
            self._databases.append({"item": item_id, "path": path, **scan["database"]})

    def write(self, ctx: "ImportContext") -> None:
        """``records/<source>-artifacts.json``, catalogue rows and a summary in the source's facts."""
        for db in self._databases:
            beside = [p for p in (db["path"] + "-wal", db["path"] + "-journal") if p in self._companions]
            if beside:
                db["companions"] = [p.rsplit("-", 1)[1] for p in beside]
                db["note"] = "counted in the main database file alone; the journal beside it was not applied"
        findings = [f for _name, fn in summaries() for f in fn(self._artifacts)]
        groups = list(self._groups.values())
        ctx.write_record(
            "artifacts",
            {
                "source": ctx.source.id,
                "about": "Paths recognised by evidpack's artifact recognisers. Databases are described from a private "
                "read-only copy; nothing is decrypted and no evidence is opened in place.",
                "recognisers": [r.describe() for r in self._by_name.values()],
                "artifacts": self._artifacts,
                "groups": groups,
                "databases": self._databases,
                "findings": findings,
            },
        )
        ctx.add_rows("artifacts", [{k: v for k, v in a.items()} for a in self._artifacts + groups])
        ctx.add_rows(
            "database_tables",
            [{"item": db["item"], "path": db["path"], "table": t["table"], "rows": t["rows"]} for db in self._databases for t in db.get("tables", [])],
        )
        ctx.facts["artifacts"] = {
            "recognised": len(self._artifacts),
            "grouped": sum(g["count"] for g in groups),
            "sqlite_databases": len(self._databases),
            "findings": len(findings),
        }
