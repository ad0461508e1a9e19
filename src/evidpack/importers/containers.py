"""Containers kept whole in the payload — zip (and .ufdr), tar, tar.gz, gzip,
Android backup — and their members catalogued by streaming.

A container is copied byte for byte as one payload file, so its hash still
matches the acquisition tool's record. Its members are read out of that copy,
never unpacked to disk: each member's bytes are decompressed in bounded chunks,
hashed as they stream past and dropped, so memory stays flat however large a
member is. :func:`catalogue` yields what it finds — :class:`Member` values with
the fields of a member record, and container-level :class:`Problem`,
:class:`Note` and :class:`Fact` values — and is shared by the ``device``
importer (while the copy is still being written, see :class:`Progress`) and by
``verify --deep`` (over a sealed bundle). Given the same bytes it yields the
same members, which is what lets ``--deep`` re-derive every member record.

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
import lzma
import os
import stat as statmod
import struct
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO, Protocol

from ..hashing import CHUNK, HEAD, MultiHasher, bounded_map
from ..mediatype import sniff
from ..timeutil import format_epoch_ns, format_utc
from .files import escaped_name, has_bad_utf8, raw_bytes
from ..zipmembers import unsafe_name

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


# --- reading a file that may still be growing ------------------------------------


class Progress:
    """How much of a payload copy is on disk. The copier calls :meth:`advance`,
    then :meth:`finish` (or :meth:`abort`); a reader of the copy waits in
    :meth:`wait_for` until the bytes it needs are there."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.written = 0
        self.done = False
        self.failed: BaseException | None = None

    def advance(self, total: int) -> None:
        with self._cond:
            self.written = total
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self.done = True
            self._cond.notify_all()

    def abort(self, exc: BaseException) -> None:
        with self._cond:
            self.failed = exc
            self.done = True
            self._cond.notify_all()

    def wait_for(self, end: int) -> int:
        """Bytes available once at least ``end`` are written or the copy ended."""
        with self._cond:
            while not self.done and self.written < end:
                self._cond.wait()
            if self.failed is not None:
                raise CopyAborted(str(self.failed))
            return self.written


class RandomReader:
    """Positioned reads through a read-ahead window, so thousands of small
    members cost few system calls. Built over a file descriptor, a seekable
    file object (a payload file inside a zipped bundle) or a copy still being
    written (:meth:`growing`)."""

    def __init__(
        self, pread: Callable[[int, int], bytes], size: Callable[[], int], available: Callable[[int], int] | None = None, window: int = 4 << 20
    ) -> None:
        self._pread = pread
        self._size = size
        self._available = available
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
        return RandomReader(self._pread, self._size, self._available, window)

    @classmethod
    def growing(cls, path: os.PathLike[str] | str, progress: Progress) -> "RandomReader":
        """A reader of a copy still being written: reads wait for the bytes."""
        return _GrowingReader(path, progress)

    def close(self) -> None:
        pass

    @property
    def size(self) -> int:
        return self._size()

    def _read_full(self, off: int, n: int, need: int) -> bytes:
        """Up to ``n`` bytes at ``off``; on a growing copy, waits only for ``need``."""
        if self._available is not None:
            n = max(0, min(n, self._available(off + need) - off))
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
            return self._read_full(off, n, n)
        self._win_start, self._win = off, self._read_full(off, self._window, n)
        return self._win[:n]

    def read_range(self, off: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``off``, bypassing the window: safe from any thread."""
        return self._read_full(off, n, n) if n > 0 else b""

    def stream(self, offset: int = 0) -> "Sequential":
        return Sequential(self, offset)


class _GrowingReader(RandomReader):
    def __init__(self, path: os.PathLike[str] | str, progress: Progress) -> None:
        super().__init__(self._pread_copy, lambda: progress.wait_for(1 << 62), progress.wait_for)
        self._path = path
        self._fd: int | None = None
        self._open_lock = threading.Lock()

    def _pread_copy(self, off: int, n: int) -> bytes:
        if self._fd is None:
            with self._open_lock:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return os.pread(self._fd, n, off)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Sequential(io.RawIOBase):
    """A forward-only file object over a :class:`RandomReader` (for tar and gzip)."""

    def __init__(self, reader: RandomReader, offset: int = 0) -> None:
        self._reader = reader
        self.pos = offset

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self._reader.read_at(self.pos, len(buf))
        buf[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
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


def _consume(
    pieces: Iterable[bytes], path: str, declared: int | None, algorithms: tuple[str, ...], scanner: MemberScanner | None
) -> _Streamed:
    """Hash a member's bytes as they stream past (and show them to the scanner).
    A member that cannot be read to its end keeps the digests of what was read
    and says why."""
    hasher = MultiHasher(algorithms)
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
    except (_Unreadable, tarfile.TarError, EOFError, zlib.error, OSError, lzma.LZMAError) as exc:
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


@dataclass(frozen=True)
class ZipDirectory:
    infos: list[zipfile.ZipInfo]
    start: int  # offset of the central directory

    def same_as(self, other: "ZipDirectory") -> bool:
        def key(d: ZipDirectory) -> list[tuple[Any, ...]]:
            return [(i.orig_filename, i.header_offset, i.compress_size, i.file_size, i.CRC, i.flag_bits) for i in d.infos]

        return self.start == other.start and key(self) == key(other)


def read_zip_directory(fh: BinaryIO) -> ZipDirectory:
    """The central directory of the zip in ``fh`` (reads only its tail)."""
    try:
        with zipfile.ZipFile(fh) as zf:
            return ZipDirectory(zf.infolist(), getattr(zf, "start_dir", 0))
    except zipfile.BadZipFile as exc:
        text = str(exc)
        if text == "File is not a zip file":
            text = "no end-of-central-directory record: truncated, or not a zip at all"
        raise ZipUnreadable(f"the zip's central directory cannot be read ({text}), so its members cannot be listed") from None
    except (zipfile.LargeZipFile, ValueError, UnicodeDecodeError, EOFError, OSError, struct.error, NotImplementedError) as exc:
        raise ZipUnreadable(f"the zip's central directory cannot be read ({exc}), so its members cannot be listed") from None


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


def _zip_times(info: zipfile.ZipInfo) -> dict[str, Any]:
    """UTC when an extra field gives it (0x5455 Info-ZIP extended timestamp,
    0x000a NTFS); otherwise the DOS time as written, which has no zone."""
    for tag, body in _extra_fields(info.extra):
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


def _zip_name(info: zipfile.ZipInfo) -> tuple[str, bytes, str | None, list[tuple[str, str]]]:
    """(member path, raw name bytes, how the name was read, problems)."""
    utf8_flag = bool(info.flag_bits & 0x800)
    raw = info.orig_filename.encode("utf-8" if utf8_flag else "cp437")
    if utf8_flag or raw.isascii():
        return info.orig_filename, raw, None, []
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


def _zip_type(info: zipfile.ZipInfo) -> tuple[str, str | None]:
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


def _zip_data(reader: RandomReader, offset: int, info: zipfile.ZipInfo) -> Iterator[bytes]:
    d = _Decompress(info.compress_type, reader, offset)
    pos, remaining = offset + d.skip, info.compress_size - d.skip
    produced = 0
    while remaining > 0:
        chunk = reader.read_range(pos, min(CHUNK, remaining))
        if not chunk:
            raise _Unreadable("truncated: the zip ends inside this member's data")
        pos += len(chunk)
        remaining -= len(chunk)
        for out in d.feed(chunk):
            produced += len(out)
            if produced > info.file_size:
                raise _Unreadable(f"expands beyond the {info.file_size} bytes its directory entry declares")
            yield out
    if not d.ended:
        raise _Unreadable("its compressed data ends before the end of the stream (truncated or corrupt)")


_SUPPORTED_METHODS = (0, 8, 12, 14)
ZIP_WORKERS = 2  # members read, inflated and hashed at once (order kept)


def _zip(reader: RandomReader, directory: ZipDirectory, algorithms: tuple[str, ...], limits: Limits, scanner: MemberScanner | None) -> Iterator[Event]:
    def read(job: tuple[Member, zipfile.ZipInfo, int]) -> Member:
        member, info, start = job
        if start >= 0:
            _zip_read(member, info, reader, start, algorithms, scanner)
        return member

    for _job, member in bounded_map(read, _zip_plan(reader.windowed(256 << 10), directory, limits), workers=ZIP_WORKERS, window=32):
        yield member


def _zip_plan(headers: RandomReader, directory: ZipDirectory, limits: Limits) -> Iterator[tuple[Member, zipfile.ZipInfo, int]]:
    """Each member with the offset of its data, or -1 when it is not to be read;
    everything that depends on the members before it (names, overlaps, the
    expansion total) is decided here, in order."""
    infos = directory.infos
    # Members are read in the order their data lies in the file (normally the
    # directory order), so a copy still being written is read front to back.
    order = sorted(range(len(infos)), key=lambda i: (infos[i].header_offset, i))
    names = _Names()
    prev_end = 0
    expanded = 0
    for i in order:
        info = infos[i]
        path, raw, how, problems = _zip_name(info)
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
        if kind == "directory" or kind in _SPECIAL:
            fields["size"] = info.file_size
            member.problems += _type_problems(fields)
            yield member, info, -1
            continue
        header = headers.read_at(info.header_offset, 30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            member.problems.append(("member-readable", f"has no local header at offset {info.header_offset}; not read"))
            yield member, info, -1
            continue
        nlen, xlen = struct.unpack_from("<HH", header, 26)
        start = info.header_offset + 30 + nlen + xlen
        end = start + info.compress_size
        if start < prev_end or end > directory.start:
            member.problems.append(("container-bomb", "its data overlaps another member or the central directory (a zip-bomb construction)"))
        prev_end = max(prev_end, end)
        local_name = headers.read_at(info.header_offset + 30, nlen)
        if local_name != raw:
            shown = local_name.decode("utf-8", "replace")
            member.problems.append(("member-header-mismatch", f"its local header names it {shown!r}: tools that read local headers see another name"))
        fields["size"] = info.file_size
        if info.flag_bits & 0x1:
            fields["encrypted"] = True
            member.problems.append(("member-encrypted", "is encrypted; kept inside the zip as it is, not decrypted and not hashed"))
            yield member, info, -1
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor and ratio > limits.max_ratio:
            member.problems.append(("container-bomb", f"would expand {ratio:,.0f}:1 to {info.file_size} bytes (cap {limits.max_ratio:,.0f}:1); not read"))
            yield member, info, -1
            continue
        expanded += info.file_size
        if expanded > limits.max_expanded:
            member.problems.append(("container-bomb", f"members up to this one expand to {expanded} bytes, more than the cap of {limits.max_expanded}; not read"))
            yield member, info, -1
            continue
        if info.compress_type not in _SUPPORTED_METHODS:
            member.unread = f"compression method {info.compress_type} ({fields['compression']}) is not supported; kept inside the zip, not hashed"
            yield member, info, -1
            continue
        yield member, info, start


def _zip_read(member: Member, info: zipfile.ZipInfo, reader: RandomReader, start: int, algorithms: tuple[str, ...], scanner: MemberScanner | None) -> None:
    """Stream one member's data out of the zip: inflate, check CRC and size, hash."""
    fields = member.fields
    path = fields["member_path"]
    try:
        s = _consume(_zip_data(reader, start, info), path, info.file_size, algorithms, scanner)
    except _Unreadable as exc:  # raised before the first byte (a bad LZMA header)
        s = _Streamed(0, MultiHasher(algorithms).result().hex, b"", 0, None, str(exc))
    _set_content(member, s, algorithms)
    if s.error:
        fields["declared_size"] = info.file_size
        member.problems.append(("member-readable", f"cannot be read to its end ({s.error}); digests cover the {s.size} bytes read"))
    elif s.crc != info.CRC:
        member.problems.append(("member-crc", f"bad CRC-32: its data gives {s.crc:08x}, the zip says {info.CRC:08x}"))
    elif s.size != info.file_size:
        fields["declared_size"] = info.file_size
        member.problems.append(("member-readable", f"holds {s.size} bytes, its directory entry declares {info.file_size}"))
    if fields["member_type"] == "symlink" and s.size <= HEAD:
        fields["link_target"] = escaped_name(os.fsdecode(s.head))
    member.problems += _type_problems(fields)


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


def _tar(stream: io.RawIOBase, algorithms: tuple[str, ...], scanner: MemberScanner | None, layer: str) -> Iterator[Event]:
    try:
        tf = tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape", tarinfo=_Header)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        yield Problem("container-readable", f"not a readable tar archive ({exc})")
        return
    except _Bomb as exc:
        yield Problem("container-bomb", f"the {layer} stream {exc}")
        return
    names = _Names()
    count = 0
    try:
        for ti in tf:
            tf.members.clear()  # tarfile keeps every header it read; memory must not grow with the member count
            count += 1
            fields, problems = _tar_fields(ti, count)
            problems += names.check(fields["member_path"], count)
            member = Member(fields, problems)
            if ti.isreg():
                fh = tf.extractfile(ti)
                assert fh is not None
                s = _consume(iter(lambda: fh.read(CHUNK), b""), fields["member_path"], ti.size, algorithms, scanner)
                _set_content(member, s, algorithms)
                if s.error or s.size != ti.size:
                    fields["declared_size"] = ti.size
                    yield member
                    yield Problem(
                        "container-readable",
                        f"truncated: the archive ends inside member {count} ({fields['member_path']!r}); "
                        f"its digests cover the {s.size} of {ti.size} bytes that could be read",
                    )
                    return
            else:
                fields["size"] = 0
            member.problems += _type_problems(fields)
            yield member
        last = getattr(tf, "_evidpack_last", b"")
        trailing = _drain(tf.fileobj) if len(last) == tarfile.BLOCKSIZE and not last.strip(b"\x00") else None
    except _Bomb as exc:
        yield Problem("container-bomb", f"the {layer} stream {exc}; {count} member(s) catalogued before it")
        return
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        yield Problem("container-readable", f"truncated or corrupt after {count} member(s): {exc}")
        return
    if not last:
        yield Problem("container-readable", f"truncated: the tar ends after {count} member(s) without its end-of-archive marker")
    elif len(last) < tarfile.BLOCKSIZE:
        yield Problem("container-readable", f"truncated: the tar ends inside the header after member {count}")
    elif last.strip(b"\x00"):
        yield Problem("container-readable", f"corrupt: the header after member {count} is not a valid tar header; nothing after it was catalogued")
    elif trailing:
        yield Note("container-trailing-data", "warn", f"{trailing} non-zero byte(s) follow the end-of-archive marker; they are kept in the container but are not a member")


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
    stream: io.RawIOBase = reader.stream(offset)
    if header["compressed"]:
        stream = _Capped(reader.stream(offset), "zlib", limits)
    yield from _tar(stream, algorithms, scanner, "zlib")
