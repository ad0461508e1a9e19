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
from itertools import islice
from typing import IO, TYPE_CHECKING, Any

from reportlab.platypus import Flowable

from ..errors import EvidpackError
from . import fonts
from .document import Entry, short_title
from .flowables import Column, Group, Lines, Para, Row, Table, _Laid
from .fonts import escaped
from .layout import exact, respaced
from .styles import BODY, CELL, CELL_MONO, CELL_NOTE, CELL_NOTE_NAME, CELL_PAD_X, CELL_PATH, HASH, TextStyle, digest_name

if TYPE_CHECKING:
    from ..bundle import Bundle
    from .index import IndexInput

ITEMS = "evidpack/items.jsonl"
SIZE = TextStyle(CELL.role, CELL.size, CELL.leading, CELL.colour, "right")
TYPE = CELL_PATH  # a media type breaks after "/" or ".", as a path does
PATH = CELL_PATH
# A record with any of these has a note or a flag in its row: laid out as cells.
_NOTED = ("original_path_raw", "member_path_raw", "device_path", "ufdr_tagged_files", "encrypted", "symlink", "unsafe_path", "problems", "not_read")
# The exhibit id's and the digests' styles, as keyed in a table's memo (fixed-width: measured by length).
_MONO, _HASH = id(CELL_MONO) * 4, id(HASH) * 4
# The fields of a common record, but its digests (read by _ItemTable._lay_item).
_USUAL = frozenset({"id", "kind", "path", "member_path", "original_path", "container", "source", "size", "media_type", "mtime", "salt", "tags"})
DEVICE_PATHS_SHOWN = 10  # device paths of one member listed in its row (a .ufdr's report may give many)
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
    return short_title(f"{sid} — {source.get('label', '')}")


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
    kinds, top = index.kinds, index.top
    for line in fh:
        # A record's kind, without parsing the whole record when that is safe: in a line with no nested
        # object (one brace) a key found is a top-level key (a quote inside a string is always escaped).
        at = line.find(b'"kind":"') + 8
        if at > 7 and line.count(b"{") == 1:
            kind = line[at : line.find(b'"', at)]
            if kind != b"member" and b"\\" not in kind:  # a container matters only for a member
                name = kind.decode()
                kinds[name] = kinds.get(name, 0) + 1
                top.append(offset)
                offset += len(line)
                continue
        name, container = _kind_and_container(line, offset)
        kinds[name] = kinds.get(name, 0) + 1
        if name == "member" and container:
            index.members.setdefault(container, array("q")).append(offset)
        else:
            top.append(offset)
        offset += len(line)
    return index


def _kind_and_container(line: bytes, offset: int) -> tuple[str, str]:
    """A record's kind and container (when :func:`_scan` has not found the
    kind the short way), without parsing the whole record when that is safe."""
    at = line.find(b'"kind":"') + 8
    if at > 7 and line.count(b"{") == 1:
        kind = line[at : line.find(b'"', at)]
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
    """Records read back by offset, a block of lines at a time: reading on
    from the last block needs no seek, and a block is decoded by one JSON
    scanner (each record must end exactly at the end of its line; a line that
    does not is parsed on its own, so a bad line is still named). Blocks
    grow as records are read in order, up to :attr:`BLOCK` lines; after a
    jump elsewhere in the file, one line is read, so records read out of
    order are never decoded in vain."""

    BLOCK = 256  # lines

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.at = -1  # where the file is positioned
        self.size = 1  # lines to read next
        self.block: dict[int, dict[str, Any]] = {}  # offset -> record, read ahead

    def __call__(self, offset: int) -> dict[str, Any]:
        rec = self.block.pop(offset, None)
        if rec is not None:
            return rec
        if offset != self.at:
            self.fh.seek(offset)
            self.size = 1
        else:
            self.size = min(2 * self.size, self.BLOCK)
        lines = list(islice(self.fh, self.size))
        if not lines:
            return _parse(b"", offset)
        self.block = _decoded(lines, offset)
        self.at = offset + sum(map(len, lines))
        rec = self.block.pop(offset, None)
        return rec if rec is not None else _parse(lines[0], offset)


_scan_once = json.JSONDecoder().scan_once


def _decoded(lines: list[bytes], offset: int) -> dict[int, dict[str, Any]]:
    """The lines (starting at ``offset``) that are each one JSON object and
    nothing else, decoded, by offset; others are left out."""
    out: dict[int, dict[str, Any]] = {}
    try:
        text = b"".join(lines).decode("utf-8")
    except UnicodeDecodeError:
        return out
    at = 0  # in text
    ascii = text.isascii()
    for line in lines:
        end = at + len(line) if ascii else text.find("\n", at) + 1 or len(text)
        if text.startswith("{", at):
            try:
                rec, stop = _scan_once(text, at)
            except (StopIteration, ValueError):
                stop = -1
            if stop == end - 1 and text[stop] == "\n" or stop == end == len(text):
                out[offset] = rec
        at = end
        offset += len(line)
    return out


def _rows(fh: IO[bytes], index: _Index, sources: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any] | Group]:
    """The schedule's rows: a group per source and per container, and the records."""
    read = _Records(fh)
    members = index.members
    try:
        current, last = None, object()  # the source of the records before, as printed and as recorded
        for offset in index.top:
            rec = read(offset)
            if rec.get("source") != last:
                last = rec.get("source")
                sid = str(last)
                if sid != current:
                    current = sid
                    folder = sources.get(sid, {}).get("folder", "")
                    yield Group(f"{_source_title(sid, sources.get(sid, {}))}   ({folder}/)", SOURCE_GROUP, key=f"items-{sid}")
            yield rec
            if members and str(rec.get("id")) in members:
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
        if str(rec.get("id")) in index.members:
            yield from _members_of(read, index, rec)


class _ItemTable(Table):
    """The schedule's table: its rows are item records. The common record (a
    file or member whose values are printable ASCII, with nothing to note) is
    laid out straight into the template of its shape; any other, as cells
    (:func:`_row`), in the generic way."""

    def __init__(self, columns: list[Column], rows: Iterator[dict[str, Any] | Group], digests: tuple[str, ...], index: _Index) -> None:
        super().__init__(columns, rows, cap=None)  # every path printed whole, however long
        self.digests, self.index = digests, index
        self._keys = _USUAL | frozenset(digests)  # a record with other fields is laid out the general way

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
        """The row of a common record (the same lines, in the same styles, as
        :func:`_row` gives it), or None.

        The most common (a file or member with only the usual fields, its
        values printable ASCII that needs no escaping, its path with no loose
        spaces) is filled straight into a format made once for its kind of
        row — how many lines its path takes, the length of its size, its media
        type and tags — from its shape's template; any other goes through
        :meth:`_lay_shaped`, which makes the same operators."""
        if not rec.keys() <= self._keys:
            return self._lay_shaped(rec, canv)
        get = rec.get
        kind = get("kind")
        if kind == "file":
            path = get("path")
            original = get("original_path")
            if original is not None and not (type(original) is str and type(path) is str and path.endswith(original)):
                return self._lay_shaped(rec, canv)
        elif kind == "member":
            path = get("member_path")
        else:
            return None
        ident, size, media_type, tags = get("id"), get("size"), get("media_type"), get("tags")
        digests = tuple(map(get, self.digests))
        try:
            tagged = ", ".join(tags) if tags else ""
            every = ident + path + media_type + tagged + "".join(digests)
        except TypeError:  # a value that is not a string
            return self._lay_shaped(rec, canv)
        if not (path and media_type and type(size) is int and size >= 0 and all(digests) and every.isascii()):
            return self._lay_shaped(rec, canv)
        if len(every.encode().translate(None, _NOT_AS_IT_IS)) != len(every) or (" " in path and respaced(path)) or ident in self.index.members:
            return self._lay_shaped(rec, canv)  # a control character, one to escape, loose spaces, or a container
        fast = self._memo.rows.get(_FAST) or self._fast()
        if len(ident) > fast.id_chars or max(map(len, digests)) > fast.digest_chars:
            return None  # an id or a digest on more than one line: as cells
        size_text = f"{size:,}"
        if fast.path_fits(path):
            lines: tuple[str, ...] = (path,)
        else:
            lines = tuple(self._wrap(path, PATH, fast.path_width))
        key = (len(lines), len(size_text) if fast.even_digits else size_text, media_type, tagged)
        made = fast.formats.get(key)
        if made is None:
            made = self._fast_format(canv, key, rec, ident, path, digests, size_text, media_type, tagged)
            if made is None:
                return self._lay_shaped(rec, canv)
        fmt, height, ink = made
        return _Laid(None, height, "row", None, fmt % (ident, *lines, *digests, size_text), ink, rec)

    def _fast(self) -> "_Fast":
        fast = self._memo.rows[_FAST] = _Fast(self)
        return fast

    def _fast_format(self, canv: Any, key: tuple[Any, ...], rec: dict[str, Any], ident: str, path: str, digests: tuple[str, ...],
                     size_text: str, media_type: str, tagged: str) -> tuple[str, float, Any] | None:
        """The format of a kind of row for :meth:`_lay_item`: its template with
        what every row of the kind shares (the size's place, the media type and
        tags) filled in, and ``%s`` for the id, the path's lines, the digests
        and the size. None if the size takes more than one line."""
        shape, values = self._shape(ident, path, digests, size_text, media_type, tagged)
        n = key[0] + len(digests)  # the values before the size's: the id, the path's lines, the digests
        made = None
        if shape[shape.index(-3) + 2] == -4:  # the size on one line
            template = self._memo.templates.get(tuple(shape)) or self._template(canv, tuple(shape))
            shared = [v.replace("%", "%%") for v in values]
            made = (template.ops % tuple(["%s"] * (1 + n) + [shared[1 + n], "%s"] + shared[3 + n :]), template.height, template.ink)
        fast = self._memo.rows[_FAST]
        if len(fast.formats) < 256:
            fast.formats[key] = made
        return made

    def _lay_shaped(self, rec: dict[str, Any], canv: Any) -> _Laid | None:
        """:meth:`_lay_item` for a record of any fields: the row of a common
        record from its shape's template, or None."""
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
        return self._from_template(canv, *self._shape(ident, path, digests, f"{size:,}", media_type, tagged), rec)

    def _shape(self, ident: str, path: str, digests: Any, size_text: str, media_type: str, tagged: str) -> tuple[list[int], list[str]]:
        """A common record's row shape and the values that fill its template."""
        key = [-1, _MONO, -2]
        values = [escaped(ident)]
        self._add_plain(key, values, path, PATH, 1)
        if " " in path:  # spaces may not come back out of the PDF as they are (layout.respaced)
            self._add_exact(key, values, exact(path, [], PATH.role, self._widths[1] - 2 * CELL_PAD_X), 1)
        for digest in digests:
            key.append(_HASH)
            values.append(escaped(digest))
        key.append(-3)
        self._add_plain(key, values, size_text, SIZE, 2)
        key.append(-4)
        self._add_plain(key, values, media_type, TYPE, 3)
        if tagged:
            self._add_plain(key, values, tagged, CELL_NOTE, 3)
        return key, values


_FAST = "schedule"  # the key of _Fast in a table's memo
# The ASCII that is not printable, or is escaped in a PDF string.
_NOT_AS_IT_IS = bytes(range(32)) + b"\x7f()\\"


class _Fast:
    """What :meth:`_ItemTable._lay_item` needs for the table's column widths."""

    def __init__(self, table: _ItemTable) -> None:
        memo, widths = table._memo, table._widths
        mono, digest = memo.learn(CELL_MONO), memo.learn(HASH)
        self.id_chars = _fitting(mono, widths[0] - 2 * CELL_PAD_X)
        self.digest_chars = _fitting(digest, widths[1] - 2 * CELL_PAD_X)
        self.path_width = widths[1] - 2 * CELL_PAD_X
        # Most characters of a path are no wider than a digit: a path is surely no wider than its
        # count of those times the widest of them, and the others times the widest of all.
        advances = {c: fonts.plain_width(chr(c), PATH.role, PATH.size) for c in range(32, 127)}
        limit = advances[ord("0")]
        self.narrow = bytes(c for c, a in advances.items() if a <= limit)
        self.narrow_max, self.wide_max = limit, max(advances.values())
        # A size (not negative) is digits and commas: if every digit is as wide as the others, its length gives its place.
        self.even_digits = len({fonts.plain_width(d, SIZE.role, SIZE.size) for d in "0123456789"}) == 1
        self.formats: dict[tuple[Any, ...], tuple[str, float, Any] | None] = {}

    def path_fits(self, path: str) -> bool:
        """Whether a path (printable ASCII) fits on one line: by its bound if it
        surely does, else measured."""
        wide = len(path.encode().translate(None, self.narrow))
        if (len(path) - wide) * self.narrow_max + wide * self.wide_max <= self.path_width - 1e-6:
            return True
        return fonts.plain_width(path, PATH.role, PATH.size) <= self.path_width


def _fitting(advance: float, width: float) -> int:
    """How many characters of a fixed ``advance`` fit in ``width`` (as the general way measures them)."""
    n = int(width // advance) + 1
    while n > 0 and n * advance > width:
        n -= 1
    return n


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
        named.append((f"in the source: {original}", CELL_NOTE_NAME))
    if kind == "not-copied":
        named.append((f"not copied: {get('reason', '')}", CELL_NOTE))
    if get("device_path"):
        named.append((f"on the device: {rec['device_path']}", CELL_NOTE_NAME))
    tagged = get("ufdr_tagged_files")
    if isinstance(tagged, list):  # a .ufdr's report gives this member for more than one device path
        others = [str(t["device_path"]) for t in tagged if isinstance(t, dict) and t.get("device_path") and t["device_path"] != get("device_path")]
        named += [(f"also on the device: {p}", CELL_NOTE_NAME) for p in others[:DEVICE_PATHS_SHOWN]]
        not_listed = get("ufdr_tagged_files_not_listed")
        more = max(0, len(others) - DEVICE_PATHS_SHOWN) + (not_listed if type(not_listed) is int and not_listed > 0 else 0)
        if more > 0:
            named.append((f"and {more:,} more device path(s): see the record's ufdr_tagged_files", CELL_NOTE))
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
