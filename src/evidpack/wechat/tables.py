"""Readers that turn one file of a production into raw tables of cells.

Every reader keeps cells as given (text exactly, spreadsheet numbers and dates
as typed values) with the row number a person would look up: the line of a
CSV file where the record starts, the row of a spreadsheet, the item of a JSON
array (1-based), the ``<tr>`` of an HTML table. Finding the header and reading
the values is the job of :mod:`evidpack.wechat.production`.

A reader raises :class:`Unreadable` when it can read nothing (not a workbook, a
password-protected spreadsheet, undecodable text); problems met part-way (a
malformed CSV line) are listed in :attr:`Document.problems` and reading goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from html.parser import HTMLParser
from typing import Any

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
DELIMITERS = (",", "\t", ";", "|")


class Unreadable(Exception):
    """Nothing could be read from the file; the message says why, in one line."""


@dataclass
class RawTable:
    name: str | None  # sheet name, JSON path, "table 2"; None for a CSV file
    rows: list[tuple[int, list[Any]]]  # (row number, cells); blank rows left out
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Document:
    format: str
    tables: list[RawTable]
    info: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


# --- text -----------------------------------------------------------------------------


def decode_text(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding used). A byte-order mark decides; UTF-16 without one is
    recognised by its NUL bytes; otherwise the text must be UTF-8, or the
    encoding the manifest states (``options.encoding``)."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise Unreadable(f"not valid {encoding} text (byte 0x{data[exc.start]:02X} at offset {exc.start})") from None
    for bom, name in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as exc:
                raise Unreadable(f"not valid {name} text despite its byte-order mark (offset {exc.start})") from None
    sample = data[:4096]
    if len(sample) >= 4:
        even, odd = sample[0::2], sample[1::2]
        for name, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
            if zeros.count(0) > 0.4 * len(zeros) and other.count(0) < 0.05 * len(other):
                try:
                    return data.decode(name), f"{name} (no byte-order mark)"
                except UnicodeDecodeError:
                    break
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        raise Unreadable(
            f"not UTF-8 or UTF-16 text (byte 0x{data[exc.start]:02X} at offset {exc.start}); "
            "state its encoding with options.encoding, e.g. \"gb18030\""
        ) from None


# --- CSV and other delimited text ----------------------------------------------------------------


class _Lines:
    """Lines of a text (endings kept), counting how many have been read."""

    def __init__(self, text: str) -> None:
        self._it = iter(io.StringIO(text, newline=""))
        self.count = 0

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        line = next(self._it)
        self.count += 1
        return line


def _parse_delimited(text: str, delimiter: str, limit: int | None = None) -> tuple[list[tuple[int, list[Any]]], list[str]]:
    """Rows (with the line each starts on) and malformed-line problems. After a
    malformed record, reading resumes on the next line, so one bad quote does not
    lose the rest of the file."""
    lines = _Lines(text)
    rows: list[tuple[int, list[Any]]] = []
    problems: list[str] = []
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    while limit is None or lines.count < limit:
        start = lines.count + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = lines.count
            where = f"line {start}" if end <= start else f"lines {start}-{end}"
            problems.append(f"{where}: malformed CSV ({exc})")
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            continue
        if not _blank(cells):
            rows.append((start, cells))
    return rows, problems


def read_delimited(
    data: bytes, *, score: Callable[[Sequence[Any]], int], encoding: str | None = None, delimiter: str | None = None
) -> Document:
    """CSV or other delimited text in any of the usual delimiters. Unless the
    manifest states one, the delimiter is the one under which a header row names
    the most known fields (ties go to the first of comma, tab, semicolon, bar)."""
    text, used = decode_text(data, encoding)
    if delimiter is None:
        best = (0, DELIMITERS[0])
        for d in DELIMITERS:
            rows, _ = _parse_delimited(text, d, limit=200)
            top = max((score(cells) for _, cells in rows), default=0)
            if top > best[0]:
                best = (top, d)
        delimiter = best[1]
    rows, problems = _parse_delimited(text, delimiter)
    return Document("csv", [RawTable(None, rows)], {"encoding": used, "delimiter": delimiter}, problems)


# --- XLSX ------------------------------------------------------------------------------------


def _date_only_format(number_format: str | None) -> bool:
    fmt = re.sub(r'"[^"]*"|\[[^\]]*\]', "", number_format or "").lower()
    return not any(token in fmt for token in ("h", "s", "am/pm", "a/p"))


def read_xlsx(data: bytes) -> Document:
    """Every worksheet of an XLSX workbook (hidden ones too, flagged), with typed
    cells: date cells become naive datetimes (a date-only format gives a date)."""
    if data.startswith(CFB_MAGIC):
        if _ENCRYPTION_INFO in data:
            raise Unreadable(
                "password-protected spreadsheet (an encrypted Office file); kept as received but not read — "
                "decrypt a working copy and add it as its own source"
            )
        raise Unreadable("an Excel 97-2003 (.xls) or other OLE file, not XLSX; kept but not read — save a working copy as .xlsx or CSV")
    if not data.startswith(b"PK"):
        raise Unreadable("not an XLSX workbook (not a zip file)")
    import openpyxl

    tables: list[RawTable] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                epoch = "1904" if wb.epoch.year == 1904 else "1900"
                for ws in wb.worksheets:
                    tables.append(RawTable(ws.title, list(_sheet_rows(ws)), {"state": ws.sheet_state, "date_system": epoch}))
            finally:
                wb.close()
        except Exception as exc:  # openpyxl raises many types for a damaged workbook
            raise Unreadable(f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    notes = sorted({str(w.message) for w in caught})
    return Document("xlsx", tables, {"sheets": [t.name for t in tables], **({"reader_notes": notes} if notes else {})})


def _sheet_rows(ws: Any) -> Iterator[tuple[int, list[Any]]]:
    for row in ws.iter_rows():
        number = next((c.row for c in row if getattr(c, "row", None)), None)
        cells = []
        for c in row:
            v = c.value
            if isinstance(v, datetime) and v.time() == time(0) and _date_only_format(getattr(c, "number_format", None)):
                v = v.date()
            cells.append(v)
        if number is not None and not _blank(cells):
            yield number, cells


def zip_is_workbook(file: Any) -> bool:
    """Whether a zip (path or binary file) is an XLSX workbook rather than an archive of files."""
    try:
        with zipfile.ZipFile(file) as zf:
            return "xl/workbook.xml" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


# --- JSON ------------------------------------------------------------------------------------


def read_json(data: bytes, *, score: Callable[[Sequence[Any]], int], lines: bool = False, encoding: str | None = None) -> Document:
    """A JSON document (or JSON Lines): every array of objects becomes a table
    named by its JSON path, and so does a lone object whose keys name at least
    two known fields. Rows are the array items, numbered from 1."""
    text, used = decode_text(data, encoding)
    obj: Any = []
    try:
        if lines:
            for lineno, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    obj.append(json.loads(line))
        else:
            lineno = 0
            obj = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {lineno}" if lines else f"line {exc.lineno}"
        raise Unreadable(f"not valid JSON ({where}, column {exc.colno}: {exc.msg})") from None
    doc = Document("jsonl" if lines else "json", [], {"encoding": used})
    _json_tables(obj, "$", doc, score)
    return doc


def _json_tables(obj: Any, path: str, doc: Document, score: Callable[[Sequence[Any]], int]) -> None:
    if isinstance(obj, list):
        objects = [o for o in obj if isinstance(o, dict)]
        if objects:
            keys = list(dict.fromkeys(k for o in objects for k in o))
            rows: list[tuple[int, list[Any]]] = [(0, list(keys))]
            for n, item in enumerate(obj, 1):
                if isinstance(item, dict):
                    rows.append((n, [item.get(k) for k in keys]))
                else:
                    doc.problems.append(f"{path}[{n - 1}]: not an object ({json.dumps(item, ensure_ascii=False)[:60]}); not read")
            doc.tables.append(RawTable(path, rows, {"header": "object keys"}))
        for n, item in enumerate(obj):
            _nested(item, f"{path}[{n}]", doc, score)
    elif isinstance(obj, dict):
        if score(list(obj)) >= 2:
            keys = list(obj)
            doc.tables.append(RawTable(path, [(0, keys), (1, [obj[k] for k in keys])], {"header": "object keys"}))
        _nested(obj, path, doc, score)


def _nested(obj: Any, path: str, doc: Document, score: Callable[[Sequence[Any]], int]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (list, dict)):
                _json_tables(v, f"{path}.{k}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) else f"{path}[{json.dumps(k, ensure_ascii=False)}]", doc, score)


# --- HTML ------------------------------------------------------------------------------------


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._stack: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            table: list[list[str]] = []
            self.tables.append(table)
            self._stack.append(table)
        elif tag == "tr" and self._stack:
            self._stack[-1].append([])
        elif tag in ("td", "th") and self._stack:
            if not self._stack[-1]:
                self._stack[-1].append([])
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._stack:
            self._stack[-1][-1].append("".join(self._cell).strip(" \t\r\n"))
            self._cell = None
        elif tag == "table" and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_html(data: bytes, encoding: str | None = None) -> Document:
    """Every ``<table>`` of an HTML page; a cell's text has the page's layout
    whitespace (spaces and line breaks at its edges) removed."""
    text, used = decode_text(data, encoding)
    parser = _TableParser()
    parser.feed(text)
    parser.close()
    tables = [
        RawTable(f"table {n}", [(r, cells) for r, cells in enumerate(rows, 1) if not _blank(cells)])
        for n, rows in enumerate(parser.tables, 1)
    ]
    return Document("html", tables, {"encoding": used})

