"""Columns of a WeChat International production, matched by header name.

WeChat International's delivery format is not published and changes, so
columns are never taken by position. A header is compared with the aliases below
after normalising both: Unicode NFKC, case folded, any bracketed part such as
``(UTC+8)`` removed (a zone stated there is still used for times), and
everything that is not a letter or digit dropped — so ``WeChat ID``,
``wechat_id`` and ``WECHAT-ID`` are the same header.

To extend the table for one case, give the unusual header in the case manifest:
``[sources.options.columns]`` ``wechat_id = "Acct No."`` (or a list of
headers). Headers named there win over the built-in aliases. To extend it for
everyone, add the alias here and to docs/wechat-production.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..timeparse import HEADER_TAIL_ZONE, HEADER_ZONE, Zone, header_zone
from .values import unreal_offset

# field -> aliases (as a person would write them; normalised when matched)
ALIASES: dict[str, tuple[str, ...]] = {
    "wechat_id": (
        "WeChat ID", "Weixin ID", "wxid", "Account", "Account ID", "Account Name", "WeChat Account",
        "WeChat Username", "Username", "User ID", "Target Account", "微信号", "微信ID", "微信账号", "账号",
    ),
    "nickname": ("Nickname", "Nick Name", "Display Name", "WeChat Name", "Name", "昵称", "微信昵称"),
    "phone": (
        "Phone", "Phone Number", "Mobile", "Mobile Number", "Mobile Phone", "Linked Mobile", "Linked Mobile Number",
        "Linked Phone", "Linked Phone Number", "Bound Mobile", "Bound Phone", "Telephone", "Tel", "MSISDN",
        "手机号", "手机号码", "绑定手机", "绑定手机号",
    ),
    "email": ("Email", "E-mail", "Email Address", "Linked Email", "Bound Email", "邮箱", "电子邮箱", "绑定邮箱"),
    "registration_country": (
        "Registration Country", "Registered Country", "Country of Registration", "Registration Region",
        "Reg Country", "Sign-up Country", "注册国家", "注册地区", "注册国家地区",
    ),
    "registration_time": (
        "Registration Time", "Registration Date", "Registration Date/Time", "Registered", "Registered At",
        "Registered On", "Reg Time", "Reg Date", "Sign-up Time", "Sign-up Date", "Account Created",
        "Account Creation Time", "Creation Time", "Created", "注册时间", "注册日期",
    ),
    "time": (
        "Login Time", "Log-in Time", "Logon Time", "Login Date", "Login Date/Time", "Time", "Timestamp",
        "Date/Time", "Date Time", "Datetime", "Event Time", "Access Time", "Activity Time",
        "登录时间", "时间", "访问时间",
    ),
    "ip": ("IP", "IP Address", "Login IP", "Login IP Address", "Source IP", "Client IP", "IP地址", "登录IP"),
    "port": ("Port", "Source Port", "Client Port", "Login Port", "端口", "端口号"),
    "device": (
        "Device", "Login Device", "Device Model", "Device Name", "Device Type", "Device Info", "User Agent",
        "设备", "登录设备", "设备型号", "设备名称",
    ),
    "event": ("Event", "Event Type", "Action", "Activity", "Login Type", "Login Event", "Operation", "事件", "操作", "登录方式"),
    "location": ("Location", "IP Location", "Login Location", "Geolocation", "登录地点", "IP归属地", "归属地"),
}
FIELDS = tuple(ALIASES)
TIME_FIELDS = frozenset({"time", "registration_time"})
LOGIN_FIELDS = frozenset({"time", "ip", "port", "device", "event", "location"})
ACCOUNT_FIELDS = frozenset({"nickname", "phone", "email", "registration_country", "registration_time"})

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(header: str) -> str:
    text = unicodedata.normalize("NFKC", header).casefold()
    text = HEADER_ZONE.sub("", text)
    text = HEADER_TAIL_ZONE.sub("", text)
    return _NON_WORD.sub("", text)


_BUILT_IN: dict[str, str] = {normalise(a): f for f, aliases in ALIASES.items() for a in aliases}


def explicit_mapping(columns: dict[str, Any]) -> dict[str, str]:
    """``{field: header or [headers]}`` from the manifest -> ``{normalised header: field}``.
    Raises ValueError naming the bad entry."""
    out: dict[str, str] = {}
    for fld, headers in columns.items():
        if fld not in ALIASES:
            raise ValueError(f"unknown field {fld!r}; fields are: {', '.join(FIELDS)}")
        names = [headers] if isinstance(headers, str) else headers
        if not isinstance(names, list) or not names or not all(isinstance(h, str) and normalise(h) for h in names):
            raise ValueError(f"{fld}: give a header (text) or a list of headers")
        for h in names:
            key = normalise(h)
            if out.get(key, fld) != fld:
                raise ValueError(f"header {h!r} is given for both {out[key]} and {fld}")
            out[key] = fld
    return out


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    field: str | None  # None: not one of the fields; kept under "other"
    matched_by: str | None  # "manifest" or "alias"
    zone: Zone | None = None  # a zone the header states (time columns)
    note: str | None = None
    zone_problem: str | None = None  # why a zone the header states cannot be used (its naive times are not read)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.index + 1, "header": self.header, "field": self.field}
        if self.matched_by:
            out["matched_by"] = self.matched_by
        if self.zone is not None:
            out["zone"] = self.zone.label
        if self.note:
            out["note"] = self.note
        if self.zone_problem:
            out["zone_problem"] = self.zone_problem
        return out


@dataclass(frozen=True)
class Header:
    row: int
    columns: tuple[Column, ...]
    kind: str  # "accounts" or "logins"
    all_named: bool = True  # every non-empty cell names a field (no cell could be a value)

    @property
    def fields(self) -> dict[str, Column]:
        return {c.field: c for c in self.columns if c.field}


def field_of(cell: Any, explicit: dict[str, str]) -> tuple[str | None, str | None]:
    """The field a header cell names and how (``"manifest"`` or ``"alias"``), or (None, None)."""
    return _field_of(cell, explicit)


def _field_of(cell: Any, explicit: dict[str, str]) -> tuple[str | None, str | None]:
    if not isinstance(cell, str) or not cell.strip():
        return None, None
    key = normalise(cell)
    if key in explicit:
        return explicit[key], "manifest"
    if key in _BUILT_IN:
        return _BUILT_IN[key], "alias"
    return None, None


_LOCAL = frozenset({"local", "local time", "localtime", "本地时间", "当地时间", "本地", "当地"})


def _only_local(header: str) -> bool:
    """Whether the only bracketed part of a header is "local" (``When (local)``)."""
    parts = [m.group(1).strip().casefold() for m in HEADER_ZONE.finditer(header)]
    return bool(parts) and all(p in _LOCAL for p in parts) and not HEADER_TAIL_ZONE.search(header)


def column_zone(header: str) -> tuple[Zone | None, str | None]:
    """The zone a time column's header states, and why it cannot be used (see
    :func:`~evidpack.timeparse.header_zone`); an offset outside -12:00..+14:00
    (``Login Time (UTC+15)``) cannot: the column's naive times are row problems."""
    zone, problem = header_zone(header)
    why = unreal_offset(zone.label) if zone is not None else None
    if why:
        return None, f"the header states a {why}"
    return zone, problem


def header_score(cells: Sequence[Any], explicit: dict[str, str]) -> int:
    """How many distinct fields a row's cells name (2 or more: a header row)."""
    return len({f for f in (_field_of(c, explicit)[0] for c in cells) if f})


def match_header(row: int, cells: Sequence[Any], explicit: dict[str, str]) -> Header | None:
    """The header this row is, or None. A field named by two columns goes to the
    one the manifest names, else the first; the other is kept under "other"."""
    matches = [(i, c, *_field_of(c, explicit)) for i, c in enumerate(cells)]
    if len({m[2] for m in matches if m[2]}) < 2:
        return None
    owner: dict[str, int] = {}
    for i, _cell, fld, how in sorted(matches, key=lambda m: (m[3] != "manifest", m[0])):
        if fld and fld not in owner:
            owner[fld] = i
    columns = []
    for i, cell, fld, how in matches:
        header = "" if cell is None else str(cell)
        if fld and owner[fld] != i:
            note = f"also matches {fld}; column {owner[fld] + 1} ({cells[owner[fld]]!s}) was used"
            columns.append(Column(i, header, None, None, note=note))
            continue
        zone, zone_problem = column_zone(header) if fld in TIME_FIELDS else (None, None)
        if zone_problem and how == "manifest" and _only_local(header):
            zone_problem = None  # the examiner named this header: options.zone says what "local" is
        columns.append(Column(i, header, fld, how, zone, zone_problem=zone_problem))
    fields = set(owner)
    kind = "logins" if fields & LOGIN_FIELDS else "accounts"
    all_named = all(fld for _i, cell, fld, _how in matches if not (cell is None or (isinstance(cell, str) and not cell.strip())))
    return Header(row, tuple(columns), kind, all_named)
