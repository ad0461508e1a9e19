"""A WeChat International production read into accounts and logins.

:class:`Production` takes the raw tables of each file (see
:mod:`evidpack.wechat.tables`), finds header rows by name (see
:mod:`evidpack.wechat.columns`) and reads every row after a header into an
account (subscriber) or a login/IP entry. No row is ever dropped: a value that
cannot be read is kept as given, and the row, field, value and problem are
listed in ``parse_errors``.

Memory does not grow with the production: rows are read as the table readers
hand them over, and each account, login and parse error is written to a
:class:`Spool` (an anonymous temporary file) as it is made. What is kept in
memory is what the checks and the record's summary need: counts, logins per
WeChat ID, the +86 accounts, the first parse error. :meth:`Production.write_record`
then streams the record, byte for byte what ``json.dumps(record, indent=1,
sort_keys=True, ensure_ascii=False)`` gives.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from ..timeparse import EXCEL_1900, EXCEL_1904, NoZone, ReadTime, TimeProblem, Zone, read_time
from ..timeutil import format_utc
from .columns import ACCOUNT_FIELDS, LOGIN_FIELDS, TIME_FIELDS, Column, Header, column_zone, field_of, match_header
from .tables import Conflict, Document, RawTable
from .values import (
    ValueProblem,
    cell_text,
    check_wechat_id,
    invisible_characters,
    json_value,
    read_ip,
    read_phone,
    read_port,
    unreal_offset,
)

FORMAT = "evidpack/wechat-production/1"
PROVIDER = "WeChat International Pte. Ltd. (Singapore)"
JURISDICTION_NOTE = (
    "The linked mobile number is a mainland-China (+86) number: this is likely a Weixin account, "
    "provided by Tencent in mainland China. WeChat International Pte. Ltd. cannot produce data for "
    "Weixin accounts; the route that remains is mutual legal assistance (MLA) through the central authority."
)
JURISDICTION_NOTE_POSSIBLE = (
    "The linked mobile number may be a mainland-China (+86) number ({why}; see the row's problems). If so: "
)
REQUEST_TYPES = ("preservation", "emergency", "legal-process")
KEY_VALUE_ROWS = 200  # a table without a header row of at most this many rows may be a key/value ("field | value") sheet
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


class Spool:
    """Entries written to an anonymous temporary file (in ``folder``, else the
    system's temporary folder) as they are made, and read back in order (as
    often as wanted). Appending may be undone back to a :meth:`mark`."""

    def __init__(self, folder: str | None = None) -> None:
        self._fh: IO[bytes] | None = None
        self._folder = folder
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def append(self, entry: Any) -> None:
        if self._fh is None:
            self._fh = tempfile.TemporaryFile(prefix=".evidpack-wechat-", dir=self._folder)
        pickle.dump(entry, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def __iter__(self) -> Iterator[Any]:
        if self._fh is None:
            return
        fh, count = self._fh, self.count
        end = fh.seek(0, 2)
        fh.seek(0)
        try:
            for _ in range(count):
                yield pickle.load(fh)
        finally:
            fh.seek(end)

    def mark(self) -> tuple[int, int]:
        return (self._fh.tell() if self._fh is not None else 0), self.count

    def undo(self, mark: tuple[int, int]) -> None:
        where, self.count = mark
        if self._fh is not None:
            self._fh.seek(where)
            self._fh.truncate()

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()


def _starts_section(section: "_Section | None", candidate: Header) -> bool:
    """Whether a row matching a header starts a new section. The first header of
    a table always does. A later one only if every non-empty cell of it names a
    field (no cell could be a value: a WeChat ID "username", a nickname "Name")
    and it is at least as strong as the header in use: it names as many fields,
    or it is of the other kind (logins after accounts) and names three or more.
    The header in use repeated word for word (on each printed page) is one too."""
    if section is None:
        return True
    current = section.header

    def texts(h: Header) -> list[str]:
        out = [c.header.strip() for c in h.columns]
        while out and not out[-1]:
            out.pop()
        return out

    if texts(candidate) == texts(current):
        return True  # the header repeated (on each printed page, say)
    if not candidate.all_named:
        return False
    return len(candidate.fields) >= len(current.fields) or (candidate.kind != current.kind and len(candidate.fields) >= 3)


@dataclass
class _Section:
    header: Header
    preamble: list[dict[str, Any]]
    first: bool  # the table's first section: its preamble is never a title
    rows: int = 0


class Production:
    def __init__(self, settings: Settings, scratch: str | None = None) -> None:
        """``scratch``: the folder the entries are spooled in (see :class:`Spool`)."""
        self.settings = settings
        self.accounts = Spool(scratch)
        self.logins = Spool(scratch)
        self.errors = Spool(scratch)
        self.notes: list[tuple[str, str]] = []  # (subject, text): warnings such as zone conflicts
        self.jurisdiction: list[dict[str, Any]] = []  # the +86 accounts, as the record lists them
        self.first_error: dict[str, Any] | None = None
        self._rows_with_problems = 0
        self._logins_per_account: dict[str, int] = {}  # WeChat ID -> login rows (files read whole)
        self._file_logins: dict[str, int] = {}  # the same for the file being read
        self._epoch = EXCEL_1900  # the date system of the table being read (Excel serial numbers)
        self._derived: set[int] = set()  # accounts already made from a login table's account columns (this table)

    def close(self) -> None:
        for spool in (self.accounts, self.logins, self.errors):
            spool.close()

    # --- files and tables ------------------------------------------------------------

    def read(self, doc: Document, place: Place) -> dict[str, Any]:
        """Read every table of one file; returns the file's summary for the record.
        A reader that fails part-way (:class:`~.tables.Unreadable`, a damaged zip
        member) leaves nothing of the file behind: what was made of its rows is
        undone, and the error is raised on."""
        mark = (self.accounts.mark(), self.logins.mark(), self.errors.mark(), len(self.notes), len(self.jurisdiction), self.first_error, self._rows_with_problems)
        unread: list[str] = []  # tables with rows of values but no header (a problem when the file has a table read)
        self._file_logins = {}
        tables: list[dict[str, Any]] = []
        unrecognised: list[dict[str, Any]] = []
        try:
            for table in doc.tables:
                self._read_table(table, Place(place.item, place.file, place.member, table.name), tables, unrecognised, unread)
        except BaseException:
            accounts, logins, errors, notes, jurisdiction, self.first_error, self._rows_with_problems = mark
            self.accounts.undo(accounts)
            self.logins.undo(logins)
            self.errors.undo(errors)
            del self.notes[notes:], self.jurisdiction[jurisdiction:]
            self._file_logins = {}
            raise
        for wechat_id, n in self._file_logins.items():
            self._logins_per_account[wechat_id] = self._logins_per_account.get(wechat_id, 0) + n
        self._file_logins = {}
        if tables:  # (a file without any table read is a problem as a whole: see the importer)
            doc.problems.extend(unread)
        summary: dict[str, Any] = {"format": doc.format, **doc.info, "tables": tables, "unrecognised": unrecognised}
        if doc.problems:
            summary["problems"] = doc.problems
        return summary

    def _read_table(
        self, table: RawTable, place: Place, out: list[dict[str, Any]], unrecognised: list[dict[str, Any]], problems: list[str]
    ) -> None:
        """Split a table at its header rows, reading it row by row. Rows before the
        first header are its preamble (kept as text). A later row that names
        fields is a new header only if every one of its cells names a field and
        it is as strong as the header in use (names as many fields, or at least
        three of another kind of table); otherwise it is data (a row problem if
        it looks like a header). A one-cell row just before a later header,
        after a blank row, is that section's title (kept, with its row);
        without the blank row it is data with a row problem. Every other row
        after a header is a data row, read as soon as the row after it shows it
        is not a title. A table with no header is read as a key/value sheet if
        it is one, else listed as unrecognised (a problem if it holds rows with
        values in two or more columns)."""
        columns = self.settings.columns
        self._epoch = EXCEL_1904 if table.info.get("date_system") == "1904" else EXCEL_1900
        self._derived = set()
        rows = iter(table.rows)

        def following() -> tuple[int, list[Any], Header | None] | None:
            nxt = next(rows, None)
            return None if nxt is None else (nxt[0], nxt[1], match_header(nxt[0], nxt[1], columns))

        count = 0
        tabular = 0  # rows before the first header with values in two or more columns
        loose: list[tuple[int, list[Any]]] | None = []  # those rows (a short table's), for a key/value reading
        section: _Section | None = None
        preamble: list[dict[str, Any]] = []
        last: int | None = None  # the row number of the previous (non-blank) row
        current = following()
        while current is not None:
            row, cells, candidate = current
            count += 1
            if candidate is not None and _starts_section(section, candidate):
                self._note_zones(candidate, table)
                if section is not None:
                    out.append(self._finish(section, table))
                section = _Section(candidate, preamble, first=section is None)
                preamble = []
                last, current = row, following()
                continue
            texts = [cell_text(c) for c in cells if cell_text(c).strip()]
            nxt = following()
            if section is None:
                preamble.append({"row": row, "text": " | ".join(texts)})
                tabular += len(texts) >= 2
                if loose is not None:
                    loose = loose + [(row, cells)] if len(loose) < KEY_VALUE_ROWS else None
            else:
                before_header = len(texts) == 1 and nxt is not None and nxt[2] is not None and _starts_section(section, nxt[2])
                if before_header and last is not None and row > last + 1:
                    preamble.append({"row": row, "text": texts[0]})  # a title: a blank row before it, a header after it
                else:
                    note = None
                    if before_header:
                        note = (f"a one-cell row just before the header at row {nxt[0]} (no blank row between): read as a data row; "
                                "it may be that section's title")
                    elif candidate is not None and candidate.all_named:
                        note = (f"the row names {len(candidate.fields)} known columns, like a header row, but is not taken as one "
                                f"(weaker than the header at row {section.header.row}); read as a data row")
                    self._row(section.header, row, cells, place, note=note)
                    section.rows += 1
            last, current = row, nxt
        if section is not None:
            out.append(self._finish(section, table))
            return
        if loose and self._key_values(loose, table, place, out):
            return
        entry: dict[str, Any] = {"table": table.name, "rows": count, **table.info}
        if tabular:
            where = Place(place.item, place.file, None, table.name).describe()[len(place.file):].strip()
            entry["note"] = f"{tabular} row(s) with values in two or more columns, but no recognised header row: not read"
            problems.append(
                f"{where + ': ' if where else ''}{entry['note']} (map its headers with options.columns)"
            )
        unrecognised.append(entry)

    def _key_values(self, rows: list[tuple[int, list[Any]]], table: RawTable, place: Place, out: list[dict[str, Any]]) -> bool:
        """Read a table without a header row as key/value rows ("WeChat ID | wxid_…",
        "Linked Mobile | +86 …"), if it is one: every row with two or more values
        has a key naming a field (or not: kept under ``other``) followed by one
        value, and the keys name at least two fields, the WeChat ID among them.
        A key met again starts the next record. Returns False (nothing read) if
        the table is not laid out so."""
        explicit = self.settings.columns
        records: list[list[tuple[int, Any, Any, str | None]]] = [[]]  # (row, key, value, field)
        preamble: list[dict[str, Any]] = []
        for row, cells in rows:
            filled = [(i, c) for i, c in enumerate(cells) if cell_text(c).strip()]
            if len(filled) == 1:
                preamble.append({"row": row, "text": cell_text(filled[0][1])})
                continue
            if len(filled) != 2 or filled[1][0] != filled[0][0] + 1:
                return False
            key, value = filled[0][1], filled[1][1]
            fld = field_of(key, explicit)[0]
            if any(k == key or (fld and f == fld) for _r, k, _v, f in records[-1]):
                records.append([])
            records[-1].append((row, key, value, fld))
        records = [r for r in records if r]
        fields = {f for r in records for _row, _k, _v, f in r if f}
        if len(fields) < 2 or "wechat_id" not in fields or not all(any(f == "wechat_id" for *_x, f in r) for r in records):
            return False
        kind = "logins" if fields & LOGIN_FIELDS else "accounts"
        for record in records:
            header_cols = []
            for i, (_row, key, _value, fld) in enumerate(record):
                zone, zone_problem = column_zone(cell_text(key)) if fld in TIME_FIELDS else (None, None)
                header_cols.append(Column(i, cell_text(key), fld, field_of(key, explicit)[1], zone, zone_problem=zone_problem))
            header = Header(record[0][0], tuple(header_cols), kind)
            self._row(header, record[0][0], [v for _r, _k, v, _f in record], place, field_rows={f: r for r, _k, _v, f in record if f})
        out.append(
            {
                "table": table.name,
                **table.info,
                "kind": kind,
                "layout": "key/value",
                "header_row": records[0][0][0],
                "columns": [{"row": r, "header": cell_text(k), "field": f} for r, k, _v, f in records[0]],
                "rows": len(records),
                **({"preamble": preamble} if preamble else {}),
            }
        )
        return True

    @staticmethod
    def _finish(sec: _Section, table: RawTable) -> dict[str, Any]:
        title, title_row = None, None
        preamble = sec.preamble
        if not sec.first and len(preamble) == 1:
            title, title_row, preamble = preamble[0]["text"], preamble[0]["row"], []
        entry = {
            "table": table.name,
            **table.info,
            "kind": sec.header.kind,
            "header_row": sec.header.row,
            "columns": [c.to_json() for c in sec.header.columns],
            "rows": sec.rows,
        }
        if title:
            entry["title"] = title
            entry["title_row"] = title_row
        if preamble:
            entry["preamble"] = preamble
        return entry

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

    def _row(
        self,
        header: Header,
        row: int,
        cells: list[Any],
        place: Place,
        *,
        note: str | None = None,
        field_rows: dict[str, int] | None = None,
        read_from: str | None = None,
    ) -> None:
        """Read one data row into an account or a login. ``note``: a problem with
        the row as a whole (it looks like a header or a title); ``field_rows``:
        the row of each field, for a key/value sheet (one record over several rows)."""
        wanted = ({"wechat_id"} | (ACCOUNT_FIELDS if header.kind == "accounts" else LOGIN_FIELDS))
        values: dict[str, tuple[Any, Column]] = {}
        other: dict[str, Any] = {}
        conflicts: list[tuple[str, Column, Conflict]] = []  # a JSON key given different values in one object
        for col in header.columns:
            value = cells[col.index] if col.index < len(cells) else None
            if isinstance(value, Conflict):
                conflicts.append((col.field if col.field in wanted else col.header or f"column {col.index + 1}", col, value))
                if col.field in wanted:
                    value = None  # (none of its values is read in place of the others)
            if col.field in wanted:
                values[col.field] = (value, col)
            elif value is not None and cell_text(value) != "":
                key = col.header if col.header and col.header not in other else f"{col.header or 'column'} (column {col.index + 1})"
                other[key] = list(value) if isinstance(value, Conflict) else json_value(value)
        problems: list[dict[str, Any]] = []

        def problem(fld: str, value: Any, text: str) -> None:
            problems.append({"field": fld, "value": cell_text(value), "problem": text})
            error = {**place.at((field_rows or {}).get(fld, row)), "field": fld, "value": cell_text(value), "problem": text}
            self.errors.append(error)
            if self.first_error is None:
                self.first_error = error

        width = max((c.index for c in header.columns), default=-1) + 1
        extra = [json_value(c) for c in cells[width:] if c is not None and cell_text(c) != ""]
        if extra:
            other["(cells beyond the header)"] = extra
            problem("(row)", " | ".join(cell_text(c) for c in extra), f"the row has values in {len(cells)} columns, the header names {width}")
        if note:
            problem("(row)", " | ".join(cell_text(c) for c in cells if cell_text(c).strip()), note)
        for fld, col, given in conflicts:
            shown = ", ".join(cell_text(v) if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in given)
            problem(
                fld, given,
                f"the key {col.header!r} appears more than once in this JSON object, with {len(given)} different values "
                f"({shown[:200]}{'…' if len(shown) > 200 else ''}); none is read in place of the others, all are kept in this problem's value",
            )
        for fld, (value, _col) in values.items():
            if isinstance(value, (dict, list)):
                problem(fld, value, "a JSON object or array, not a single value: kept as its JSON text, not read")
        unread = {fld for fld, _col, _given in conflicts}

        def field_problem(fld: str, value: Any, text: str) -> None:
            if fld not in unread:  # (a field whose values conflict is not read: not "empty" too)
                problem(fld, value, text)

        reader = self._account if header.kind == "accounts" else self._login
        entry = reader(values, field_problem)
        entry.update({"other": other, "at": place.at(row), "problems": problems})
        if read_from:
            entry["read_from"] = read_from
        if problems:
            self._rows_with_problems += 1
        if header.kind == "accounts":
            self._add_account(entry)
        else:
            self.logins.append(entry)
            if entry["wechat_id"]:
                self._file_logins[entry["wechat_id"]] = self._file_logins.get(entry["wechat_id"], 0) + 1
            self._account_of_login(header, row, cells, place)

    def _add_account(self, entry: dict[str, Any]) -> None:
        self.accounts.append(entry)
        if entry["weixin_likely"]:
            phone = entry["phone"] or {}
            e164 = phone.get("e164") or next((r["e164"] for r in phone.get("readings", ()) if r["country_code"] == 86), None)
            if phone.get("country_code") != 86 and str(phone.get("also_reads_as", "")).startswith("+86"):
                e164 = phone["also_reads_as"]
            self.jurisdiction.append({"wechat_id": entry["wechat_id"], "phone": e164 or phone.get("as_given"), "at": entry["at"], "note": entry["jurisdiction_note"]})

    def _account_of_login(self, header: Header, row: int, cells: list[Any], place: Place) -> None:
        """A login table with account columns too (Nickname, Linked Mobile, …): the
        account they describe is read as well, once per table for each distinct
        WeChat ID and account values (its ``at`` is the first row that shows it).
        The values also stay under the login's ``other``."""
        cols = [c for c in header.columns if c.field in ACCOUNT_FIELDS]
        if not cols:
            return
        given = tuple(cell_text(cells[c.index]) if c.index < len(cells) else "" for c in cols)
        if not any(v.strip() for v in given):
            return
        id_col = header.fields.get("wechat_id")
        wechat_id = cell_text(cells[id_col.index]) if id_col is not None and id_col.index < len(cells) else ""
        key = hash((wechat_id, given))
        if key in self._derived:
            return
        self._derived.add(key)
        account_header = Header(header.row, tuple(c for c in header.columns if c.field in ACCOUNT_FIELDS or c.field == "wechat_id"), "accounts")
        kept = {c.index for c in account_header.columns}
        only = [c if i in kept else None for i, c in enumerate(cells[: len(header.columns)])]
        self._row(account_header, row, only, place, read_from=f"the account columns of the login table whose header is row {header.row}")

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
        stated = col.zone if col else None
        unusable = col.zone_problem if col else None
        try:
            read: ReadTime = read_time(
                value,
                zone=None if unusable else stated or self.settings.zone,
                zone_source="header" if stated else "manifest",
                date_order=self.settings.date_order,
                date_only_ok=date_only_ok,
                excel_epoch=self._epoch,
            )
        except NoZone as exc:
            if unusable and col is not None:
                problem(
                    fld, value,
                    f"column {col.header!r}: {unusable}; this time states no zone of its own, so it is not read "
                    "(options.zone is not used for a column whose header states a zone)",
                )
            else:
                problem(fld, value, str(exc))
            return {"original": cell_text(value), "utc": None}
        except TimeProblem as exc:
            problem(fld, value, str(exc))
            return {"original": cell_text(value), "utc": None}
        unreal = unreal_offset(read.zone)
        if unreal:  # (only a value's own zone can be: the header's and the manifest's are refused before)
            problem(fld, value, f"{cell_text(value).strip()!r}: its {unreal}; not read")
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
        possible = None  # why the phone may be +86 when it was not read as one
        if cell_text(phone_value).strip():
            text = cell_text(phone_value).strip()
            try:
                entry["phone"] = read_phone(phone_value, region=s.phone_region, country_code_first=s.phones_have_country_code)
            except ValueProblem as exc:
                problem("phone", phone_value, str(exc))
                entry["phone"] = {"as_given": cell_text(phone_value), "e164": None}
                compact = "".join(ch for ch in text if not (ch.isspace() or ch in "-.()/"))
                if compact.startswith(("+86", "0086")) or (s.phones_have_country_code and compact.startswith("86")):
                    possible = "as given it starts with the country code 86, but it was not read"
            else:
                phone = entry["phone"]
                how = f" ({phone['read_as']})" if phone.get("read_as") else ""
                if phone.get("readings"):
                    problem(
                        "phone", phone_value,
                        f"{text!r} is ambiguous: it is a valid number read as "
                        + " and as ".join(f"{r['read_as']}, {r['e164']}" for r in phone["readings"] if r["valid"])
                        + "; not read (e164 left empty)",
                    )
                    if any(r["country_code"] == 86 for r in phone["readings"] if r["valid"]):
                        possible = "one reading of it is a +86 number"
                elif phone["valid"] is False:
                    problem("phone", phone_value, f"{text!r} read as {phone['e164']}{how} is not a valid number in that country's numbering plan")
                elif str(phone.get("also_reads_as", "")).startswith("+86"):
                    possible = f"its digits also make the +86 number {phone['also_reads_as']} (read with the country code first)"
        phone = entry["phone"] or {}
        entry["weixin_likely"] = phone.get("country_code") == 86 or possible is not None
        if phone.get("country_code") == 86:
            entry["jurisdiction_note"] = JURISDICTION_NOTE
        elif possible is not None:
            entry["jurisdiction_note"] = JURISDICTION_NOTE_POSSIBLE.format(why=possible) + JURISDICTION_NOTE
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

    def all_accounts(self) -> Iterator[dict[str, Any]]:
        """The accounts in order, each with its count of login rows."""
        per_account = self._logins_per_account
        for acc in self.accounts:
            acc["logins"] = per_account.get(acc["wechat_id"], 0) if acc["wechat_id"] else 0
            yield acc

    def write_record(
        self,
        fh: IO[bytes],
        head: dict[str, Any],
        *,
        on_account: Callable[[dict[str, Any]], None] | None = None,
        on_login: Callable[[dict[str, Any]], None] | None = None,
        on_error: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Write the record — ``head`` (format, source, settings, files, …) with
        the accounts, logins, parse errors, jurisdiction list and counts — as
        ``json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True)`` and a
        newline would, one entry at a time. Each account, login and parse error
        is also handed to its ``on_…`` callback as it is written."""
        body: dict[str, Any] = {
            **head,
            "accounts": _Streamed(self.all_accounts(), on_account),
            "logins": _Streamed(iter(self.logins), on_login),
            "parse_errors": _Streamed(iter(self.errors), on_error),
            "jurisdiction": self.jurisdiction,
            "counts": self.counts(),
        }
        fh.write(b"{")
        for n, key in enumerate(sorted(body)):
            fh.write(b"" if n == 0 else b",")
            fh.write(b"\n " + json.dumps(key, ensure_ascii=False).encode("utf-8") + b": ")
            value = body[key]
            if isinstance(value, _Streamed):
                value.write(fh)
            else:
                fh.write(_nested(value, 1))
        fh.write(b"\n}\n")

    def counts(self) -> dict[str, int]:
        return {
            "accounts": len(self.accounts),
            "logins": len(self.logins),
            "rows": len(self.accounts) + len(self.logins),
            "rows_with_problems": self._rows_with_problems,
            "parse_errors": len(self.errors),
            "weixin_likely": len(self.jurisdiction),
        }


def _nested(value: Any, depth: int) -> bytes:
    """``value`` as json.dumps(indent=1) writes it at ``depth`` levels down: its
    own encoding with every line break indented ``depth`` more (a line break in
    the text of a value is always escaped, so every one is the layout's)."""
    text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return text.replace("\n", "\n" + " " * depth).encode("utf-8")


class _Streamed:
    """A list in the record written as it is read (from a :class:`Spool`)."""

    def __init__(self, entries: Iterator[dict[str, Any]], each: Callable[[dict[str, Any]], None] | None) -> None:
        self.entries, self.each = entries, each

    def write(self, fh: IO[bytes]) -> None:
        """At depth 1 of the record: ``[`` then each entry at depth 2, or ``[]``."""
        empty = True
        for entry in self.entries:
            fh.write(b"[\n  " if empty else b",\n  ")
            fh.write(_nested(entry, 2))
            empty = False
            if self.each is not None:
                self.each(entry)
        fh.write(b"[]" if empty else b"\n ]")


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
