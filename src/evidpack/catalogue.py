"""catalogue.sqlite: the bundle's facts as tables, for sqlite-utils and Datasette.

Written once at build time (and covered by the seal); never rewritten after.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlite_utils


def write_catalogue(
    path: Path,
    *,
    case: dict[str, Any],
    sources: list[dict[str, Any]],
    items_path: Path,
    custody_lines: list[bytes],
    tables: dict[str, list[dict[str, Any]]],
) -> None:
    db = sqlite_utils.Database(path)
    try:
        db["case"].insert(case, pk="id")
        db["sources"].insert_all(
            ({k: v for k, v in s.items() if k != "checks"} for s in sources), pk="id"
        )
        db["source_checks"].insert_all(
            ({"source": s["id"], "seq": n, **c} for s in sources for n, c in enumerate(s["checks"], 1)),
            pk=("source", "seq"),
        )
        with open(items_path, "rb") as fh:
            db["items"].insert_all((json.loads(line) for line in fh), pk="id", alter=True, batch_size=2000)
        db["custody"].insert_all((json.loads(line) for line in custody_lines), pk="seq")
        for name, rows in sorted(tables.items()):
            db[name].insert_all(rows, alter=True)
    finally:
        db.close()
