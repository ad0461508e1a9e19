"""Canonical JSON: UTF-8, keys sorted, no insignificant whitespace.

Every record that is hashed or signed goes through :func:`dumps`, so the same
facts always give the same bytes.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def is_canonical(line: bytes) -> bool:
    try:
        return dumps(json.loads(line)) == line
    except (ValueError, UnicodeDecodeError):
        return False
