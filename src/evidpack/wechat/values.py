"""Reading single values of a production: text of a cell, phone numbers, IP
addresses and ports, WeChat IDs. Each reader returns what it could read and
raises :class:`ValueProblem` with a reason when it cannot."""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from datetime import date, datetime
from typing import Any

import phonenumbers

from .. import timeparse as _timeparse
from .. import timeutil as _timeutil


class ValueProblem(ValueError):
    pass


def cell_text(value: Any) -> str:
    """A cell as text: strings exactly as given; whole numbers without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, (dict, list)):  # a JSON object or array in a field: its JSON text, never a Python repr
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def json_value(value: Any) -> Any:
    """A cell as a JSON value (spreadsheet dates become ISO text)."""
    if isinstance(value, (datetime, date)):
        return cell_text(value)
    return value


def invisible_characters(text: str) -> list[str]:
    """Code points a reader cannot see (zero-width, direction marks, controls),
    named as ``U+200B ZERO WIDTH SPACE``, in order of appearance."""
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cf", "Cc", "Co", "Zl", "Zp") or (unicodedata.category(ch) == "Zs" and ch != " "):
            out.append(f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')}")
    return out


MAX_PHONE_DIGITS = 17  # E.164 allows 15 digits, written with a "00" international prefix 17
_PHONE_PUNCTUATION = frozenset(" \t\u00a0-.()/")


def _phone_reading(candidate: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None


def _phone_json(number: phonenumbers.PhoneNumber) -> dict[str, Any]:
    region_code = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(number.country_code)
    return {
        "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        "country_code": number.country_code,
        "region": None if region_code in ("ZZ", "001") else region_code,
        "valid": phonenumbers.is_valid_number(number),
    }


def read_phone(value: Any, *, region: str | None, country_code_first: bool) -> dict[str, Any]:
    """A phone number as given, in E.164, with its region and whether the
    numbering plan allows it (``valid``: a number that is not valid is a row
    problem for the caller). A number without ``+`` needs the manifest to say
    how to read it (``phone_region`` or ``phones_have_country_code``).

    With ``phone_region``, a number without ``+`` is read both as a national
    number of that region and as one written with its country code (after an
    international ``00`` prefix, or without one: ``0086 131…``, ``86131…``).
    A valid national reading is used (``also_reads_as`` gives the other reading
    when it is valid too: a Chinese mobile's digits also make a US number).
    Otherwise the valid reading is used (``read_as`` says which); after ``00``
    the international reading is used unless the national one is valid too.
    When, after ``00``, both are valid and differ, the number is ambiguous:
    ``e164`` is None and ``readings`` lists both (a row problem for the caller).
    Text with letters or other characters (``(old)``, ``ext. 12``) is refused,
    never turned into digits."""
    as_given = cell_text(value)
    text = as_given.strip()
    body = text[1:] if text.startswith("+") else text
    odd = sorted({ch for ch in body if not (ch.isdecimal() or ch in _PHONE_PUNCTUATION)})
    if odd:
        what = "letters" if any(ch.isalpha() for ch in odd) else "the character(s) " + " ".join(repr(ch) for ch in odd)
        raise ValueProblem(f"{text!r} is not read as a phone number: it holds {what} (a note or an extension?); kept as given")
    digits = "".join(str(unicodedata.decimal(ch)) for ch in body if ch.isdecimal())
    if not digits:
        raise ValueProblem(f"{text!r} is not a phone number (no digits)")
    if len(digits) > MAX_PHONE_DIGITS:
        raise ValueProblem(f"{text!r} is not a phone number ({len(digits)} digits; E.164 numbers have at most 15)")
    out: dict[str, Any] = {"as_given": as_given}
    if text.startswith("+"):
        number = _phone_reading(text, None)
        if number is None:
            raise ValueProblem(f"{text!r} is not a phone number")
        return {**out, **_phone_json(number)}
    intl_digits = digits[2:] if digits.startswith("00") else digits
    international = _phone_reading("+" + intl_digits, None) if intl_digits[:1] not in ("", "0") else None
    if country_code_first:
        if international is None:
            raise ValueProblem(f"{text!r} is not a phone number with a country code first (options.phones_have_country_code)")
        return {**out, **_phone_json(international)}
    if region is None:
        raise ValueProblem(
            f"{text!r} has no country code (+); set options.phone_region (e.g. \"SG\") or "
            "options.phones_have_country_code = true"
        )
    national = _phone_reading(text, region)
    readings = []
    if national is not None:
        readings.append({**_phone_json(national), "read_as": f"a {region} number (options.phone_region)"})
    if international is not None:
        readings.append({**_phone_json(international), "read_as": "a number with its country code first" + (" (after the international prefix 00)" if digits.startswith("00") else "")})
    if not readings:
        raise ValueProblem(f"{text!r} is not a phone number")
    valid = [r for r in readings if r["valid"]]
    if not digits.startswith("00") and national is not None and readings[0]["valid"]:
        # Without the international prefix a number of the region is read as one: a valid
        # national number stays national even if its digits also make a number with a
        # country code first (any Chinese mobile, 131..., is a valid US number that way).
        result = {**out, **{k: readings[0][k] for k in ("e164", "country_code", "region", "valid")}}
        if len(valid) > 1 and valid[1]["e164"] != readings[0]["e164"]:
            result["also_reads_as"] = valid[1]["e164"]
        return result
    if len({r["e164"] for r in valid}) > 1:
        return {**out, "e164": None, "country_code": None, "region": None, "valid": None, "readings": readings}
    if valid:
        chosen = valid[0]
    elif digits.startswith("00") and international is not None:
        chosen = readings[-1]  # 00 is the international prefix: the number it introduces is not valid
    else:
        chosen = readings[0]
    result = {**out, **{k: chosen[k] for k in ("e164", "country_code", "region", "valid")}}
    if chosen is not readings[0] or digits.startswith("00"):
        result["read_as"] = chosen["read_as"]
    return result


_BRACKETED = re.compile(r"^\[([^\]]+)\](?::(\d*))?$")


def read_ip(value: Any) -> dict[str, Any]:
    """``203.0.113.7``, ``203.0.113.7:52311``, ``2001:db8::7``, ``[2001:db8::7]:443``.
    An IPv6 address followed by ``:port`` without brackets cannot be told apart
    from the address itself and is read as an address."""
    text = cell_text(value).strip()
    port_text = None
    m = _BRACKETED.match(text)
    if m:
        host, port_text = m.group(1), m.group(2)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueProblem(f"{text!r} is not an IPv4 or IPv6 address") from None
    if m and ip.version == 4:
        raise ValueProblem(f"{text!r}: square brackets are for IPv6 addresses")
    out: dict[str, Any] = {"ip": str(ip), "ip_version": ip.version, "ip_global": ip.is_global}
    if port_text is not None:
        out["port"] = read_port(port_text, f"port in {text!r}")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        out["ipv4_mapped"] = str(ip.ipv4_mapped)
    return out


def read_port(value: Any, what: str = "port") -> int:
    text = cell_text(value).strip()
    # (at most 5 digits before int(): Python refuses to convert more than 4,300 digits)
    if not text.isdecimal() or len(text) > 5 or not 0 <= int(text) <= 65535:
        raise ValueProblem(f"{what}: {text!r} is not a port number (0-65535)")
    return int(text)


def check_wechat_id(value: Any) -> str:
    """A WeChat ID as given (surrounding spaces removed); whitespace inside one
    means the cell holds something else (a note, a footer)."""
    text = cell_text(value).strip()
    if any(ch.isspace() for ch in text):
        raise ValueProblem(f"{text!r} does not look like a WeChat ID (it contains spaces)")
    return text


# UTC offsets in use (-12:00 to +14:00): one rule for every importer, kept in timeparse.
MIN_OFFSET_MINUTES = _timeutil.MIN_OFFSET_MINUTES
MAX_OFFSET_MINUTES = _timeutil.MAX_OFFSET_MINUTES
unreal_offset = _timeparse.unreal_offset
