"""Canonical JSON: UTF-8, keys sorted, no insignificant whitespace.

Every record that is hashed or signed goes through :func:`dumps`, so the same
facts always give the same bytes.
"""

from __future__ import annotations

import json
from typing import Any


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(obj: Any) -> bytes:
    # One encoder for every call: json.dumps with options builds a new one each time.
    return _ENCODER.encode(obj).encode("utf-8")


def is_canonical(line: bytes) -> bool:
    try:
        return dumps(json.loads(line)) == line
    except (ValueError, UnicodeDecodeError):
        return False
