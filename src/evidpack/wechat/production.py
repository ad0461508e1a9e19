"""A WeChat International production read into accounts and logins.

:class:`Production` takes the raw tables of each file (see
:mod:`evidpack.wechat.tables`), finds header rows by name (see
:mod:`evidpack.wechat.columns`) and reads every row after a header into an
account (subscriber) or a login/IP entry. No row is ever dropped: a value that
cannot be read is kept as given, and the row, field, value and problem are
listed in ``parse_errors``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..timeparse import ReadTime, TimeProblem, Zone, read_time
from ..timeutil import format_utc
from .columns import ACCOUNT_FIELDS, LOGIN_FIELDS, Column, Header, match_header
from .tables import Document, RawTable
from .values import (
    ValueProblem,
    cell_text,
    check_wechat_id,
    invisible_characters,
    json_value,
    read_ip,
    read_phone,
    read_port,
)

FORMAT = "evidpack/wechat-production/1"
PROVIDER = "WeChat International Pte. Ltd. (Singapore)"
JURISDICTION_NOTE = (
    "The linked mobile number is a mainland-China (+86) number: this is likely a Weixin account, "
    "provided by Tencent in mainland China. WeChat International Pte. Ltd. cannot produce data for "
    "Weixin accounts; the route that remains is mutual legal assistance (MLA) through the central authority."
)
REQUEST_TYPES = ("preservation", "emergency", "legal-process")
# WeChat International's published commitment: emergency and preservation requests within 48 hours.
COMMITMENT_HOURS = {"emergency": 48, "preservation": 48}


@dataclass(frozen=True)
class Settings:
    """How to read a production, from the case manifest's ``[sources.options]``."""

    zone: Zone | None = None
    date_order: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # normalised header -> field
    phone_region: str | None = None
    phones_have_country_code: bool = False
    encoding: str | None = None
    delimiter: str | None = None


@dataclass(frozen=True)
class Place:
    """Where rows come from: the payload item, its file and (in a zip) member, and the sheet/table."""

    item: str
    file: str
    member: str | None = None
    sheet: str | None = None

    def at(self, row: int) -> dict[str, Any]:
        return {"item": self.item, "file": self.file, "member": self.member, "sheet": self.sheet, "row": row}

    def describe(self, row: int | None = None, shown: str | None = None) -> str:
        """``ip-log.xlsx sheet 'IP log' row 4``; ``shown`` replaces the file name (e.g. its full path)."""
        out = (shown or self.file) + (f" member {self.member!r}" if self.member else "")
        if self.sheet:
            out += f" sheet {self.sheet!r}" if not self.sheet.startswith(("$", "table ")) else f" {self.sheet}"
        return out + (f" row {row}" if row is not None else "")


def timeline(kind: str, reference: str | None, sent: datetime | None, received: datetime | None) -> dict[str, Any]:
    """The request timeline: when sent, when the production arrived, how long it
    took, and whether WeChat International's 48-hour commitment (emergency and
    preservation requests) was met."""
    out: dict[str, Any] = {
        "type": kind,
        "reference": reference,
        "sent_at": format_utc(sent) if sent else None,
        "received_at": format_utc(received) if received else None,
        "response_hours": None,
        "response_time": None,
        "commitment_hours": COMMITMENT_HOURS.get(kind),
        "commitment": None,
    }
    if sent and received:
        seconds = int((received - sent).total_seconds())
        out["response_hours"] = round(seconds / 3600, 2)
        days, rest = divmod(seconds, 86400)
        out["response_time"] = (f"{days} d " if days else "") + f"{rest // 3600} h {rest % 3600 // 60:02d} min"
        hours = out["commitment_hours"]
        if hours is None:
            out["commitment"] = "no published response-time commitment for this request type"
        else:
            out["commitment"] = "met" if seconds <= hours * 3600 else "not met"
    elif out["commitment_hours"] is not None:
        out["commitment"] = "not checkable: give both sent_at and received_at"
    return out


@dataclass
class _Section:
    header: Header
    title: str | None
    preamble: list[dict[str, Any]]
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)


class Production:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.accounts: list[dict[str, Any]] = []
        self.logins: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.notes: list[tuple[str, str]] = []  # (subject, text): warnings such as zone conflicts

    # --- files and tables ------------------------------------------------------------

    def read(self, doc: Document, place: Place) -> dict[str, Any]:
        """Read every table of one file; returns the file's summary for the record."""
        summary: dict[str, Any] = {"format": doc.format, **doc.info, "tables": [], "unrecognised": []}
        if doc.problems:
            summary["problems"] = doc.problems
        for table in doc.tables:
            tplace = Place(place.item, place.file, place.member, table.name)
            sections = self._sections(table)
            if not sections:
                summary["unrecognised"].append({"table": table.name, "rows": len(table.rows), **table.info})
                continue
            for sec in sections:
                before = len(self.accounts) + len(self.logins)
                for row, cells in sec.rows:
                    self._row(sec.header, row, cells, tplace)
                entry = {
                    "table": table.name,
                    **table.info,
                    "kind": sec.header.kind,
                    "header_row": sec.header.row,
                    "columns": [c.to_json() for c in sec.header.columns],
                    "rows": len(self.accounts) + len(self.logins) - before,
                }
                if sec.title:
                    entry["title"] = sec.title
                if sec.preamble:
                    entry["preamble"] = sec.preamble
                summary["tables"].append(entry)
        return summary

    def _sections(self, table: RawTable) -> list[_Section]:
        """Split a table at its header rows. Rows before the first header are its
        preamble (kept as text); a one-cell row just before a later header is that
        section's title; every other row after a header is a data row."""
        headers = [match_header(row, cells, self.settings.columns) for row, cells in table.rows]
        sections: list[_Section] = []
        preamble: list[dict[str, Any]] = []
        for i, ((row, cells), header) in enumerate(zip(table.rows, headers)):
            if header is not None:
                self._note_zones(header, table)
                sections.append(_Section(header, None, preamble))
                preamble = []
                continue
            texts = [cell_text(c) for c in cells if cell_text(c).strip()]
            title_of_next = i + 1 < len(headers) and headers[i + 1] is not None and len(texts) == 1
            if not sections or title_of_next:
                preamble.append({"row": row, "text": " | ".join(texts)})
            else:
                sections[-1].rows.append((row, cells))
        for sec in sections[1:]:
            if len(sec.preamble) == 1:
                sec.title, sec.preamble = sec.preamble[0]["text"], []
        return sections

    def _note_zones(self, header: Header, table: RawTable) -> None:
        manifest = self.settings.zone
        for col in header.columns:
            if col.zone is not None and manifest is not None and col.zone.label != manifest.label:
                self.notes.append(
                    (
                        col.header,
                        f"column {col.header!r}{' in ' + repr(table.name) if table.name else ''} states zone {col.zone.label}, "
                        f"the manifest {manifest.label}; the header's zone was used for its naive times",
                    )
                )

    # --- rows ------------------------------------------------------------------------------

    def _row(self, header: Header, row: int, cells: list[Any], place: Place) -> None:
        wanted = ({"wechat_id"} | (ACCOUNT_FIELDS if header.kind == "accounts" else LOGIN_FIELDS))
        values: dict[str, tuple[Any, Column]] = {}
        other: dict[str, Any] = {}
        for col in header.columns:
            value = cells[col.index] if col.index < len(cells) else None
            if col.field in wanted:
                values[col.field] = (value, col)
            elif value is not None and cell_text(value) != "":
                key = col.header if col.header and col.header not in other else f"{col.header or 'column'} (column {col.index + 1})"
                other[key] = json_value(value)
        problems: list[dict[str, Any]] = []

        def problem(fld: str, value: Any, text: str) -> None:
            problems.append({"field": fld, "value": cell_text(value), "problem": text})
            self.errors.append({**place.at(row), "field": fld, "value": cell_text(value), "problem": text})

        extra = [json_value(c) for c in cells[len(header.columns) :] if c is not None and cell_text(c) != ""]
        if extra:
            other["(cells beyond the header)"] = extra
            problem("(row)", " | ".join(cell_text(c) for c in extra), f"the row has values in {len(cells)} columns, the header names {len(header.columns)}")
        reader = self._account if header.kind == "accounts" else self._login
        entry = reader(values, problem)
        entry.update({"other": other, "at": place.at(row), "problems": problems})
        (self.accounts if header.kind == "accounts" else self.logins).append(entry)

    @staticmethod
    def _get(values: dict[str, tuple[Any, Column]], fld: str) -> tuple[Any, Column | None]:
        value, col = values.get(fld, (None, None))
        return value, col

    def _text(self, values: dict[str, tuple[Any, Column]], fld: str) -> str | None:
        text = cell_text(self._get(values, fld)[0]).strip()
        return text or None

    def _wechat_id(self, values: dict[str, tuple[Any, Column]], problem: Any, required: bool) -> str | None:
        value, _ = self._get(values, "wechat_id")
        if cell_text(value).strip() == "":
            if required:
                problem("wechat_id", value, "empty: an account row needs a WeChat ID")
            return None
        try:
            return check_wechat_id(value)
        except ValueProblem as exc:
            problem("wechat_id", value, str(exc))
            return cell_text(value)

    def _time(self, values: dict[str, tuple[Any, Column]], fld: str, problem: Any, *, required: bool, date_only_ok: bool) -> dict[str, Any] | None:
        value, col = self._get(values, fld)
        if value is None or cell_text(value).strip() == "":
            if required:
                problem(fld, value, "empty: a login row needs a time")
            return None
        header_zone = col.zone if col else None
        try:
            read: ReadTime = read_time(
                value,
                zone=header_zone or self.settings.zone,
                zone_source="header" if header_zone else "manifest",
                date_order=self.settings.date_order,
                date_only_ok=date_only_ok,
            )
        except TimeProblem as exc:
            problem(fld, value, str(exc))
            return {"original": cell_text(value), "utc": None}
        return read.to_json()

    def _account(self, values: dict[str, tuple[Any, Column]], problem: Any) -> dict[str, Any]:
        s = self.settings
        nickname_value, _ = self._get(values, "nickname")
        nickname = None if nickname_value is None else nickname_value if isinstance(nickname_value, str) else cell_text(nickname_value)
        entry: dict[str, Any] = {
            "wechat_id": self._wechat_id(values, problem, required=True),
            "nickname": nickname,
            "phone": None,
            "email": self._text(values, "email"),
            "registration_country": self._text(values, "registration_country"),
            "registration_time": self._time(values, "registration_time", problem, required=False, date_only_ok=True),
        }
        if nickname:
            hidden = invisible_characters(nickname)
            if hidden:
                entry["nickname_invisible_characters"] = hidden
        phone_value, _ = self._get(values, "phone")
        if cell_text(phone_value).strip():
            try:
                entry["phone"] = read_phone(phone_value, region=s.phone_region, country_code_first=s.phones_have_country_code)
            except ValueProblem as exc:
                problem("phone", phone_value, str(exc))
                entry["phone"] = {"as_given": cell_text(phone_value), "e164": None}
        phone = entry["phone"] or {}
        entry["weixin_likely"] = phone.get("country_code") == 86
        if entry["weixin_likely"]:
            entry["jurisdiction_note"] = JURISDICTION_NOTE
        return entry

    def _login(self, values: dict[str, tuple[Any, Column]], problem: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": self._time(values, "time", problem, required=True, date_only_ok=False),
            "wechat_id": self._wechat_id(values, problem, required=False),
            "ip": None,
            "ip_as_given": None,
            "ip_version": None,
            "port": None,
            "device": self._text(values, "device"),
            "event": self._text(values, "event"),
            "location": self._text(values, "location"),
        }
        ip_value, _ = self._get(values, "ip")
        if cell_text(ip_value).strip():
            entry["ip_as_given"] = cell_text(ip_value)
            try:
                entry.update(read_ip(ip_value))
            except ValueProblem as exc:
                problem("ip", ip_value, str(exc))
        port_value, _ = self._get(values, "port")
        if cell_text(port_value).strip():
            try:
                port = read_port(port_value)
            except ValueProblem as exc:
                problem("port", port_value, str(exc))
            else:
                if entry["port"] is not None and entry["port"] != port:
                    problem("port", port_value, f"the port column says {port}, the IP column {entry['ip_as_given']!r} says {entry['port']}")
                else:
                    entry["port"] = port
        return entry

    # --- the record -------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        per_account: dict[str, int] = {}
        for login in self.logins:
            if login["wechat_id"]:
                per_account[login["wechat_id"]] = per_account.get(login["wechat_id"], 0) + 1
        for acc in self.accounts:
            acc["logins"] = per_account.get(acc["wechat_id"], 0) if acc["wechat_id"] else 0
        return {
            "accounts": self.accounts,
            "logins": self.logins,
            "parse_errors": self.errors,
            "jurisdiction": [
                {"wechat_id": a["wechat_id"], "phone": a["phone"]["e164"], "at": a["at"], "note": JURISDICTION_NOTE}
                for a in self.accounts
                if a["weixin_likely"]
            ],
            "counts": self.counts(),
        }

    def counts(self) -> dict[str, int]:
        rows = self.accounts + self.logins
        return {
            "accounts": len(self.accounts),
            "logins": len(self.logins),
            "rows": len(rows),
            "rows_with_problems": sum(1 for r in rows if r["problems"]),
            "parse_errors": len(self.errors),
            "weixin_likely": sum(1 for a in self.accounts if a["weixin_likely"]),
        }


# Flat rows for catalogue tables and CSV exports (same columns in both).

ACCOUNT_COLUMNS = (
    "wechat_id", "nickname", "phone_as_given", "phone_e164", "phone_region", "phone_valid", "email",
    "registration_country", "registration_time_utc", "registration_date", "registration_time_original",
    "registration_time_zone", "registration_time_zone_source", "weixin_likely", "jurisdiction_note",
    "logins", "item", "file", "member", "sheet", "row", "problems", "other",
)
LOGIN_COLUMNS = (
    "time_utc", "time_original", "time_zone", "time_zone_source", "wechat_id", "ip", "ip_version", "port",
    "ip_as_given", "device", "event", "location", "item", "file", "member", "sheet", "row", "problems", "other",
)
ERROR_COLUMNS = ("item", "file", "member", "sheet", "row", "field", "value", "problem")


def _time_cells(prefix: str, t: dict[str, Any] | None, *, with_date: bool = False) -> dict[str, Any]:
    t = t or {}
    out = {
        f"{prefix}_utc": t.get("utc"),
        f"{prefix}_original": t.get("original"),
        f"{prefix}_zone": t.get("zone"),
        f"{prefix}_zone_source": t.get("zone_source"),
    }
    if with_date:
        out["registration_date"] = t.get("date")
    return out


def _problem_list(entry: dict[str, Any]) -> list[str]:
    return [f"{p['field']}: {p['problem']}" for p in entry["problems"]]


def account_row(a: dict[str, Any]) -> dict[str, Any]:
    phone = a["phone"] or {}
    return {
        "wechat_id": a["wechat_id"],
        "nickname": a["nickname"],
        "phone_as_given": phone.get("as_given"),
        "phone_e164": phone.get("e164"),
        "phone_region": phone.get("region"),
        "phone_valid": phone.get("valid"),
        "email": a["email"],
        "registration_country": a["registration_country"],
        **_time_cells("registration_time", a["registration_time"], with_date=True),
        "weixin_likely": a["weixin_likely"],
        "jurisdiction_note": a.get("jurisdiction_note"),
        "logins": a.get("logins", 0),
        **a["at"],
        "problems": _problem_list(a),
        "other": a["other"],
    }


def login_row(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **_time_cells("time", entry["time"]),
        **{k: entry[k] for k in ("wechat_id", "ip", "ip_version", "port", "ip_as_given", "device", "event", "location")},
        **entry["at"],
        "problems": _problem_list(entry),
        "other": entry["other"],
    }
