"""The item schedule: every item with its exhibit id, path, size, SHA-256 and
MD5 — in full, each digest on one line in a fixed-width font, so it can be
searched for and read back exactly — and, under each container, its members.

``items.jsonl`` is streamed, never held in memory: one pass notes where each
record starts (and which records are members of which container), then the
table reads the records back one by one as its pages are laid out. Memory is a
few bytes per item, whatever the size of the case.

Most records are alike (a file or a member, its values in printable ASCII,
nothing to note): their rows go straight from the record into the drawing
template of their shape (:class:`_ItemTable`); any other record is laid out
from its cells (:func:`_row`), the same lines in the same styles.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from reportlab.platypus import Flowable

from ..errors import EvidpackError
from .document import Entry
from .flowables import Column, Group, Lines, Para, Row, Table, _Laid
from .fonts import escaped
from .styles import BODY, CELL, CELL_MONO, CELL_NOTE, CELL_PAD_X, CELL_PATH, HASH, TextStyle, digest_name

if TYPE_CHECKING:
    from ..bundle import Bundle
    from .index import IndexInput

ITEMS = "evidpack/items.jsonl"
SIZE = TextStyle(CELL.role, CELL.size, CELL.leading, CELL.colour, "right")
TYPE = CELL_PATH  # a media type breaks after "/" or ".", as a path does
PATH = CELL_PATH
# A record with any of these has a note or a flag in its row: laid out as cells.
_NOTED = ("original_path_raw", "member_path_raw", "device_path", "encrypted", "symlink", "unsafe_path", "problems", "not_read")
# The exhibit id's and the digests' styles, as keyed in a table's memo (fixed-width: measured by length).
_MONO, _HASH = id(CELL_MONO) * 4, id(HASH) * 4
SOURCE_GROUP = TextStyle("bold", 8, 10.5)
MEMBERS_GROUP = TextStyle("bold", 7.2, 9.4, (0.25, 0.27, 0.32))


@dataclass
class _Index:
    """Where each record starts in items.jsonl, in schedule order."""

    top: array = field(default_factory=lambda: array("q"))  # files and not-copied records
    members: dict[str, array] = field(default_factory=dict)  # container id -> member offsets
    kinds: dict[str, int] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)  # containers whose members have been listed


def section(data: "IndexInput") -> tuple[Entry, list[Entry], list[Flowable]]:
    fh = _seekable(data.bundle)
    index = _scan(fh)
    labels = {str(s.get("id")): s for s in data.sources}
    # A source with no item records (empty, recorded with --keep-going) has no heading to link to.
    subs = [Entry(_source_title(sid, labels[sid]), f"items-{sid}", 1) for sid in labels
            if (labels[sid].get("counts") or {}).get("items", 1)]
    counts = index.kinds
    digests = data.digests
    intro = (
        f"{sum(counts.values()):,} item records: {counts.get('file', 0):,} payload files, "
        f"{counts.get('member', 0):,} members of containers"
        + (f", {counts['not-copied']:,} found but not copied" if counts.get("not-copied") else "")
        + ". Each row gives the exhibit id, the path in the bundle (for a member, its path inside the container), "
        f"the size in bytes, the media type and the {' and '.join(digest_name(a) for a in digests)} in full. "
        "A container is kept byte for byte as one item; its members are listed under it, each hashed as it was "
        "streamed out of the container. The same records are in evidpack/items.jsonl, covered by the seal."
    )
    # The exhibit column holds an id such as E12345/M123456 on one line; the middle one, a SHA-256.
    columns = [Column("Exhibit", 72, CELL_MONO), Column(" · ".join(["Path", *(digest_name(a) for a in digests)]), 1.0), Column("Size (bytes)", 64, SIZE), Column("Type", 82)]
    table = _ItemTable(columns, _rows(fh, index, labels), digests, index)
    return Entry("Item schedule", "items"), subs, [Para(intro, BODY, space_after=8), table]


def _source_title(sid: str, source: dict[str, Any]) -> str:
    return f"{sid} — {source.get('label', '')}"


def _seekable(bundle: "Bundle") -> IO[bytes]:
    """items.jsonl opened for random access (a zipped bundle's is copied to a
    private temporary file first: seeking inside a deflated member is slow)."""
    if not bundle.is_zip:
        return open(bundle.path / ITEMS, "rb")
    tmp = tempfile.TemporaryFile(prefix="evidpack-items-")
    with bundle.open_stream(ITEMS) as src:
        shutil.copyfileobj(src, tmp, 1 << 20)
    tmp.seek(0)
    return tmp


def _scan(fh: IO[bytes]) -> _Index:
    index = _Index()
    offset = 0
    kinds = index.kinds
    for line in fh:
        kind, container = _kind_and_container(line, offset)
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "member" and container:
            index.members.setdefault(container, array("q")).append(offset)
        else:
            index.top.append(offset)
        offset += len(line)
    return index


def _kind_and_container(line: bytes, offset: int) -> tuple[str, str]:
    """A record's kind and container, without parsing the whole record when
    that is safe: in a line with no nested object (one brace) a key found is
    a top-level key (a quote inside a string is always escaped)."""
    at = line.find(b'"kind":"') + 8
    if at > 7 and line.count(b"{") == 1:
        kind = line[at : line.find(b'"', at)]
        if kind != b"member" and b"\\" not in kind:
            return kind.decode(), ""  # a container matters only for a member
        at = line.find(b'"container":"') + 13
        container = line[at : line.find(b'"', at)] if at > 12 else b""
        if kind == b"member" and b"\\" not in container and (at > 12 or b'"container":' not in line):
            return "member", container.decode()
    rec = _parse(line, offset)
    return str(rec.get("kind")), str(rec.get("container") or "")


def _parse(line: bytes, offset: int) -> dict[str, Any]:
    try:
        rec = json.loads(line.decode("utf-8"))
    except ValueError:
        rec = None
    if not isinstance(rec, dict):
        raise EvidpackError(f"{ITEMS}: the line at byte {offset:,} is not a JSON object; cannot render the index")
    return rec


class _Records:
    """Records read back by offset: reading on from the last one needs no seek."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.at = -1

    def __call__(self, offset: int) -> dict[str, Any]:
        if offset != self.at:
            self.fh.seek(offset)
        line = self.fh.readline()
        self.at = offset + len(line)
        return _parse(line, offset)


def _rows(fh: IO[bytes], index: _Index, sources: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any] | Group]:
    """The schedule's rows: a group per source and per container, and the records."""
    read = _Records(fh)
    try:
        current = None
        for offset in index.top:
            rec = read(offset)
            sid = str(rec.get("source"))
            if sid != current:
                current = sid
                folder = sources.get(sid, {}).get("folder", "")
                yield Group(f"{_source_title(sid, sources.get(sid, {}))}   ({folder}/)", SOURCE_GROUP, key=f"items-{sid}")
            yield rec
            yield from _members_of(read, index, rec)
        orphans = sorted(set(index.members) - index.listed)
        for cid in orphans:  # members whose container has no record: listed, never dropped
            yield Group(f"Members of {cid}, which has no item record", MEMBERS_GROUP)
            for offset in index.members[cid]:
                yield read(offset)
    finally:
        fh.close()


def _members_of(read: _Records, index: _Index, container: dict[str, Any]) -> Iterator[dict[str, Any] | Group]:
    cid = str(container.get("id"))
    offsets = index.members.get(cid)
    if not offsets:
        return
    index.listed.add(cid)
    name = container.get("path") or container.get("member_path") or ""
    yield Group(f"Members of {cid} ({name.rsplit('/', 1)[-1]}): {len(offsets):,}", MEMBERS_GROUP)
    for offset in offsets:
        rec = read(offset)
        yield rec
        yield from _members_of(read, index, rec)


class _ItemTable(Table):
    """The schedule's table: its rows are item records. The common record (a
    file or member whose values are printable ASCII, with nothing to note) is
    laid out straight into the template of its shape; any other, as cells
    (:func:`_row`), in the generic way."""

    def __init__(self, columns: list[Column], rows: Iterator[dict[str, Any] | Group], digests: tuple[str, ...], index: _Index) -> None:
        super().__init__(columns, rows)
        self.digests, self.index = digests, index

    def _again(self, rows: Iterator[Any]) -> Table:
        return _ItemTable(self.columns, rows, self.digests, self.index)

    def _lay(self, row: Any, kind: str = "row") -> _Laid:
        if type(row) is dict:
            canv = getattr(self, "canv", None)  # set while the table is split into pages
            laid = self._lay_item(row, canv) if canv is not None else None
            if laid is not None:
                return laid
            row = _row(row, self.digests, self.index)
        return super()._lay(row, kind)

    def _lay_cells(self, row: Any, kind: str = "row") -> _Laid:
        return super()._lay_cells(_row(row, self.digests, self.index) if type(row) is dict else row, kind)

    def _lay_item(self, rec: dict[str, Any], canv: Any) -> _Laid | None:
        """The row of a common record, from its shape's template (the same
        lines, in the same styles, as :func:`_row` gives it), or None."""
        get = rec.get
        kind = get("kind")
        path = get("path") if kind == "file" else get("member_path") if kind == "member" else None
        ident, size, media_type = get("id"), get("size"), get("media_type")
        if not (type(path) is str and path and type(ident) is str and type(size) is int and type(media_type) is str and media_type):
            return None
        if any(map(get, _NOTED)) or "members" in rec or ident in self.index.members:
            return None  # a note, a flag, or a container: laid out as cells
        original = get("original_path")
        if kind == "file" and original and not path.endswith(str(original)):
            return None
        digests = [get(a) for a in self.digests]
        tags = get("tags") or ()
        if not all(type(d) is str and d for d in digests) or not all(type(t) is str for t in tags):
            return None
        tagged = ", ".join(tags)
        every = ident + path + media_type + tagged + "".join(digests)
        if not (every.isascii() and every.isprintable()):
            return None
        advance, widths = self._memo.advance, self._widths
        if _MONO not in advance:
            for style in (CELL_MONO, HASH):
                self._memo.learn(style)
        if len(ident) * advance[_MONO] > widths[0] - 2 * CELL_PAD_X or any(len(d) * advance[_HASH] > widths[1] - 2 * CELL_PAD_X for d in digests):
            return None  # an id or a digest on more than one line: as cells
        key = [-1, _MONO, -2]
        values = [escaped(ident)]
        self._add_plain(key, values, path, PATH, 1)
        for digest in digests:
            key.append(_HASH)
            values.append(escaped(digest))
        key.append(-3)
        self._add_plain(key, values, f"{size:,}", SIZE, 2)
        key.append(-4)
        self._add_plain(key, values, media_type, TYPE, 3)
        if tagged:
            self._add_plain(key, values, tagged, CELL_NOTE, 3)
        return self._from_template(canv, key, values, rec)


def _row(rec: dict[str, Any], digests: tuple[str, ...], index: _Index) -> Row:
    get = rec.get
    kind = get("kind")
    path = str(get("path") if kind == "file" else get("member_path") if kind == "member" else get("original_path"))
    named: list[tuple[str, TextStyle]] = [(path, CELL_PATH)]  # the path, notes on it, and the digests
    raw = get("original_path_raw") or get("member_path_raw")
    if raw:
        named.append((f"name is not UTF-8; its bytes: {raw}", CELL_NOTE))
    original = get("original_path")
    if kind == "file" and original and not path.endswith(str(original)):
        named.append((f"in the source: {original}", CELL_NOTE))
    if kind == "not-copied":
        named.append((f"not copied: {get('reason', '')}", CELL_NOTE))
    if get("device_path"):
        named.append((f"on the device: {rec['device_path']}", CELL_NOTE))
    hashes = [(str(value), HASH) for value in map(get, digests) if value]
    if not hashes and kind != "not-copied":
        hashes = [(f"not hashed: {get('not_read') or ('encrypted' if get('encrypted') else 'not read')}", CELL_NOTE)]
    described: list[tuple[str, TextStyle]] = [(str(get("media_type")), TYPE)] if get("media_type") else []
    members = len(index.members.get(str(get("id")), ()))
    if members or "members" in rec:
        fmt = get("container_format")
        described.append((f"container{f' ({fmt})' if fmt else ''}: {members:,} member{'' if members == 1 else 's'}", CELL))
    for flag, text in (("encrypted", "encrypted"), ("symlink", "symbolic link"), ("unsafe_path", None)):
        if get(flag):
            described.append((text or f"unsafe name: {rec[flag]}", CELL_NOTE))
    described += [(str(problem), CELL_NOTE) for problem in get("problems") or () if str(problem)]
    tags = ", ".join(map(str, get("tags") or ()))
    if tags:
        described.append((tags, CELL_NOTE))
    size = get("size")
    return [
        str(get("id")),
        Lines((*named, *hashes)),
        f"{size:,}" if isinstance(size, int) else None,
        Lines(tuple(described)),
    ]
