"""The court-ready PDF index of a bundle (``evidpack/index.pdf``).

:func:`render_index` reads a bundle through :class:`evidpack.bundle.Bundle`
(so a folder, a zip, or the folder a build is sealing) and returns the PDF:
cover, contents, one section per source, the item schedule, the custody log
and how to verify. Each part is made by its own module; this one gathers what
they read and puts them in order.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from array import array
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import IO, Any

from reportlab.platypus import Flowable, PageBreak

from .. import bag
from ..bundle import Bundle, zip_bomb_problem
from ..custody import CUSTODY_FILE, MAX_LINE, RawLine, parse_event, bundle_log, iter_raw_lines, line_hash, parse_lines
from ..errors import EvidpackError
from . import cover, custody_log, schedule, sources, verifying
from .document import Contents, Entry, Heading, Identity, LateDigest, ReportDocument, body_pages
from .flowables import keep_with_next
from .styles import H1

TAGMANIFEST = "tagmanifest-sha256.txt"
RECORDS = "evidpack/records/"


@dataclass
class IndexInput:
    """Everything the index prints, read from the bundle once."""

    bundle: Bundle
    case: dict[str, Any]
    seal: dict[str, Any]
    sources: list[dict[str, Any]]
    tagmanifest_sha256: str  # while sealing, the stand-in of ``late``
    record_files: list[str]  # the derived records (evidpack/records/...), sorted
    custody: Collection[dict[str, Any]]  # one per line of the log (an unreadable line as an event saying so)
    at_seal: bool  # rendered while sealing: the 'sealed' event is not in ``custody`` yet
    rendered_at: datetime
    pdf_signer: str | None = None  # subject of the X.509 certificate that signs the PDF, if any
    late: LateDigest | None = None  # while sealing: the tag manifest is written as the PDF is saved
    custody_head: str | None = None  # SHA-256 of the log's last line
    _records: dict[Any, Any] = field(default_factory=dict)  # rel (or rel and the lists streamed) -> the record

    @property
    def case_id(self) -> str:
        return str(self.case.get("id") or self.seal.get("case") or "")

    @property
    def digests(self) -> tuple[str, ...]:
        return tuple(self.seal.get("digests") or ("sha256",))

    @property
    def signer(self) -> dict[str, Any]:
        return self.seal.get("signer") or {}

    @cached_property
    def tool(self) -> str:
        tool = self.seal.get("tool") or {}
        return f"{tool.get('name', '?')} {tool.get('version', '?')}"

    def records_of(self, source_id: str) -> "SourceRecords":
        """The derived JSON records of a source, by name without the ``<source>-``
        prefix (``S02-wechat.json`` -> ``wechat``), each read when first asked for."""
        prefix = f"{RECORDS}{source_id}-"
        return SourceRecords(
            self, {rel[len(prefix) : -len(".json")]: rel for rel in self.record_files if rel.startswith(prefix) and rel.endswith(".json")}
        )

    def record(self, rel: str, streamed: tuple[str, ...] = ()) -> Any:
        """A derived record, read whole; with ``streamed``, those of its
        top-level lists are :class:`StreamedList`s (see :func:`read_record`)."""
        key = (rel, streamed) if streamed else rel
        if key not in self._records:
            self._records[key] = read_record(self.bundle, rel, streamed) if streamed else _json(self.bundle, rel)
        return self._records[key]


class SourceRecords(Mapping[str, Any]):
    """A source's derived JSON records by name, each read (and kept) when first
    asked for; :meth:`streamed` reads one with its large lists left on disk."""

    def __init__(self, data: IndexInput, rels: dict[str, str]) -> None:
        self._data, self._rels = data, rels

    def __getitem__(self, name: str) -> Any:
        return self._data.record(self._rels[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._rels)

    def __len__(self) -> int:
        return len(self._rels)

    def streamed(self, name: str, lists: tuple[str, ...]) -> Any:
        """The record ``name`` (None if there is none) with its top-level lists
        named in ``lists`` read back entry by entry as they are drawn."""
        rel = self._rels.get(name)
        return None if rel is None else self._data.record(rel, lists)


# --- records with lists too large to hold ------------------------------------------------------------------

# A record is written as json.dumps(record, indent=1, sort_keys=True) and a newline (see
# wechat.production.Production.write_record): a top-level member starts a line indented by one
# space and a quote, an entry of a top-level list a line indented by two spaces, and no other
# line has an indent of one or two spaces but the closing ones (a line break inside a value is
# always escaped). This finds those lines: indent 1 (any), or indent 2 not closing.
_LINE = re.compile(rb"\n(?: (?! )|  (?![ \]}]))")
_KEY, _CLOSE, _ENTRY = 1, 2, 3  # a line starting a member (' "'), another at indent 1, an entry of a list
_BLOCK = 1 << 20


class StreamedList(Collection[Any]):
    """A top-level list of a derived record, never held in memory: its entries
    are read back from the record file, one at a time, each time it is
    iterated (a bundle's file or zip member, read from where the first entry
    starts). :func:`read_record` notes where each entry starts (eight bytes an
    entry) and has checked that each is valid JSON."""

    def __init__(self, bundle: Bundle, rel: str, starts: array, end: int) -> None:
        self.bundle, self.rel, self.starts, self.end = bundle, rel, starts, end

    def __len__(self) -> int:
        return len(self.starts)

    def __contains__(self, value: object) -> bool:
        return any(entry == value for entry in self)

    def __iter__(self) -> Iterator[Any]:
        starts, n = self.starts, len(self.starts)
        with _opened(self.bundle, self.rel) as fh:
            fh.seek(starts[0])
            for i in range(n):
                start, last = starts[i], i + 1 == n
                entry = _entry(fh.read((self.end if last else starts[i + 1]) - start), last)
                if entry is _BAD:
                    raise EvidpackError(f"{self.bundle.path}: {self.rel}: the entry at byte {start:,} is not what was read before (changed?); cannot render the index")
                yield entry


def read_record(bundle: Bundle, rel: str, lists: tuple[str, ...]) -> Any:
    """A derived record (as :meth:`IndexInput.record` reads it) with each of its
    top-level lists named in ``lists`` that holds entries a :class:`StreamedList`:
    memory does not grow with the entries (a WeChat production's logins may be
    200,000). The record is read twice as a stream: once to find where its
    members and the lists' entries start, once to parse each member and entry
    (so a bad one is found now, not while the index is drawn). A record not
    laid out as evidpack writes it, or one that does not parse so, is read
    whole, as any other record: the same values either way."""
    if not bundle.exists(rel):
        return _json(bundle, rel)  # (which says it is missing)
    if bundle.is_zip:
        info = bundle.zip_member(rel)
        bomb = zip_bomb_problem(info) if info is not None else None
        if bomb is not None:
            raise EvidpackError(f"{bundle.path}: {bomb}")
    with _opened(bundle, rel) as fh:
        at, kinds, size, ends = _lines(fh)
    record = None
    if ends == (b"{\n", b"\n}\n") and at and at[0] == 2 and kinds[0] == _KEY:
        with _opened(bundle, rel) as fh:
            record = _members(bundle, rel, fh, at, kinds, size - 2, lists)
    return _json(bundle, rel) if record is None else record


def _opened(bundle: Bundle, rel: str) -> IO[bytes]:
    raw = bundle.open_stream(rel)
    return raw if bundle.is_zip else io.BufferedReader(raw, 1 << 16)  # type: ignore[arg-type,return-value]


def _lines(fh: IO[bytes]) -> tuple[array, bytearray, int, tuple[bytes, bytes]]:
    """Where each line of :data:`_LINE` starts, and its kind; the file's size;
    its first two and last three bytes. Read a block at a time."""
    found, kinds = array("q"), bytearray()
    base, buf, head = 0, b"", b""
    while True:
        block = fh.read(_BLOCK)
        buf += block
        head = head or buf[:2]
        cut = len(buf) - 3 if block else len(buf)  # a line found before the cut has its first character in buf
        for m in _LINE.finditer(buf):
            at = m.start()
            if at >= cut:
                break
            first = buf[m.end() : m.end() + 1]
            kinds.append(_ENTRY if m.end() - at == 3 else _KEY if first == b'"' else _CLOSE)
            found.append(base + at + 1)
        if not block:
            return found, kinds, base + len(buf), (head, buf[-3:])
        base, buf = base + cut, buf[cut:]


def _members(
    bundle: Bundle, rel: str, fh: IO[bytes], at: array, kinds: bytearray, end: int, lists: tuple[str, ...]
) -> dict[str, Any] | None:
    """The record's members (from offset 2 to ``end``: ``at`` and ``kinds`` are
    its lines of :data:`_LINE`), read in order; None if any is not as evidpack
    writes it."""
    keys = [i for i, kind in enumerate(kinds) if kind == _KEY]
    record: dict[str, Any] = {}
    fh.seek(2)
    for n, k in enumerate(keys):
        last = n + 1 == len(keys)
        start, stop = at[k], end if last else at[keys[n + 1]]
        close = len(at) - 1 if last else keys[n + 1] - 1  # the member's last line of _LINE
        head = fh.read((at[k + 1] if close > k else stop) - start)
        if (
            head.endswith(b'": [\n')
            and close > k + 1
            and kinds[close] == _CLOSE
            and kinds.count(_ENTRY, k + 1, close) == close - k - 1
            and (name := _value(head[1:-4])) in lists
        ):
            starts = at[k + 1 : close]
            for i, entry in enumerate(starts):
                if _entry(fh.read((at[close] if i + 1 == len(starts) else starts[i + 1]) - entry), i + 1 == len(starts)) is _BAD:
                    return None
            if fh.read(stop - at[close]) != (b" ]\n" if last else b" ],\n"):
                return None
            record[name] = StreamedList(bundle, rel, starts, at[close])
            continue
        text = head + fh.read(stop - start - len(head))
        if not text.endswith(b"\n" if last else b",\n") or last and text.endswith(b",\n"):
            return None
        member = _value(b"{" + text[: -1 if last else -2] + b"}")
        if not isinstance(member, dict):
            return None
        record.update(member)
    return record


_BAD = object()


def _value(data: bytes) -> Any:
    """``data`` as JSON (decoded as json.loads decodes UTF-8 bytes), or :data:`_BAD`."""
    try:
        return json.loads(data.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):
        return _BAD


def _entry(piece: bytes, last: bool) -> Any:
    """An entry of a streamed list from its lines (with the comma after it, but for the last)."""
    if not piece.endswith(b"\n" if last else b",\n") or last and piece.endswith(b",\n"):
        return _BAD
    return _value(piece[: -1 if last else -2])


def _json(bundle: Bundle, rel: str) -> Any:
    data = bundle.read(rel)
    if data is None:
        raise EvidpackError(f"{bundle.path}: {rel} is missing; cannot render the index")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise EvidpackError(f"{bundle.path}: {rel} is not valid JSON ({exc})") from None
    except RecursionError:
        raise EvidpackError(f"{bundle.path}: {rel} is not valid JSON (nested too deeply)") from None


def _object(bundle: Bundle, rel: str) -> dict[str, Any]:
    value = _json(bundle, rel)
    if not isinstance(value, dict):
        raise EvidpackError(f"{bundle.path}: {rel} is not a JSON object; cannot render the index")
    return value


def _sources(bundle: Bundle, data: bytes) -> list[dict[str, Any]]:
    """The lines of evidpack/sources.jsonl (sealed: one that is not a JSON object is an error, named)."""
    out = []
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise EvidpackError(f"{bundle.path}: evidpack/sources.jsonl line {n} is not valid JSON ({problem}); cannot render the index") from None
        if not isinstance(row, dict):
            raise EvidpackError(f"{bundle.path}: evidpack/sources.jsonl line {n} is not a JSON object; cannot render the index")
        out.append(row)
    return out


def load(
    bundle: Bundle,
    *,
    custody_lines: list[bytes] | None,
    rendered_at: datetime,
    pdf_signer: str | None = None,
    seal: Callable[[], str] | None = None,
) -> IndexInput:
    """Read what the index needs. ``custody_lines`` are the events written so
    far while sealing; without them, the bundle's whole custody log is read.
    With ``seal``, the tag manifest is not written yet (see :func:`write_index`)."""
    late = None
    if seal is not None:
        late = LateDigest.of(seal)
        tm_sha256 = late.stand_in
        entries = [rel for rel in bundle.files(payload=False) if rel.startswith(RECORDS)]
    else:
        tm = bundle.read(TAGMANIFEST)
        if tm is None:
            raise EvidpackError(f"{bundle.path}: {TAGMANIFEST} is missing; cannot render the index")
        tm_sha256 = hashlib.sha256(tm).hexdigest()
        entries = [rel for rel in bag.parse_manifest(tm, TAGMANIFEST)[0] if rel.startswith(RECORDS)]
    sources_data = bundle.read("evidpack/sources.jsonl") or b""
    custody: Collection[dict[str, Any]]
    if custody_lines is None:
        custody = CustodyEvents.of(bundle)  # (streamed: memory does not grow with the log)
        head = custody.head
    else:
        custody = []
        head = None
        for _, line, event, _ in parse_lines(b"".join(line + b"\n" for line in custody_lines)):
            custody.append(event if event is not None else _unreadable(line))
            head = line_hash(line)
    return IndexInput(
        bundle=bundle,
        case=_object(bundle, "evidpack/case.json"),
        seal=_object(bundle, "evidpack/seal.json"),
        sources=_sources(bundle, sources_data),
        tagmanifest_sha256=tm_sha256,
        record_files=sorted(entries),
        custody=custody,
        custody_head=head,
        at_seal=custody_lines is not None,
        rendered_at=rendered_at,
        pdf_signer=pdf_signer,
        late=late,
    )


def _unreadable(line: bytes, size: int | None = None) -> dict[str, Any]:
    """A line that is not an event (not JSON, not an object, nested past the decoder's
    limit, torn), as a row saying so; of a line too long to be an event, ``line`` is
    its start and ``size`` its length."""
    details: dict[str, Any] = {"line": line.decode("utf-8", "replace")}
    if size is not None:
        details["line"] += "…"
        details["note"] = (
            f"{size:,} bytes long, more than the {MAX_LINE >> 20} MiB an event can hold: only its first "
            f"{len(line):,} bytes are shown; the whole line is in {CUSTODY_FILE}"
        )
    return {"action": "(unreadable line)", "details": details}


class CustodyEvents(Collection[dict[str, Any]]):
    """The events of a bundle's custody log, never held in memory: read back from the log,
    one line at a time, each time they are iterated (a long log may hold a quarter of a
    million events). Only the log as it was when counted is read (``size`` bytes: an event
    appended meanwhile is not shown), and a log changed meanwhile stops the index."""

    START = 64 << 10  # bytes shown of a line too long to be an event

    def __init__(self, bundle: Bundle, count: int, size: int, head: str | None) -> None:
        self.bundle, self.count, self.size, self.head = bundle, count, size, head

    @classmethod
    def of(cls, bundle: Bundle) -> "CustodyEvents":
        count, size, head = 0, 0, None
        for raw in cls._lines(bundle, None):
            count, size, head = count + 1, size + raw.size + (0 if raw.torn else 1), raw.digest
        return cls(bundle, count, size, head)

    @classmethod
    def _lines(cls, bundle: Bundle, size: int | None) -> Iterator[RawLine]:
        with bundle_log(bundle) as read:
            if read is None:
                return
            left = size

            def bounded(n: int) -> bytes:
                nonlocal left
                if left is None:
                    return read(n)
                out = read(min(n, left)) if left > 0 else b""
                left -= len(out)
                return out

            yield from iter_raw_lines(bounded, keep_start=cls.START)

    def __len__(self) -> int:
        return self.count

    def __contains__(self, value: object) -> bool:
        return any(event == value for event in self)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        count, head = 0, None
        for raw in self._lines(self.bundle, self.size):
            count, head = count + 1, raw.digest
            if count > self.count:
                break
            event, _ = parse_event(raw, CUSTODY_FILE)
            if event is None:
                event = _unreadable(raw.data, None) if raw.data is not None else _unreadable(raw.start, raw.size)
            yield event
        if (count, head) != (self.count, self.head):
            raise EvidpackError(f"{self.bundle.path}: {CUSTODY_FILE} changed while the index was made (not only appended to); cannot render the index")


def render_index(
    bundle: Bundle,
    *,
    rendered_at: datetime,
    custody_lines: list[bytes] | None = None,
    pdf_signer: str | None = None,
) -> bytes:
    """The index as PDF bytes (see :func:`write_index`, which writes it to a
    file page by page instead of holding it)."""
    out = io.BytesIO()
    write_index(bundle, out, rendered_at=rendered_at, custody_lines=custody_lines, pdf_signer=pdf_signer)
    return out.getvalue()


def write_index(
    bundle: Bundle,
    out: IO[bytes],
    *,
    rendered_at: datetime,
    custody_lines: list[bytes] | None = None,
    pdf_signer: str | None = None,
    seal: Callable[[], str] | None = None,
) -> None:
    """Write the index as PDF to ``out`` (a binary file opened for writing),
    each page as soon as it is laid out: memory does not grow with the case.

    While sealing, give ``custody_lines`` (the events so far): the result is the
    sealed index, whose custody log ends with a row describing the seal. Without
    them, the result is a reading copy showing the whole custody log, including
    events recorded after the seal. The output depends on nothing else (not the
    bundle's folder name, not the clock): the same bundle and time give the same bytes.

    ``seal`` lets the index be laid out before the tag manifest exists: it is
    called once every page is laid out, must write (and sign) the tag manifest
    and return its SHA-256, which the index prints (see :class:`LateDigest`).
    The result is the same as if the tag manifest had been there from the start."""
    if seal is not None and custody_lines is None:
        raise ValueError("only the sealed index is rendered before the tag manifest exists")
    data = load(bundle, custody_lines=custody_lines, rendered_at=rendered_at, pdf_signer=pdf_signer, seal=seal)
    identity = Identity(
        case_id=data.case_id,
        tagmanifest_sha256=data.tagmanifest_sha256,
        title="Evidence index",
        kind="Sealed index (evidpack/index.pdf)" if data.at_seal else "Reading copy — not the sealed index",
        author=str(data.case.get("examiner") or data.signer.get("name") or ""),
        created=rendered_at,
    )
    parts: list[tuple[Entry, list[Entry], list[Flowable]]] = [
        sources.section(data),
        schedule.section(data),
        custody_log.section(data),
        verifying.section(data),
    ]
    story: list[Flowable] = [*cover.page(data), *body_pages()]
    story += [Heading("Contents", H1, key="contents", space_before=0), Contents(e for entry, subs, _ in parts for e in (entry, *subs))]
    for entry, _, flowables in parts:
        story += [PageBreak(), Heading(entry.text, H1, key=entry.key, space_before=0), *flowables]
    ReportDocument(identity, data.late).write(keep_with_next(story), out)
