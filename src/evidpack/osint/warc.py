"""WARC and WARC.gz captures: one entry per record, every declared digest checked.

Records are read with warcio without letting it parse HTTP, so the block is seen
byte for byte as stored. For each record the WARC-Block-Digest is computed over
the whole block and the WARC-Payload-Digest over the payload: the part after the
HTTP headers for ``application/http`` records, the whole block otherwise. When a
response uses chunked transfer coding, tools disagree on whether the payload
digest covers the chunked or the de-chunked body (WARC 1.1 §5.9 and the
IIPC discussion of it); evidpack accepts either and records which one matched.

Verdicts: ``pass``; ``fail`` (the digest differs); ``not-checkable`` with the
reason (none declared, a revisit record whose payload is elsewhere, an
algorithm or encoding evidpack does not know). A record shorter than its
Content-Length is truncated: a failure. A ``.warc.gz`` must compress each record
as its own gzip member (so tools can seek to a record); a file that is one gzip
member for the whole file is reported, and its records are still read from the
decompressed stream.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import http.client
import io
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from ..importers.containers import Limits
from ..timeparse import TimeProblem, read_time

_ALGORITHMS = {"sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256", "md5": "md5", "sha512": "sha512", "sha-512": "sha512"}
_HEADER_LIMIT = 1 << 20
_BAD_CONTINUATION = re.compile(r"Offset: (\d+)")


class CaptureSink(Protocol):
    """Where a scan hands each capture as it is read (see :class:`evidpack.osint.spool.CaptureSpool`)."""

    def add(self, capture: dict[str, Any]) -> None: ...

    def mark(self) -> Any: ...

    def rewind(self, mark: Any) -> None: ...


DIGESTS = ("block_digest", "payload_digest")


@dataclass
class WarcScan:
    """What a scan found. The captures go to the ``sink`` given to
    :func:`scan_warc` as they are read (memory does not grow with them); without
    one they are kept in ``captures``. Either way the scan counts them."""

    captures: list[dict[str, Any]] = field(default_factory=list)  # only when scan_warc had no sink
    problems: list[str] = field(default_factory=list)  # each one is a failed check
    gzip_members: int | None = None  # None: not gzip
    whole_file_gzip: bool = False  # a gzip member holds more than one record (warcio refuses the file)
    multi_record_member: int | None = None  # which member, when the file has more than one
    records: int = 0  # records read
    tallies: dict[str, dict[str, int]] = field(default_factory=dict)  # digest verdicts, by digest
    records_with_problems: int = 0
    record_problems: int = 0  # problems in all those records
    first_bad: dict[str, Any] | None = None  # the first record with a problem: record, record_id, offset, problem
    last_offset: int | None = None  # where the last record read starts
    sink: CaptureSink | None = None

    def __post_init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.captures = []
        self.records = self.records_with_problems = self.record_problems = 0
        self.first_bad, self.last_offset = None, None
        self.tallies = {which: {"pass": 0, "fail": 0, "not-checkable": 0} for which in DIGESTS}

    def add(self, capture: dict[str, Any]) -> None:
        self.records += 1
        self.last_offset = capture["offset"]
        for which in DIGESTS:
            self.tallies[which][capture[which]["verdict"]] += 1
        if capture["problems"]:
            self.records_with_problems += 1
            self.record_problems += len(capture["problems"])
            if self.first_bad is None:
                self.first_bad = {k: capture[k] for k in ("record", "record_id", "offset")} | {"problem": capture["problems"][0]}
        if self.sink is None:
            self.captures.append(capture)
        else:
            self.sink.add(capture)

    def tally(self, which: str) -> dict[str, int]:
        return dict(self.tallies[which])


# --- digests -----------------------------------------------------------------------------------


def _decode_digest(value: str, size: int) -> tuple[bytes, str] | None:
    """The digest bytes and the encoding used (base32, hex or base64), or None."""
    v = value.strip()
    if len(v) == 2 * size and re.fullmatch(r"[0-9A-Fa-f]+", v):
        return bytes.fromhex(v), "hex"
    b32 = v.upper().rstrip("=")
    if len(b32) == -(-size * 8 // 5) and re.fullmatch(r"[A-Z2-7]+", b32):
        return base64.b32decode(b32 + "=" * (-len(b32) % 8)), "base32"
    try:
        raw = base64.b64decode(v + "=" * (-len(v) % 4), altchars=b"-_" if ("-" in v or "_" in v) else None, validate=True)
    except (binascii.Error, ValueError):
        return None
    return (raw, "base64") if len(raw) == size else None


def _encode(raw: bytes, how: str) -> str:
    if how == "hex":
        return raw.hex()
    if how == "base32":
        return base64.b32encode(raw).decode().rstrip("=")
    return base64.b64encode(raw).decode()


class _Digest:
    """One declared digest and the hash computed to check it."""

    def __init__(self, declared: str | None) -> None:
        self.declared = declared
        self.reason: str | None = None
        self.alg: str | None = None
        self.expected: tuple[bytes, str] | None = None
        self.hashers: list[Any] = []
        if declared is None:
            self.reason = "no digest declared"
            return
        name, _, value = declared.partition(":")
        alg = _ALGORITHMS.get(name.strip().lower())
        if alg is None:
            self.reason = f"algorithm {name!r} is not one evidpack computes"
            return
        expected = _decode_digest(value, hashlib.new(alg).digest_size)
        if expected is None:
            self.reason = f"{declared!r} is not a {alg} digest in base32, hex or base64"
            return
        self.alg, self.expected = alg, expected

    @property
    def checkable(self) -> bool:
        return self.expected is not None

    def new(self) -> Any:
        assert self.alg is not None
        h = hashlib.new(self.alg)
        self.hashers.append(h)
        return h

    def result(self, labels: tuple[str, ...] = ("block",)) -> dict[str, Any]:
        out: dict[str, Any] = {"declared": self.declared}
        if not self.checkable or not self.hashers:
            return {**out, "verdict": "not-checkable", "reason": self.reason or "not computed"}
        assert self.expected is not None and self.alg is not None
        raw, how = self.expected
        prefix = str(self.declared).partition(":")[0]
        digests = [h.digest() for h in self.hashers]
        for digest, label in zip(digests, labels):
            if digest == raw:
                return {**out, "computed": f"{prefix}:{_encode(digest, how)}", "verdict": "pass", "over": label}
        return {**out, "computed": f"{prefix}:{_encode(digests[0], how)}", "verdict": "fail", "over": labels[0]}


class _Dechunker:
    """Removes HTTP/1.1 chunked transfer coding from a body fed piece by piece.
    Each byte fed is looked at a bounded number of times (the buffer is walked with
    an offset and trimmed once per feed), so many tiny chunks cost no more than few
    big ones. A body of very many tiny chunks (more than :data:`CHUNKS_FREE`,
    averaging under :data:`CHUNK_AVERAGE` bytes) is given up (``gave_up``): each
    chunk costs Python work, and a few bytes each would make a small file take
    minutes."""

    LINE_LIMIT = 1024  # a chunk-size line longer than this is not chunked coding
    CHUNKS_FREE = 100_000
    CHUNK_AVERAGE = 256

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self.sink = sink
        self.buf = bytearray()
        self.data_left = 0  # bytes of chunk data still to come
        self.crlf_left = 0  # bytes of the CRLF after chunk data still to skip
        self.done = False
        self.broken = False
        self.gave_up = False
        self.chunks = 0
        self.fed = 0

    def feed(self, data: bytes) -> None:
        if self.done or self.broken or self.gave_up:
            return
        self.fed += len(data)
        buf = self.buf
        buf += data
        pos, end = 0, len(buf)
        with memoryview(buf) as view:
            while pos < end and not (self.done or self.broken):
                if self.data_left:
                    take = min(self.data_left, end - pos)
                    self.sink(view[pos : pos + take])
                    pos, self.data_left = pos + take, self.data_left - take
                    if not self.data_left:
                        self.crlf_left = 2
                elif self.crlf_left:
                    skip = min(self.crlf_left, end - pos)
                    pos, self.crlf_left = pos + skip, self.crlf_left - skip
                else:
                    eol = buf.find(b"\r\n", pos, min(end, pos + self.LINE_LIMIT + 2))
                    if eol < 0:
                        self.broken = end - pos > self.LINE_LIMIT
                        break
                    try:
                        size = int(bytes(view[pos:eol]).split(b";")[0].strip(), 16)
                    except ValueError:
                        self.broken = True
                        break
                    pos, self.data_left, self.done = eol + 2, size, size == 0
                    self.chunks += 1
                    if self.chunks > self.CHUNKS_FREE and self.chunks * self.CHUNK_AVERAGE > self.fed:
                        self.gave_up = True
        del buf[:pos]


# --- records -------------------------------------------------------------------------------------


def _http_head(head: bytes) -> dict[str, Any]:
    first, _, rest = head.partition(b"\r\n")
    out: dict[str, Any] = {}
    parts = first.decode("latin-1").split(" ", 2)
    if parts and parts[0].upper().startswith("HTTP/") and len(parts) >= 2 and parts[1].isdigit():
        out["http_status"] = int(parts[1])
    elif len(parts) >= 2:
        out["http_method"] = parts[0]
    try:
        headers = http.client.parse_headers(io.BytesIO(rest))
    except http.client.HTTPException:
        return out
    out["payload_type"] = headers.get("Content-Type")
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        out["chunked"] = True
    return out


def _read_record(record: Any, capture: dict[str, Any]) -> None:
    """Read one record's block once, computing both declared digests."""
    h = record.rec_headers
    block = _Digest(h.get_header("WARC-Block-Digest"))
    payload = _Digest(h.get_header("WARC-Payload-Digest"))
    rtype = capture["record_type"]
    if rtype == "revisit" and payload.declared:
        payload.reason = "revisit record: the payload is stored in the record it refers to"
        payload.expected = None
    is_http = (h.get_header("Content-Type") or "").lower().startswith("application/http")
    block_h = block.new() if block.checkable else None
    payload_h = payload.new() if payload.checkable else None
    dechunked_h = None
    dechunker: _Dechunker | None = None
    head = bytearray()
    in_head = is_http
    total = 0

    def body(data: bytes) -> None:
        if payload_h is not None:
            payload_h.update(data)
        if dechunker is not None:
            dechunker.feed(data)

    while True:
        chunk = record.raw_stream.read(1 << 16)
        if not chunk:
            break
        total += len(chunk)
        if block_h is not None:
            block_h.update(chunk)
        if not in_head:
            body(chunk)
            continue
        head += chunk
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > _HEADER_LIMIT:
                in_head = False
                payload.reason, payload.hashers = "no end of HTTP headers found", []
            continue
        in_head = False
        capture.update(_http_head(bytes(head[:end])))
        if capture.get("chunked") and payload_h is not None:
            dechunked_h = payload.new()
            dechunker = _Dechunker(dechunked_h.update)
        body(bytes(head[end + 4 :]))
    if in_head and is_http:
        payload.reason, payload.hashers = "no end of HTTP headers found", []
        if head:
            capture.update(_http_head(bytes(head)))
    if dechunker is not None and dechunker.gave_up:  # the payload as stored is still checked
        payload.hashers = payload.hashers[:1]
        dechunked_h = None
    declared_length = h.get_header("Content-Length")
    capture["content_length"] = int(declared_length) if declared_length and declared_length.isdigit() else declared_length
    capture["bytes_read"] = total
    capture["block_digest"] = block.result()
    labels = ("payload as stored", "payload with chunked transfer coding removed")
    capture["payload_digest"] = payload.result(labels if dechunked_h is not None else labels[:1])
    if dechunker is not None and dechunker.gave_up and capture["payload_digest"]["verdict"] == "fail":
        capture["payload_digest"] = {
            "declared": payload.declared,
            "verdict": "not-checkable",
            "reason": f"the payload as stored does not match, and with more than {dechunker.CHUNKS_FREE:,} chunks averaging under "
            f"{dechunker.CHUNK_AVERAGE} bytes its de-chunked form was not computed",
        }
    if declared_length is None:
        capture["problems"].append("no Content-Length header (the record header is damaged or cut)")
    elif isinstance(capture["content_length"], int) and total < capture["content_length"]:
        capture["problems"].append(f"truncated: Content-Length is {capture['content_length']} but only {total} bytes remain")
    for which in ("block_digest", "payload_digest"):
        d = capture[which]
        if d["verdict"] == "fail":
            capture["problems"].append(f"{which.replace('_', ' ')} {d['declared']} does not match the data ({d['computed']})")


def _capture(record: Any, n: int) -> dict[str, Any]:
    h = record.rec_headers
    capture: dict[str, Any] = {
        "format": "warc",
        "record": n,
        "warc_version": h.protocol,
        "record_type": h.get_header("WARC-Type"),
        "record_id": h.get_header("WARC-Record-ID"),
        "target_uri": h.get_header("WARC-Target-URI"),
        "warc_date": None,
        "ip_address": h.get_header("WARC-IP-Address"),
        "content_type": h.get_header("Content-Type"),
        "problems": [],
    }
    for header, key in (("WARC-Date", "warc_date"), ("WARC-Refers-To-Date", "refers_to_date")):
        date = h.get_header(header)
        if date is None:
            continue
        try:
            capture[key] = read_time(date).to_json()
        except TimeProblem as exc:
            capture[key] = {"original": date, "utc": None}
            capture["problems"].append(f"{header}: {exc}")
    for header, key in (
        ("WARC-Identified-Payload-Type", "identified_payload_type"),
        ("WARC-Concurrent-To", "concurrent_to"),
        ("WARC-Refers-To", "refers_to"),
        ("WARC-Refers-To-Target-URI", "refers_to_target_uri"),
        ("WARC-Profile", "profile"),
        ("WARC-Truncated", "warc_truncated"),
        ("WARC-Filename", "warc_filename"),
    ):
        value = h.get_header(header)
        if value is not None:
            capture[key] = value
    return capture


def gzip_members(stream: BinaryIO, limits: Limits = Limits(), until: int | None = None) -> tuple[int, str | None]:
    """How many gzip members the stream holds, and a problem if one is corrupt,
    the file ends inside one, or it expands beyond the device importer's caps
    (``limits``). Output is discarded as it is made. With ``until``, counting
    stops at the member holding that offset of the file: its number is returned."""
    members = 0
    d = zlib.decompressobj(31)
    fed = False
    read = produced = 0
    while True:
        data = stream.read(1 << 20)
        if not data:
            break
        read += len(data)
        while data:
            try:
                produced += len(d.decompress(data, 1 << 20))
                while d.unconsumed_tail and not d.eof:
                    produced += len(d.decompress(d.unconsumed_tail, 1 << 20))
                    if produced > limits.max_expanded or (produced > limits.ratio_floor and produced > limits.max_ratio * read):
                        break
            except zlib.error as exc:
                return members, f"gzip member {members + 1} is corrupt ({exc})"
            if produced > limits.max_expanded:
                return members, f"expands beyond the cap of {limits.max_expanded:,} bytes; its records were not read"
            if produced > limits.ratio_floor and produced > limits.max_ratio * read:
                return members, f"expands more than {limits.max_ratio:,.0f}:1 (cap); its records were not read"
            fed = True
            if not d.eof:
                break
            members += 1
            if until is not None and read - len(d.unused_data) > until:
                return members, None  # the next member starts after ``until``
            data, d, fed = d.unused_data, zlib.decompressobj(31), False
    if fed:
        return members, f"gzip member {members + 1} is cut short (the file ends inside it)"
    return members, None


def scan_warc(open_stream: Callable[[], BinaryIO], *, gzipped: bool, limits: Limits = Limits(), sink: CaptureSink | None = None) -> WarcScan:
    """Every record of a WARC (``open_stream`` opens it afresh from the bundle),
    each capture handed to ``sink`` as it is read (kept in the scan's
    ``captures`` without one). A stream that cannot be read (an OSError, such as
    a zip member zipfile refuses) is a problem of the scan, never an exception."""
    scan = WarcScan(sink=sink)
    start = sink.mark() if sink is not None else None
    try:
        with open_stream() as fh:
            head = fh.read(4096)
        if gzipped and head.startswith(b"\x1f\x8b"):
            try:
                head = zlib.decompressobj(31).decompress(head, 8)
            except zlib.error as exc:
                scan.problems.append(f"gzip member 1 is corrupt ({exc})")
                return scan
        if not head.startswith(b"WARC/"):
            scan.problems.append(f"not a WARC file (it starts with {head[:8].hex(' ') or 'nothing: it is empty'})")
            return scan
        if gzipped:
            with open_stream() as fh:
                scan.gzip_members, problem = gzip_members(fh, limits)
            if problem:
                scan.problems.append(problem)
                if problem.startswith("expands"):
                    return scan  # (nothing more is inflated)
        with open_stream() as fh:
            try:
                _iterate(fh, scan, "file")
                return scan
            except ArchiveLoadFailed as exc:
                if "non-chunked gzip" not in str(exc):
                    raise
        # A gzip member holding more than one record (the whole file, or one of several members):
        # warcio refuses it (it cannot seek to those records); read the records from the
        # decompressed stream instead, and say which member.
        scan.whole_file_gzip = True
        if scan.gzip_members and scan.gzip_members > 1 and scan.last_offset is not None:
            with open_stream() as fh:
                scan.multi_record_member, _ = gzip_members(fh, limits, until=scan.last_offset)
        scan._reset()  # (the records read so far are read again)
        if sink is not None:
            sink.rewind(start)
        import gzip

        with open_stream() as raw, gzip.GzipFile(fileobj=raw) as fh:
            _iterate(fh, scan, "decompressed stream")
    except OSError as exc:
        scan.problems.append(f"cannot be read ({_one_line(str(exc)) or type(exc).__name__})")
    return scan


def _iterate(fh: BinaryIO, scan: WarcScan, offsets: str) -> None:
    err = io.StringIO()
    n = 0
    try:
        with contextlib.redirect_stderr(err):  # warcio prints warnings to stderr
            it = ArchiveIterator(fh, no_record_parse=True)
            for n, record in enumerate(it, 1):
                capture = _capture(record, n)
                _read_record(record, capture)
                capture["offset"] = it.get_record_offset()
                capture["offset_in"] = offsets
                for m in _BAD_CONTINUATION.finditer(err.getvalue()):
                    capture["problems"].append(
                        f"not followed by the blank lines that end a WARC record (at offset {m.group(1)}): its Content-Length may be wrong"
                    )
                err.seek(0)
                err.truncate()
                scan.add(capture)
    except ArchiveLoadFailed as exc:
        if "non-chunked gzip" in str(exc):
            raise
        scan.problems.append(f"record {n + 1}: cannot be read ({_one_line(str(exc))}); the records after it were not read")
    except (EOFError, OSError, zlib.error, ValueError) as exc:
        scan.problems.append(f"record {n + 1}: cannot be read ({_one_line(str(exc)) or type(exc).__name__}); the records after it were not read")


def _one_line(text: str) -> str:
    return " ".join(text.split())
