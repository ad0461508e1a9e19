"""MHTML pages as saved by Chrome, Edge and Hunchly (``multipart/related``).

The capture's URL is the ``Snapshot-Content-Location`` header (Chrome and
Hunchly write it), its title the ``Subject`` (RFC 2047-decoded) and its time the
``Date`` header (RFC 5322, with its zone). The parts are listed by type and
Content-Location; their bodies are not decoded.

The file is read without trusting it: header blocks are parsed by the standard
library's ``compat32`` policy (which keeps every value as written and decodes
nothing eagerly) and only up to :data:`HEADER_LIMIT` bytes; encoded words are
decoded one by one, at most :data:`ENCODED_WORD_LIMIT` of them; and only the top
level of parts is split, by a linear search for its boundary, so nesting cannot
recurse. A header value that is not UTF-8 is kept with each such byte written
``%XX`` (as evidpack writes such names) and reported.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

from ..importers.files import escaped_name
from ..timeparse import NoZone, TimeProblem, from_moment, read_time

HEADER_LIMIT = 1 << 20  # bytes in the page's header block
PART_HEADER_LIMIT = 64 << 10  # bytes in one part's header block
ENCODED_WORD_LIMIT = 1000  # RFC 2047 encoded words decoded in the Subject
PART_LIST_LIMIT = 200  # parts listed (and their headers read); all are counted
_SHOWN = 80  # characters of a hostile value quoted in a message

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")
_FOLD = re.compile(r"\r\n|\r|\n")
# An RFC 2047 encoded word: no white space inside, and bounded, so a search never runs away.
_ENCODED_WORD = re.compile(r"=\?[^?\s]{1,75}\?[bBqQ]\?[^?\s]{0,998}\?=")
_DEFECTS = {
    "MissingHeaderBodySeparatorDefect": "a line in the header block is not a header (the blank line that ends the headers is missing)",
    "FirstHeaderLineIsContinuationDefect": "the header block starts with a continuation line",
    "MisplacedEnvelopeHeaderDefect": "a 'From ' envelope line stands among the headers",
    "InvalidHeaderDefect": "a header has no name",
}


class MhtmlProblem(ValueError):
    pass


def read_mhtml(data: bytes) -> dict[str, Any]:
    problems: list[str] = []
    head, body_at = _headers(data, 0, HEADER_LIMIT)
    if head is None:
        raise MhtmlProblem(f"the header block is larger than {HEADER_LIMIT} bytes (no blank line ends it); not read")
    kinds = Counter(type(d).__name__ for d in head.defects)
    problems += [f"header block: {_DEFECTS.get(k, k)}" + (f" ({n} times)" if n > 1 else "") for k, n in kinds.items()]
    raw = _first_headers(head, problems)

    def header(key: str) -> str | None:
        return _text(raw[key], f"header {_title(key)}", problems) if key in raw else None

    ctype, boundary = _content_type(header("content-type"))
    if ctype != "multipart/related":
        raise MhtmlProblem(f"not MHTML: its content type is {ctype!r}, not multipart/related")
    if not boundary:
        raise MhtmlProblem("its Content-Type multipart/related names no boundary, so its parts cannot be found")
    parts, part_list = _parts(data, body_at, boundary, problems)
    first_location = part_list[0]["location"] if part_list else None
    url, subject, saved_by, date = (header(k) for k in ("snapshot-content-location", "subject", "from", "date"))
    out: dict[str, Any] = {
        "format": "mhtml",
        "url": url.strip() if url is not None else first_location,
        "url_from": "Snapshot-Content-Location" if url is not None else "first part's Content-Location" if first_location else None,
        "title": _subject(subject, problems) if subject is not None else None,
        "date": None,
        "saved_by": saved_by.strip() if saved_by is not None else None,
        "parts": parts,
        "part_list": part_list,
        "problems": problems,
    }
    if date is not None:
        out["date"] = _date(date, problems)
    return out


# --- headers -----------------------------------------------------------------------------------


def _headers(data: bytes, start: int, limit: int, end: int | None = None) -> tuple[Message | None, int]:
    """The header block that starts at ``start`` (parsed, nothing decoded) and where the body after it
    starts; ``(None, start)`` when no blank line ends it within ``limit`` bytes."""
    end = len(data) if end is None else end
    stop = min(end, start + limit)
    blank = _BLANK_LINE.search(data, start, stop)
    block = data[start : blank.end() if blank else stop]
    msg = BytesHeaderParser(policy=policy.compat32).parsebytes(block)
    rest = msg.get_payload()
    if blank is None and not rest and stop < end:
        return None, start
    return msg, start + len(block) - len(rest)  # the body starts where the parser stopped reading headers


def _first_headers(msg: Message, problems: list[str] | None) -> dict[str, str]:
    """Each header's first value as written (lower-case names; bytes that are not ASCII as surrogate
    escapes). A header evidpack records that appears more than once is reported."""
    seen: dict[str, int] = {}
    out: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        out.setdefault(key, value)
    for key in ("snapshot-content-location", "subject", "date", "from", "content-type", "content-location"):
        if seen.get(key, 0) > 1 and problems is not None:
            problems.append(f"header {_title(key)} appears {seen[key]} times; the first is recorded")
    return out


def _text(value: str, what: str, problems: list[str] | None) -> str:
    """A header value as UTF-8 text: the parser keeps bytes that are not ASCII as surrogate escapes;
    valid UTF-8 is decoded, any other byte written ``%XX`` (and reported)."""
    if value.isascii():
        return value
    raw = value.encode("ascii", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = escaped_name(raw.decode("utf-8", "surrogateescape"))
        if problems is not None:
            problems.append(
                f"{what} is not valid UTF-8 (byte 0x{raw[exc.start]:02X}); recorded with each such byte written %XX: {_shown(shown)!r}"
            )
        return shown


def _title(key: str) -> str:
    """``snapshot-content-location`` -> ``Snapshot-Content-Location``."""
    return "-".join(w.capitalize() for w in key.split("-"))


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _unfold(value: str) -> str:
    return _FOLD.sub("", value)


def _content_type(value: str | None) -> tuple[str, str | None]:
    """The type and boundary of a Content-Type value, its comments removed without recursion."""
    if value is None:
        return "text/plain", None
    shadow = Message(policy=policy.compat32)
    shadow["Content-Type"] = _uncomment(_unfold(value))
    return shadow.get_content_type(), shadow.get_boundary()


def _uncomment(text: str) -> str:
    """``text`` with each RFC 5322 comment (parentheses, nested, outside quoted strings) made one space,
    in one pass: the email package's own parser recurses into nested comments."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for ch in text:
        if escaped:
            escaped = False
            if not depth:
                out.append(ch)
        elif ch == "\\" and (quoted or depth):
            escaped = True
            if not depth:
                out.append(ch)
        elif depth:
            depth += 1 if ch == "(" else -1 if ch == ")" else 0
        elif quoted:
            out.append(ch)
            quoted = ch != '"'
        elif ch == "(":
            depth = 1
            out.append(" ")
        else:
            out.append(ch)
            quoted = ch == '"'
    return "".join(out)


# --- parts -------------------------------------------------------------------------------------


def _parts(data: bytes, start: int, boundary: str, problems: list[str]) -> tuple[int, list[dict[str, Any]]]:
    """The number of top-level parts and the first PART_LIST_LIMIT of them (type and location).

    Nested multiparts are not entered: each is one part of its own type."""
    count, listed = 0, []
    part_at: int | None = None  # where the current part starts (after its delimiter line)
    closed = False
    for at, after, close in _delimiters(data, start, boundary.encode("utf-8", "surrogateescape")):
        if part_at is not None:
            count += 1
            if len(listed) < PART_LIST_LIMIT:
                listed.append(_part(data, part_at, _line_start(data, at), count, problems))
        part_at = after
        if close:
            closed = True
            break
    if part_at is None:
        raise MhtmlProblem(f"not MHTML: no part starts with the boundary {_shown(boundary)!r} its Content-Type names")
    if not closed:
        count += 1
        if len(listed) < PART_LIST_LIMIT:
            listed.append(_part(data, part_at, len(data), count, problems))
        problems.append("the closing boundary is missing: the file may be cut short")
    return count, listed


def _delimiters(data: bytes, start: int, boundary: bytes) -> Iterator[tuple[int, int, bool]]:
    """(where, end of line, closing?) of each ``--boundary`` line after ``start`` (RFC 2046 §5.1.1)."""
    dash = b"--" + boundary
    pos = start
    while (at := data.find(dash, pos)) >= 0:
        pos = at + len(dash)
        if at > 0 and data[at - 1] not in b"\r\n":
            continue
        tail = _DELIMITER_TAIL.match(data, pos)
        if tail is None:
            continue
        pos = tail.end()
        yield at, pos, tail.group(1) is not None


def _line_start(data: bytes, at: int) -> int:
    """Where the line break before a delimiter starts: it belongs to the delimiter, not the part."""
    if data[at - 2 : at] == b"\r\n":
        return at - 2
    return at - 1 if at > 0 and data[at - 1] in b"\r\n" else at


def _part(data: bytes, start: int, end: int, n: int, problems: list[str]) -> dict[str, Any]:
    head, _ = _headers(data, start, PART_HEADER_LIMIT, end)
    if head is None:
        problems.append(f"part {n}: its header block is larger than {PART_HEADER_LIMIT} bytes; its type and location are not read")
        return {"content_type": None, "location": None}
    raw = _first_headers(head, None)
    ctype, location = (_text(raw[k], f"part {n}: header {_title(k)}", problems) if k in raw else None for k in ("content-type", "content-location"))
    return {"content_type": _content_type(ctype)[0], "location": _unfold(location).strip() if location is not None else None}


# --- Subject -----------------------------------------------------------------------------------


def _subject(value: str, problems: list[str]) -> str:
    """The Subject, unfolded and RFC 2047-decoded (white space between two encoded words dropped)."""
    text = _unfold(value)
    words = list(_ENCODED_WORD.finditer(text, 0, len(text)))
    if len(words) > ENCODED_WORD_LIMIT:
        problems.append(f"Subject: more than {ENCODED_WORD_LIMIT} RFC 2047 encoded words ({len(words)}); not decoded, recorded as written")
        return text
    out: list[str] = []
    pos, last_end = 0, None
    for m in words:
        between = text[pos : m.start()]
        if not (last_end == pos and between.strip(" \t") == "" and out):
            out.append(between)
        out.append(_decode_word(m.group(0), problems))
        pos = last_end = m.end()
    out.append(text[pos:])
    return "".join(out)


def _decode_word(word: str, problems: list[str]) -> str:
    try:
        [(raw, charset)] = decode_header(word)
    except (HeaderParseError, ValueError) as exc:
        problems.append(f"Subject: encoded word {_shown(word)!r} cannot be decoded ({exc}); kept as written")
        return word
    if not isinstance(raw, bytes) or charset is None:
        return word
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
    try:
        return raw.decode(charset)
    except LookupError:
        problems.append(f"Subject: encoded word {_shown(word)!r} names an unknown character set {charset!r}; kept as written")
        return word
    except UnicodeDecodeError as exc:
        problems.append(f"Subject: encoded word {_shown(word)!r} is not valid {charset} ({exc.reason}); undecodable bytes shown as U+FFFD")
        return raw.decode(charset, "replace")


# --- Date --------------------------------------------------------------------------------------

# RFC 5322 §3.3 date-time, with the obsolete forms recognised so that they can be refused clearly.
_RFC5322_DATE = re.compile(
    r"^(?:(?P<wd>[A-Za-z]+)\s*,\s*)?(?P<d>\d{1,2})\s+(?P<mon>[A-Za-z]+)\s+(?P<y>\d+)\s+"
    r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?(?:\s+(?P<zone>[+-]\d{4}|[A-Za-z]+))?\s*(?:\([^()]*\)\s*)?$"
)
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_abbr)}
# RFC 5322 §3.3 and §4.3 define these zone names, so in a Date header they are not ambiguous.
_RFC5322_ZONES = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7}


def _date(value: str, problems: list[str]) -> dict[str, Any]:
    """The Date header as a time object; ``original`` is the value exactly as written. A Date with no
    zone, an unknown zone, a two-digit year or a weekday that contradicts it is a problem (never guessed)."""
    text = _unfold(value).strip()
    try:
        m = _RFC5322_DATE.match(text)
        if m is None:
            return read_time(value).to_json()
        offset = _rfc5322_offset(m, text)
        try:
            return read_time(value).to_json()  # numeric offsets and UTC, as every other time is read
        except TimeProblem:
            pass
        try:
            moment = datetime(int(m["y"]), _MONTHS[m["mon"].lower()], int(m["d"]), int(m["H"]), int(m["M"]), int(m["S"] or 0), tzinfo=offset)
        except ValueError as exc:
            raise TimeProblem(f"{text!r} is not a valid date ({exc})") from None
        return from_moment(moment, value, "rfc5322").to_json()
    except NoZone:
        why = f"{_shown(text)!r} states no zone; evidpack never guesses a zone"
    except TimeProblem as exc:
        why = str(exc)
    problems.append(f"Date: {why}")
    return {"original": value, "utc": None, "problem": why}


def _rfc5322_offset(m: re.Match[str], text: str) -> timezone:
    """The zone of an RFC 5322 date, after its month, year and weekday are checked."""
    month = _MONTHS.get(m["mon"].lower())
    if month is None:
        raise TimeProblem(f"{text!r}: {m['mon']!r} is not a month")
    if len(m["y"]) != 4:
        raise TimeProblem(f"{text!r}: a {len(m['y'])}-digit year (an obsolete form) is not read: evidpack does not guess the century")
    if m["wd"] is not None:
        wanted = _WEEKDAYS.get(m["wd"].lower())
        try:
            actual = datetime(int(m["y"]), month, int(m["d"])).weekday()
        except ValueError as exc:
            raise TimeProblem(f"{text!r} is not a valid date ({exc})") from None
        if wanted != actual:
            raise TimeProblem(f"{text!r}: the weekday {m['wd']!r} contradicts the date (a {calendar.day_name[actual]}); not read")
    zone = m["zone"]
    if zone is None:
        raise NoZone(text)
    if zone[0] in "+-":
        hours, minutes = int(zone[1:3]), int(zone[3:5])
        if hours > 23 or minutes > 59:
            raise TimeProblem(f"{text!r}: the zone offset {zone} is out of range")
        return timezone((-1 if zone[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes))
    if zone.upper() not in _RFC5322_ZONES:
        raise TimeProblem(f"{text!r}: {zone!r} is not a zone RFC 5322 defines; evidpack never guesses a zone")
    return timezone(timedelta(hours=_RFC5322_ZONES[zone.upper()]))
