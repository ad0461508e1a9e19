"""Reading single values of a production: text of a cell, phone numbers, IP
addresses and ports, WeChat IDs. Each reader returns what it could read and
raises :class:`ValueProblem` with a reason when it cannot."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import date, datetime
from typing import Any

import phonenumbers


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


def read_phone(value: Any, *, region: str | None, country_code_first: bool) -> dict[str, Any]:
    """A phone number as given, in E.164, with its region and whether the
    numbering plan allows it. A number without ``+`` needs the manifest to say
    how to read it (``phone_region`` or ``phones_have_country_code``)."""
    text = cell_text(value).strip()
    candidate = text
    if not text.startswith("+"):
        if text.startswith("00") and country_code_first:
            candidate = "+" + text[2:]
        elif country_code_first:
            candidate = "+" + text
        elif region is None:
            raise ValueProblem(
                f"{text!r} has no country code (+); set options.phone_region (e.g. \"SG\") or "
                "options.phones_have_country_code = true"
            )
    try:
        number = phonenumbers.parse(candidate, None if candidate.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        reason = str(exc).split(") ", 1)[-1]
        raise ValueProblem(f"{text!r} is not a phone number ({reason})") from None
    region_code = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(number.country_code)
    return {
        "as_given": cell_text(value),
        "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        "country_code": number.country_code,
        "region": None if region_code in ("ZZ", "001") else region_code,
        "valid": phonenumbers.is_valid_number(number),
    }


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
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueProblem(f"{what}: {text!r} is not a port number (0-65535)")
    return int(text)


def check_wechat_id(value: Any) -> str:
    """A WeChat ID as given (surrounding spaces removed); whitespace inside one
    means the cell holds something else (a note, a footer)."""
    text = cell_text(value).strip()
    if any(ch.isspace() for ch in text):
        raise ValueProblem(f"{text!r} does not look like a WeChat ID (it contains spaces)")
    return text
