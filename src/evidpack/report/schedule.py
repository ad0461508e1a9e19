"""The item schedule: every item with its exhibit id, path, size, SHA-256 and
MD5 — in full, each digest on one line in a fixed-width font, so it can be
searched for and read back exactly — and, under each container, its members.

``items.jsonl`` is streamed, never held in memory: one pass notes where each
record starts (and which records are members of which container), then the
table reads the records back one by one as its pages are laid out. Memory is a
few bytes per item, whatever the size of the case.
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

from .document import Entry
from .flowables import Column, Group, Lines, Para, Row, Table
from .styles import BODY, CELL, CELL_MONO, CELL_NOTE, CELL_PATH, HASH, TextStyle, digest_name

if TYPE_CHECKING:
    from ..bundle import Bundle
    from .index import IndexInput

ITEMS = "evidpack/items.jsonl"
SIZE = TextStyle(CELL.role, CELL.size, CELL.leading, CELL.colour, "right")
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
    columns = [Column("Exhibit", 64, CELL_MONO), Column(" · ".join(["Path", *(digest_name(a) for a in digests)]), 1.0), Column("Size (bytes)", 62, SIZE), Column("Type", 86)]
    table = Table(columns, _rows(fh, index, labels, digests))
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
    for line in fh:
        rec = json.loads(line)
        kind = str(rec.get("kind"))
        index.kinds[kind] = index.kinds.get(kind, 0) + 1
        if kind == "member" and rec.get("container"):
            index.members.setdefault(str(rec["container"]), array("q")).append(offset)
        else:
            index.top.append(offset)
        offset += len(line)
    return index


def _read(fh: IO[bytes], offset: int) -> dict[str, Any]:
    fh.seek(offset)
    return json.loads(fh.readline())


def _rows(fh: IO[bytes], index: _Index, sources: dict[str, dict[str, Any]], digests: tuple[str, ...]) -> Iterator[Row]:
    try:
        current = None
        for offset in index.top:
            rec = _read(fh, offset)
            sid = str(rec.get("source"))
            if sid != current:
                current = sid
                folder = sources.get(sid, {}).get("folder", "")
                yield Group(f"{_source_title(sid, sources.get(sid, {}))}   ({folder}/)", SOURCE_GROUP, key=f"items-{sid}")
            yield _row(rec, digests, index)
            yield from _members_of(fh, index, rec, digests)
        orphans = sorted(set(index.members) - index.listed)
        for cid in orphans:  # members whose container has no record: listed, never dropped
            yield Group(f"Members of {cid}, which has no item record", MEMBERS_GROUP)
            for offset in index.members[cid]:
                yield _row(_read(fh, offset), digests, index)
    finally:
        fh.close()


def _members_of(fh: IO[bytes], index: _Index, container: dict[str, Any], digests: tuple[str, ...]) -> Iterator[Row]:
    cid = str(container.get("id"))
    offsets = index.members.get(cid)
    if not offsets:
        return
    index.listed.add(cid)
    name = container.get("path") or container.get("member_path") or ""
    yield Group(f"Members of {cid} ({name.rsplit('/', 1)[-1]}): {len(offsets):,}", MEMBERS_GROUP)
    for offset in offsets:
        rec = _read(fh, offset)
        yield _row(rec, digests, index)
        yield from _members_of(fh, index, rec, digests)


def _row(rec: dict[str, Any], digests: tuple[str, ...], index: _Index) -> Row:
    kind = rec.get("kind")
    path = rec.get("path") if kind == "file" else rec.get("member_path") if kind == "member" else rec.get("original_path")
    notes: list[tuple[str | None, TextStyle]] = []
    raw = rec.get("original_path_raw") or rec.get("member_path_raw")
    if raw:
        notes.append((f"name is not UTF-8; its bytes: {raw}", CELL_NOTE))
    if kind == "file" and rec.get("original_path") and not str(path).endswith(str(rec["original_path"])):
        notes.append((f"in the source: {rec['original_path']}", CELL_NOTE))
    if kind == "not-copied":
        notes.append((f"not copied: {rec.get('reason', '')}", CELL_NOTE))
    if rec.get("device_path"):
        notes.append((f"on the device: {rec['device_path']}", CELL_NOTE))
    hashes = [(rec.get(a), HASH) for a in digests]
    if kind != "not-copied" and not any(rec.get(a) for a in digests):
        hashes = [(f"not hashed: {rec.get('not_read') or ('encrypted' if rec.get('encrypted') else 'not read')}", CELL_NOTE)]
    type_lines: list[tuple[str | None, TextStyle]] = [(rec.get("media_type"), CELL)]
    members = len(index.members.get(str(rec.get("id")), ()))
    if members or "members" in rec:
        fmt = rec.get("container_format")
        type_lines.append((f"container{f' ({fmt})' if fmt else ''}: {members:,} member{'' if members == 1 else 's'}", CELL))
    for flag, text in (("encrypted", "encrypted"), ("symlink", "symbolic link"), ("unsafe_path", None)):
        if rec.get(flag):
            type_lines.append((text or f"unsafe name: {rec[flag]}", CELL_NOTE))
    for problem in rec.get("problems") or []:
        type_lines.append((str(problem), CELL_NOTE))
    if rec.get("tags"):
        type_lines.append((", ".join(rec["tags"]), CELL_NOTE))
    return [
        str(rec.get("id")),
        Lines.of((str(path), CELL_PATH), *notes, *hashes),
        f"{rec['size']:,}" if isinstance(rec.get("size"), int) else None,
        Lines.of(*type_lines),
    ]
