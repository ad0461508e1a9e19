"""Canonical JSON: UTF-8, keys sorted, no insignificant whitespace.

Every record that is hashed or signed goes through :func:`dumps`, so the same
facts always give the same bytes.
"""

from __future__ import annotations

import json
from typing import Any


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# The C encoder JSONEncoder.encode makes anew on every call, made once (with the
# same options; the check for circular references, which nothing encoded here
# can have, is left out: one would end in RecursionError instead of ValueError).
_C_ENCODER = (
    json.encoder.c_make_encoder(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, False)
    if json.encoder.c_make_encoder is not None
    else None
)


def dumps(obj: Any) -> bytes:
    # One encoder for every call: json.dumps with options builds a new one each time.
    if _C_ENCODER is not None:
        return "".join(_C_ENCODER(obj, 0)).encode("utf-8")
    return _ENCODER.encode(obj).encode("utf-8")


def is_canonical(line: bytes) -> bool:
    """Whether ``line`` is exactly the canonical form of the JSON it holds. False for
    anything that is not JSON, holds NaN/Infinity, or is nested too deeply to decode
    or encode (hostile input: the decoder's and encoder's recursion limit)."""
    try:
        return dumps(json.loads(line)) == line
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
