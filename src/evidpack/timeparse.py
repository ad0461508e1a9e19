"""Times as producers write them -> UTC, never guessing a zone or a day/month order.

Productions and captures write times in many forms. :func:`read_time` reads one
value and returns a :class:`ReadTime`: the UTC instant (RFC 3339 ``Z``), the
original text exactly as given, the zone it was read in and where that zone came
from (the value itself, a column header, the case manifest, or the epoch).
Anything it cannot read unambiguously raises :class:`TimeProblem` with a reason a
user can act on (e.g. "set options.date_order").

Forms read:

* ``2026-03-11 14:02:09 UTC``, ``…Z``, ``…+08:00``, ``…+0800``, ``… GMT+8``,
  ``… (UTC+08:00)``; ``T`` or space between date and time; fractional seconds;
* naive times (no zone in the value) in the zone of the column header
  (``Login Time (UTC+8)``) or the zone stated in the case manifest;
* ``2026/03/11``, ``2026年3月11日``, ``11 Mar 2026``, ``Mar 11, 2026``, 12-hour
  clock with AM/PM, a leading weekday;
* ``03/04/2026`` (also with ``.`` or ``-``): needs the manifest's ``date_order``
  (``DMY`` or ``MDY``); never guessed, even when only one order is possible;
* epoch seconds (10 digits) and milliseconds (13 digits), which are UTC;
* Excel serial dates (20000–80000, i.e. 1954–2119) and spreadsheet date cells,
  which are naive local times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .timeutil import TimeOutOfRange, format_utc, unreal_offset

DATE_ORDERS = ("DMY", "MDY", "YMD")
EXCEL_1900 = datetime(1899, 12, 30)
EXCEL_1904 = datetime(1904, 1, 1)  # the epoch of a workbook in the 1904 date system (serial 0)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_WEEKDAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+"
_MONTH = r"(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATES = (
    ("ymd", r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
    ("ymd", r"(?P<y>\d{4})[/.](?P<m>\d{1,2})[/.](?P<d>\d{1,2})"),
    ("ymd", r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日"),
    ("ab-y", r"(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})"),
    ("d-mon-y", r"(?P<d>\d{1,2})[\s-]+" + _MONTH + r"[\s-]+(?P<y>\d{4})"),
    ("mon-d-y", _MONTH + r"\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4})"),
)
_TIME = r"(?:(?:[Tt]|\s+|\s*,\s*)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?(?:\s*(?P<ampm>[AaPp]\.?[Mm]\.?))?)?"
_PATTERNS = tuple(
    (form, re.compile(rf"^(?:{_WEEKDAY})?{date_re}{_TIME}(?P<zone>.*)$", re.IGNORECASE | re.DOTALL))
    for form, date_re in _DATES
)
_OFFSET = re.compile(r"^([+-])(\d{1,2})(?::?(\d{2}))?$")
_NAMED_ZONES = {
    "z": ("UTC", timezone.utc),
    "utc": ("UTC", timezone.utc),
    "gmt": ("UTC", timezone.utc),
    "beijing time": ("+08:00", timezone(timedelta(hours=8))),
    "北京时间": ("+08:00", timezone(timedelta(hours=8))),
    "china standard time": ("+08:00", timezone(timedelta(hours=8))),
    "singapore time": ("+08:00", timezone(timedelta(hours=8))),
    "sgt": ("+08:00", timezone(timedelta(hours=8))),
}


class TimeProblem(ValueError):
    """A value that cannot be read as a time without guessing; the message says why."""


class OffsetNotInUse(TimeProblem):
    """A UTC offset beyond those in use (:data:`evidpack.timeutil.MIN_OFFSET_MINUTES` … :data:`evidpack.timeutil.MAX_OFFSET_MINUTES`):
    a typing error or a hostile value, never a zone. ``why`` says so without the text it was in."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


# UTC offsets in use: from -12:00 (Baker Island) to +14:00 (Line Islands). One rule for every
# importer (the WeChat production's columns and values, the manifest's options.zone, captures'
# sidecars, WARC, WACZ, MHTML and EXIF times): an offset beyond them is refused, never read.
class NoZone(TimeProblem):
    """A time of day that states no zone, where none was given for it (never guessed)."""


@dataclass(frozen=True)
class Zone:
    """A stated zone: a fixed offset, UTC or an IANA name (with its DST rules)."""

    label: str
    tz: tzinfo

    @property
    def is_fixed(self) -> bool:
        return not isinstance(self.tz, ZoneInfo)


@dataclass(frozen=True)
class ReadTime:
    original: str
    form: str
    zone: str | None
    zone_source: str  # "value", "header", "manifest", "epoch" (or "none" for a bare date)
    utc: str | None
    date: str | None = None  # set instead of utc for a date without a time

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "original": self.original,
            "form": self.form,
            "zone": self.zone,
            "zone_source": self.zone_source,
            "utc": self.utc,
        }
        if self.date is not None:
            out["date"] = self.date
        return out


def _offset_label(delta: timedelta) -> str:
    if delta == timedelta(0):
        return "UTC"
    sign = "+" if delta >= timedelta(0) else "-"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_zone(text: str) -> Zone:
    """``+08:00``, ``+0800``, ``+8``, ``UTC``, ``Z``, ``GMT+8``, ``UTC-05:30``,
    ``Beijing time`` or an IANA name such as ``Asia/Shanghai``. Ambiguous
    abbreviations (``CST``, ``IST``, …) are refused, and so is an offset outside
    the offsets in use, -12:00 to +14:00 (:class:`OffsetNotInUse`)."""
    s = text.strip().strip("()[]（）【】").strip()
    low = s.lower()
    if low in _NAMED_ZONES:
        label, tz = _NAMED_ZONES[low]
        return Zone(label, tz)
    m = re.match(r"^(?:utc|gmt)\s*([+-].*)$", low)
    if m:
        s = low = m.group(1).replace(" ", "")
    m = _OFFSET.match(s)
    if m:
        sign, hh, mm = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if mm > 59:
            raise TimeProblem(f"zone offset {text.strip()!r} is out of range")
        delta = (1 if sign == "+" else -1) * timedelta(hours=hh, minutes=mm)
        label = _offset_label(delta)
        why = unreal_offset(label)
        if why:
            raise OffsetNotInUse(f"zone {text.strip()!r}: {why}", why)
        return Zone(label, timezone(delta))
    if "/" in s and re.fullmatch(r"[A-Za-z0-9_+\-/]+", s):
        try:
            return Zone(s, ZoneInfo(s))
        except (ZoneInfoNotFoundError, ValueError):
            raise TimeProblem(f"unknown time zone {s!r} (not in the IANA time zone database)") from None
    raise TimeProblem(
        f"{text.strip()!r} is not a zone evidpack reads without guessing "
        "(give an offset such as +08:00, UTC, or an IANA name such as Asia/Shanghai)"
    )


HEADER_ZONE = re.compile(r"[(\[（【]\s*([^)\]）】]+?)\s*[)\]）】]")
HEADER_TAIL_ZONE = re.compile(r"(?:^|[\s_-])((?:utc|gmt)(?:\s*[+-]\s*\d{1,2}(?::?\d{2})?)?)\s*$", re.IGNORECASE)


# A bracketed part of a time header that is a date/time layout, not a zone: "(YYYY-MM-DD HH:MM:SS)".
_LAYOUT_TOKENS = frozenset({"yyyy", "yy", "mm", "m", "dd", "d", "hh", "h", "ss", "s", "sss", "am", "pm", "t"})


def _is_layout(text: str) -> bool:
    tokens = [t for t in re.split(r"[\s:/.,\-年月日时時分秒]+", text.casefold()) if t]
    return all(t in _LAYOUT_TOKENS for t in tokens) and (any(t in ("yyyy", "yy", "dd", "hh") for t in tokens) or "年" in text)


def header_zone(header: str) -> tuple[Zone | None, str | None]:
    """The zone a column header states (``Login Time (UTC+8)``, ``time_utc``),
    and why it cannot be used, if it cannot: a bracketed part that is not a zone
    evidpack reads without guessing (``(CST)``, ``(HKT)``, ``(UTC+8 Beijing)``),
    or two zones that disagree. A bracketed date layout (``(YYYY-MM-DD)``) is
    not a zone. Returns ``(zone, None)``, ``(None, None)`` (no zone stated) or
    ``(None, reason)``."""
    zones: list[Zone] = []
    unread: list[str] = []
    not_in_use: list[str] = []
    for m in HEADER_ZONE.finditer(header):
        text = m.group(1)
        try:
            zones.append(parse_zone(text))
        except OffsetNotInUse as exc:
            not_in_use.append(exc.why)
        except TimeProblem:
            if not _is_layout(text):
                unread.append(text)
    m = HEADER_TAIL_ZONE.search(header)
    if m:
        try:
            zones.append(parse_zone(m.group(1).replace(" ", "")))
        except OffsetNotInUse as exc:
            not_in_use.append(exc.why)
        except TimeProblem:
            unread.append(m.group(1))
    if not_in_use:
        return None, f"the header states a {not_in_use[0]}"
    if unread:
        return None, (
            f"the header states {', '.join(repr(u) for u in unread)}, which is not a zone evidpack reads without "
            "guessing (an abbreviation such as CST stands for several zones: China, US Central, Cuba)"
        )
    labels = sorted({z.label for z in zones})
    if len(labels) > 1:
        return None, f"the header states {len(labels)} different zones ({', '.join(labels)})"
    return (zones[0] if zones else None), None


def zone_in_header(header: str) -> Zone | None:
    """The zone a column header states, e.g. ``Login Time (UTC+8)`` or ``time_utc``
    (None when it states none, or one that cannot be used: see :func:`header_zone`)."""
    return header_zone(header)[0]


def read_time(
    value: Any,
    *,
    zone: Zone | None = None,
    zone_source: str = "manifest",
    date_order: str | None = None,
    date_only_ok: bool = False,
    excel_epoch: datetime = EXCEL_1900,
) -> ReadTime:
    """Read one time value (text, number, or a spreadsheet's date cell).

    ``zone`` applies only to a value that states no zone itself; ``zone_source``
    says where it came from ("header" or "manifest"). Raises :class:`TimeProblem`.
    """
    if isinstance(value, bool) or value is None:
        raise TimeProblem("empty" if value is None else f"{value!r} is not a time")
    if isinstance(value, datetime):
        original = value.isoformat(sep=" ")
        if value.tzinfo is not None:
            return _result(value, original, "date-cell", "value")
        return _localise(value, original, "date-cell", zone, zone_source)
    if isinstance(value, date):
        return _date_only(value, value.isoformat(), "date-cell", date_only_ok)
    if isinstance(value, (int, float)):
        return _from_number(Decimal(repr(value)) if isinstance(value, float) else Decimal(value), str(value), zone, zone_source, excel_epoch)
    text = str(value)
    s = text.strip()
    if not s:
        raise TimeProblem("empty")
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return _from_number(Decimal(s), text, zone, zone_source, excel_epoch)
    for form, pattern in _PATTERNS:
        m = pattern.match(s)
        if m:
            return _from_match(form, m, text, zone, zone_source, date_order, date_only_ok)
    raise TimeProblem(f"{text!r} is not a time in a form evidpack reads (see docs/wechat-production.md, 'Times')")


def _from_match(
    form: str, m: re.Match[str], text: str, zone: Zone | None, zone_source: str, date_order: str | None, date_only_ok: bool
) -> ReadTime:
    g = m.groupdict()
    year = int(g["y"])
    if form == "ab-y":
        a, b = int(g["a"]), int(g["b"])
        hint = " (it can only be DMY)" if a > 12 >= b else " (it can only be MDY)" if b > 12 >= a else ""
        if date_order is None:
            raise TimeProblem(
                f"{text.strip()!r}: day/month order is ambiguous; set options.date_order to \"DMY\" or \"MDY\"{hint}"
            )
        if date_order == "YMD":
            raise TimeProblem(f"{text.strip()!r} does not match date_order \"YMD\"")
        day, month = (a, b) if date_order == "DMY" else (b, a)
        form = "dmy" if date_order == "DMY" else "mdy"
    else:
        day = int(g["d"])
        month = _MONTHS[g["mon"][:3].lower()] if g.get("mon") else int(g["m"])
    try:
        the_date = date(year, month, day)
    except ValueError as exc:
        raise TimeProblem(f"{text.strip()!r} is not a valid date ({exc}{', read as ' + (date_order or '') if form in ('dmy', 'mdy') else ''})") from None
    zone_text = g["zone"].strip()
    if g["H"] is None:
        if zone_text:
            raise TimeProblem(f"{text.strip()!r}: unexpected {zone_text!r} after the date")
        return _date_only(the_date, text, form, date_only_ok)
    hour, minute, second = int(g["H"]), int(g["M"]), int(g["S"] or 0)
    if g["ampm"]:
        if not 1 <= hour <= 12:
            raise TimeProblem(f"{text.strip()!r}: hour {hour} with AM/PM")
        hour = hour % 12 + (12 if g["ampm"][0] in "Pp" else 0)
    micro = int((g["frac"] + "000000")[:6]) if g["frac"] else 0
    try:
        naive = datetime(the_date.year, the_date.month, the_date.day, hour, minute, second, micro)
    except ValueError as exc:
        raise TimeProblem(f"{text.strip()!r} is not a valid time ({exc})") from None
    if zone_text:
        try:
            stated = parse_zone(zone_text)
        except TimeProblem as exc:
            raise TimeProblem(f"{text.strip()!r}: {exc}") from None
        return _localise(naive, text, form, stated, "value")
    return _localise(naive, text, form, zone, zone_source)


def _date_only(d: date, original: str, form: str, ok: bool) -> ReadTime:
    if not ok:
        raise TimeProblem(f"{original.strip()!r} is a date without a time of day")
    return ReadTime(original=original, form=form, zone=None, zone_source="none", utc=None, date=d.isoformat())


def _from_number(n: Decimal, original: str, zone: Zone | None, zone_source: str, excel_epoch: datetime) -> ReadTime:
    try:
        whole = int(n)
    except (InvalidOperation, OverflowError, ValueError):
        raise TimeProblem(f"{original!r} is not a number") from None
    if 1_000_000_000 <= whole < 10_000_000_000:
        micro = int((n * 1_000_000).to_integral_value())
        return _result(_EPOCH + timedelta(microseconds=micro), original, "epoch-seconds", "epoch")
    if 1_000_000_000_000 <= whole < 10_000_000_000_000:
        micro = int((n * 1000).to_integral_value())
        return _result(_EPOCH + timedelta(microseconds=micro), original, "epoch-milliseconds", "epoch")
    if 20_000 <= whole < 80_000:
        # Excel stores times to the millisecond; round away binary-fraction noise.
        ms = int((n * 86_400_000).to_integral_value())
        return _localise(excel_epoch + timedelta(milliseconds=ms), original, "excel-serial", zone, zone_source)
    raise TimeProblem(
        f"{original!r} is not a time evidpack can read unambiguously: epoch seconds have 10 digits, "
        "milliseconds 13, and Excel serial dates lie between 20000 and 80000"
    )


def _localise(naive: datetime, original: str, form: str, zone: Zone | None, zone_source: str) -> ReadTime:
    if zone is None:
        raise NoZone(
            f"{original.strip()!r} states no zone, its column header states none, and the case manifest sets no "
            "options.zone; evidpack never guesses a zone"
        )
    if zone.is_fixed:
        return _result(naive.replace(tzinfo=zone.tz), original, form, zone_source, zone.label)
    first, second = naive.replace(tzinfo=zone.tz, fold=0), naive.replace(tzinfo=zone.tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        try:
            back = first.astimezone(timezone.utc).astimezone(zone.tz).replace(tzinfo=None)
        except OverflowError:
            raise _out_of_range(original) from None
        what = "does not exist (skipped by a daylight-saving change)" if back != naive else "is ambiguous (repeated by a daylight-saving change)"
        raise TimeProblem(f"{original.strip()!r} {what} in {zone.label}")
    return _result(first, original, form, zone_source, zone.label)


def from_moment(moment: datetime, original: str, form: str) -> ReadTime:
    """A ReadTime for an aware datetime another parser read from ``original``."""
    return _result(moment, original, form, "value")


def _result(moment: datetime, original: str, form: str, zone_source: str, zone_label: str | None = None) -> ReadTime:
    if zone_label is None:
        offset = moment.utcoffset()
        zone_label = _offset_label(offset) if offset is not None else None
        why = unreal_offset(zone_label)  # (a moment another parser read, e.g. an RFC 5322 date's "+1500")
        if why:
            raise OffsetNotInUse(f"{original.strip()!r}: its {why}", why)
    try:
        utc = format_utc(moment)
    except TimeOutOfRange:
        raise _out_of_range(original) from None
    return ReadTime(original=original, form=form, zone=zone_label, zone_source=zone_source, utc=utc)


def _out_of_range(original: str) -> TimeProblem:
    return TimeProblem(f"{original.strip()!r} is outside the years 1-9999 in UTC (RFC 3339 cannot write it)")
