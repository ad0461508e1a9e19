"""Source kind ``wechat-production``: a production from WeChat International.

Every file of the production (cover letter, CSV, XLSX, JSON, HTML, TXT, or a zip
of them) is copied byte for byte, as kind ``files`` copies; a zip is kept whole
and its members catalogued. The copies are then read from the bundle: CSV and
other delimited text, XLSX (every sheet), JSON and HTML tables become accounts
and login/IP rows in ``evidpack/records/<source>-wechat.json``, the catalogue
tables ``wechat_accounts``, ``wechat_logins`` and ``wechat_parse_errors``, and
formula-safe CSV exports beside the record. See docs/wechat-production.md.

Memory stays flat however many rows a production holds: a file (or zip member)
is read as a stream — CSV decoded and split a chunk at a time, XLSX through
openpyxl's read-only mode — each row becomes an entry written to a temporary
spool, and the record, the CSV exports and the catalogue rows are written from
the spools an entry at a time. Against decompression bombs (a production zip of
a few kilobytes whose CSV member inflates to millions of rows), a zip member
that would expand more than :data:`MAX_RATIO` times is not parsed, and reading
stops once the production has handed over :data:`MAX_ROWS` rows; either is a
failed check naming the file, the member and the cap (as is a production of more
than :data:`MAX_CELLS` cells, or a workbook part or JSON/HTML file beyond its
cap). The files themselves are always kept byte for byte.
"""

from __future__ import annotations

import codecs
import csv
import io
import posixpath
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

import phonenumbers

from ..csvsafe import safe_cell
from ..timeparse import DATE_ORDERS
from ..timeutil import parse_rfc3339
from ..wechat.columns import explicit_mapping, header_score
from ..wechat.production import (
    ACCOUNT_COLUMNS,
    ERROR_COLUMNS,
    FORMAT,
    LOGIN_COLUMNS,
    PROVIDER,
    REQUEST_TYPES,
    Place,
    Production,
    Settings,
    account_row,
    login_row,
    timeline,
)
from ..wechat.tables import CFB_MAGIC, MERGED_SHOWN, Document, RowBudget, Unreadable, read_delimited, read_html, read_json, read_xlsx, zip_is_workbook
from ..wechat.values import unreal_offset
from .base import ImportContext
from .support import MemberError, Options, ZipMember, bundle_file, catalogue_zip, copy_source, member_opener, open_zip, record_file, source_name

if TYPE_CHECKING:
    from ..casefile import Source

OPTIONS = ("zone", "date_order", "columns", "request", "phone_region", "phones_have_country_code", "encoding", "delimiter")
REQUEST_KEYS = ("type", "reference", "sent_at", "received_at")
MAX_READ = 512 * 1024 * 1024  # a production file larger than this is kept but not parsed
MAX_WHOLE = 64 * 1024 * 1024  # JSON and HTML are parsed whole: one larger than this is kept but not parsed
# Caps against decompression bombs (measured: real login logs, even with a long user agent repeated on
# every row, compress at most about 100:1; 4,000,000 identical short rows reach 512:1):
MAX_RATIO = 250  # a zip member larger than RATIO_FLOOR expanding more than this many times is not parsed
RATIO_FLOOR = 1024 * 1024
MAX_ROWS = 200_000  # rows read from one production (real ones hold up to about 100,000 login rows)
MAX_CELLS = 25_000_000  # cells looked at in one production (real rows have at most a few dozen)
_BATCH = 1000  # catalogue rows handed over at a time (the build spools them to disk)
# extension -> how the file is read; "required" formats must hold a recognised table
READERS = {
    ".csv": "csv", ".tsv": "csv", ".tab": "csv", ".txt": "txt",
    ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xlsx",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".html": "html", ".htm": "html", ".zip": "zip",
}
TABLE_REQUIRED = frozenset({"csv", "xlsx", "json", "jsonl"})


class WechatProductionImporter:
    kind: ClassVar[str] = "wechat-production"

    def run(self, source: "Source", ctx: ImportContext) -> None:
        opts = Options(source, ctx.writer.case.manifest_path, OPTIONS)
        settings = read_settings(opts)
        request = read_request(opts)
        copied = copy_source(source, ctx)
        production = Production(settings, ctx.scratch)
        try:
            reader = _Reader(source, ctx, settings, production)
            files = [summary for record in copied for summary in reader.read(record)]
            counts = production.counts()
            _checks(ctx, source, production, files, request)
            head = {
                "format": FORMAT,
                "source": source.id,
                "provider": PROVIDER,
                "settings": _settings_json(opts, settings),
                "request": request,
                "files": files,
            }
            _write_records(ctx, production, head)
        finally:
            production.close()
        ctx.facts["wechat"] = {**counts, "request": request, "weixin_likely_accounts": [j["wechat_id"] for j in production.jurisdiction]}
        ctx.custody_event(
            "received",
            {
                "from": PROVIDER,
                "what": f"production: {ctx.file_count} file(s), {ctx.byte_count} bytes",
                "received_at": (request or {}).get("received_at"),
                "request": request,
            },
        )


def _write_records(ctx: ImportContext, production: Production, head: dict[str, Any]) -> None:
    """The record, the three CSV exports and the catalogue rows, written from the
    production's spools an entry at a time (the record first, as before)."""
    tables = {name: _Rows(ctx, name) for name in ("wechat_accounts", "wechat_logins", "wechat_parse_errors")}
    with (
        record_file(ctx, "wechat.json") as record,
        record_file(ctx, "wechat-accounts.csv") as accounts_csv,
        record_file(ctx, "wechat-logins.csv") as logins_csv,
        record_file(ctx, "wechat-parse-errors.csv") as errors_csv,
    ):
        exports = (_CsvOut(accounts_csv, ACCOUNT_COLUMNS), _CsvOut(logins_csv, LOGIN_COLUMNS), _CsvOut(errors_csv, ERROR_COLUMNS))
        accounts, logins, errors = (
            _Each(flat, export, rows) for flat, export, rows in zip((account_row, login_row, _same), exports, tables.values())
        )
        production.write_record(record, head, on_account=accounts, on_login=logins, on_error=errors)
        for out in (*exports, *tables.values()):
            out.flush()


def _same(row: dict[str, Any]) -> dict[str, Any]:
    return row


class _CsvOut:
    """A CSV export written a batch of rows at a time: byte for byte what
    ``csvsafe.csv_bytes`` gives for all of them at once."""

    def __init__(self, fh: IO[bytes], columns: tuple[str, ...]) -> None:
        self._fh, self._columns = fh, columns
        self._buf = io.StringIO(newline="")
        self._writer = csv.writer(self._buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        fh.write(b"\xef\xbb\xbf")
        self._writer.writerow([safe_cell(c) for c in columns])

    def add(self, row: dict[str, Any]) -> None:
        self._writer.writerow([safe_cell(row.get(c)) for c in self._columns])
        if self._buf.tell() >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        self._fh.write(self._buf.getvalue().encode("utf-8"))
        self._buf.seek(0)
        self._buf.truncate()


class _Rows:
    """Rows of an importer's catalogue table handed over a batch at a time (the
    table is made, empty or not; the build spools the rows to disk)."""

    def __init__(self, ctx: ImportContext, table: str) -> None:
        self._ctx, self._table = ctx, table
        self._rows: list[dict[str, Any]] = []
        ctx.add_rows(table, [])

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._ctx.add_rows(self._table, self._rows)
            self._rows = []


class _Each:
    """For each entry written to the record: its flat row, to the CSV export and the catalogue."""

    def __init__(self, flat: Callable[[dict[str, Any]], dict[str, Any]], export: _CsvOut, rows: _Rows) -> None:
        self._flat, self._export, self._rows = flat, export, rows

    def __call__(self, entry: dict[str, Any]) -> None:
        row = self._flat(entry)
        self._export.add(row)
        self._rows.add(row)


# --- options ----------------------------------------------------------------------------


def read_settings(opts: Options) -> Settings:
    zone = opts.zone()
    unreal = unreal_offset(zone.label) if zone is not None else None
    if unreal:
        raise opts.error("zone", f"{opts.values['zone']!r}: {unreal}")
    try:
        columns = explicit_mapping(opts.table("columns"))
    except ValueError as exc:
        raise opts.error("columns", str(exc)) from None
    region = opts.text("phone_region")
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise opts.error("phone_region", f"{region!r} is not a region code phonenumbers knows (two capital letters, e.g. \"SG\")")
    country_code_first = opts.flag("phones_have_country_code")
    if region and country_code_first:
        raise opts.error("phones_have_country_code", "give either this or phone_region, not both")
    encoding = opts.text("encoding")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise opts.error("encoding", f"unknown text encoding {encoding!r}") from None
    delimiter = opts.text("delimiter")
    if delimiter is not None and len(delimiter) != 1:
        raise opts.error("delimiter", "must be one character, e.g. \",\" or \"\\t\"")
    return Settings(zone, opts.text("date_order", DATE_ORDERS), columns, region, country_code_first, encoding, delimiter)


def _settings_json(opts: Options, s: Settings) -> dict[str, Any]:
    return {
        "zone": s.zone.label if s.zone else None,
        "date_order": s.date_order,
        "columns": opts.table("columns"),
        "phone_region": s.phone_region,
        "phones_have_country_code": s.phones_have_country_code,
        "encoding": s.encoding,
        "delimiter": s.delimiter,
    }


def read_request(opts: Options) -> dict[str, Any] | None:
    req = opts.table("request")
    if not req:
        return None
    unknown = sorted(set(req) - set(REQUEST_KEYS))
    if unknown:
        raise opts.error("request", f"unknown key(s) {', '.join(unknown)}; known: {', '.join(REQUEST_KEYS)}")
    kind = req.get("type")
    if kind not in REQUEST_TYPES:
        raise opts.error("request.type", f"must be one of {', '.join(repr(t) for t in REQUEST_TYPES)}")
    reference = req.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise opts.error("request.reference", "must be text")
    sent, received = (_moment(opts, f"request.{k}", req.get(k)) for k in ("sent_at", "received_at"))
    if sent and received and received < sent:
        raise opts.error("request.received_at", "is earlier than request.sent_at")
    out = timeline(kind, reference, sent, received)
    for key in ("sent_at", "received_at"):
        if isinstance(req.get(key), str) and req[key] != out[key]:
            out[f"{key}_original"] = req[key]
    return out


def _moment(opts: Options, key: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise opts.error(key, "must be an RFC 3339 time with a zone")
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise opts.error(key, str(exc)) from None


# --- reading the files ------------------------------------------------------------------------


def _reader_for(name: str, head: bytes) -> str | None:
    ext = posixpath.splitext(name.lower())[1]
    kind = READERS.get(ext)
    if kind == "zip" or (kind is None and head.startswith(b"PK\x03\x04")):
        return "zip"
    if kind is None and head.startswith(CFB_MAGIC):
        return "cfb"
    return kind


class _Input:
    """One file of the production as its readers take it: a stream from its first
    byte (as often as wanted), a seekable file (for a workbook), or its bytes
    (for JSON and HTML, read whole)."""

    def __init__(self, opener: Callable[[], AbstractContextManager[IO[bytes]]], path: Path | None = None) -> None:
        self.open = opener
        self._path = path

    @classmethod
    def file(cls, path: Path) -> "_Input":
        return cls(lambda: open(path, "rb"), path)

    def read(self) -> bytes:
        with self.open() as fh:
            return fh.read()

    @contextmanager
    def seekable(self, folder: str | None = None) -> Iterator[IO[bytes]]:
        """The file itself, or (a zip member) a copy in an anonymous temporary file in ``folder``."""
        if self._path is not None:
            with open(self._path, "rb") as fh:
                yield fh
            return
        with tempfile.TemporaryFile(prefix=".evidpack-wechat-", dir=folder) as tmp, self.open() as src:
            while chunk := src.read(1 << 20):
                tmp.write(chunk)
            tmp.seek(0)
            yield tmp


class _Reader:
    """Reads one copied file of the production (and, for a zip, its members)."""

    def __init__(self, source: "Source", ctx: ImportContext, settings: Settings, production: Production) -> None:
        self.source, self.ctx, self.settings, self.production = source, ctx, settings, production
        self.budget = RowBudget(MAX_ROWS, MAX_CELLS)

    def read(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        path = bundle_file(self.ctx, record)
        shown = source_name(self.source, record)
        rel = record.get("original_path") or record["path"]
        summary: dict[str, Any] = {"item": record["id"], "file": rel, "media_type": record["media_type"], "size": record["size"]}
        with open(path, "rb") as fh:
            head = fh.read(8)
        kind = _reader_for(rel, head)
        if kind == "zip" and not zip_is_workbook(path):
            return self._zip(record, shown, summary)
        if kind == "zip":
            kind = "xlsx"
        if kind is None:
            summary["read_as"] = "not read"
            return [summary]
        too_large = _too_large(kind, record["size"])
        if too_large:
            summary["read_as"] = "not read"
            summary["note"] = too_large
            self.ctx.check("wechat-file", "not-checkable", f"{shown}: {summary['note']}", rel)
            return [summary]
        return [self._parse(_Input.file(path), kind, Place(record["id"], rel), shown, summary)]

    def _zip(self, record: dict[str, Any], shown: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
        rel = summary["file"]
        members = catalogue_zip(self.ctx, record, shown, tags=["wechat-production"])
        if members is None:
            summary["read_as"] = "unreadable"
            return [summary]
        summary["read_as"] = "zip"
        summary["members"] = len(members)
        out = [summary]
        with open_zip(self.ctx, record) as zf:
            for m in members:
                if m.record.get("member_type") != "file":
                    continue
                msummary: dict[str, Any] = {
                    "item": m.record["id"], "file": rel, "member": m.name, "media_type": m.record.get("media_type"), "size": m.record.get("size"),
                }
                out.append(msummary)
                kind = _reader_for(m.name, b"")
                msummary["read_as"] = "not read"
                if kind == "zip":
                    msummary["note"] = "an archive inside the zip: catalogued as a member, not opened"
                if not m.readable or kind in (None, "zip"):
                    continue
                self._member(zf, m, kind, rel, shown, msummary)
        return out

    def _member(self, zf: zipfile.ZipFile, m: ZipMember, kind: str, rel: str, shown: str, msummary: dict[str, Any]) -> None:
        mshown = f"{shown}: member {m.name!r}"
        bomb = _expansion(m)
        if bomb:
            msummary["note"] = bomb
            self.ctx.problem(f"{mshown} {bomb}", check="container-bomb", subject=m.record["id"])
            return
        size = m.record.get("size", 0)
        too_large = _too_large(kind, size) if size <= MAX_READ else None  # (larger: member_opener says so)
        if too_large:
            msummary["note"] = too_large
            self.ctx.check("wechat-file", "not-checkable", f"{mshown}: {too_large}", f"{rel}:{m.name}")
            return
        try:
            self._parse(_Input(member_opener(zf, m, MAX_READ)), kind, Place(m.record["id"], rel, m.name), mshown, msummary)
        except MemberError as exc:  # too large, or damaged (found as it is inflated): nothing of it was kept
            msummary["note"] = str(exc)
            self.ctx.check("wechat-file", "not-checkable", f"{mshown}: {exc}", f"{rel}:{m.name}")

    def _open(self, inp: _Input, kind: str, stack: ExitStack) -> Document:
        s = self.settings

        def score(cells: Any) -> int:
            return header_score(cells, s.columns)

        if kind in ("xlsx", "cfb"):
            return read_xlsx(stack.enter_context(inp.seekable(self.ctx.scratch)), budget=self.budget)
        if kind in ("csv", "txt"):
            return read_delimited(inp.open, score=score, encoding=s.encoding, delimiter=s.delimiter, budget=self.budget)
        if kind in ("json", "jsonl"):
            return read_json(inp.read(), score=score, lines=kind == "jsonl", encoding=s.encoding, budget=self.budget)
        return read_html(inp.read(), encoding=s.encoding, budget=self.budget)

    def _parse(self, inp: _Input, kind: str, place: Place, shown: str, summary: dict[str, Any]) -> dict[str, Any]:
        subject = place.file + (f":{place.member}" if place.member else "")
        try:
            with ExitStack() as stack:
                doc = stack.enter_context(self._open(inp, kind, stack))
                read = self.production.read(doc, place)  # (undone if a reader fails part-way)
        except Unreadable as exc:
            summary["read_as"] = "unreadable"
            summary["problem"] = str(exc)
            if kind == "cfb" and "password" not in str(exc):
                summary["read_as"] = "not read"  # an old Office document (e.g. a .doc cover letter): kept
                return summary
            self.ctx.problem(f"{shown}: {exc}", check="wechat-file", subject=subject)
            return summary
        summary["read_as"] = doc.format
        summary.update(read)
        merged = doc.info.get("merged_cells")
        if merged:
            where = "; ".join(f"{name!r} {text}" for name, text in list(merged.items())[:MERGED_SHOWN])
            where += f"; and {len(merged) - MERGED_SHOWN:,} more table(s)" if len(merged) > MERGED_SHOWN else ""
            self.ctx.check(
                "wechat-merged-cells",
                "warn",
                f"{shown}: merged cells: the value of each was repeated in every row and column it spans, as the table shows it "
                f"({where}); check those rows against the file",
                subject,
            )
        if doc.stopped:
            summary["note"] = doc.stopped
            self.ctx.problem(f"{shown}: {doc.stopped}", check="wechat-file", subject=subject)
        tables = summary["tables"]
        if doc.problems and (tables or kind in TABLE_REQUIRED):  # a free-text .txt is not malformed CSV
            more = f" (and {len(doc.problems) - 1} more)" if len(doc.problems) > 1 else ""
            self.ctx.problem(f"{shown}: {doc.problems[0]}{more}; the other rows were read", check="wechat-file", subject=subject)
        if doc.stopped:
            return summary
        if not tables:
            if kind in TABLE_REQUIRED:
                self.ctx.problem(
                    f"{shown}: no table with a recognised header row (a header names at least two known columns, "
                    "e.g. 'WeChat ID' and 'Nickname'); map unusual headers with options.columns",
                    check="wechat-file",
                    subject=subject,
                )
            else:
                summary["read_as"] = "not read"
                summary["note"] = "no table with a recognised header row; kept, not read"
            return summary
        described = "; ".join(
            f"{t['table'] + ': ' if t['table'] else ''}{t['rows']} {t['kind'].rstrip('s')} row(s), header at row {t['header_row']}"
            for t in tables
        )
        self.ctx.check("wechat-file", "pass", f"{shown}: read as {doc.format}: {described}", subject)
        return summary


def _too_large(kind: str, size: int) -> str | None:
    """Why a file of this size is kept but not parsed, if it is."""
    if size > MAX_READ:
        return f"larger than {MAX_READ} bytes; kept but not parsed"
    if kind in ("json", "jsonl", "html") and size > MAX_WHOLE:
        return f"larger than {MAX_WHOLE} bytes, the most evidpack parses of a {kind.upper()} file (it is read whole); kept but not parsed"
    return None


def _expansion(m: ZipMember) -> str | None:
    """Why a zip member is not parsed, if it would expand too far for its size in the zip."""
    size, packed = m.record.get("size", 0), m.record.get("compressed_size", 0)
    ratio = size / max(packed, 1)
    if size > RATIO_FLOOR and ratio > MAX_RATIO:
        return (
            f"would expand {ratio:,.0f}:1 to {size:,} bytes (cap {MAX_RATIO}:1 for a production file evidpack parses: "
            "a decompression bomb?); kept in the zip, not parsed — if it is genuine, extract a working copy and add it as a source of its own"
        )
    return None


# --- checks -------------------------------------------------------------------------------------


def _after_received(ctx: ImportContext, production: Production, request: dict[str, Any] | None) -> None:
    """A production cannot hold a login, or an account registered, after it was
    received: such a time means a wrong zone, a wrong date order, or a wrong
    ``received_at``. A ``warn`` check naming the first few (every time is kept
    as read)."""
    received_text = (request or {}).get("received_at")
    if not received_text:
        return
    received = parse_rfc3339(received_text)
    late: list[str] = []
    count = 0

    def look(time: dict[str, Any] | None, at: dict[str, Any], what: str) -> None:
        nonlocal count
        utc = (time or {}).get("utc")
        if utc and parse_rfc3339(utc) > received:
            count += 1
            if len(late) < 3:
                where = at["file"] + (f"!{at['member']}" if at.get("member") else "") + (f" sheet {at['sheet']!r}" if at.get("sheet") else "")
                late.append(f"{where} row {at['row']}: {what} {utc} (read as {time.get('original')!r})")

    for acc in production.accounts:
        look(acc.get("registration_time"), acc["at"], "registered")
    for entry in production.logins:
        look(entry.get("time"), entry["at"], "login time")
    if count:
        ctx.check(
            "wechat-after-received",
            "warn",
            f"{count} time(s) are later than the production was received ({received_text}), which cannot be: "
            f"{'; '.join(late)}{'; …' if count > len(late) else ''}. Check the zone, the date order (date_order) and received_at; "
            "every time is kept as read",
        )



def _checks(ctx: ImportContext, source: "Source", production: Production, files: list[dict[str, Any]], request: dict[str, Any] | None) -> None:
    counts = production.counts()
    if counts["rows"] == 0:
        named = source.written[0] + (f" (and {len(source.written) - 1} more)" if len(source.written) > 1 else "")
        ctx.problem(
            f"{named}: the production holds no account or login rows in any of its {len(files)} file(s)",
            check="wechat-empty",
        )
    if production.first_error is not None:
        first = production.first_error
        place = Place(first["item"], first["file"], first["member"], first["sheet"])
        ctx.problem(
            f"{place.describe(first['row'], source_name(source, {'original_path': first['file'], 'path': ''}))}: "
            f"{first['field']}: {first['problem']} "
            f"({counts['rows_with_problems']} of {counts['rows']} rows have problems"
            + (f"; every row is kept, see evidpack/records/{source.id}-wechat.json)" if ctx.keep_going else ")"),
            check="wechat-rows",
        )
    elif counts["rows"]:
        ctx.check("wechat-rows", "pass", f"{counts['accounts']} account row(s) and {counts['logins']} login row(s) read without problems")
    _after_received(ctx, production, request)
    for subject, text in production.notes:
        ctx.check("wechat-zone", "warn", text, subject)
    for acc in production.jurisdiction:
        who = acc["wechat_id"] or f"{acc['at']['file']} row {acc['at']['row']}"
        ctx.check("wechat-jurisdiction", "warn", f"{who} ({acc['phone']}): {acc['note']}", who)
    unread = [f for f in files if f.get("read_as") == "not read"]
    if unread:
        names = ", ".join(f["file"] + (f"!{f['member']}" if f.get("member") else "") for f in unread)
        ctx.check("wechat-files-not-read", "not-checkable", f"kept as evidence, not parsed (not a table format evidpack reads): {names}")
    if request is not None:
        verdict = {"met": "pass", "not met": "warn"}.get(request["commitment"] or "", "not-checkable")
        took = f"answered in {request['response_time']}" if request["response_time"] else "response time unknown"
        ctx.check("wechat-response-time", verdict, f"{request['type']} request {request['reference'] or ''}: {took}; commitment: {request['commitment']}".replace("  ", " "))
