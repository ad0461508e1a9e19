"""Containers kept whole in the payload — zip (and .ufdr), tar, tar.gz, gzip,
Android backup — and their members catalogued by streaming.

A container is copied byte for byte as one payload file, so its hash still
matches the acquisition tool's record. Its members are read from the bytes of
that copy, never unpacked to disk: each member's bytes are decompressed in
bounded chunks, hashed as they stream past and dropped, so memory stays flat
however large a member is. :func:`catalogue` yields what it finds —
:class:`Member` values with the fields of a member record, and container-level
:class:`Problem`, :class:`Note` and :class:`Fact` values — and is shared by the
``device`` importer (from memory while the copy is written, see
:class:`StreamedCopy`) and by ``verify --deep`` (over a sealed bundle). Given
the same bytes it yields the same members, which is what lets ``--deep``
re-derive every member record.

Nothing here writes a file or follows a link. Member names are recorded as
stored; names that could escape an extraction folder, links, special files,
duplicates, case collisions and legacy-encoded names are reported as problems.
Expansion is capped (ratio and total), so a zip bomb costs neither memory nor
unbounded time.
"""

from __future__ import annotations

import bz2
import gzip
import io
import itertools
import lzma
import mmap
import os
import stat as statmod
import struct
import tarfile
import threading
import zipfile
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO, Protocol

from ..hashing import CHUNK, HEAD, MultiHasher, bounded_map
from ..payloadcopy import _Worker, worker_count
from ..mediatype import sniff
from ..timeutil import format_epoch_ns, format_utc
from .files import escaped_name, has_bad_utf8, raw_bytes
from ..zipmembers import unsafe_name, whole

# --- what is a container --------------------------------------------------------

_SUFFIXES = (
    (".tar.gz", "tar+gzip"),
    (".tgz", "tar+gzip"),
    (".gz", "gzip"),
    (".tar", "tar"),
    (".zip", "zip"),
    (".ufdr", "zip"),
    (".ab", "android-backup"),
)
FORMATS = ("zip", "tar", "tar+gzip", "gzip", "android-backup")


def announced_format(name: str) -> str | None:
    """The container format a file name announces, or None for other files.
    (What is inside is checked when it is read: a ``.gz`` that is not gzip is a problem.)"""
    low = name.lower()
    for suffix, fmt in _SUFFIXES:
        if low.endswith(suffix):
            return fmt
    return None


@dataclass(frozen=True)
class Limits:
    """Expansion caps. A member (or a compressed stream) larger than
    ``ratio_floor`` may not expand more than ``max_ratio`` times; all members of
    one container together may not expand beyond ``max_expanded`` bytes.
    Deflate cannot exceed about 1032:1, so the default ratio only stops
    other methods and lying headers."""

    max_ratio: float = 1100.0
    max_expanded: int = 4 << 40
    ratio_floor: int = 16 << 20


# --- what cataloguing yields ----------------------------------------------------


@dataclass
class Member:
    """One member: the fields of its member record (everything but kind,
    container, id, source and salt), the problems found with it as
    ``(check, reason)`` pairs, why it was not read (not a failure: e.g. an
    unsupported compression method), and what the artifact scanner made of it."""

    fields: dict[str, Any]
    problems: list[tuple[str, str]] = field(default_factory=list)
    unread: str | None = None
    scan: dict[str, Any] | None = None
    head: bytes = b""  # the first bytes, for recognising it again by another path (e.g. a .ufdr's device path)

    @property
    def path(self) -> str:
        return self.fields["member_path"]


@dataclass(frozen=True)
class Problem:
    """Bad input at the level of the container (truncated, not what it says, a bomb)."""

    check: str
    reason: str


@dataclass(frozen=True)
class Note:
    """A check on the container that is not a failure (``not-checkable``, ``warn``)."""

    check: str
    verdict: str
    reason: str


@dataclass(frozen=True)
class Fact:
    """Something learnt about the container (its real format, an Android backup header)."""

    key: str
    value: Any


Event = Member | Problem | Note | Fact


class Tap(Protocol):
    def feed(self, piece: bytes) -> None: ...

    def close(self) -> None: ...


class MemberScanner(Protocol):
    """Looks at members as they stream past (the artifact recognisers). ``tap``
    is asked once per member with its first bytes and may return a :class:`Tap`
    to be fed the rest; ``result`` is called when the member has been read."""

    def tap(self, path: str, size: int | None, head: bytes) -> Tap | None: ...

    def result(self, path: str, size: int, head: bytes, tap: Tap | None) -> dict[str, Any] | None: ...


class _Unreadable(Exception):
    """A member's data cannot be read to its end (truncated, corrupt)."""


class _Bomb(Exception):
    """Expansion beyond the caps: stop reading the container."""


class CopyAborted(Exception):
    """The copy being read failed; the reader stops."""


# --- reading a container: from a file, or from memory while it is copied ----------


class RandomReader:
    """Positioned reads through a read-ahead window, so thousands of small
    members cost few system calls. Built over a file descriptor or a seekable
    file object (a payload file inside a zipped bundle); :class:`StreamedCopy`
    reads a copy from memory while it is written."""

    def __init__(self, pread: Callable[[int, int], bytes], size: Callable[[], int], window: int = 4 << 20) -> None:
        self._pread = pread
        self._size = size
        self._window = window
        self._win_start = 0
        self._win = b""

    @classmethod
    def over_fd(cls, fd: int, base: int = 0, size: int | None = None) -> "RandomReader":
        """Reads of the file open as ``fd`` (or of ``size`` bytes of it from ``base``)."""
        if size is None:
            return cls(lambda off, n: os.pread(fd, n, base + off), lambda: os.fstat(fd).st_size - base)
        return cls(lambda off, n: os.pread(fd, max(0, min(n, size - off)), base + off), lambda: size)

    def windowed(self, window: int) -> "RandomReader":
        """Another reader of the same bytes with its own read-ahead window."""
        return RandomReader(self._pread, self._size, window)

    @property
    def capacity(self) -> int | None:
        """How many bytes readers may hold at once (None: no limit)."""
        return None

    def close(self) -> None:
        pass

    def hold(self, key: Any, off: int) -> None:
        """Reader ``key`` will read nothing before ``off`` from now on (see :class:`StreamedCopy`)."""

    def drop(self, key: Any) -> None:
        """Reader ``key`` has finished."""

    @property
    def size(self) -> int:
        return self._size()

    def _read_full(self, off: int, n: int) -> bytes:
        parts = []
        while n > 0:
            got = self._pread(off, min(n, CHUNK * 4))
            if not got:
                break
            parts.append(got)
            off += len(got)
            n -= len(got)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_at(self, off: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``off`` (fewer only at the end of the file),
        through the window. Not for use by several threads at once."""
        if n <= 0:
            return b""
        start = off - self._win_start
        if 0 <= start and start + n <= len(self._win):
            return self._win[start : start + n]
        if n >= self._window // 2:
            return self._read_full(off, n)
        self._win_start, self._win = off, self._read_full(off, self._window)
        return self._win[:n]

    def read_range(self, off: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``off``, bypassing the window: safe from any thread."""
        return self._read_full(off, n) if n > 0 else b""

    def view_range(self, off: int, n: int) -> bytes | memoryview:
        """As :meth:`read_range`, but may be a view of memory the reader owns,
        valid while the caller holds a place (:meth:`hold`) at or before ``off``."""
        return self.read_range(off, n)

    def stream(self, offset: int = 0) -> "Sequential":
        return Sequential(self, offset)


class StreamedCopy(RandomReader):
    """A container's bytes from memory while its copy is written.

    The copy (``payloadcopy.copy_file(..., tee=this)``) reads each chunk of the
    source into one of this reader's buffers and hands it over once written;
    members are read straight from those buffers: never from a second read of
    the source, and without reading the copy back through the page cache (so
    the copy can be written ``O_DIRECT``). Reads wait for the bytes they need.

    Memory is bounded: a buffer is reused once the copy is done with it
    (written and hashed) and no reader needs it any more. Each reader says how
    far it has got with :meth:`hold` and that it has finished with :meth:`drop`;
    while no reader holds a place nothing is reused, until :meth:`close` (the
    reading is over). Bytes asked for after their buffer was reused anyway are
    read back from the copy on disk (every byte handed over is written).

    ``expect`` lists ``(offset, bytes)`` read from the source beforehand (a zip's
    directory): :attr:`as_expected` says whether the copy holds the same bytes.
    With ``shared``, the buffers are one memory segment other processes can map
    (:attr:`segment`, :meth:`locate`), where the system allows it."""

    def __init__(
        self, path: os.PathLike[str] | str, *, chunk: int = 4 << 20, buffers: int = 8, expect: Iterable[tuple[int, bytes]] = (), shared: bool = False
    ) -> None:
        super().__init__(self._pread_copy, self._total)
        self.segment: tuple[int, int] | None = None  # (file descriptor, size) of the shared buffers
        memory: Any = None
        if shared and hasattr(os, "memfd_create"):
            try:
                fd = os.memfd_create("evidpack-container", getattr(os, "MFD_CLOEXEC", 0))
                try:
                    os.ftruncate(fd, chunk * buffers)
                    memory = mmap.mmap(fd, chunk * buffers)
                except OSError:
                    os.close(fd)
                    raise
                self.segment = (fd, chunk * buffers)
            except OSError:
                memory = None  # private buffers instead
        self._buffers = [memoryview(memory)[i * chunk : (i + 1) * chunk] if memory is not None else None for i in range(buffers)]
        self._lent = 0  # the buffer last given to the copier
        self._lock = threading.Lock()
        self._data = threading.Condition(self._lock)  # readers wait for bytes
        self._room = threading.Condition(self._lock)  # the copier waits for a buffer
        self._waiting = False  # the copier is waiting for a buffer
        self._path = path
        self._chunk = chunk
        self._unused = list(range(buffers - 1, -1, -1))
        self._chunks: deque[list[Any]] = deque()  # [start, end, view, buffer number, digests done]
        self._end = 0  # bytes handed over
        self._released = 0  # bytes before this are no longer in memory
        self._holds: dict[Any, int] = {}
        self._closed = False
        self._done = False
        self._failed: BaseException | None = None
        self._fd: int | None = None
        self._expect = [(off, data) for off, data in expect if data]
        self._unchecked = sum(len(data) for _off, data in self._expect)
        self._differs = False

    # --- the copier's side (payloadcopy.Tee) -----------------------------------

    def buffer(self) -> Any:
        with self._lock:
            if self._unused:
                self._lent = self._unused.pop()
                if self._buffers[self._lent] is None:
                    self._buffers[self._lent] = memoryview(mmap.mmap(-1, self._chunk))
            else:
                while not self._reusable():
                    self._waiting = True
                    self._room.wait()
                self._waiting = False
                _start, self._released, _view, self._lent, _done = self._chunks.popleft()
            return self._buffers[self._lent]

    def chunk(self, view: memoryview) -> None:
        start, end = self._end, self._end + len(view)
        for off, data in self._expect:
            lo, hi = max(start, off), min(end, off + len(data))
            if lo < hi:
                self._unchecked -= hi - lo
                if view[lo - start : hi - start] != data[lo - off : hi - off]:
                    self._differs = True
        with self._lock:
            if self._chunks:
                self._chunks[-1][4] = True  # its digests are complete
            self._chunks.append([start, end, view, self._lent, False])
            self._end = end
            self._data.notify_all()

    def finish(self) -> None:
        """The copy is complete (and so are its digests)."""
        with self._lock:
            for c in self._chunks:
                c[4] = True
            self._done = True
            self._data.notify_all()

    def abort(self, exc: BaseException) -> None:
        """The copy failed: readers stop (:class:`CopyAborted`)."""
        with self._lock:
            self._failed = exc
            self._done = True
            self._data.notify_all()

    @property
    def as_expected(self) -> bool:
        """The copy holds every byte of ``expect``, unchanged."""
        return not self._differs and self._unchecked == 0

    def _reusable(self) -> bool:
        if not self._chunks or not self._chunks[0][4]:
            return False
        if self._closed:
            return True
        return bool(self._holds) and self._chunks[0][1] <= min(self._holds.values())

    # --- the readers' side ---------------------------------------------------------

    def hold(self, key: Any, off: int) -> None:
        with self._lock:
            self._holds[key] = off
            if self._waiting and self._reusable():
                self._room.notify()

    def drop(self, key: Any) -> None:
        with self._lock:
            self._holds.pop(key, None)
            if self._waiting and self._reusable():
                self._room.notify()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._room.notify()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def release(self) -> None:
        """Give the memory back (the copy and its readers are done)."""
        self.close()
        self._chunks.clear()
        self._buffers = []
        if self.segment is not None:
            os.close(self.segment[0])
            self.segment = None

    def locate(self, off: int, n: int) -> int | None:
        """Where the ``n`` bytes at ``off`` lie in :attr:`segment`, when they are in
        memory in one buffer (the caller holds a place at or before ``off``)."""
        with self._lock:
            if off < self._released or off + n > self._end or self.segment is None:
                return None
            for start, end, _view, number, _done in self._chunks:
                if start <= off < end:
                    return number * self._chunk + off - start if off + n <= end else None
        return None

    def windowed(self, window: int) -> "RandomReader":
        return self

    @property
    def capacity(self) -> int | None:
        return self._chunk * len(self._buffers)

    def _total(self) -> int:
        with self._lock:
            self._closed = True  # a reader that needs the end reads anywhere: buffers are reused freely
            self._room.notify()
            while not self._done:
                self._data.wait()
            return self._end

    def _pread_copy(self, off: int, n: int) -> bytes:
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            fd = self._fd
        return os.pread(fd, n, off)

    def _get(self, off: int, n: int, view: bool) -> bytes | memoryview:
        if n <= 0:
            return b""
        with self._lock:
            while self._end < off + n and not self._done:
                self._data.wait()
            if self._failed is not None:
                raise CopyAborted(str(self._failed))
            n = min(n, self._end - off)
            if n <= 0:
                return b""
            if off >= self._released:
                parts: list[Any] = []
                at, stop = off, off + n
                for start, end, chunk, _number, _done in self._chunks:
                    if end <= at:
                        continue
                    piece = chunk[at - start : min(end, stop) - start]
                    if at == off and len(piece) == n:
                        return piece if view else bytes(piece)
                    parts.append(piece)
                    at += len(piece)
                    if at == stop:
                        return b"".join(parts)
        # Its buffer was reused (a member whose data overlaps others', or reads
        # after the end was asked for): from the copy on disk, where every byte
        # handed over has been written.
        return self._read_full(off, n)

    def read_at(self, off: int, n: int) -> bytes:
        return self._get(off, n, False)  # type: ignore[return-value]

    def read_range(self, off: int, n: int) -> bytes:
        return self._get(off, n, False)  # type: ignore[return-value]

    def view_range(self, off: int, n: int) -> bytes | memoryview:
        return self._get(off, n, True)


class Sequential(io.RawIOBase):
    """A forward-only file object over a :class:`RandomReader` (for tar and gzip)."""

    def __init__(self, reader: RandomReader, offset: int = 0) -> None:
        self._reader = reader
        self.pos = offset

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        # At most a quarter of what a copy read from memory holds at once: a larger read
        # would wait for data the copy cannot write until this reader lets go of some.
        capacity = self._reader.capacity
        want = len(buf) if capacity is None else min(len(buf), max(capacity // 4, 1))
        self._reader.hold(self, self.pos)
        data = self._reader.read_at(self.pos, want)
        buf[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        self._reader.hold(self, self.pos)
        data = self._reader.read_at(self.pos, n)
        self.pos += len(data)
        return data


# --- shared by every format -----------------------------------------------------


@dataclass
class _Streamed:
    size: int
    hex: dict[str, str]
    head: bytes
    crc: int
    scan: dict[str, Any] | None
    error: str | None


_STREAM_ERRORS = (_Unreadable, tarfile.TarError, EOFError, zlib.error, OSError, lzma.LZMAError)  # a member read only in part
_SIDE_BY_SIDE = 32 << 20  # a member at least this large (or of unknown size) has its digests computed side by side


def _consume(
    pieces: Iterable[bytes], path: str, declared: int | None, algorithms: tuple[str, ...], scanner: MemberScanner | None
) -> _Streamed:
    """Hash a member's bytes as they stream past (and show them to the scanner).
    A member that cannot be read to its end keeps the digests of what was read
    and says why."""
    hasher = MultiHasher(algorithms, parallel=declared is None or declared >= _SIDE_BY_SIDE)
    crc = 0
    head = b""
    tap: Tap | None = None
    error = None
    try:
        for piece in pieces:
            if not head:
                head = bytes(piece[:HEAD])
                if scanner is not None:
                    tap = scanner.tap(path, declared, head)
            hasher.update(piece)
            crc = zlib.crc32(piece, crc)
            if tap is not None:
                tap.feed(piece)
        digests = hasher.result()
        scan = scanner.result(path, digests.size, head, tap) if scanner is not None else None
    except _STREAM_ERRORS as exc:
        digests = hasher.result()
        scan, error = None, str(exc) or type(exc).__name__
    finally:
        if tap is not None:
            tap.close()
    return _Streamed(digests.size, digests.hex, head, crc, scan, error)


def _set_content(member: Member, s: _Streamed, algorithms: tuple[str, ...]) -> None:
    fields = member.fields
    fields["size"] = s.size
    for alg in algorithms:
        fields[alg] = s.hex[alg]
    fields["media_type"] = sniff(s.head, fields["member_path"])
    member.scan = s.scan
    member.head = s.head[:64]


class _Names:
    """Checks each member name for what would go wrong when it is extracted."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._folded: dict[str, str] = {}

    def check(self, path: str, index: int) -> list[tuple[str, str]]:
        out = []
        why = unsafe_name(path)
        if why:
            out.append(("member-path", f"{why}; recorded, never extracted"))
        key = path.rstrip("/")
        if key in self._seen:
            out.append(("member-duplicate", f"appears more than once (also member #{self._seen[key]}); each copy is catalogued"))
        else:
            self._seen[key] = index
        folded = key.casefold()
        if folded == key:
            folded = key  # (one string kept, not two: most names are in lower case)
        other = self._folded.setdefault(folded, key)
        if other != key:
            out.append(("member-case-collision", f"differs only by case from {other!r}; a case-insensitive file system cannot hold both"))
        return out


_SPECIAL = {
    "fifo": "a FIFO",
    "char-device": "a character device",
    "block-device": "a block device",
    "socket": "a socket",
}


def _type_problems(fields: dict[str, Any]) -> list[tuple[str, str]]:
    kind = fields["member_type"]
    if kind in ("symlink", "hardlink"):
        what = "symbolic" if kind == "symlink" else "hard"
        target = fields.get("link_target")
        to = f" to {target!r}" if target is not None else ""
        return [("member-link", f"is a {what} link{to}; recorded, never followed")]
    if kind in _SPECIAL:
        return [("member-special", f"is {_SPECIAL[kind]}; recorded, not read")]
    return []


_UNIX_TYPES = {
    statmod.S_IFREG: "file",
    statmod.S_IFDIR: "directory",
    statmod.S_IFLNK: "symlink",
    statmod.S_IFIFO: "fifo",
    statmod.S_IFCHR: "char-device",
    statmod.S_IFBLK: "block-device",
    statmod.S_IFSOCK: "socket",
}


def _unix_type(mode: int) -> str | None:
    return _UNIX_TYPES.get(statmod.S_IFMT(mode))


def _epoch_text(ns: int) -> dict[str, Any]:
    try:
        return {"mtime": format_epoch_ns(ns)}
    except (OverflowError, ValueError, OSError):
        return {"mtime_raw": ns // 1_000_000_000, "mtime_note": "out of the range of a calendar date"}


# --- entry point ------------------------------------------------------------------


def catalogue(
    fmt: str,
    reader: RandomReader,
    *,
    name: str,
    algorithms: tuple[str, ...],
    limits: Limits = Limits(),
    zip_directory: "ZipDirectory | None" = None,
    scanner: MemberScanner | None = None,
) -> Iterator[Event]:
    """Every member of the container in ``reader``, in the order stored.

    ``fmt`` is one of :data:`FORMATS`; ``name`` is the container's file name
    (the name of a gzip's only member comes from it). For a zip, the central
    directory may be given (read beforehand, e.g. from the source, while the
    copy is still being written); otherwise it is read from ``reader``."""
    if fmt == "zip":
        if zip_directory is None:
            try:
                zip_directory = read_zip_directory(_SeekableView(reader))
            except ZipUnreadable as exc:
                yield Problem("container-readable", str(exc))
                return
        yield from _zip(reader, zip_directory, algorithms, limits, scanner)
    elif fmt in ("gzip", "tar+gzip"):
        yield from _gzip(reader, name, algorithms, limits, scanner)
    elif fmt == "tar":
        yield from _tar(reader.stream(), algorithms, scanner, "tar")
    elif fmt == "android-backup":
        yield from _android_backup(reader, algorithms, limits, scanner)
    else:
        raise ValueError(f"unknown container format {fmt!r}")


# --- zip ---------------------------------------------------------------------------


class ZipUnreadable(Exception):
    """The zip's central directory cannot be read."""


class ZipEntry:
    """One member's central-directory entry: the fields of :class:`zipfile.ZipInfo`
    that cataloguing uses, decoded as zipfile decodes them."""

    __slots__ = ("orig_filename", "create_system", "flag_bits", "compress_type", "date_time", "CRC", "compress_size", "file_size",
                 "extra", "external_attr", "header_offset")

    orig_filename: str
    create_system: int
    flag_bits: int
    compress_type: int
    date_time: tuple[int, int, int, int, int, int]
    CRC: int
    compress_size: int
    file_size: int
    extra: bytes
    external_attr: int
    header_offset: int


_CENTRAL = struct.Struct(zipfile.structCentralDir)  # one central-directory entry's fixed part


class ZipDirectory:
    """A zip's central directory, kept as the bytes read and decoded one entry at
    a time (an extraction may hold millions of members: decoded all at once,
    they would cost several times the directory's own size)."""

    def __init__(
        self, data: bytes, start: int, concat: int, positions: "array[int]", offsets: "array[int]", end: "_EndRecords | None" = None
    ) -> None:
        self.start = start  # offset of the central directory
        self.end = end  # the end records, as found (for what follows the directory: a comment, trailing bytes)
        self._data = data
        self._concat = concat
        self._positions = positions  # of each entry in data
        self._offsets = offsets  # each entry's local header offset

    def __len__(self) -> int:
        return len(self._positions)

    def header_offset(self, i: int) -> int:
        return self._offsets[i]

    def order(self) -> Iterable[int]:
        """Entry numbers in the order their data lies in the file (ties in directory order)."""
        offsets = self._offsets
        if all(offsets[i] <= offsets[i + 1] for i in range(len(offsets) - 1)):
            return range(len(offsets))  # (as zips are written)
        return sorted(range(len(offsets)), key=offsets.__getitem__)

    def entry(self, i: int) -> ZipEntry:
        data, pos = self._data, self._positions[i]
        fixed = _CENTRAL.unpack_from(data, pos)
        e = ZipEntry()
        (_sig, _cv, e.create_system, _xv, _res, e.flag_bits, e.compress_type, t, d, e.CRC, csize, usize, nlen, xlen, clen,
         _disk, _iattr, e.external_attr, hoff) = fixed
        pos += _CENTRAL.size
        e.orig_filename = data[pos : pos + nlen].decode("utf-8" if e.flag_bits & 0x800 else "cp437")
        e.extra = data[pos + nlen : pos + nlen + xlen]
        e.date_time = ((d >> 9) + 1980, (d >> 5) & 0xF, d & 0x1F, t >> 11, (t >> 5) & 0x3F, (t & 0x1F) * 2)
        e.file_size, e.compress_size, hoff = _zip64(e.extra, usize, csize, hoff) if e.extra else (usize, csize, hoff)
        e.header_offset = hoff + self._concat
        return e


def _zip64(extra: bytes, file_size: int, compress_size: int, header_offset: int) -> tuple[int, int, int]:
    """Sizes and header offset as a ZIP64 extra field (0x0001) gives them; the extra
    fields checked for form (both as zipfile.ZipInfo._decodeExtra does)."""
    while len(extra) >= 4:
        tag, size = struct.unpack_from("<HH", extra)
        if size + 4 > len(extra):
            raise zipfile.BadZipFile(f"Corrupt extra field {tag:04x} (size={size})")
        if tag == 0x0001:
            data = extra[4 : size + 4]
            try:
                if file_size in (0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF):
                    field = "File size"
                    (file_size,) = struct.unpack("<Q", data[:8])
                    data = data[8:]
                if compress_size == 0xFFFF_FFFF:
                    field = "Compress size"
                    (compress_size,) = struct.unpack("<Q", data[:8])
                    data = data[8:]
                if header_offset == 0xFFFF_FFFF:
                    field = "Header offset"
                    (header_offset,) = struct.unpack("<Q", data[:8])
            except struct.error:
                raise zipfile.BadZipFile(f"Corrupt zip64 extra field. {field} not found.") from None
        extra = extra[size + 4 :]
    return file_size, compress_size, header_offset


class _Recorded(io.RawIOBase):
    """A seekable file object that keeps every (offset, bytes) read through it."""

    def __init__(self, fh: BinaryIO, seen: list[tuple[int, bytes]]) -> None:
        self._fh = fh
        self._seen = seen

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def read(self, n: int | None = -1) -> bytes:
        at = self._fh.tell()
        data = self._fh.read(n)
        self._seen.append((at, data))
        return data


def read_zip_directory(fh: BinaryIO, seen: list[tuple[int, bytes]] | None = None) -> ZipDirectory:
    """The central directory of the zip in ``fh`` (reads only its tail);
    ``seen``, if given, gets every (offset, bytes) read."""
    if seen is not None:
        fh = _Recorded(fh, seen)  # type: ignore[assignment]
    try:
        return _read_zip_directory(fh)
    except zipfile.BadZipFile as exc:
        text = str(exc)
        if text == "File is not a zip file":
            text = "no end-of-central-directory record: truncated, or not a zip at all"
        raise ZipUnreadable(f"the zip's central directory cannot be read ({text}), so its members cannot be listed") from None
    except (zipfile.LargeZipFile, ValueError, UnicodeDecodeError, EOFError, OSError, struct.error, NotImplementedError) as exc:
        raise ZipUnreadable(f"the zip's central directory cannot be read ({exc}), so its members cannot be listed") from None


# The end records (APPNOTE 4.3.14-16): the end of central directory record, and
# before it, for ZIP64, a locator pointing to the ZIP64 end record.
_EOCD = struct.Struct("<4s4H2LH")  # signature, disk, disk of the directory, entries here, entries, size, offset, comment length
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # signature, disk of the ZIP64 record, its offset, number of disks
_EOCD64 = struct.Struct("<4sQ2H2L2Q2Q")  # signature, record size, versions, disks, entries here, entries, size, offset
_EOCD_SIG, _LOCATOR_SIG, _EOCD64_SIG = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
_MAX_COMMENT = 0xFFFF


@dataclass(frozen=True)
class _EndRecords:
    size: int  # of the central directory
    offset: int  # of the central directory, as recorded (from the zip's start)
    location: int  # of the end of central directory record in the file
    zip64: bool
    comment: int = 0  # the comment length the end record declares
    filesize: int = 0  # of the whole file


def _end_records(fh: BinaryIO) -> _EndRecords | None:
    """The zip's end records, found as zipfile finds them (the end of central
    directory record in the file's last 64 KiB + 22 bytes, see :func:`_eocd_in`;
    a ZIP64 locator just before it, if any, and the ZIP64 record), or None.
    Written here rather than taken from zipfile's private _EndRecData, whose
    behaviour has changed between Python versions."""
    fh.seek(0, io.SEEK_END)
    filesize = fh.tell()
    if filesize < _EOCD.size:
        return None
    fh.seek(filesize - _EOCD.size)
    tail = fh.read(_EOCD.size)
    if tail[:4] == _EOCD_SIG and tail[-2:] == b"\x00\x00":  # the common case: no comment
        location, record = filesize - _EOCD.size, tail
    else:
        back = min(filesize, _MAX_COMMENT + _EOCD.size)
        fh.seek(filesize - back)
        data = fh.read(back)
        at = _eocd_in(data)
        if at is None:
            return None
        location, record = filesize - back + at, data[at : at + _EOCD.size]
    _sig, _disk, _cd_disk, _here, _entries, size, offset, comment = _EOCD.unpack(record)
    if location < _EOCD64_LOCATOR.size:
        return _EndRecords(size, offset, location, False, comment, filesize)
    fh.seek(location - _EOCD64_LOCATOR.size)
    sig, disk, _where, disks = _EOCD64_LOCATOR.unpack(fh.read(_EOCD64_LOCATOR.size))
    if sig != _LOCATOR_SIG:
        return _EndRecords(size, offset, location, False, comment, filesize)
    if disk != 0 or disks > 1:
        raise zipfile.BadZipFile("zipfiles that span multiple disks are not supported")
    start64 = location - _EOCD64_LOCATOR.size - _EOCD64.size
    if start64 < 0:
        raise zipfile.BadZipFile("Corrupt zip64 end of central directory locator")
    fh.seek(start64)
    record64 = fh.read(_EOCD64.size)
    if len(record64) != _EOCD64.size or record64[:4] != _EOCD64_SIG:
        raise zipfile.BadZipFile("Zip64 end of central directory record not found")
    *_fields, size64, offset64 = _EOCD64.unpack(record64)
    return _EndRecords(size64, offset64, location, True, comment, filesize)


def _eocd_in(data: bytes) -> int | None:
    """Where the end of central directory record is in ``data`` (the file's
    tail): the last signature whose record, with its comment, ends the file
    exactly; if none does (bytes after the record), the last one with a whole
    record after it, as zipfile takes it. (zipfile takes the last signature
    only, so a comment that holds the signature hides the real record.)"""
    at, fallback = len(data), None
    while (at := data.rfind(_EOCD_SIG, 0, at)) >= 0:
        if len(data) - at >= _EOCD.size:
            if at + _EOCD.size + _EOCD.unpack_from(data, at)[-1] == len(data):
                return at
            if fallback is None:
                fallback = at
    return fallback


def _read_zip_directory(fh: BinaryIO) -> ZipDirectory:
    # What zipfile.ZipFile._RealGetContents does, without a ZipInfo per member:
    # every entry is checked now (so a bad directory lists no member at all),
    # and only where each lies and its local header offset are kept.
    try:
        end = _end_records(fh)
    except OSError:
        end = None
    if end is None:
        raise zipfile.BadZipFile("File is not a zip file")
    size_cd, offset_cd = end.size, end.offset
    concat = end.location - size_cd - offset_cd  # (data before the zip)
    if end.zip64:
        concat -= _EOCD64.size + _EOCD64_LOCATOR.size
    start = offset_cd + concat
    if start < 0:
        raise zipfile.BadZipFile("Bad offset for central directory")
    fh.seek(start)
    data = fh.read(size_cd)
    positions, offsets = array("q"), array("q")
    pos, fixed = 0, _CENTRAL.size
    while pos < size_cd:
        if len(data) < pos + fixed:
            raise zipfile.BadZipFile("Truncated central directory")
        (sig, _cv, _cs, version, _res, flags, _method, _t, _d, _crc, csize, usize, nlen, xlen, clen,
         _disk, _iattr, _eattr, hoff) = _CENTRAL.unpack_from(data, pos)
        if sig != zipfile.stringCentralDir:  # type: ignore[attr-defined]
            raise zipfile.BadZipFile("Bad magic number for central directory")
        if flags & 0x800:
            data[pos + fixed : pos + fixed + nlen].decode("utf-8")  # (raises as zipfile would)
        if version > zipfile.MAX_EXTRACT_VERSION:  # type: ignore[attr-defined]
            raise NotImplementedError(f"zip file version {version / 10:.1f}")
        if xlen:
            _usize, _csize, hoff = _zip64(data[pos + fixed + nlen : pos + fixed + nlen + xlen], usize, csize, hoff)
        positions.append(pos)
        offsets.append(hoff + concat)
        pos += fixed + nlen + xlen + clen
    return ZipDirectory(data, start, concat, positions, offsets, end)


class _SeekableView(io.RawIOBase):
    """A seekable file object over a :class:`RandomReader` (for zipfile)."""

    def __init__(self, reader: RandomReader) -> None:
        self._reader = reader
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._reader.size}[whence]
        self._pos = base + offset
        return self._pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = max(0, self._reader.size - self._pos)
        data = self._reader.read_at(self._pos, n)
        self._pos += len(data)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


_METHODS = {0: "stored", 8: "deflate", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstandard", 95: "xz", 98: "ppmd", 99: "aes"}
_NTFS_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)


def _extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        yield tag, extra[pos + 4 : pos + 4 + size]
        pos += 4 + size


def _zip_times(info: ZipEntry) -> dict[str, Any]:
    """UTC when an extra field gives it (0x5455 Info-ZIP extended timestamp,
    0x000a NTFS); otherwise the DOS time as written, which has no zone."""
    for tag, body in _extra_fields(info.extra) if info.extra else ():
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            out = _epoch_text(struct.unpack_from("<i", body, 1)[0] * 1_000_000_000)
            out["mtime_from"] = "zip extended timestamp (0x5455), UTC"
            return out
        if tag == 0x000A and len(body) >= 32:
            attr_tag, attr_size = struct.unpack_from("<HH", body, 4)
            if attr_tag == 1 and attr_size >= 24:
                ticks = struct.unpack_from("<Q", body, 8)[0]
                try:
                    return {"mtime": format_utc(_NTFS_EPOCH + timedelta(microseconds=ticks // 10)), "mtime_from": "zip NTFS times (0x000a), UTC"}
                except OverflowError:
                    pass
    y, mo, d, h, mi, s = info.date_time
    return {"mtime_local": f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}", "mtime_zone": "unknown (DOS time)"}


def _zip_name(info: ZipEntry) -> tuple[str, bytes, str | None, list[tuple[str, str]]]:
    """(member path, raw name bytes, how the name was read, problems)."""
    name = info.orig_filename
    if name.isascii():  # the same bytes in UTF-8 and CP437
        return name, name.encode("ascii"), None, []
    utf8_flag = bool(info.flag_bits & 0x800)
    raw = name.encode("utf-8" if utf8_flag else "cp437")
    if utf8_flag or raw.isascii():
        return name, raw, None, []
    for tag, body in _extra_fields(info.extra):
        if tag == 0x7075 and len(body) >= 5 and body[0] == 1 and struct.unpack_from("<I", body, 1)[0] == zlib.crc32(raw):
            try:
                return body[5:].decode("utf-8"), raw, "Info-ZIP Unicode Path extra field (0x7075)", []
            except UnicodeDecodeError:
                break
    name = info.orig_filename  # CP437, the zip standard's default for unflagged names
    try:
        alt = f"; as UTF-8 it would read {raw.decode('utf-8')!r}"
    except UnicodeDecodeError:
        alt = ""
    why = f"name is not marked UTF-8, so it is read as CP437 (the zip standard's default): {name!r}{alt}; original bytes kept in member_path_raw"
    return name, raw, "cp437 (no UTF-8 flag)", [("member-name-encoding", why)]


def _zip_type(info: ZipEntry) -> tuple[str, str | None]:
    high = info.external_attr >> 16
    if info.create_system == 3 and high:
        kind = _unix_type(high)
        if kind is not None:
            if kind == "file" and info.orig_filename.endswith("/"):
                kind = "directory"
            return kind, f"{statmod.S_IMODE(high):04o}"
    return ("directory" if info.orig_filename.endswith("/") else "file"), None


class _Decompress:
    """Bounded-output decompression: never more than CHUNK bytes per piece."""

    def __init__(self, method: int, reader: RandomReader, offset: int) -> None:
        self.method = method
        self.skip = 0
        if method == 8:
            self._d: Any = zlib.decompressobj(-15)
        elif method == 12:
            self._d = bz2.BZ2Decompressor()
        elif method == 14:
            # zip's LZMA: 2 bytes version, 2 bytes properties size, properties, then raw LZMA1.
            hdr = reader.read_range(offset, 4)
            (psize,) = struct.unpack_from("<H", hdr, 2) if len(hdr) == 4 else (0,)
            props = reader.read_range(offset + 4, psize)
            try:
                filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)  # type: ignore[attr-defined]
            except (lzma.LZMAError, ValueError) as exc:
                raise _Unreadable(f"bad LZMA properties ({exc})") from None
            self._d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
            self.skip = 4 + psize
        else:
            self._d = None

    def feed(self, data: bytes) -> Iterator[bytes]:
        d = self._d
        if d is None:
            yield data
            return
        if self.method == 8:
            while data:
                out = d.decompress(data, CHUNK)
                data = d.unconsumed_tail
                if out:
                    yield out
                if d.eof:
                    return
            return
        out = d.decompress(data, CHUNK)
        if out:
            yield out
        while not d.eof and not d.needs_input:
            out = d.decompress(b"", CHUNK)
            if not out:
                break
            yield out

    @property
    def ended(self) -> bool:
        return self._d is None or bool(self._d.eof)

    @property
    def left(self) -> int | None:
        """Once a compressed stream has ended: how many of the bytes fed to it
        follow its end (None while it goes on, and for a stored member)."""
        d = self._d
        return len(d.unused_data) if d is not None and d.eof else None


def _zip_data(reader: RandomReader, offset: int, info: ZipEntry, key: Any = None, left: list[int] | None = None) -> Iterator[bytes]:
    """A member's bytes, decompressed in pieces. Where its compressed stream ends
    before its compressed size does, what is left is not read (nor shown to the
    decompressor, which would keep it): its length goes into ``left``."""
    d = _Decompress(info.compress_type, reader, offset)
    pos, remaining = offset + d.skip, info.compress_size - d.skip
    produced = 0
    while remaining > 0:
        reader.hold(key, pos)  # (the piece before has been consumed)
        chunk = reader.view_range(pos, min(CHUNK, remaining))
        if not chunk:
            raise _Unreadable("truncated: the zip ends inside this member's data")
        pos += len(chunk)
        remaining -= len(chunk)
        for out in d.feed(chunk):
            produced += len(out)
            if produced > info.file_size:
                raise _Unreadable(f"expands beyond the {info.file_size} bytes its directory entry declares")
            yield out
        after = d.left  # (one look per chunk, only once the stream has ended: nothing on an ordinary member)
        if after is not None:
            if left is not None:
                left.append(after + remaining)
            break
    if not d.ended:
        raise _Unreadable("its compressed data ends before the end of the stream (truncated or corrupt)")


def _whole(reader: RandomReader, start: int, info: ZipEntry, left: list[int] | None = None) -> list[Any] | None:
    """A small stored or deflated member's data in one piece, as :func:`_zip_data`
    would give it (most members are small: this saves its machinery), or None
    when :func:`_zip_data` is to read it (and say what is wrong with it). The
    bytes left after the end of a deflate stream are counted in ``left``."""
    if info.compress_type not in (0, 8):
        return None
    data = reader.view_range(start, info.compress_size)
    if len(data) != info.compress_size:
        return None
    got = whole(data, info.compress_type, info.file_size, CHUNK)
    if got is None:
        return None
    data, after = got
    if left is not None:
        left.append(after)
    return [data] if data else []


def _trailing(reader: RandomReader, start: int, info: ZipEntry, left: int) -> tuple[str, str] | None:
    """The problem of a member whose compressed stream ends ``left`` bytes before
    the compressed size its directory entry declares, or None when it ends there.

    Those bytes are inside the member's data as the zip lays it out, so no
    ``container-unlisted-data`` gap shows them, and every extraction tool stops
    at the stream's end: ``unzip -t`` and Python's zipfile say nothing (7-Zip's
    test says "There are some data after the end of the payload data" for a
    deflate or bzip2 member). The member's digests are of what it decompresses
    to, as extracted."""
    if left <= 0:
        return None
    at = start + info.compress_size - left
    method = _METHODS.get(info.compress_type, f"method {info.compress_type}")
    return (
        "member-trailing-data",
        f"has {left} byte(s) at offsets {at} to {at + left - 1} after the end of its {method} stream, inside the {info.compress_size} "
        f"compressed byte(s) its directory entry declares{_looks_like(reader.read_range, at, left)}; extraction stops at the end of the "
        "stream and never shows them (unzip -t and Python's zipfile find nothing wrong, 7-Zip's test reports an error); they are kept "
        "in the container but are not the member's content, whose digests are of the bytes it decompresses to",
    )


# Member problems that are warnings, not bad input: the member's content is what every tool
# extracts, and the bytes said are kept, sealed with the container (as ``container-unlisted-data``).
MEMBER_WARNINGS = frozenset({"member-trailing-data"})


def report_member_problem(ctx: Any, message: str, check: str, subject: str | None) -> None:
    """Report a member's problem to an import context: a ``warn`` check for
    :data:`MEMBER_WARNINGS`, otherwise bad input (``ctx.problem``: the build
    stops, or with ``--keep-going`` a failed check). Either way the member's
    record lists it in ``problems``."""
    if check in MEMBER_WARNINGS:
        ctx.check(check, "warn", message, subject)
    else:
        ctx.problem(message, check=check, subject=subject)


_SUPPORTED_METHODS = (0, 8, 12, 14)
ZIP_WORKERS = 2  # batches of members read, inflated and hashed at once (order kept)
BATCH_BYTES = 512 << 10  # members are handed to the workers in batches of about this much data
BATCH_MEMBERS = 64

_Job = tuple[Member, ZipEntry, int]


HELPED_MIN = 2000  # a zip read from a shared segment with this many members has helper processes


def _zip(reader: RandomReader, directory: ZipDirectory, algorithms: tuple[str, ...], limits: Limits, scanner: MemberScanner | None) -> Iterator[Event]:
    segment = getattr(reader, "segment", None)
    count = min(ZIP_WORKERS, worker_count()) if segment is not None and len(directory) >= HELPED_MIN else 0
    try:
        helpers = _Helpers(segment, count) if count else None
    except OSError:  # no processes to be had: threads do it all
        helpers = None

    def read(batch: _Batch) -> None:
        try:
            done = helpers.read(batch, reader, algorithms, scanner) if helpers is not None else ()
            for i, (member, info, start) in enumerate(batch.jobs):
                if start >= 0 and i not in done:
                    reader.hold(batch, start)  # (the members before it are done with)
                    _zip_read(member, info, reader, start, algorithms, scanner, batch)
        finally:
            reader.drop(batch)

    ending: list[Event] = []  # bytes that belong to no listed member, told after the members
    try:
        order = directory.order()
        next_headers = itertools.chain((directory.header_offset(i) for i in itertools.islice(order, 1, None)), [directory.start])
        batches = _batches(zip(_zip_plan(reader.windowed(256 << 10), directory, limits, order, ending), next_headers), reader)
        if helpers is not None:
            batches = helpers.ahead(batches, reader, algorithms)
        for batch, _ in bounded_map(read, batches, workers=ZIP_WORKERS, window=4 * ZIP_WORKERS):
            for member, _info, _start in batch.jobs:
                yield member
    finally:
        if helpers is not None:
            helpers.close()
    yield from ending
    yield from _zip_tail(reader, directory)


class _Helpers:
    """Helper processes that hash a batch's small stored or deflated members out
    of the reader's shared segment (:func:`evidpack.zipmembers.hash_members`);
    each reading thread uses one at a time. Whatever they cannot do (a member
    not in one buffer, not simple, or whose content a recogniser wants) is
    read in the thread as usual, and so is everything if a helper fails."""

    def __init__(self, segment: tuple[int, int], count: int) -> None:
        self._segment = segment
        self._all: list[_Worker] = []
        try:
            for _ in range(count):
                self._all.append(_Worker("evidpack.zipmembers", pass_fds=(segment[0],)))
        except OSError:
            self.close()
            raise
        self._turn = 0
        self._failed = False

    def ahead(self, batches: Iterator[_Batch], reader: RandomReader, algorithms: tuple[str, ...]) -> Iterator[_Batch]:
        """Hand each batch to a helper as soon as it is planned (the batch's hold
        keeps its data in memory), so the helpers are never waiting."""
        for batch in batches:
            picked, items = [], []
            for i, (_member, info, start) in enumerate(batch.jobs):
                if start >= 0 and info.compress_type in (0, 8) and info.compress_size <= CHUNK:
                    at = reader.locate(start, info.compress_size)  # type: ignore[attr-defined]
                    if at is not None:
                        picked.append(i)
                        items.append((at, info.compress_size, info.compress_type, info.file_size))
            if items and not self._failed:
                worker = self._all[self._turn % len(self._all)]
                self._turn += 1
                batch.helped = (picked, worker.submit("members", algorithms, (*self._segment, CHUNK, HEAD, items)))
            yield batch

    def read(self, batch: _Batch, reader: RandomReader, algorithms: tuple[str, ...], scanner: MemberScanner | None) -> set[int]:
        """Complete the members of ``batch`` its helper read; their numbers."""
        if batch.helped is None:
            return set()
        picked, future = batch.helped
        try:
            answers = future.result()
        except RuntimeError:  # it failed: what it had is read in the threads, and so is the rest
            self._failed = True
            return set()
        done = set()
        for i, answer in zip(picked, answers):
            member, info, start = batch.jobs[i]
            if answer is not None and _hashed(member, info, answer, algorithms, scanner, reader, start):
                done.add(i)
        return done

    def close(self) -> None:
        for worker in self._all:
            worker.close()


def _hashed(
    member: Member, info: ZipEntry, answer: tuple[int, list[str], int, bytes, int], algorithms: tuple[str, ...], scanner: MemberScanner | None,
    reader: RandomReader, start: int,
) -> bool:
    """Complete a member a helper hashed, as :func:`_zip_read` would; False when a
    recogniser wants its content (it is then read in the thread)."""
    size, hexes, crc, head, left = answer
    scan = None
    if scanner is not None:
        path = member.fields["member_path"]
        tap = scanner.tap(path, info.file_size, head) if size else None
        if tap is not None:
            tap.close()
            return False
        try:
            scan = scanner.result(path, size, head, None)
        except _STREAM_ERRORS:
            return False
    tail = _trailing(reader, start, info, left) if left else None
    _finish(member, info, _Streamed(size, dict(zip(algorithms, hexes)), head, crc, scan, None), algorithms, tail)
    return True


class _Batch:
    """Consecutive members read by one thread (handing each member to a thread
    of its own costs more than reading a small one); also the key it holds its
    place in the reader by."""

    __slots__ = ("jobs", "helped")

    def __init__(self) -> None:
        self.jobs: list[_Job] = []
        self.helped: tuple[list[int], Future[list[Any]]] | None = None  # (members handed to a helper, its answer)


def _batches(planned: Iterable[tuple[_Job, int]], reader: RandomReader) -> Iterator[_Batch]:
    """Planned members (each with where the next member's header lies) in
    batches. A batch holds its place in the reader from its first member's data
    on, so it is handed on before the next header to plan lies too far from
    there: memory the batch holds must leave room for the reads still to come."""
    capacity = reader.capacity
    limit = BATCH_BYTES if capacity is None else min(BATCH_BYTES, capacity // 4)
    batch, first = _Batch(), -1
    for job, next_header in planned:
        if first < 0 and job[2] >= 0:
            first = job[2]
            reader.hold(batch, first)  # its members' data is still to come: kept until read
        batch.jobs.append(job)
        if len(batch.jobs) >= BATCH_MEMBERS or (first >= 0 and next_header - first >= limit):
            yield batch
            batch, first = _Batch(), -1
    if batch.jobs:
        yield batch


def _zip_plan(headers: RandomReader, directory: ZipDirectory, limits: Limits, order: Iterable[int], ending: list[Event] | None = None) -> Iterator[_Job]:
    """Each member with the offset of its data, or -1 when it is not to be read;
    everything that depends on the members before it (names, overlaps, the
    expansion total, bytes between members that no member accounts for) is
    decided here, in order. What belongs to no listed member goes in ``ending``."""
    # Members are read in the order their data lies in the file (normally the
    # directory order), so a copy still being written is read front to back.
    names = _Names()
    cover = _Coverage(headers, ending if ending is not None else [])
    prev_end = 0
    expanded = 0
    for i in order:
        info = directory.entry(i)
        path, raw, how, problems = _zip_name(info)
        cover.upto(info.header_offset, i, path)
        headers.hold(_zip_plan, info.header_offset)
        fields: dict[str, Any] = {"member_path": path, "member_index": i + 1}
        if how is not None:
            fields["member_path_raw"] = raw.hex()
            fields["member_path_encoding"] = how
        problems += names.check(path, i + 1)
        kind, mode = _zip_type(info)
        fields["member_type"] = kind
        if mode is not None:
            fields["mode"] = mode
        fields.update(_zip_times(info))
        fields["compression"] = _METHODS.get(info.compress_type, f"method {info.compress_type}")
        fields["compressed_size"] = info.compress_size
        fields["crc32"] = f"{info.CRC:08x}"
        member = Member(fields, problems)
        header = headers.read_at(info.header_offset, 30 + len(raw))  # (its name too, as the directory gives it)
        local = len(header) >= 30 and header[:4] == b"PK\x03\x04"
        if local:
            nlen, xlen = struct.unpack_from("<HH", header, 26)
            start = info.header_offset + 30 + nlen + xlen
            end = start + info.compress_size
            cover.member(end, bool((header[6] | info.flag_bits) & 0x8), info, i, path)
        # A folder or special file is read as a file when its entry declares bytes (odd: said), and
        # when it holds compressed data said to give none (as Java's ZipOutputStream writes an empty
        # folder: 2 bytes of deflate), to see that it gives none (see _finish); otherwise not.
        special = kind == "directory" or kind in _SPECIAL
        odd = _zip_odd(info, kind) if special and info.file_size > 0 else None
        if special and odd is None and (info.compress_size <= 0 or info.flag_bits & 0x1 or info.compress_type not in _SUPPORTED_METHODS):
            fields["size"] = info.file_size
            member.problems += _type_problems(fields)
            if not local:
                member.problems.append(("member-readable", f"has no local header at offset {info.header_offset}"))
            yield member, info, -1
            continue
        if not local:
            yield _unread(member, info, odd, ("member-readable", f"has no local header at offset {info.header_offset}; not read"))
            continue
        if start < prev_end or end > directory.start:
            member.problems.append(("container-bomb", "its data overlaps another member or the central directory (a zip-bomb construction)"))
        prev_end = max(prev_end, end)
        local_name = header[30 : 30 + nlen] if len(header) >= 30 + nlen else headers.read_at(info.header_offset + 30, nlen)
        if local_name != raw:
            shown = local_name.decode("utf-8", "replace")
            member.problems.append(("member-header-mismatch", f"its local header names it {shown!r}: tools that read local headers see another name"))
        fields["size"] = info.file_size
        if info.flag_bits & 0x1:
            fields["encrypted"] = True
            yield _unread(member, info, odd, ("member-encrypted", "is encrypted; kept inside the zip as it is, not decrypted and not hashed"))
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor and ratio > limits.max_ratio:
            yield _unread(member, info, odd, ("container-bomb", f"would expand {ratio:,.0f}:1 to {info.file_size} bytes (cap {limits.max_ratio:,.0f}:1); not read"))
            continue
        expanded += info.file_size
        if expanded > limits.max_expanded:
            yield _unread(member, info, odd, ("container-bomb", f"members up to this one expand to {expanded} bytes, more than the cap of {limits.max_expanded}; not read"))
            continue
        if info.compress_type not in _SUPPORTED_METHODS:
            member.unread = f"compression method {info.compress_type} ({fields['compression']}) is not supported; kept inside the zip, not hashed"
            yield _unread(member, info, odd)
            continue
        if odd is not None:
            member.problems.append(("member-type", f"{odd}; its bytes are hashed as a file's"))
        yield member, info, start
    cover.upto(directory.start)
    cover.finish()
    headers.drop(_zip_plan)


def _unread(member: Member, info: ZipEntry, odd: str | None, why: tuple[str, str] | None = None) -> _Job:
    """A member planned not to be read, with why (and, for one that carries bytes its type says it has not, that too)."""
    if odd is not None:
        member.problems.append(("member-type", f"{odd}; not read (see its other problems)"))
    if why is not None:
        member.problems.append(why)
    return member, info, -1


def _zip_odd(info: ZipEntry, kind: str) -> str | None:
    """What is odd about a member marked as a folder or a special file that
    carries bytes (extraction tools disagree about what it is), or None."""
    if kind != "directory" and kind not in _SPECIAL:
        return None
    if info.compress_size <= 0 and info.file_size <= 0:
        return None
    holds = f"holds {info.file_size} byte(s)"
    if info.compress_size != info.file_size:
        holds += f" ({info.compress_size} compressed)"
    if kind == "directory" and info.orig_filename.endswith("/"):
        return f"is marked as a folder (its name ends in '/') but {holds}; unzip and Python's zipfile make an empty folder of it and drop them"
    if kind == "directory":
        return f"is marked as a folder by its Unix mode but {holds}; unzip and Python's zipfile extract it as a file, 7-Zip as a folder"
    return f"is marked as {_SPECIAL[kind]} by its Unix mode but {holds}; unzip extracts it as a regular file"


_UNLISTED_SHOWN = 20  # stretches of bytes that belong to no listed member told one by one; the rest counted


class _Coverage:
    """Which bytes of a zip its listed members account for (each one's local
    header, name, extra field, data and data descriptor), walked in the order
    of the local headers; what no listed member accounts for, up to the central
    directory, is told as ``container-unlisted-data`` warnings. Costs nothing
    per member beyond reading, where there is a gap, its first bytes."""

    def __init__(self, headers: RandomReader, ending: list[Event]) -> None:
        self._headers = headers
        self._ending = ending
        self._at = 0  # bytes before this are accounted for
        self._after: tuple[int, str] | None = None  # (entry number, name) of the member whose data ends there
        self._last: tuple[int, ZipEntry] | None = None  # (where its data ends, its entry) when a data descriptor may follow
        self._count = 0
        self._bytes = 0

    def member(self, end: int, descriptor: bool, info: ZipEntry, i: int, path: str) -> None:
        """Entry ``i``'s local header, name, extra field and data end at ``end``."""
        if end > self._at:
            self._at, self._after = end, (i, path)
            self._last = (end, info) if descriptor else None

    def upto(self, offset: int, i: int = -1, path: str = "") -> None:
        """Everything before ``offset`` (entry ``i``'s local header, or by default
        the central directory) should be accounted for."""
        at = self._at
        if offset <= at:
            return
        headers = self._headers
        headers.hold(_zip_plan, at)  # (before the wait for the bytes at offset, so the copy can go on)
        if self._last is not None and self._last[0] == at:
            info = self._last[1]
            at += _descriptor(headers.read_at(at, min(24, offset - at)), info.compress_size, info.file_size)
        self._at, self._last = offset, None
        if at >= offset:
            return
        size = offset - at
        self._count += 1
        self._bytes += size
        if self._count > _UNLISTED_SHOWN:
            return
        following = "the central directory" if i < 0 else f"the local header of member #{i + 1} ({path!r})"
        where = f"before {following}" if self._after is None else f"between the data of member #{self._after[0] + 1} ({self._after[1]!r}) and {following}"
        self._ending.append(
            Note(
                "container-unlisted-data",
                "warn",
                f"{size} byte(s) at offsets {at} to {offset - 1}, {where}, belong to no member its central directory lists"
                f"{_looks_like(headers.read_at, at, size)}; they are kept in the container but are not catalogued",
            )
        )

    def finish(self) -> None:
        more = self._count - _UNLISTED_SHOWN
        if more > 0:
            self._ending.append(
                Note(
                    "container-unlisted-data",
                    "warn",
                    f"{more} more stretch(es) of bytes belong to no member its central directory lists "
                    f"({self._count} in all, {self._bytes} byte(s)); they are kept in the container but are not catalogued",
                )
            )


def _descriptor(data: bytes, compress_size: int, file_size: int) -> int:
    """The length of the data descriptor (APPNOTE 4.3.9) at the start of
    ``data`` for a member of these sizes: with or without its signature, with
    4- or 8-byte sizes; 0 when there is none."""
    for signed, fmt in ((True, "<LLL"), (True, "<LQQ"), (False, "<LLL"), (False, "<LQQ")):
        skip = 4 if signed else 0
        n = skip + struct.calcsize(fmt)
        if len(data) < n or (signed and data[:4] != b"PK\x07\x08"):
            continue
        _crc, csize, usize = struct.unpack_from(fmt, data, skip)
        if (csize, usize) == (compress_size, file_size):
            return n
    return 0


_SIGNATURES = {
    b"PK\x01\x02": "a central-directory entry",
    b"PK\x05\x06": "an end-of-central-directory record",
    b"PK\x06\x06": "a ZIP64 end-of-central-directory record",
    b"PK\x07\x08": "a data descriptor",
}


def _looks_like(read: Callable[[int, int], bytes], at: int, size: int) -> str:
    """What the ``size`` bytes at ``at`` start with (reading at most a local header and its name)."""
    head = read(at, min(size, 30))
    if head[:4] == b"PK\x03\x04":
        if len(head) < 30:
            return "; they start with a local-file-header signature (PK\\x03\\x04)"
        flags, csize, nlen = struct.unpack_from("<H", head, 6)[0], struct.unpack_from("<L", head, 18)[0], struct.unpack_from("<H", head, 26)[0]
        raw = read(at + 30, min(nlen, size - 30, 1024)) if nlen else b""
        name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        cut = "…" if len(raw) < nlen else ""
        return (
            f"; they start with a local file header (PK\\x03\\x04), so they look like a zip entry the central directory does not list, "
            f"named {name!r}{cut} ({csize} byte(s) of data declared)"
        )
    what = _SIGNATURES.get(head[:4])
    if what is not None:
        return f"; they start with the signature of {what} ({head[:4]!r})"
    return f"; they start with {head[:8].hex(' ')}" if head else ""


def _zip_tail(reader: RandomReader, directory: ZipDirectory) -> Iterator[Note]:
    """What follows the end-of-central-directory record: a comment, trailing bytes."""
    end = directory.end
    if end is None:
        return
    after = end.location + _EOCD.size  # where the comment starts
    comment = min(end.comment, max(0, end.filesize - after))
    trailing = end.filesize - after - comment
    if not end.comment and trailing <= 0:
        return
    reader.hold(_zip_tail, after)  # (a copy still being written goes on past what is read here)
    try:
        if comment:
            shown = reader.read_range(after, min(comment, 48))
            short = f" (its end record declares {end.comment}: the file ends first)" if comment < end.comment else ""
            yield Note(
                "container-comment",
                "warn",
                f"the zip has a comment of {comment} byte(s){short} at offsets {after} to {after + comment - 1}, after its "
                f"end-of-central-directory record, starting {shown!r}; it is kept in the container but is not a member",
            )
        elif end.comment:
            yield Note("container-comment", "warn", f"its end-of-central-directory record declares a comment of {end.comment} byte(s), but the file ends with the record")
        if trailing > 0:
            yield Note(
                "container-trailing-data",
                "warn",
                f"{trailing} byte(s) at offsets {after + comment} to {end.filesize - 1} follow the end-of-central-directory record"
                f"{' and its comment' if comment else ''}{_looks_like(reader.read_range, after + comment, trailing)}; "
                "they are kept in the container but are not a member",
            )
    finally:
        reader.drop(_zip_tail)


def _zip_read(
    member: Member, info: ZipEntry, reader: RandomReader, start: int, algorithms: tuple[str, ...], scanner: MemberScanner | None, key: Any = None
) -> None:
    """Stream one member's data out of the zip: inflate, check CRC and size, hash."""
    path = member.fields["member_path"]
    left: list[int] = []  # bytes after the end of its compressed stream, once it has ended
    try:
        pieces = _whole(reader, start, info, left) if info.compress_size <= CHUNK else None
        s = _consume(pieces if pieces is not None else _zip_data(reader, start, info, key, left), path, info.file_size, algorithms, scanner)
    except _Unreadable as exc:  # raised before the first byte (a bad LZMA header)
        s = _Streamed(0, MultiHasher(algorithms).result().hex, b"", 0, None, str(exc))
    _finish(member, info, s, algorithms, _trailing(reader, start, info, left[0]) if left and left[0] else None)


def _finish(member: Member, info: ZipEntry, s: "_Streamed", algorithms: tuple[str, ...], tail: tuple[str, str] | None = None) -> None:
    """A member's record from what reading it found: content, CRC and size
    checked, and ``tail`` (see :func:`_trailing`) said last."""
    fields = member.fields
    kind = fields["member_type"]
    if (kind == "directory" or kind in _SPECIAL) and info.file_size == 0:  # (read to see that its compressed data gives nothing)
        if not s.error and s.size == 0 and s.crc == info.CRC:
            member.problems += _type_problems(fields)  # it does: recorded as an empty one always was
            if tail is not None:
                member.problems.append(tail)
            return
        member.problems.append(("member-type", f"{_zip_odd(info, kind)}; read as a file's (see its other problems)"))
    _set_content(member, s, algorithms)
    if s.error:
        fields["declared_size"] = info.file_size
        member.problems.append(("member-readable", f"cannot be read to its end ({s.error}); digests cover the {s.size} bytes read"))
    elif s.crc != info.CRC:
        member.problems.append(("member-crc", f"bad CRC-32: its data gives {s.crc:08x}, the zip says {info.CRC:08x}"))
    elif s.size != info.file_size:
        fields["declared_size"] = info.file_size
        member.problems.append(("member-readable", f"holds {s.size} bytes, its directory entry declares {info.file_size}"))
    if kind == "symlink" and s.size <= HEAD:
        fields["link_target"] = escaped_name(os.fsdecode(s.head))
    if kind not in _SPECIAL:  # (one that was read carries bytes: its member-type problem says so)
        member.problems += _type_problems(fields)
    if tail is not None:
        member.problems.append(tail)


# --- gzip --------------------------------------------------------------------------


class _Capped(io.RawIOBase):
    """The decompressed bytes of a gzip or zlib stream, refusing to expand beyond the caps."""

    def __init__(self, raw: Sequential, kind: str, limits: Limits) -> None:
        self._raw = raw
        self._start = raw.pos
        self._limits = limits
        self._kind = kind
        self.produced = 0
        if kind == "gzip":
            self._gz: Any = gzip.GzipFile(fileobj=raw, mode="rb")
        else:
            self._z = zlib.decompressobj()
            self._tail = b""

    def readable(self) -> bool:
        return True

    def after_end(self, size: int) -> int:
        """For a zlib stream read to its end-of-stream marker: how many bytes of the
        file (``size`` bytes) follow it (0 when none, or when it was not read to its end)."""
        if self._kind == "gzip" or not self._z.eof:
            return 0
        return len(self._z.unused_data) + max(0, size - self._raw.pos)

    def _zlib_read(self, n: int) -> bytes:
        while True:
            if self._z.eof:
                return b""
            data = self._tail or self._raw.read(CHUNK)
            if not data:
                raise EOFError("the compressed stream ends before its end-of-stream marker (truncated)")
            out = self._z.decompress(data, n)
            self._tail = self._z.unconsumed_tail
            if out:
                return out

    def read(self, n: int = -1) -> bytes:
        if n == 0:
            return b""  # (zlib reads max_length 0 as "no limit")
        n = CHUNK if n is None or n < 0 else min(n, CHUNK)
        out = self._gz.read(n) if self._kind == "gzip" else self._zlib_read(n)
        self.produced += len(out)
        consumed = max(self._raw.pos - self._start, 1)
        lim = self._limits
        if self.produced > lim.max_expanded:
            raise _Bomb(f"expands beyond the cap of {lim.max_expanded} bytes")
        if self.produced > lim.ratio_floor and self.produced / consumed > lim.max_ratio:
            raise _Bomb(f"expands more than {lim.max_ratio:,.0f}:1 (cap); reading stopped")
        return out

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _Prefixed(io.RawIOBase):
    """Bytes already read, then the rest of a stream."""

    def __init__(self, prefix: bytes, rest: io.RawIOBase) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            n = len(self._prefix) if n is None or n < 0 else n
            out, self._prefix = self._prefix[:n], self._prefix[n:]
            return out
        return self._rest.read(n)

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _gzip_header(head: bytes) -> tuple[str | None, int]:
    """(FNAME, MTIME) from a gzip header (RFC 1952)."""
    flags, mtime = head[3], struct.unpack_from("<I", head, 4)[0]
    pos = 10
    if flags & 0x04 and len(head) >= pos + 2:  # FEXTRA
        pos += 2 + struct.unpack_from("<H", head, pos)[0]
    fname = None
    if flags & 0x08:  # FNAME, zero-terminated ISO 8859-1
        end = head.find(b"\x00", pos)
        if end > pos:
            fname = head[pos:end].decode("latin-1")
    return fname, mtime


def _looks_like_tar(block: bytes) -> bool:
    if len(block) < tarfile.BLOCKSIZE or block.count(0) == len(block):
        return False
    try:
        tarfile.TarInfo.frombuf(block[: tarfile.BLOCKSIZE], "utf-8", "surrogateescape")
        return True
    except tarfile.HeaderError:
        return False


def _gzip(reader: RandomReader, name: str, algorithms: tuple[str, ...], limits: Limits, scanner: MemberScanner | None) -> Iterator[Event]:
    head = reader.read_at(0, 64 << 10)
    if head[:2] != b"\x1f\x8b":
        shown = head[:8].hex(" ") if head else "nothing (it is empty)"
        yield Problem("container-readable", f"is named as gzip but is not gzip: it starts with {shown}, not 1f 8b")
        return
    stream = _Capped(reader.stream(), "gzip", limits)
    try:
        first = stream.read(tarfile.BLOCKSIZE)
        while len(first) < tarfile.BLOCKSIZE:
            more = stream.read(tarfile.BLOCKSIZE - len(first))
            if not more:
                break
            first += more
    except EOFError:
        yield Problem("container-readable", "truncated: the gzip stream ends before its end-of-stream marker")
        return
    except (OSError, zlib.error, _Bomb) as exc:
        yield Problem("container-readable", f"the gzip stream cannot be read ({exc})")
        return
    if _looks_like_tar(first):
        yield Fact("container_format", "tar+gzip")
        yield from _tar(_Prefixed(first, stream), algorithms, scanner, "gzip")
        return
    yield Fact("container_format", "gzip")
    fname, mtime = _gzip_header(head)
    path = fname or (name[:-3] if name.lower().endswith(".gz") else name)
    fields: dict[str, Any] = {"member_path": path, "member_index": 1, "member_type": "file"}
    if fname is None:
        fields["member_path_from"] = "the container's file name (the gzip header names no file)"
    if mtime:
        fields.update(_epoch_text(mtime * 1_000_000_000))
        fields["mtime_from"] = "gzip header MTIME, UTC"
    member = Member(fields, _Names().check(path, 1))

    def pieces() -> Iterator[bytes]:
        yield first
        yield from iter(lambda: stream.read(CHUNK), b"")

    try:
        s = _consume(pieces(), path, None, algorithms, scanner)
    except _Bomb as exc:
        yield Problem("container-bomb", f"the gzip stream {exc}")
        return
    _set_content(member, s, algorithms)
    if s.error:
        member.problems.append(("container-readable", f"the gzip stream cannot be read to its end ({s.error}); digests cover the {s.size} bytes read"))
    yield member


# --- tar ---------------------------------------------------------------------------


class _Header(tarfile.TarInfo):
    """tarfile's header reader, remembering the last block it read so the end
    of the archive can be told apart from truncation or a corrupt header."""

    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        buf = tf.fileobj.read(tarfile.BLOCKSIZE)  # type: ignore[union-attr]
        tf._evidpack_last = buf  # type: ignore[attr-defined]
        obj = cls.frombuf(buf, tf.encoding, tf.errors)  # type: ignore[arg-type]
        obj.offset = tf.fileobj.tell() - tarfile.BLOCKSIZE  # type: ignore[union-attr]
        return obj._proc_member(tf)  # type: ignore[attr-defined]


_TAR_TYPES = {
    tarfile.DIRTYPE: "directory",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char-device",
    tarfile.BLKTYPE: "block-device",
    tarfile.FIFOTYPE: "fifo",
}


def _tar_fields(ti: tarfile.TarInfo, index: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    fields: dict[str, Any] = {"member_path": ti.name, "member_index": index}
    if has_bad_utf8(ti.name):
        fields["member_path"] = escaped_name(ti.name)
        fields["member_path_raw"] = raw_bytes(ti.name).hex()
        problems.append(("member-name-encoding", f"name is not valid UTF-8; recorded as {fields['member_path']!r}, original bytes kept in member_path_raw"))
    kind = "file" if ti.isreg() else _TAR_TYPES.get(ti.type, f"other (tar type {ti.type!r})")
    fields["member_type"] = kind
    if kind in ("symlink", "hardlink"):
        fields["link_target"] = escaped_name(ti.linkname)
    if kind in ("char-device", "block-device"):
        fields["device"] = f"{ti.devmajor},{ti.devminor}"
    pax_mtime = ti.pax_headers.get("mtime")
    try:
        ns = int(Decimal(pax_mtime) * 1_000_000_000) if pax_mtime else int(ti.mtime) * 1_000_000_000
    except (InvalidOperation, ValueError):
        ns = int(ti.mtime) * 1_000_000_000
    fields.update(_epoch_text(ns))
    fields["mode"] = f"{ti.mode & 0o7777:04o}"
    fields["uid"], fields["gid"] = ti.uid, ti.gid
    if ti.uname:
        fields["uname"] = ti.uname
    if ti.gname:
        fields["gname"] = ti.gname
    return fields, problems


TAR_HASHERS = 2  # threads hashing a tar's small members while the next headers are read
_TAR_WINDOW = 64  # members read ahead of the one being finished (each at most CHUNK bytes held)
_TAR_BUFFER = 1 << 20  # what is read at a time from a plain tar's stream


@dataclass
class _TarJob:
    """A tar member as read: its bytes, when small enough to be hashed by
    another thread, or what streaming it gave (a large or unreadable one)."""

    member: Member
    data: bytes | None = None
    streamed: _Streamed | None = None


def _tar(stream: io.RawIOBase, algorithms: tuple[str, ...], scanner: MemberScanner | None, layer: str) -> Iterator[Event]:
    """A tar's members, read in order from ``stream``. The headers and the
    members' bytes are read in this thread; a member of up to one chunk is
    hashed (and shown to the recognisers) by one of :data:`TAR_HASHERS`
    threads meanwhile, larger ones here as they stream past. Members come out
    in the order of the archive, then what ended the listing."""
    try:
        if layer == "tar":
            # tarfile reads its stream 10 KiB at a time (a larger bufsize would copy what is left of
            # its buffer at every header read): a buffer below it makes those reads cheap. Not under
            # a decompressor: there a read that fails would lose what the buffer had decompressed.
            stream = io.BufferedReader(stream, _TAR_BUFFER)  # type: ignore[arg-type, assignment]
        tf = tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape", tarinfo=_Header)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        yield Problem("container-readable", f"not a readable tar archive ({exc})")
        return
    except _Bomb as exc:
        yield Problem("container-bomb", f"the {layer} stream {exc}")
        return
    ending: list[Event] = []  # what ended the listing, told after the members read before it

    def hashed(job: _TarJob) -> _Streamed | None:
        if job.data is not None:
            return _consume((job.data,), job.member.fields["member_path"], len(job.data), algorithms, scanner)
        return job.streamed

    for job, streamed in bounded_map(hashed, _tar_members(tf, algorithms, scanner, layer, ending), workers=TAR_HASHERS, window=_TAR_WINDOW):
        member = job.member
        if streamed is not None:
            _set_content(member, streamed, algorithms)
        member.problems += _type_problems(member.fields)
        yield member
    yield from ending


def _tar_members(tf: tarfile.TarFile, algorithms: tuple[str, ...], scanner: MemberScanner | None, layer: str, ending: list[Event]) -> Iterator[_TarJob]:
    """Read each member of ``tf`` (see :func:`_tar`); what ends the listing goes in ``ending``."""
    names = _Names()
    count = 0
    try:
        for ti in tf:
            tf.members.clear()  # tarfile keeps every header it read; memory must not grow with the member count
            count += 1
            fields, problems = _tar_fields(ti, count)
            problems += names.check(fields["member_path"], count)
            job = _TarJob(Member(fields, problems))
            if not ti.isreg():
                odd = _tar_odd(ti)
                if odd is not None:
                    problems.append(("member-type", odd))
                if ti.type in tarfile.SUPPORTED_TYPES or ti.size <= 0:
                    fields["size"] = 0
                    yield job
                    continue
                # A type tarfile does not know, holding data: tarfile skips its data as a
                # regular file's and GNU tar extracts it as a regular file, so it is read as one.
            read = _tar_reader(tf, ti)
            if ti.size <= CHUNK:
                try:
                    data, error = read(ti.size), None
                except _STREAM_ERRORS as exc:
                    data, error = b"", exc
                if error is None and len(data) == ti.size:
                    job.data = data
                    yield job
                    continue
                pieces: Iterable[bytes] = _then_raise(data, error)
            else:
                pieces = _upto(read, ti.size)
            s = job.streamed = _consume(pieces, fields["member_path"], ti.size, algorithms, scanner)
            if s.error or s.size != ti.size:
                fields["declared_size"] = ti.size
                said = f"truncated: the archive ends inside this member; its digests cover the {s.size} of {ti.size} bytes that could be read"
                job.member.problems.append(("member-readable", said))
                yield job
                ending.append(
                    Problem(
                        "container-readable",
                        f"truncated: the archive ends inside member {count} ({fields['member_path']!r}); "
                        f"its digests cover the {s.size} of {ti.size} bytes that could be read",
                    )
                )
                return
            yield job
        last = getattr(tf, "_evidpack_last", b"")
        trailing = _drain(tf.fileobj) if len(last) == tarfile.BLOCKSIZE and not last.strip(b"\x00") else None
    except _Bomb as exc:
        ending.append(Problem("container-bomb", f"the {layer} stream {exc}; {count} member(s) catalogued before it"))
        return
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        ending.append(Problem("container-readable", f"truncated or corrupt after {count} member(s): {exc}"))
        return
    if not last:
        ending.append(Problem("container-readable", f"truncated: the tar ends after {count} member(s) without its end-of-archive marker"))
    elif len(last) < tarfile.BLOCKSIZE:
        ending.append(Problem("container-readable", f"truncated: the tar ends inside the header after member {count}"))
    elif last.strip(b"\x00"):
        ending.append(Problem("container-readable", f"corrupt: the header after member {count} is not a valid tar header; nothing after it was catalogued"))
    elif trailing:
        ending.append(Note("container-trailing-data", "warn", f"{trailing} non-zero byte(s) follow the end-of-archive marker; they are kept in the container but are not a member"))


# Types that have no data in a tar (POSIX), but whose size field GNU tar still
# skips as data: what follows their header is read differently by different tools.
_SIZE_SKIPPED_BY_GNU_TAR = {tarfile.SYMTYPE: "a symbolic link", tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a FIFO"}


def _tar_odd(ti: tarfile.TarInfo) -> str | None:
    """What is odd about a member that is not a regular file but whose header declares data, or None.

    An unknown type is read as a regular file, as tarfile and GNU tar both do.
    Folders and hard links with a size hold no data for tarfile or GNU tar
    alike (old archivers wrote folder sizes): nothing to say. For links,
    devices and FIFOs the readers disagree: tarfile (and so evidpack) reads
    the header that follows, as POSIX says (no data is stored for them);
    GNU tar skips the declared size as data. evidpack keeps tarfile's reading,
    so whatever lies there is catalogued as members rather than hidden in
    one; the problem says that GNU tar sees the archive otherwise."""
    if ti.size <= 0:
        return None
    if ti.type not in tarfile.SUPPORTED_TYPES:
        return (
            f"has the tar type {ti.type!r}, which is not a standard type, and holds {ti.size} byte(s); GNU tar and Python's tarfile "
            "extract it as a regular file, so its bytes are hashed as a file's"
        )
    what = _SIZE_SKIPPED_BY_GNU_TAR.get(ti.type)
    if what is None:
        return None
    blocks = -(-ti.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return (
        f"its header declares {ti.size} byte(s) of data, which {what} does not have in a tar (POSIX): evidpack, like Python's tarfile, "
        f"reads the {blocks} byte(s) after its header as what follows it (members catalogued after it may lie there), "
        "but GNU tar skips them as this member's data and would not list what lies there"
    )


def _tar_reader(tf: tarfile.TarFile, ti: tarfile.TarInfo) -> Callable[[int], bytes]:
    """A read function for a member's bytes. A plain (not sparse) member is read
    straight from the archive's stream, where its data lie in one run: a read
    cut short by the archive's end returns the bytes that are there, where
    tarfile's own reader raises and drops them, so the digests of a truncated
    member cover every byte the archive holds of it."""
    if ti.sparse is not None:
        fh = tf.extractfile(ti)
        assert fh is not None
        return fh.read
    stream = tf.fileobj
    assert stream is not None
    stream.seek(ti.offset_data)  # (in a stream: forward, to where its data start; mostly there already)
    return stream.read


def _upto(read: Callable[[int], bytes], size: int) -> Iterator[bytes]:
    """``size`` bytes through ``read`` in pieces of at most CHUNK; fewer if they end first."""
    while size > 0:
        piece = read(min(CHUNK, size))
        if not piece:
            return
        size -= len(piece)
        yield piece


def _then_raise(data: bytes, error: BaseException | None) -> Iterator[bytes]:
    """``data``, then ``error`` raised: a read that failed, as streaming it would have seen it."""
    if data:
        yield data
    if error is not None:
        raise error


def _drain(fh: Any) -> int:
    """Read to the end; the number of non-zero bytes seen."""
    nonzero = 0
    for block in iter(lambda: fh.read(CHUNK), b""):
        nonzero += len(block) - block.count(0)
    return nonzero


# --- Android backup ------------------------------------------------------------------


_AB_MAGIC = b"ANDROID BACKUP\n"


def _android_backup(reader: RandomReader, algorithms: tuple[str, ...], limits: Limits, scanner: MemberScanner | None) -> Iterator[Event]:
    head = reader.read_at(0, 4096)
    if not head.startswith(_AB_MAGIC):
        shown = head[:16].decode("latin-1").encode("unicode_escape").decode() if head else "(empty)"
        yield Problem("container-readable", f"is not an Android backup: it starts with {shown!r}, not 'ANDROID BACKUP'")
        return
    lines = head.split(b"\n")
    try:
        version, compressed, encryption = int(lines[1]), lines[2].decode(), lines[3].decode()
        if compressed not in ("0", "1") or encryption not in ("none", "AES-256"):
            raise ValueError
    except (IndexError, ValueError, UnicodeDecodeError):
        yield Problem("container-readable", "is not a readable Android backup: its header lines (version, compression, encryption) are malformed")
        return
    header: dict[str, Any] = {"version": version, "compressed": compressed == "1", "encryption": encryption}
    if encryption == "AES-256":
        try:
            header.update(
                user_password_salt=lines[4].decode(),
                master_key_checksum_salt=lines[5].decode(),
                pbkdf2_rounds=int(lines[6]),
                user_key_iv=lines[7].decode(),
            )
        except (IndexError, ValueError, UnicodeDecodeError):
            yield Problem("container-readable", "is not a readable Android backup: its encryption header is malformed")
            return
        yield Fact("android_backup", header)
        yield Note("android-backup-members", "not-checkable", "the backup is encrypted (AES-256) with a password; evidpack decrypts nothing, so its members are not listed")
        return
    yield Fact("android_backup", header)
    offset = sum(len(line) + 1 for line in lines[:4])
    if not header["compressed"]:
        yield from _tar(reader.stream(offset), algorithms, scanner, "zlib")
        return
    stream = _Capped(reader.stream(offset), "zlib", limits)
    yield from _tar(stream, algorithms, scanner, "zlib")
    after = stream.after_end(reader.size)
    if after:
        yield Note(
            "container-trailing-data", "warn",
            f"{after} byte(s) follow the end of the backup's compressed (zlib) stream, from offset {reader.size - after}; "
            "they are kept in the container but are not part of the backup",
        )
