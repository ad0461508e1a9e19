"""Source kind ``wechat-production``: a production from WeChat International.

Every file of the production (cover letter, CSV, XLSX, JSON, HTML, TXT, or a zip
of them) is copied byte for byte, as kind ``files`` copies; a zip is kept whole
and its members catalogued. The copies are then read from the bundle: CSV and
other delimited text, XLSX (every sheet), JSON and HTML tables become accounts
and login/IP rows in ``evidpack/records/<source>-wechat.json``, the catalogue
tables ``wechat_accounts``, ``wechat_logins`` and ``wechat_parse_errors``, and
formula-safe CSV exports beside the record. See docs/wechat-production.md.
"""

from __future__ import annotations

import codecs
import posixpath
import zipfile
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import phonenumbers

from ..csvsafe import csv_bytes
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
from ..wechat.tables import CFB_MAGIC, Document, Unreadable, read_delimited, read_html, read_json, read_xlsx, zip_is_workbook
from .base import ImportContext
from .support import Options, bundle_file, catalogue_zip, copy_source, read_member, source_name

if TYPE_CHECKING:
    from ..casefile import Source

OPTIONS = ("zone", "date_order", "columns", "request", "phone_region", "phones_have_country_code", "encoding", "delimiter")
REQUEST_KEYS = ("type", "reference", "sent_at", "received_at")
MAX_READ = 512 * 1024 * 1024  # a production file larger than this is kept but not parsed
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
        production = Production(settings)
        reader = _Reader(source, ctx, settings, production)
        files = [summary for record in copied for summary in reader.read(record)]

        body = production.record()
        counts = body["counts"]
        _checks(ctx, source, production, files, request)
        record = {
            "format": FORMAT,
            "source": source.id,
            "provider": PROVIDER,
            "settings": _settings_json(opts, settings),
            "request": request,
            "files": files,
            **body,
        }
        ctx.write_record("wechat", record)
        accounts = [account_row(a) for a in production.accounts]
        logins = [login_row(entry) for entry in production.logins]
        ctx.write_record_bytes("wechat-accounts.csv", csv_bytes(ACCOUNT_COLUMNS, accounts))
        ctx.write_record_bytes("wechat-logins.csv", csv_bytes(LOGIN_COLUMNS, logins))
        ctx.write_record_bytes("wechat-parse-errors.csv", csv_bytes(ERROR_COLUMNS, production.errors))
        ctx.add_rows("wechat_accounts", accounts)
        ctx.add_rows("wechat_logins", logins)
        ctx.add_rows("wechat_parse_errors", production.errors)
        ctx.facts["wechat"] = {**counts, "request": request, "weixin_likely_accounts": [j["wechat_id"] for j in body["jurisdiction"]]}
        ctx.custody_event(
            "received",
            {
                "from": PROVIDER,
                "what": f"production: {ctx.file_count} file(s), {ctx.byte_count} bytes",
                "received_at": (request or {}).get("received_at"),
                "request": request,
            },
        )


# --- options ----------------------------------------------------------------------------


def read_settings(opts: Options) -> Settings:
    zone = opts.zone()
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


class _Reader:
    """Reads one copied file of the production (and, for a zip, its members)."""

    def __init__(self, source: "Source", ctx: ImportContext, settings: Settings, production: Production) -> None:
        self.source, self.ctx, self.settings, self.production = source, ctx, settings, production

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
        if record["size"] > MAX_READ:
            summary["read_as"] = "not read"
            summary["note"] = f"larger than {MAX_READ} bytes; kept but not parsed"
            self.ctx.check("wechat-file", "not-checkable", f"{shown}: {summary['note']}", rel)
            return [summary]
        return [self._parse(path.read_bytes(), kind, Place(record["id"], rel), shown, summary)]

    def _zip(self, record: dict[str, Any], shown: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
        rel = summary["file"]
        members = catalogue_zip(self.ctx, record, shown, tags=["wechat-production"])
        if members is None:
            summary["read_as"] = "unreadable"
            return [summary]
        summary["read_as"] = "zip"
        summary["members"] = len(members)
        out = [summary]
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
            mshown = f"{shown}: member {m.name!r}"
            try:
                data = read_member(self.ctx, record, m, MAX_READ)
            except (ValueError, zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                msummary["note"] = str(exc)
                self.ctx.check("wechat-file", "not-checkable", f"{mshown}: {exc}", f"{rel}:{m.name}")
                continue
            self._parse(data, kind, Place(m.record["id"], rel, m.name), mshown, msummary)
        return out

    def _parse(self, data: bytes, kind: str, place: Place, shown: str, summary: dict[str, Any]) -> dict[str, Any]:
        subject = place.file + (f":{place.member}" if place.member else "")
        s = self.settings

        def score(cells: Any) -> int:
            return header_score(cells, s.columns)

        try:
            doc: Document
            if kind in ("xlsx", "cfb"):
                doc = read_xlsx(data)
            elif kind in ("csv", "txt"):
                doc = read_delimited(data, score=score, encoding=s.encoding, delimiter=s.delimiter)
            elif kind in ("json", "jsonl"):
                doc = read_json(data, score=score, lines=kind == "jsonl", encoding=s.encoding)
            else:
                doc = read_html(data, encoding=s.encoding)
        except Unreadable as exc:
            summary["read_as"] = "unreadable"
            summary["problem"] = str(exc)
            if kind == "cfb" and "password" not in str(exc):
                summary["read_as"] = "not read"  # an old Office document (e.g. a .doc cover letter): kept
                return summary
            self.ctx.problem(f"{shown}: {exc}", check="wechat-file", subject=subject)
            return summary
        summary["read_as"] = doc.format
        summary.update(self.production.read(doc, place))
        tables = summary["tables"]
        if doc.problems and (tables or kind in TABLE_REQUIRED):  # a free-text .txt is not malformed CSV
            more = f" (and {len(doc.problems) - 1} more)" if len(doc.problems) > 1 else ""
            self.ctx.problem(f"{shown}: {doc.problems[0]}{more}; the other rows were read", check="wechat-file", subject=subject)
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


# --- checks -------------------------------------------------------------------------------------


def _checks(ctx: ImportContext, source: "Source", production: Production, files: list[dict[str, Any]], request: dict[str, Any] | None) -> None:
    counts = production.counts()
    if counts["rows"] == 0:
        ctx.problem(
            f"{source.paths[0]}: the production holds no account or login rows in any of its {len(files)} file(s)",
            check="wechat-empty",
        )
    if production.errors:
        first = production.errors[0]
        place = Place(first["item"], first["file"], first["member"], first["sheet"])
        ctx.problem(
            f"{place.describe(first['row'], source_name(source, {'original_path': first['file'], 'path': ''}))}: "
            f"{first['field']}: {first['problem']} "
            f"({counts['rows_with_problems']} of {counts['rows']} rows have problems; every row is kept, "
            f"see evidpack/records/{source.id}-wechat.json)",
            check="wechat-rows",
        )
    elif counts["rows"]:
        ctx.check("wechat-rows", "pass", f"{counts['accounts']} account row(s) and {counts['logins']} login row(s) read without problems")
    for subject, text in production.notes:
        ctx.check("wechat-zone", "warn", text, subject)
    for acc in production.accounts:
        if acc["weixin_likely"]:
            who = acc["wechat_id"] or f"{acc['at']['file']} row {acc['at']['row']}"
            ctx.check("wechat-jurisdiction", "warn", f"{who} ({acc['phone']['e164']}): {acc['jurisdiction_note']}", who)
    unread = [f for f in files if f.get("read_as") == "not read"]
    if unread:
        names = ", ".join(f["file"] + (f"!{f['member']}" if f.get("member") else "") for f in unread)
        ctx.check("wechat-files-not-read", "not-checkable", f"kept as evidence, not parsed (not a table format evidpack reads): {names}")
    if request is not None:
        verdict = {"met": "pass", "not met": "warn"}.get(request["commitment"] or "", "not-checkable")
        took = f"answered in {request['response_time']}" if request["response_time"] else "response time unknown"
        ctx.check("wechat-response-time", verdict, f"{request['type']} request {request['reference'] or ''}: {took}; commitment: {request['commitment']}".replace("  ", " "))
