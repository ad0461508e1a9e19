"""Table names and row counts of an unencrypted SQLite database — always from a
private temporary copy, opened read-only and immutable, never from evidence."""

from __future__ import annotations

import sqlite3
import struct
import urllib.parse
from typing import Any

from . import SQLITE_MAGIC

# A schema naming a virtual-table module or function that is not available
# makes counting that table fail; the failure is recorded for that table only.


def header_facts(head: bytes) -> dict[str, Any]:
    """Facts from the 100-byte SQLite header (page size, encoding, user_version)."""
    if len(head) < 100 or not head.startswith(SQLITE_MAGIC):
        return {}
    page_size = struct.unpack_from(">H", head, 16)[0]
    encoding = {1: "UTF-8", 2: "UTF-16le", 3: "UTF-16be"}.get(struct.unpack_from(">I", head, 56)[0], "unknown")
    return {
        "page_size": 65536 if page_size == 1 else page_size,
        "text_encoding": encoding,
        "user_version": struct.unpack_from(">i", head, 60)[0],
        "wal_mode": head[18] == 2,
    }


def summarise(private_copy: str, head: bytes) -> dict[str, Any]:
    """Tables and row counts of the database at ``private_copy`` (a temporary
    file evidpack owns). A -wal beside the original is not applied."""
    out: dict[str, Any] = header_facts(head)
    uri = "file:" + urllib.parse.quote(private_copy) + "?mode=ro&immutable=1"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        return {**out, "error": f"cannot be opened as SQLite ({exc})"}
    try:
        con.execute("PRAGMA trusted_schema = OFF")
        names = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        tables = []
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            try:
                tables.append({"table": name, "rows": con.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]})
            except sqlite3.Error as exc:
                tables.append({"table": name, "rows": None, "error": str(exc)})
        out["tables"] = tables
    except sqlite3.Error as exc:
        out["error"] = f"not readable as SQLite ({exc})"
    finally:
        con.close()
    return out
