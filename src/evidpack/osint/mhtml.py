"""MHTML pages as saved by Chrome, Edge and Hunchly (``multipart/related``).

The capture's URL is the ``Snapshot-Content-Location`` header (Chrome and
Hunchly write it), its title the ``Subject`` (RFC 2047-decoded) and its time the
``Date`` header (RFC 5322, with its zone). The parts are listed by type and
Content-Location; their bodies are not decoded.
"""

from __future__ import annotations

import email.utils
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from typing import Any

from ..timeparse import TimeProblem, from_moment, read_time


class MhtmlProblem(ValueError):
    pass


def read_mhtml(data: bytes) -> dict[str, Any]:
    msg = BytesParser(policy=policy.default).parsebytes(data)
    if msg.get_content_type() != "multipart/related" or not msg.is_multipart():
        raise MhtmlProblem(f"not MHTML: its content type is {msg.get_content_type()!r}, not multipart/related")
    parts = [p for p in msg.iter_parts()]
    first_location = parts[0].get("Content-Location") if parts else None
    raw = {name.lower(): value for name, value in reversed(list(msg.raw_items()))}  # as written (first occurrence)
    url = raw.get("snapshot-content-location")
    out: dict[str, Any] = {
        "format": "mhtml",
        "url": url.strip() if url is not None else first_location,
        "url_from": "Snapshot-Content-Location" if url is not None else "first part's Content-Location" if first_location else None,
        "title": str(msg["Subject"]) if msg["Subject"] is not None else None,
        "date": None,
        "saved_by": raw["from"].strip() if "from" in raw else None,
        "parts": len(parts),
        "part_list": [
            {"content_type": p.get_content_type(), "location": p.get("Content-Location")} for p in parts[:200]
        ],
        "problems": [],
    }
    if msg.defects:
        out["problems"].append("; ".join(type(d).__name__ for d in msg.defects))
    raw_date = msg.get("Date")
    if raw_date is not None:
        out["date"] = _date(str(raw_date), out["problems"])
    return out


# RFC 5322 §4.3 defines these zone names for mail, so in a Date header they are not ambiguous.
_RFC5322_ZONES = frozenset({"UT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT"})


def _date(text: str, problems: list[str]) -> dict[str, Any]:
    try:
        return read_time(text).to_json()
    except TimeProblem as exc:
        parsed = email.utils.parsedate_tz(text)
        if parsed is None or text.split()[-1].upper() not in _RFC5322_ZONES:
            problems.append(f"Date: {exc}")
            return {"original": text, "utc": None}
    moment = datetime(*parsed[:6], tzinfo=timezone(timedelta(seconds=parsed[9] or 0)))
    return from_moment(moment, text, "rfc5322").to_json()
