"""Explicit UTC time: every timestamp evidpack writes is RFC 3339 with ``Z``."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone

from .errors import EvidpackError

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


class TimeOutOfRange(OverflowError, ValueError):
    """A moment outside the years 1-9999 in UTC, which RFC 3339 cannot write.

    Callers that catch ``ValueError`` or ``OverflowError`` catch it too."""


_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _stamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` with a four-digit year (strftime writes year 999 as ``999``)."""
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"


def format_utc(moment: datetime) -> str:
    """``2026-03-02T10:11:12Z``; microseconds are kept when not zero.

    Raises :class:`TimeOutOfRange` when the moment in UTC falls outside the years 1-9999."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to format_utc")
    try:
        moment = moment.astimezone(timezone.utc)
    except OverflowError:
        raise TimeOutOfRange(f"{moment.isoformat()} is outside the years 1-9999 in UTC") from None
    if moment.microsecond:
        return f"{_stamp(moment)}.{moment.microsecond:06d}".rstrip("0") + "Z"
    return _stamp(moment) + "Z"


def format_epoch_ns(ns: int) -> str:
    """A file-system time in nanoseconds since the epoch, exactly, in UTC.

    Raises :class:`TimeOutOfRange` for a time outside the years 1-9999."""
    seconds, frac = divmod(ns, 1_000_000_000)
    try:
        t = time.gmtime(seconds)  # three times faster than datetime + strftime: once per item
    except (OverflowError, OSError, ValueError):
        t = None
    if t is not None and 1 <= t.tm_year <= 9999:
        base = "%04d-%02d-%02dT%02d:%02d:%02d" % t[:6]
    else:
        try:
            base = _stamp(_UTC_EPOCH + timedelta(seconds=seconds))
        except OverflowError:
            raise TimeOutOfRange(f"{seconds} seconds since 1970 is outside the years 1-9999") from None
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 time that states its zone (``Z`` or ``±hh:mm``).

    A time without a zone is refused: evidpack never guesses a zone.
    """
    match = _RFC3339.match(text.strip())
    if not match:
        raise ValueError(
            f"{text!r} is not an RFC 3339 time with a zone (e.g. 2026-03-02T10:00:00Z)"
        )
    year, month, day, hour, minute, second, frac, zone = match.groups()
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    if zone in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
    )


def build_time(option: str | None) -> datetime:
    """The build time: ``--time`` (RFC 3339 or epoch seconds), else ``SOURCE_DATE_EPOCH``, else now."""
    text = option if option is not None else os.environ.get("SOURCE_DATE_EPOCH")
    origin = "--time" if option is not None else "SOURCE_DATE_EPOCH"
    if text is None or text == "":
        return datetime.now(timezone.utc).replace(microsecond=0)
    if text.strip().isdigit():
        try:
            return _UTC_EPOCH + timedelta(seconds=int(text.strip()))
        except (OverflowError, ValueError):
            raise EvidpackError(f"{origin}: {text.strip()[:40]} seconds since the epoch is after the year 9999") from None
    try:
        return parse_rfc3339(text).astimezone(timezone.utc)
    except OverflowError:
        raise EvidpackError(f"{origin}: {text.strip()!r} is outside the years 1-9999 in UTC") from None
    except ValueError as exc:
        raise EvidpackError(f"{origin}: {exc}; or give seconds since the epoch") from None


# The UTC offsets in use, from -12:00 to +14:00: every importer and the case manifest
# refuse (or keep as written, with the problem) an offset beyond them.
MIN_OFFSET_MINUTES = -12 * 60
MAX_OFFSET_MINUTES = 14 * 60
_OFFSET_LABEL = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def unreal_offset(label: str | None) -> str | None:
    """Why a zone (as labelled: ``+15:00``, ``UTC``, ``Asia/Shanghai``) is not one in
    use, or None: a fixed offset must lie between -12:00 and +14:00."""
    m = _OFFSET_LABEL.match(label or "")
    if not m:
        return None
    minutes = (int(m.group(2)) * 60 + int(m.group(3))) * (1 if m.group(1) == "+" else -1)
    if MIN_OFFSET_MINUTES <= minutes <= MAX_OFFSET_MINUTES:
        return None
    return f"UTC offset {label} is outside the offsets in use (-12:00 to +14:00)"


def offset_label(delta: timedelta) -> str:
    """A UTC offset as ``+hh:mm`` / ``-hh:mm`` (``+00:00`` for none)."""
    minutes = int(delta.total_seconds()) // 60
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
