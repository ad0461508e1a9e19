"""CSV that is safe to open in a spreadsheet (no formula injection).

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
run as a formula by Excel, LibreOffice and Google Sheets. Following OWASP's
advice ("CSV Injection"), such a cell is written with a leading single quote, so
``=HYPERLINK(...)`` is shown as text and ``+8613123456789`` as ``'+8613123456789``.
The records in ``evidpack/records/*.json`` keep every value exactly; only CSV
exports are escaped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """One cell as text, with a leading ``'`` if a spreadsheet would run it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text.startswith(_TRIGGERS) else text


def csv_bytes(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> bytes:
    """UTF-8 CSV (with BOM, so spreadsheets read CJK and emoji correctly), every
    field quoted, ``\\r\\n`` line ends (RFC 4180), every cell made safe."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in columns])
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")
