"""Zip members: names that would escape an extraction folder, and the digests
of small members computed in helper processes.

Members of a zip kept in the payload are never extracted by evidpack, but a
tool that extracts a zip naively would write outside its folder for these
names, so each is reported as a problem wherever zips are read (containers,
productions, WACZ resources).

The helper processes (:func:`worker_main`) read members from the memory the
container's copy is read into (a shared segment, see
``importers.containers.StreamedCopy``): hashing many small members in threads
costs more in handing the interpreter lock back and forth than the hashing
itself. This module imports only the standard library, so a helper starts quickly."""

from __future__ import annotations

import hashlib
import mmap
import zlib
from typing import Any


def unsafe_name(name: str) -> str | None:
    """Why extracting this member name could write outside the target folder, or None."""
    if "\x00" in name:
        return "contains a NUL character"
    if "\\" in name:
        return "contains a backslash (a path separator on Windows)"
    if name.startswith("/"):
        return "is an absolute path"
    if len(name) > 1 and name[1] == ":" and name[0].isalpha():
        return "starts with a drive letter"
    if ".." in name.split("/"):
        return "climbs out of the folder with '..' (path traversal)"
    return None


def whole(data: Any, method: int, declared: int, limit: int) -> tuple[Any, int] | None:
    """A stored (0) or deflated (8) member's bytes from its compressed ``data``
    in one piece of at most ``limit`` bytes, with the number of bytes of
    ``data`` left after the end of the deflate stream (none for a stored
    member: its compressed size is its size); or None when it is not that
    simple (it does not end where it should, or holds more than ``declared``):
    the streaming reader then reads it and says what is wrong. Bytes left after
    the stream are what no extraction tool shows (it stops at the stream's
    end): the reader reports them (``member-trailing-data``)."""
    left = 0
    if method == 8:
        d = zlib.decompressobj(-15)
        try:
            data = d.decompress(data, limit)
        except zlib.error:
            return None
        if not d.eof:
            return None
        left = len(d.unused_data)  # (at the end of the stream, what follows it is here, never in unconsumed_tail)
    elif method != 0:
        return None
    return (data, left) if len(data) <= declared else None


def new_hash(name: str) -> Any:
    make = getattr(hashlib, name, None)  # (quicker than hashlib.new)
    return make() if make is not None else hashlib.new(name)


# --- in a helper process ------------------------------------------------------------

_segments: dict[tuple[int, int], memoryview] = {}


def hash_members(algorithms: tuple[str, ...], request: tuple[int, int, int, int, list[tuple[int, int, int, int]]]) -> list[Any]:
    """For each (offset, length, method, declared size) in the shared segment:
    (size, hex digests in ``algorithms`` order, CRC-32, first bytes, bytes left
    after the end of its deflate stream), or None when :func:`whole` says the
    member is not simple."""
    fd, size, limit, head, items = request
    segment = _segments.get((fd, size))
    if segment is None:
        segment = _segments[(fd, size)] = memoryview(mmap.mmap(fd, size, prot=mmap.PROT_READ))
    out: list[Any] = []
    for offset, length, method, declared in items:
        got = whole(segment[offset : offset + length], method, declared, limit)
        if got is None:
            out.append(None)
            continue
        data, left = got
        hashers = [new_hash(a) for a in algorithms]
        for h in hashers:
            h.update(data)
        out.append((len(data), [h.hexdigest() for h in hashers], zlib.crc32(data), bytes(data[:head]), left))
    return out


def worker_main() -> None:
    from .payloadcopy import worker_main as serve

    serve({"members": hash_members})
