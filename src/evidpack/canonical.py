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
    """Whether ``line`` is exactly the canonical form of the JSON it holds. False for
    anything that is not JSON, holds NaN/Infinity, or is nested too deeply to decode
    or encode (hostile input: the decoder's and encoder's recursion limit)."""
    try:
        return dumps(json.loads(line)) == line
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
