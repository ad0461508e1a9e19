"""Readers that turn one file of a production into raw tables of cells.

Every reader keeps cells as given (text exactly, spreadsheet numbers and dates
as typed values) with the row number a person would look up: the line of a
CSV file where the record starts, the row of a spreadsheet, the item of a JSON
array (1-based), the ``<tr>`` of an HTML table. Finding the header and reading
the values is the job of :mod:`evidpack.wechat.production`.

A reader raises :class:`Unreadable` when it can read nothing (not a workbook, a
password-protected spreadsheet, undecodable text); problems met part-way (a
malformed CSV line) are listed in :attr:`Document.problems` and reading goes on.

A record of delimited text that runs across lines each of which reads as a
whole row (an unescaped quote) is listed as a problem; merged cells (XLSX
merged ranges, HTML colspan/rowspan) are filled in with their value and listed
in :attr:`Document.info` (``merged_cells``); a date cell keeps a zone it states.

Delimited text and workbooks are read as streams: their rows are made one at a
time as the consumer asks for them (:attr:`RawTable.rows` is then an iterator),
so memory does not grow with the file. Such a reader may still raise
:class:`Unreadable` part-way (a byte that does not decode on line 90,000), after
rows were handed over: the consumer undoes what it made of them (see
``Production.read``). Every reader takes a :class:`RowBudget`, shared by the
files of one production: when it runs out, reading stops and
:attr:`Document.stopped` says where. JSON and HTML are read whole: the importer
caps their size, and one denser than :data:`MAX_JSON_ITEMS` brackets and commas
or :data:`MAX_HTML_TAGS` tags is not parsed.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import posixpath
import re
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, time
from html.parser import HTMLParser
from typing import IO, Any

from ..timeparse import TimeProblem, parse_zone

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
DELIMITERS = (",", "\t", ";", "|")
CHUNK = 1 << 20  # bytes read (and decoded) at a time
MAX_LINE = 1 << 20  # characters: a longer line of delimited text stops reading (no table has one)
MAX_PART = 64 << 20  # bytes: a workbook part other than a worksheet (shared strings, styles) is read whole
MAX_SHEET = 512 << 20  # bytes: a worksheet is streamed, but no further than this
# A part read whole is also refused if it expands more than PART_RATIO times (above PART_RATIO_FLOOR
# bytes), as a production's zip members are; and styles, where openpyxl makes an object of every
# element (about 500 bytes each), beyond MAX_STYLE_ELEMENTS elements (Excel's own cap of 64,000 cell
# formats, with their fonts, fills and borders, stays well below).
PART_RATIO = 250
PART_RATIO_FLOOR = 1 << 20
MAX_STYLE_ELEMENTS = 400_000
MAX_COLUMNS = 128  # a sheet declaring more columns is read as stored, its rows not padded to that width
_BATCH = 512  # workbook rows read at a time
# JSON and HTML are parsed whole, and their parsed form can take 80 times their size (a file of "{}," is
# all objects): one with more of these than real productions ever hold is not parsed.
MAX_JSON_ITEMS = 2_000_000  # "{", "[" and "," (100,000 rows of ten fields have about 1,100,000)
MAX_HTML_TAGS = 4_000_000  # "<" (100,000 rows of ten cells have about 2,100,000)
MAX_JSON_DEPTH = 64  # arrays and objects inside each other (real productions nest a handful)

#: Opens a file (or zip member) afresh, from its first byte, as a binary stream.
Opener = Callable[[], AbstractContextManager[IO[bytes]]]


class Unreadable(Exception):
    """Nothing could be read from the file; the message says why, in one line."""


class RowBudget:
    """How many rows (and malformed records), and how many cells in them, the
    files of one production may hand over between them: a cap against
    decompression bombs, whose rows would otherwise fill the records, the
    catalogue and the PDF index (or keep a CPU busy for hours)."""

    def __init__(self, rows: int, cells: int | None = None) -> None:
        self.limit = rows
        self.cell_limit = cells
        self.used = 0
        self.cells = 0
        self._over = "rows"

    def take(self, cells: int = 0, row: bool = True) -> bool:
        """Count a row (or, with ``row=False``, only the cells of a blank one); False once over a cap."""
        if row and self.used >= self.limit:
            self._over = "rows"
            return False
        if self.cell_limit is not None and self.cells + cells > self.cell_limit:
            self._over = "cells"
            return False
        self.used += 1 if row else 0
        self.cells += cells
        return True

    @property
    def spent(self) -> bool:
        return self.used >= self.limit or (self.cell_limit is not None and self.cells >= self.cell_limit)

    def stop(self, where: str) -> str:
        what = f"{self.limit:,} rows" if self._over == "rows" else f"{self.cell_limit:,} cells"
        return (
            f"{where}: the production has more than {what}, the most evidpack reads from one production "
            "(a cap against decompression bombs); reading stopped there, the rows before it were read"
        )


@dataclass
class RawTable:
    name: str | None  # sheet name, JSON path, "table 2"; None for a CSV file
    rows: Iterable[tuple[int, list[Any]]]  # (row number, cells); blank rows left out; read once
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Document:
    """One file's tables. Use it as a context manager (or call :meth:`close`):
    a streamed document holds its file open until then. :attr:`problems`,
    :attr:`info` and :attr:`stopped` are complete once every table's rows were read."""

    format: str
    tables: list[RawTable]
    info: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    stopped: str | None = None  # where and why reading stopped early (the row budget ran out, a line too long)
    closer: Callable[[], None] | None = None

    def close(self) -> None:
        for table in self.tables:
            close = getattr(table.rows, "close", None)
            if close is not None:
                close()
        closer, self.closer = self.closer, None
        if closer is not None:
            closer()

    def __enter__(self) -> "Document":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _budgeted(rows: Iterable[tuple[int, list[Any]]], budget: RowBudget | None, doc: Document, where: Callable[[int], str]) -> Iterator[tuple[int, list[Any]]]:
    """Rows of a table read whole, until the production's budget runs out."""
    for row, cells in rows:
        if doc.stopped:
            return
        if budget is not None and not budget.take(len(cells)):
            doc.stopped = budget.stop(where(row))
            return
        yield row, cells


def _blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


# --- text -----------------------------------------------------------------------------


_BOMS = (  # byte-order marks, UTF-32 first (its little-endian mark begins with UTF-16's)
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding used). A byte-order mark decides; UTF-16 without one is
    recognised by its NUL bytes; otherwise the text must be UTF-8, or the
    encoding the manifest states (``options.encoding``)."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise Unreadable(f"not valid {encoding} text (byte 0x{data[exc.start]:02X} at offset {exc.start})") from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as exc:
                raise Unreadable(f"not valid {name} text despite its byte-order mark (offset {exc.start})") from None
    name = _sniff(data[:4096])
    if name is not None:
        try:
            return data.decode(name), f"{name} (no byte-order mark)"
        except UnicodeDecodeError as exc:
            raise Unreadable(_not_wide(name, exc.start, len(data))) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        raise Unreadable(
            f"not UTF-8 or UTF-16 text (byte 0x{data[exc.start]:02X} at offset {exc.start}); "
            "state its encoding with options.encoding, e.g. \"gb18030\""
        ) from None


def _sniff(sample: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte-order mark, recognised by the NUL bytes of
    its (mostly ASCII) characters; None for neither. Text with many NUL bytes
    that is neither is not text evidpack reads (:class:`Unreadable`)."""
    if len(sample) < 4:
        return None
    quarters = [sample[i::4] for i in range(4)]
    zero = [q.count(0) > 0.4 * len(q) for q in quarters]
    few = [q.count(0) < 0.05 * len(q) for q in quarters]
    if few[0] and all(zero[1:]):
        return "utf-32-le"
    if few[3] and all(zero[:3]):
        return "utf-32-be"
    even, odd = sample[0::2], sample[1::2]
    for name, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros.count(0) > 0.4 * len(zeros) and other.count(0) < 0.05 * len(other):
            return name
    nuls = sample.count(0)
    if nuls > 0.2 * len(sample):
        raise Unreadable(
            f"not text evidpack recognises: {nuls:,} of its first {len(sample):,} bytes are NUL (UTF-16 or UTF-32 damaged, "
            "or not text at all); state its encoding with options.encoding if it is text"
        )
    return None


def _not_wide(name: str, offset: int, size: int) -> str:
    """Why a text that looks like UTF-16/32 without a byte-order mark is not read."""
    unit = 2 if "16" in name else 4
    why = f"its {size:,} bytes are not a whole number of {unit}-byte units: truncated?" if size % unit else f"offset {offset}"
    return (
        f"looks like {name.upper()} text without a byte-order mark (by its NUL bytes), but is not valid {name.upper()} ({why}); "
        "not read as UTF-8 either — state its encoding with options.encoding if it is another"
    )


@dataclass(frozen=True)
class _Encoding:
    """How a stream of text is decoded, and how a byte that does not decode is reported
    (the messages and offsets of :func:`decode_text`, which decodes a whole file)."""

    codec: str
    used: str  # as recorded: "utf-8", "utf-16-le (no byte-order mark)", the manifest's encoding
    how: str  # "stated", "bom" or "utf-8"
    sig_bom: bool = False  # utf-8-sig over a byte-order mark: offsets as decode_text gives them (after the mark)
    decoder: str | None = None  # the codec that decodes it a chunk at a time, if not ``codec``

    def error(self, opener: Opener, offset: int) -> Unreadable:
        """``offset``: where, in the whole file, the bytes that do not decode start."""
        if self.sig_bom:
            offset -= len(codecs.BOM_UTF8)
        if self.how == "bom":
            return Unreadable(f"not valid {self.codec} text despite its byte-order mark (offset {offset})")
        byte = _byte_at(opener, offset)
        if self.how == "stated":
            return Unreadable(f"not valid {self.codec} text (byte 0x{byte:02X} at offset {offset})")
        return Unreadable(
            f"not UTF-8 or UTF-16 text (byte 0x{byte:02X} at offset {offset}); "
            "state its encoding with options.encoding, e.g. \"gb18030\""
        )


def _byte_at(opener: Opener, offset: int) -> int:
    with opener() as fh:
        while offset >= CHUNK:
            offset -= len(fh.read(CHUNK)) or offset
        piece = fh.read(offset + 1)
    return piece[offset] if offset < len(piece) else 0


class _Decoder:
    """An incremental decoder that knows where, in the whole stream, a byte that
    does not decode lies (as decoding the whole stream at once would say)."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self._dec = codecs.getincrementaldecoder(codec)("strict")
        self.fed = 0

    def decode(self, data: bytes, final: bool) -> str:
        state = self._dec.getstate()
        pending = state[0] if isinstance(state, tuple) and isinstance(state[0], bytes) else b""
        try:
            text = self._dec.decode(data, final)
        except UnicodeDecodeError as exc:
            start = self.fed - len(pending)  # where exc.object starts in the stream
            if len(exc.object) == len(pending) + len(data) - len(codecs.BOM_UTF8):
                start += len(codecs.BOM_UTF8)  # utf-8-sig decodes what follows its byte-order mark
            raise _BadByte(start + exc.start) from None
        except UnicodeError as exc:  # a codec's complaint about the whole stream, at no one byte
            raise Unreadable(f"not valid {self.codec} text ({exc})") from None
        self.fed += len(data)
        return text


class _BadByte(Exception):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


_NATIVE = {  # decoding a whole UTF-16/32 text without a byte-order mark reads it in the machine's order
    "utf-16": (f"utf-16-{sys.byteorder[0]}e", (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)),
    "utf-32": (f"utf-32-{sys.byteorder[0]}e", (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)),
}


def _encoding(opener: Opener, encoding: str | None) -> _Encoding:
    """The encoding of a text file, decided as :func:`decode_text` decides it."""
    if encoding:
        name = codecs.lookup(encoding).name
        with opener() as fh:
            head = fh.read(4)
        native, boms = _NATIVE.get(name, (None, ()))
        # (an incremental UTF-16/32 decoder refuses a text without a mark, bytes.decode does not)
        decoder = native if native and not head.startswith(boms) else None
        return _Encoding(encoding, encoding, "stated", name == "utf-8-sig" and head.startswith(codecs.BOM_UTF8), decoder)
    with opener() as fh:
        sample = fh.read(4096)
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return _Encoding(name, name, "bom", name == "utf-8-sig")
    name = _sniff(sample)
    if name is not None:
        bad = _undecodable(opener, name)
        if bad is not None:
            raise Unreadable(_not_wide(name, *bad))
        return _Encoding(name, f"{name} (no byte-order mark)", "utf-8")
    return _Encoding("utf-8", "utf-8", "utf-8")


def _undecodable(opener: Opener, codec: str) -> tuple[int, int] | None:
    """(offset of the first byte that does not decode, size) if the text is not valid ``codec``; else None."""
    dec = _Decoder(codec)
    size = 0
    with opener() as fh:
        while True:
            data = fh.read(CHUNK)
            size += len(data)
            try:
                dec.decode(data, not data)
            except _BadByte as exc:
                while data := fh.read(CHUNK):
                    size += len(data)
                return exc.offset, size
            except Unreadable:
                return size, size
            if not data:
                return None


# --- CSV and other delimited text ----------------------------------------------------------------


class _LineTooLong(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


_TOO_LONG = object()


class _Lines:
    """Lines of a stream of text (endings kept, split where io.StringIO(newline="")
    splits: after \\n, \\r\\n or a lone \\r), decoded a chunk at a time, counting how
    many have been read. A byte that does not decode raises :class:`Unreadable`;
    a line longer than :data:`MAX_LINE` characters raises :class:`_LineTooLong`."""

    def __init__(self, fh: IO[bytes], encoding: _Encoding, opener: Opener) -> None:
        self._fh, self._encoding, self._opener = fh, encoding, opener
        self._dec = _Decoder(encoding.decoder or encoding.codec)
        self._buf: list[Any] = []
        self._at = 0
        self._carry = ""
        self._eof = False
        self.count = 0
        self.taken: list[str] | None = []  # the lines of the record being read (None: too many to keep)
        self.taken_chars = 0

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        while self._at >= len(self._buf):
            if self._eof:
                raise StopIteration
            self._fill()
        line = self._buf[self._at]
        self._at += 1
        if line is _TOO_LONG or len(line) > MAX_LINE:
            self._buf, self._at, self._eof = [], 0, True
            raise _LineTooLong(self.count + 1)
        self.count += 1
        if self.taken is not None:
            self.taken.append(line)
            self.taken_chars += len(line)
            if len(self.taken) > _KEEP_LINES or self.taken_chars > _KEEP_CHARS:
                self.taken = None
        return line

    def _fill(self) -> None:
        data = self._fh.read(CHUNK)
        final = not data
        try:
            text = self._carry + self._dec.decode(data, final)
        except _BadByte as exc:
            raise self._encoding.error(self._opener, exc.offset) from None
        lines = io.StringIO(text, newline="").readlines()
        self._carry = ""
        if not final and lines and (lines[-1][-1] not in "\r\n" or lines[-1][-1] == "\r"):
            self._carry = lines.pop()  # may go on in the next chunk (a \r may be the first half of \r\n)
            if len(self._carry) > MAX_LINE:
                lines.append(_TOO_LONG)
                final = True
        self._buf, self._at, self._eof = lines, 0, final


_KEEP_LINES = 1000  # physical lines of one record kept, to look at a record that spans lines
_KEEP_CHARS = 4 << 20  # … and characters


def _line_cells(line: str, delimiter: str) -> list[str]:
    """The cells of one physical line read by itself: as CSV, or (a quote it does
    not close) with quotes taken as plain characters."""
    try:
        rows = list(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error:
        rows = []
    if len(rows) == 1:
        return rows[0]
    return next(csv.reader([line], delimiter=delimiter, quoting=csv.QUOTE_NONE), [])


def _spanning(cells: list[Any], taken: list[str] | None, delimiter: str) -> list[list[str]] | None:
    """A record read across several physical lines that is not plausibly one row:
    each of its lines, read by itself, holds as many cells as the whole record (an
    unescaped quote at the start of a value ran on to a quote lines later). Then the
    lines' own cells (one list per line); else None."""
    if taken is None or len(taken) < 2 or len(cells) < 2:
        return None
    own = [_line_cells(line, delimiter) for line in taken]
    if all(len(c) >= len(cells) for c in own):
        return own
    return None


def _records(lines: _Lines, delimiter: str, problems: list[str], budget: RowBudget | None, doc: Document | None, limit: int | None = None) -> Iterator[tuple[int, list[Any]]]:
    """Rows (with the line each starts on) and malformed-line problems. After a
    malformed record, reading resumes on the next line, so one bad quote does not
    lose the rest of the file."""
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    while limit is None or lines.count < limit:
        start = lines.count + 1
        lines.taken, lines.taken_chars = [], 0
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _LineTooLong as exc:
            if doc is not None:
                doc.stopped = f"line {exc.line}: longer than {MAX_LINE:,} characters (not a table row); reading stopped there, the lines before it were read"
            return
        except csv.Error as exc:
            if doc is not None and budget is not None and not budget.take():
                doc.stopped = budget.stop(f"line {start}")
                return
            end = lines.count
            where = f"line {start}" if end <= start else f"lines {start}-{end}"
            problems.append(f"{where}: malformed CSV ({exc})")
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            continue
        split = _spanning(cells, lines.taken, delimiter)
        if split is not None:
            end = start + len(split) - 1
            if all(len(c) == len(cells) for c in split):
                problems.append(
                    f"lines {start}-{end}: a quote opens a value that runs on across {len(split)} lines, each of which holds a whole row "
                    "(a value starting with '\"' in a file written without escaping?); each line was read as a row of its own, "
                    "its quotes taken as written — check these rows against the file"
                )
                records = [(start + i, c) for i, c in enumerate(split)]
            else:
                problems.append(
                    f"lines {start}-{end}: a quote opens a value that runs on across {len(split)} lines, each of which looks like a row "
                    "of its own (a value starting with '\"' in a file written without escaping?); read as one record — "
                    "check these lines against the file"
                )
                records = [(start, cells)]
        else:
            records = [(start, cells)]
        for at, row in records:
            if not _blank(row):
                if doc is not None and budget is not None and not budget.take(len(row)):
                    doc.stopped = budget.stop(f"line {at}")
                    return
                yield at, row


def _delimited_rows(opener: Opener, encoding: _Encoding, delimiter: str, doc: Document, budget: RowBudget | None) -> Iterator[tuple[int, list[Any]]]:
    if doc.stopped or (budget is not None and budget.spent):
        doc.stopped = doc.stopped or (budget.stop("line 1") if budget is not None else None)
        return
    with opener() as fh:
        yield from _records(_Lines(fh, encoding, opener), delimiter, doc.problems, budget, doc)


def read_delimited(
    opener: Opener,
    *,
    score: Callable[[Sequence[Any]], int],
    encoding: str | None = None,
    delimiter: str | None = None,
    budget: RowBudget | None = None,
) -> Document:
    """CSV or other delimited text in any of the usual delimiters. Unless the
    manifest states one, the delimiter is the one under which a header row names
    the most known fields in the first 200 lines (ties go to the first of comma,
    tab, semicolon, bar). The text is decoded as :func:`decode_text` decodes it,
    a chunk at a time; its rows are read as they are asked for."""
    enc = _encoding(opener, encoding)
    if delimiter is None:
        best = (0, DELIMITERS[0])
        for d in DELIMITERS:
            with opener() as fh:
                top = max((score(cells) for _, cells in _records(_Lines(fh, enc, opener), d, [], None, None, limit=200)), default=0)
            if top > best[0]:
                best = (top, d)
        delimiter = best[1]
    doc = Document("csv", [], {"encoding": enc.used, "delimiter": delimiter})
    doc.tables.append(RawTable(None, _delimited_rows(opener, enc, delimiter, doc, budget)))
    return doc


# --- XLSX ------------------------------------------------------------------------------------


def _date_only_format(number_format: str | None) -> bool:
    fmt = re.sub(r'"[^"]*"|\[[^\]]*\]', "", number_format or "").lower()
    return not any(token in fmt for token in ("h", "s", "am/pm", "a/p"))


def _contains(fh: IO[bytes], needle: bytes) -> bool:
    """Whether a seekable file holds ``needle`` (read a chunk at a time)."""
    fh.seek(0)
    tail = b""
    while True:
        data = fh.read(CHUNK)
        if not data:
            return False
        if needle in tail + data:
            return True
        tail = data[-(len(needle) - 1) :]


class _Unnamed:
    """A file as openpyxl is given it: without a name, so that its messages
    (kept in sealed checks) never show where the bundle is being built."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh

    def __getattr__(self, attr: str) -> Any:
        if attr == "name":
            raise AttributeError(attr)
        return getattr(self._fh, attr)


def _oversized_part(fh: IO[bytes]) -> str | None:
    """Why the workbook is not read, if a part of it would expand too far: a
    part openpyxl reads whole (shared strings, styles, …) beyond
    :data:`MAX_PART` bytes, a worksheet (streamed) beyond :data:`MAX_SHEET`.
    (Python's zipfile never inflates a part beyond the size it declares.)"""
    try:
        with zipfile.ZipFile(_Unnamed(fh)) as zf:  # type: ignore[arg-type]
            for info in zf.infolist():
                why = _part_too_big(zf, info)
                if why:
                    return why
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zlib.error):
        return None  # openpyxl says what is wrong with it
    finally:
        fh.seek(0)
    return None


def _part_too_big(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
    cap = MAX_SHEET if sheet else MAX_PART
    if info.file_size > cap:
        return (
            f"its part {info.filename!r} would expand to {info.file_size:,} bytes, more than the {cap:,} evidpack reads "
            f"of one part ({info.compress_size:,} bytes in the file: a decompression bomb?); kept but not read"
        )
    if sheet:
        return None  # (streamed: the row and cell caps bound it)
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > PART_RATIO_FLOOR and ratio > PART_RATIO:
        return (
            f"its part {info.filename!r} would expand {ratio:,.0f}:1 to {info.file_size:,} bytes (cap {PART_RATIO}:1 for a part "
            "evidpack reads whole: a decompression bomb?); kept but not read"
        )
    if posixpath.basename(info.filename).lower() == "styles.xml" and info.file_size > 5 * MAX_STYLE_ELEMENTS:
        elements = 0
        with zf.open(info) as part:
            while data := part.read(CHUNK):
                elements += data.count(b"<")
                if elements > MAX_STYLE_ELEMENTS:
                    return (
                        f"its part {info.filename!r} holds more than {MAX_STYLE_ELEMENTS:,} elements, more than the styles of any real "
                        "workbook (each becomes an object in memory: a memory bomb?); kept but not read"
                    )
    return None


MAX_MERGES = 100_000  # merged ranges of one sheet filled in (real reports have a few hundred)
MAX_ZONED_DATES = 250_000  # ISO date cells (t="d") of one sheet whose stated zone is kept
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?\bref\s*=\s*["\']\$?([A-Za-z]{1,3})\$?(\d{1,7})(?::\$?([A-Za-z]{1,3})\$?(\d{1,7}))?["\']')
_DATE_CELL = re.compile(
    rb'<(?:\w+:)?c\s([^>]*?\bt\s*=\s*["\']d["\'][^>]*)>\s*(?:<(?:\w+:)?f\b[^>]*(?:/>|>[^<]{0,4096}</(?:\w+:)?f>)\s*)?<(?:\w+:)?v>([^<]{1,100})</'
)
_REF = re.compile(rb'\br\s*=\s*["\']\$?([A-Za-z]{1,3})\$?(\d{1,7})["\']')
_STATED_ZONE = re.compile(rb"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)\s*$")


def _column(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


@dataclass
class _SheetExtras:
    """What openpyxl's read-only mode does not give of a sheet, found in one pass
    over its XML: its merged ranges (openpyxl gives only a range's top-left value)
    and the text of ISO date cells (``t="d"``) that state a zone (openpyxl drops it)."""

    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # (first row, first column, last row, last column)
    zoned: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) -> the cell's text
    problems: list[str] = field(default_factory=list)


def _scan_sheet(src: IO[bytes], title: str) -> _SheetExtras:
    out = _SheetExtras()
    buf = b""
    more_merges = more_zoned = 0
    while True:
        data = src.read(CHUNK)
        buf += data
        done = 0
        for m in _MERGE.finditer(buf):
            done = m.end()
            c1, r1 = _column(m.group(1)), int(m.group(2))
            c2, r2 = (_column(m.group(3)), int(m.group(4))) if m.group(3) else (c1, r1)
            if (r1, c1) == (r2, c2):
                continue
            if len(out.merges) >= MAX_MERGES:
                more_merges += 1
                continue
            out.merges.append((min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)))
        for m in _DATE_CELL.finditer(buf):
            done = max(done, m.end())
            text = m.group(2).strip()
            ref = _REF.search(m.group(1))
            if ref is None or not _STATED_ZONE.search(text):
                continue
            if len(out.zoned) >= MAX_ZONED_DATES:
                more_zoned += 1
                continue
            out.zoned[(int(ref.group(2)), _column(ref.group(1)))] = text.decode("utf-8", "replace")
        if not data:
            break
        buf = buf[max(done, len(buf) - 8192) :]
    if more_merges:
        out.problems.append(
            f"sheet {title!r}: {len(out.merges) + more_merges:,} merged cell ranges, more than the {MAX_MERGES:,} evidpack fills in; "
            "the rows of the others hold their value only in the range's first cell"
        )
    if more_zoned:
        out.problems.append(
            f"sheet {title!r}: {len(out.zoned) + more_zoned:,} date cells stating their zone, more than the {MAX_ZONED_DATES:,} "
            "evidpack keeps the zone of; the others were read without it"
        )
    out.merges.sort()
    return out


MERGED_SHOWN = 20  # runs of row numbers (and merged ranges) a merged-cells message names; the rest are counted


class _Filled:
    """The rows and columns of a table that got a merged cell's value filled in,
    kept as runs of row numbers (rows come in order) and a set of columns, so a
    sheet of 200,000 such rows is a short message: :meth:`describe`."""

    def __init__(self, letters: bool = True) -> None:
        self.runs: list[list[int]] = []  # the first MERGED_SHOWN runs only: memory stays flat
        self.total_runs = 0
        self.rows = 0
        self.last = 0  # the last row added
        self.columns: set[int] = set()
        self.letters = letters  # columns named as a spreadsheet names them (A, B, …), else numbered from 1

    def add(self, row: int, column: int) -> None:
        """``column``: 1-based."""
        self.columns.add(column)
        if self.rows and self.last == row:
            return
        self.rows += 1
        if self.rows > 1 and self.last == row - 1:
            if self.total_runs == len(self.runs):
                self.runs[-1][1] = row
        else:
            self.total_runs += 1
            if len(self.runs) < MERGED_SHOWN:
                self.runs.append([row, row])
        self.last = row

    def row_numbers(self) -> str:
        return _runs_text(self.runs, total=self.total_runs)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "row_numbers": self.row_numbers(), "columns": _runs_text(_column_runs(self.columns), letters=self.letters)}

    def describe(self) -> str:
        columns = _runs_text(_column_runs(self.columns), letters=self.letters)
        return f"values filled into {self.rows:,} row(s): {self.row_numbers()}; column(s) {columns}"


def _column_runs(columns: set[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for c in sorted(columns):
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return runs


def _runs_text(runs: list[list[int]], most: int = MERGED_SHOWN, letters: bool = False, total: int | None = None) -> str:
    """``4-5, 9``: the first ``most`` runs, and how many more (``total``: the
    runs there are, when only the first are in ``runs``; bounded whatever the table)."""
    name = _letters if letters else str
    shown = ", ".join(name(a) if a == b else f"{name(a)}-{name(b)}" for a, b in runs[:most])
    total = len(runs) if total is None else total
    return shown + (f" and {total - most:,} more run(s)" if total > most else "")


class _Merged:
    """Fills a sheet's merged ranges in, row by row (rows come in order): every
    cell of a range takes the value of its top-left cell, as the sheet shows it.
    A row whose only values lie in one range (a title merged across the table,
    or the lower rows of a tall merged cell with nothing beside it) is left as it is."""

    def __init__(self, merges: list[tuple[int, int, int, int]]) -> None:
        self._merges = merges
        self._next = 0
        self._active: list[list[Any]] = []  # [first row, first column, last row, last column, value, filled yet]
        self.used: list[str] = []
        self.filled = _Filled()

    def fill(self, number: int, cells: list[Any]) -> int:
        """Fill the row's cells in place; returns how many ranges were looked at."""
        while self._next < len(self._merges) and self._merges[self._next][0] <= number:
            r1, c1, r2, c2 = self._merges[self._next]
            self._next += 1
            if r2 >= number:
                value = cells[c1 - 1] if r1 == number and c1 <= len(cells) else None
                self._active.append([r1, c1, r2, c2, value, False])
        self._active = [m for m in self._active if m[2] >= number]
        if not self._active:
            return 0
        filled = [i for i, c in enumerate(cells) if not _blank([c])]
        for m in self._active:
            r1, c1, r2, c2, value = m[:5]
            if value is None or _blank([value]) or not any(i < c1 - 1 or i > c2 - 1 for i in filled):
                continue
            if len(cells) < c2:
                cells.extend([None] * (c2 - len(cells)))
            for i in range(c1 - 1, c2):
                if (number, i + 1) != (r1, c1) and _blank([cells[i]]):
                    cells[i] = value
                    self.filled.add(number, i + 1)
                    if not m[5]:
                        m[5] = True
                        self.used.append(f"{_letters(c1)}{r1}:{_letters(c2)}{r2}")
        return len(self._active)


def _letters(column: int) -> str:
    out = ""
    while column:
        column, rem = divmod(column - 1, 26)
        out = chr(65 + rem) + out
    return out


_FORMAT_LITERAL = re.compile(r'"([^"]*)"|((?:\\.)+)')
_ZONE_LIKE = re.compile(r"\b(?:utc|gmt)\b|[+-]\s*\d{1,2}(?::?\d{2})?\b|time\s*zone|时间|時間|时区", re.IGNORECASE)


def _format_zone(number_format: str | None, cache: dict[str | None, str | None]) -> str | None:
    """The zone a date format states in a literal (``yyyy-mm-dd hh:mm "UTC"``, as
    the sheet shows it), read or not: None if it states none."""
    if number_format in cache:
        return cache[number_format]
    found = None
    for m in _FORMAT_LITERAL.finditer(number_format or ""):
        literal = (m.group(1) if m.group(1) is not None else m.group(2).replace("\\", "")).strip()
        if not literal:
            continue
        bare = literal.strip("()[]（）【】 ")
        if _ZONE_LIKE.search(literal) or (re.fullmatch(r"[A-Z]{2,5}", bare) and bare not in ("AM", "PM")) or bare == "Z":
            found = literal
            break
        try:
            parse_zone(literal)
        except TimeProblem:
            continue
        found = literal
        break
    cache[number_format] = found
    return found


def read_xlsx(fh: IO[bytes], budget: RowBudget | None = None) -> Document:
    """Every worksheet of an XLSX workbook (hidden ones too, flagged), with typed
    cells: date cells become naive datetimes (a date-only format gives a date).
    ``fh`` is a seekable binary file, read in place (openpyxl's read-only mode):
    the rows of each sheet are read as they are asked for."""
    fh.seek(0)
    head = fh.read(len(CFB_MAGIC))
    if head.startswith(CFB_MAGIC):
        if _contains(fh, _ENCRYPTION_INFO):
            raise Unreadable(
                "password-protected spreadsheet (an encrypted Office file); kept as received but not read — "
                "decrypt a working copy and add it as its own source"
            )
        raise Unreadable("an Excel 97-2003 (.xls) or other OLE file, not XLSX; kept but not read — save a working copy as .xlsx or CSV")
    if not head.startswith(b"PK"):
        raise Unreadable("not an XLSX workbook (not a zip file)")
    too_big = _oversized_part(fh)
    if too_big:
        raise Unreadable(too_big)
    import openpyxl

    doc = Document("xlsx", [], {"sheets": []})
    notes: set[str] = set()

    def guarded(step: Callable[[], Any]) -> Any:
        """Run one step of openpyxl's reading: its warnings are kept as reader
        notes, and any error it raises (it raises many types for a damaged
        workbook) makes the workbook unreadable."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return step()
            except Exception as exc:
                raise Unreadable(f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
            finally:
                notes.update(str(w.message) for w in caught)
                if notes:
                    doc.info["reader_notes"] = sorted(notes)

    wb = guarded(lambda: openpyxl.load_workbook(_Unnamed(fh), read_only=True, data_only=True))
    doc.closer = wb.close
    try:
        epoch = guarded(lambda: "1904" if wb.epoch.year == 1904 else "1900")
        sheets = guarded(lambda: [(ws, ws.title, ws.sheet_state) for ws in wb.worksheets])
    except BaseException:
        doc.close()
        raise
    for ws, title, state in sheets:
        extras = _SheetExtras()
        source = getattr(ws, "_get_source", None)
        if source is not None:
            def scan(source: Any = source, title: str = title) -> _SheetExtras:
                with source() as src:
                    return _scan_sheet(src, title)

            try:
                extras = guarded(scan)
            except BaseException:
                doc.close()
                raise
        doc.problems.extend(extras.problems)
        info: dict[str, Any] = {"state": state, "date_system": epoch}
        doc.tables.append(RawTable(title, _sheet_rows(ws, title, guarded, doc, budget, notes, extras, info), info))
    doc.info["sheets"] = [t.name for t in doc.tables]
    return doc


def _sheet_rows(
    ws: Any,
    title: str,
    guarded: Callable[[Callable[[], Any]], Any],
    doc: Document,
    budget: RowBudget | None,
    notes: set[str],
    extras: _SheetExtras | None = None,
    info: dict[str, Any] | None = None,
) -> Iterator[tuple[int, list[Any]]]:
    """The non-blank rows of a sheet. openpyxl pads every row to the width the
    sheet declares and fills every gap between rows with a blank row: a sheet
    declaring A1:XFD1048576 around two cells would keep a CPU busy for hours. So
    gap rows (one shared blank row) are passed over at no cost, a declared width
    beyond :data:`MAX_COLUMNS` is not padded to, and every cell looked at counts
    against the budget."""
    if doc.stopped:
        return
    width = guarded(lambda: ws.max_column) or 0
    if width > MAX_COLUMNS:
        guarded(ws.reset_dimensions)
        notes.add(f"sheet {title!r} declares {width:,} columns; its rows were read as stored, not padded to that width")
        doc.info["reader_notes"] = sorted(notes)
    rows = guarded(ws.iter_rows)
    extras = extras or _SheetExtras()
    merged = _Merged(extras.merges)
    formats: dict[str | None, str | None] = {}
    last = 0
    while True:
        batch, done = guarded(lambda: _next_rows(rows, _BATCH, merged, extras.zoned, formats))
        if merged.used and info is not None and (info.get("merged_filled") or {}).get("rows") != merged.filled.rows:
            if len(info.get("merged_cells") or ()) != len(merged.used):
                info["merged_cells"] = list(merged.used)
            info["merged_filled"] = merged.filled.to_json()
            shown = ", ".join(merged.used[:MERGED_SHOWN]) + (f" and {len(merged.used) - MERGED_SHOWN:,} more" if len(merged.used) > MERGED_SHOWN else "")
            doc.info.setdefault("merged_cells", {})[title] = f"{shown} ({len(merged.used):,} range(s)): {merged.filled.describe()}"
        for number, cells, looked_at in batch:
            if budget is not None and not budget.take(looked_at, row=number is not None):
                doc.stopped = budget.stop(f"sheet {title!r} row {number}" if number is not None else f"sheet {title!r} after row {last}")
                return
            if number is not None:
                last = number
                yield number, cells
        if done:
            return


def _next_rows(
    rows: Iterator[Any],
    count: int,
    merged: _Merged | None = None,
    zoned: dict[tuple[int, int], str] | None = None,
    formats: dict[str | None, str | None] | None = None,
) -> tuple[list[tuple[int | None, list[Any], int]], bool]:
    """The next ``count`` rows of a sheet as (row number, cells, cells looked at),
    the number None for a blank row; and whether the sheet ended. openpyxl's
    shared blank row (a gap between rows) is passed over. A date cell keeps the
    zone it states: an ISO date cell's own text (``zoned``), or a date format's
    zone literal appended to the time as text (``2026-03-11 14:02:09 UTC``), for
    the time reader to use or refuse — never the manifest's zone in its place.
    Merged ranges are filled in (``merged``)."""
    zoned = zoned or {}
    formats = {} if formats is None else formats
    out: list[tuple[int | None, list[Any], int]] = []
    filler: Any = None
    for _ in range(count):
        row = next(rows, None)
        if row is None:
            return out, True
        if row is filler:
            continue
        number = next((c.row for c in row if getattr(c, "row", None)), None)
        if number is None:
            filler = row  # (openpyxl hands the same blank row for every gap)
            out.append((None, [], len(row)))
            continue
        cells = []
        for c in row:
            v = c.value
            if isinstance(v, datetime):
                stated = zoned.get((number, getattr(c, "column", 0))) if zoned else None
                fmt = getattr(c, "number_format", None)
                if stated is not None:
                    v = stated
                elif v.time() == time(0) and _date_only_format(fmt):
                    v = v.date()
                elif fmt and ('"' in fmt or "\\" in fmt):
                    zone = _format_zone(fmt, formats)
                    if zone is not None:
                        v = f"{v.isoformat(sep=' ')} {zone}"
            cells.append(v)
        looked_at = len(row)
        if merged is not None:
            looked_at += merged.fill(number, cells)
        out.append((None, [], looked_at) if _blank(cells) else (number, cells, looked_at))
    return out, False


def zip_is_workbook(file: Any) -> bool:
    """Whether a zip (path or binary file) is an XLSX workbook rather than an archive of files."""
    try:
        with zipfile.ZipFile(file) as zf:
            return "xl/workbook.xml" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


# --- JSON ------------------------------------------------------------------------------------


def read_json(
    data: bytes, *, score: Callable[[Sequence[Any]], int], lines: bool = False, encoding: str | None = None, budget: RowBudget | None = None
) -> Document:
    """A JSON document (or JSON Lines): every array of objects becomes a table
    named by its JSON path, and so does a lone object whose keys name at least
    two known fields. Rows are the array items, numbered from 1."""
    items = data.count(b"{") + data.count(b"[") + data.count(b",")
    if items > MAX_JSON_ITEMS:
        raise Unreadable(
            f"not read: {items:,} brackets and commas, more than the {MAX_JSON_ITEMS:,} evidpack parses in a JSON file "
            "(it is read whole; a decompression bomb?); kept as received"
        )
    text, used = decode_text(data, encoding)
    obj: Any = []
    try:
        if lines:
            for lineno, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    obj.append(json.loads(line, object_pairs_hook=_object))
        else:
            lineno = 0
            obj = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        where = f"line {lineno}" if lines else f"line {exc.lineno}"
        raise Unreadable(f"not valid JSON ({where}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        where = f" (line {lineno})" if lines else ""
        raise Unreadable(_TOO_DEEP.format(where=where, most=MAX_JSON_DEPTH)) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        where = f" (line {lineno})" if lines else ""
        what = "a number too long to convert (more than 4,300 digits)" if "digits" in str(exc) else f"a value evidpack cannot take ({exc})"
        raise Unreadable(f"not read: it holds {what}{where}; kept as received") from None
    if _json_depth(obj) > MAX_JSON_DEPTH:
        raise Unreadable(_TOO_DEEP.format(where="", most=MAX_JSON_DEPTH))
    doc = Document("jsonl" if lines else "json", [], {"encoding": used})
    _json_tables(obj, "$", doc, score)
    for table in doc.tables:
        table.rows = _budgeted(table.rows, budget, doc, lambda n, name=table.name: f"{name} item {n}" if n else f"{name} (its keys)")
    return doc


_TOO_DEEP = "not read: arrays and objects nested more than {most} levels deep{where} (no production nests so deep; a hostile file?); kept as received"


def _json_depth(obj: Any) -> int:
    """How deeply arrays and objects nest in ``obj`` (a scalar: 0), found without recursion."""
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


class Conflict(list):  # type: ignore[type-arg]
    """The different values one JSON object gives a key it holds more than once
    (``{"phone": "+65…", "phone": "+86…"}``), in order. ``json`` would keep the
    last silently; the reader keeps them all and the row that holds them has a
    problem naming the key (see ``Production._row``). A key repeated with the
    same value is read once."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: an object as a dict, a key given different values kept as a :class:`Conflict`."""
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    out = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
            continue
        seen = out[key] if isinstance(out[key], Conflict) else Conflict([out[key]])
        if all(_canonical(value) != _canonical(v) for v in seen):
            seen.append(value)
        if len(seen) > 1:
            out[key] = seen
    return out


def _scalar(value: Any) -> bool:
    return not isinstance(value, (list, dict))


def _json_tables(obj: Any, path: str, doc: Document, score: Callable[[Sequence[Any]], int], in_row: bool = False) -> None:
    """The tables of a JSON value: an array of objects (a row each, keyed by
    their keys); an array of row arrays (arrays of single values; its header row
    is found by name, as in a CSV file); a lone object whose keys name two known
    fields. Outside a row, any other array and any object's single values are
    listed as a table not read (``unrecognised``), never skipped silently;
    inside a row they are that row's cells, kept with it."""
    if isinstance(obj, Conflict):
        for n, each in enumerate(obj, 1):
            _json_tables(each, path if n == 1 else f"{path} (value {n})", doc, score, in_row)
    elif isinstance(obj, list):
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
                _nested(item, f"{path}[{n}]", doc, score, in_row=True)
        elif obj and all(isinstance(item, list) and all(_scalar(c) for c in item) for item in obj):
            # an array of row arrays: [["WeChat ID", "Nickname"], ["wxid_…", "…"]], item n is row n
            doc.tables.append(RawTable(path, [(n, list(item)) for n, item in enumerate(obj, 1) if not _blank(item)], {"header": "row arrays"}))
        else:
            single = [(n, [item]) for n, item in enumerate(obj, 1) if _scalar(item) and not _blank([item])]
            if single and not in_row:
                doc.tables.append(RawTable(path, single, {"header": "none: an array of single values"}))
            for n, item in enumerate(obj):
                if isinstance(item, list):
                    _json_tables(item, f"{path}[{n}]", doc, score, in_row)
                else:
                    _nested(item, f"{path}[{n}]", doc, score, in_row)
    elif isinstance(obj, dict):
        if score(list(obj)) >= 2:
            keys = list(obj)
            doc.tables.append(RawTable(path, [(0, keys), (1, [obj[k] for k in keys])], {"header": "object keys"}))
            _nested(obj, path, doc, score, in_row=True)
            return
        _nested(obj, path, doc, score, in_row)


def _member_path(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _nested(obj: Any, path: str, doc: Document, score: Callable[[Sequence[Any]], int], in_row: bool = False) -> None:
    """The tables inside an object (``in_row``: one read as a row, whose single
    values are its cells). Outside a row, the object's single values are listed
    as a table not read, and a key given different values is a problem."""
    if not isinstance(obj, dict):
        return
    single: list[tuple[int, list[Any]]] = []
    for n, (k, v) in enumerate(obj.items(), 1):
        where = _member_path(path, k)
        values = [(where, v)]
        if isinstance(v, Conflict):
            values = [(where if i == 1 else f"{where} (value {i})", each) for i, each in enumerate(v, 1)]
            if not in_row:  # (in a row, the row has the problem: see Production._row)
                doc.problems.append(
                    f"{where}: the key {k!r} appears {len(v)} times in one object, with different values; "
                    f"every value is kept (the later ones as '{where} (value 2)'…), none is read in place of another"
                )
        for name, each in values:
            if isinstance(each, (list, dict)):
                _json_tables(each, name, doc, score, in_row)
            elif not in_row and not _blank([each]):
                single.append((n, [f"{name[len(path):].lstrip('.')}: {json.dumps(each, ensure_ascii=False)}"]))
    if single:
        doc.tables.append(RawTable(path, single, {"header": "none: the single values of an object outside any table"}))


# --- HTML ------------------------------------------------------------------------------------


MAX_SPAN = 1000  # columns one cell may span (HTML's own cap); rows: as many as the table has
MAX_HTML_CELLS = 8_000_000  # cells of a page's tables once spans are filled in


class _Table:
    """A table being parsed: its rows of (text, colspan, rowspan), and the cell and row open in it."""

    def __init__(self) -> None:
        self.rows: list[list[tuple[str, int, int]]] = []
        self.cell: list[str] | None = None
        self.span = (1, 1)
        self.row_open = False

    def close_cell(self) -> None:
        if self.cell is not None:
            self.rows[-1].append(("".join(self.cell).strip(" \t\r\n"), *self.span))
            self.cell = None

    def close_row(self) -> None:
        self.close_cell()
        self.row_open = False


def _span(attrs: list[tuple[str, str | None]], name: str, cap: int) -> int:
    value = next((v for k, v in attrs if k == name), None)
    m = re.match(r"\s*(\d+)", value or "")
    if not m:
        return 1
    n = int(m.group(1)[:7])
    return cap if n == 0 and name == "rowspan" else max(1, min(n, cap))  # rowspan=0: to the end of the table


class _TableParser(HTMLParser):
    """The tables of a page, as a browser builds them: an end tag HTML lets one
    leave out (``</td>``, ``</th>``, ``</tr>``) is implied by the next cell, row or
    the table's end; a table inside a cell is a table of its own."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[_Table] = []
        self._stack: list[_Table] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        top = self._stack[-1] if self._stack else None
        if tag == "table":
            table = _Table()
            self.tables.append(table)
            self._stack.append(table)
        elif top is None:
            return
        elif tag == "tr" or tag in ("thead", "tbody", "tfoot"):
            top.close_row()
            if tag == "tr":
                top.rows.append([])
                top.row_open = True
        elif tag in ("td", "th"):
            top.close_cell()
            if not top.row_open:
                top.rows.append([])
                top.row_open = True
            top.cell = []
            top.span = (_span(attrs, "colspan", MAX_SPAN), _span(attrs, "rowspan", 65534))
        elif tag == "br" and top.cell is not None:
            top.cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if not self._stack:
            return
        top = self._stack[-1]
        if tag in ("td", "th"):
            top.close_cell()
        elif tag in ("tr", "thead", "tbody", "tfoot"):
            top.close_row()
        elif tag == "table":
            top.close_row()
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1].cell is not None:
            self._stack[-1].cell.append(data)

    def close(self) -> None:
        super().close()
        while self._stack:
            self._stack.pop().close_row()


def _grid(rows: list[list[tuple[str, int, int]]], budget: list[int]) -> tuple[list[list[str]], _Filled]:
    """A table's rows with spanned cells filled in: a cell spanning columns or rows
    has its text in each (as the table shows it), so no later cell moves into the
    wrong column. A row of one cell alone (a title spanning the table) is left as
    it is. Also the rows (1-based) and columns that hold a cell of another row or column."""
    out: list[list[str]] = []
    filled = _Filled(letters=False)
    below: dict[int, tuple[int, str]] = {}  # column -> (rows still to fill, text) of a cell spanning rows
    for r, cells in enumerate(rows, 1):
        row: list[str] = []

        def fill_below() -> None:
            while len(row) in below:
                left, text = below[len(row)]
                row.append(text)
                filled.add(r, len(row))
                if left <= 1:
                    del below[len(row) - 1]
                else:
                    below[len(row) - 1] = (left - 1, text)

        alone = len(cells) == 1 and not below  # a title spanning the table: left as one cell
        for text, colspan, rowspan in cells:
            fill_below()
            colspan = 1 if alone else colspan
            for n in range(colspan):
                if rowspan > 1:
                    below[len(row)] = (rowspan - 1, text)
                row.append(text)
                if n:
                    filled.add(r, len(row))
        last = max(below, default=-1)  # a cell spanning down into columns beyond this row's own cells
        while len(row) <= last:
            if len(row) not in below:
                row.append("")
            fill_below()
        budget[0] -= len(row)
        if budget[0] < 0:
            raise Unreadable(
                f"not read: its tables' cells, their column and row spans filled in, are more than the {MAX_HTML_CELLS:,} evidpack reads "
                "of an HTML file (a decompression bomb?); kept as received"
            )
        out.append(row)
    return out, filled


def read_html(data: bytes, encoding: str | None = None, budget: RowBudget | None = None) -> Document:
    """Every ``<table>`` of an HTML page; a cell's text has the page's layout
    whitespace (spaces and line breaks at its edges) removed."""
    tags = data.count(b"<")
    if tags > MAX_HTML_TAGS:
        raise Unreadable(
            f"not read: {tags:,} tags, more than the {MAX_HTML_TAGS:,} evidpack parses in an HTML file "
            "(it is read whole; a decompression bomb?); kept as received"
        )
    text, used = decode_text(data, encoding)
    parser = _TableParser()
    parser.feed(text)
    parser.close()
    doc = Document("html", [], {"encoding": used})
    merged: dict[str, str] = {}
    cells_left = [MAX_HTML_CELLS]
    for n, table in enumerate(parser.tables, 1):
        rows, filled = _grid(table.rows, cells_left)
        kept = [(r, cells) for r, cells in enumerate(rows, 1) if not _blank(cells)]
        info: dict[str, Any] = {}
        if filled.rows:
            info["merged_cells"] = [f"row(s) {filled.row_numbers()} (colspan/rowspan)"]
            info["merged_filled"] = filled.to_json()
            merged[f"table {n}"] = f"(colspan/rowspan): {filled.describe()}"
        doc.tables.append(RawTable(f"table {n}", _budgeted(kept, budget, doc, lambda r, n=n: f"table {n} row {r}"), info))
    if merged:
        doc.info["merged_cells"] = merged
    return doc
