"""Source kind ``files``: a folder (copied file by file) or a list of files."""

from __future__ import annotations

import os
import stat as statmod
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import EvidpackError
from ..hashing import in_order
from ..payloadcopy import CopyPool, WriteError
from .base import ImportContext

if TYPE_CHECKING:
    from ..casefile import Source


@dataclass(frozen=True)
class Found:
    """A directory entry found while walking a source (not yet read)."""

    abs_path: str  # may hold surrogate escapes for non-UTF-8 names
    rel: str  # relative path as found, '/'-separated (surrogates kept)
    lst: os.stat_result


def _kind_of(mode: int) -> str | None:
    if statmod.S_ISREG(mode):
        return None
    for test, name in (
        (statmod.S_ISLNK, "a symbolic link"),
        (statmod.S_ISFIFO, "a FIFO"),
        (statmod.S_ISSOCK, "a socket"),
        (statmod.S_ISCHR, "a character device"),
        (statmod.S_ISBLK, "a block device"),
        (statmod.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def has_bad_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def raw_bytes(text: str) -> bytes:
    return os.fsencode(text)


def escaped_name(text: str) -> str:
    """A readable, UTF-8 form of a name that is not valid UTF-8: each byte that is
    not part of valid UTF-8 becomes ``%XX`` (and ``%`` itself ``%25``)."""
    raw = raw_bytes(text)
    out = []
    for piece in raw.decode("utf-8", "surrogateescape"):
        code = ord(piece)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"%{code - 0xDC00:02X}")
        elif piece == "%":
            out.append("%25")
        else:
            out.append(piece)
    return "".join(out)


def walk(root: str, empty_dirs: list[str]) -> Iterator[Found]:
    """Every entry below ``root`` in a stable order (names sorted as bytes),
    never following symlinks. Empty folders are collected in ``empty_dirs``."""
    stack: list[tuple[str, str]] = [(root, "")]
    while stack:
        path, rel = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            raise EvidpackError(f"{path}: cannot list folder ({exc.strerror})") from None
        if not entries and rel:
            empty_dirs.append(rel)
        subdirs = []
        for entry in entries:
            erel = f"{rel}/{entry.name}" if rel else entry.name
            lst = entry.stat(follow_symlinks=False)
            if statmod.S_ISDIR(lst.st_mode):
                subdirs.append((entry.path, erel))
            else:
                yield Found(entry.path, erel, lst)
        # Depth-first, in sorted order: push in reverse so the first pops first.
        stack.extend(reversed(subdirs))


class FilesImporter:
    """A folder is copied file by file, keeping relative paths; a list of files is
    copied flat. Symlinks, FIFOs and devices are never followed or read."""

    kind: ClassVar[str] = "files"

    def run(self, source: "Source", ctx: ImportContext) -> None:
        # Entries are streamed: found (lstat only), named, copied (small files in
        # batches, and files of LARGE_MIN or more one each, by worker processes;
        # others by a few threads), and emitted in order — memory does not grow
        # with the number of files.
        readable = self._destinations(self._found(source, ctx), ctx)
        # Subclasses that hook _copy copy in threads, but for the files they let the pool copy (_poolable).
        pooled = type(self)._copy is FilesImporter._copy or type(self)._poolable is not FilesImporter._poolable
        root = str(ctx.writer.root)
        algorithms = ctx.writer.algorithms

        def copy(entry: tuple[Found, str | None, str]) -> Any:
            f, dest, why = entry
            if dest is None:
                return _not_copied(f, source, why)
            try:
                return self._copy(f, dest, ctx, _original(f))
            except OSError as exc:
                return exc

        def start(unit: tuple[list[tuple[Found, str | None, str]], bool]) -> "Future[list[Any]]":
            entries, to_pool = unit
            if not to_pool:
                return threads.submit(lambda: [copy(e) for e in entries])
            # plain strings: pathlib would intern every name it parses, for good
            return pool.submit(algorithms, [(f.abs_path, f"{root}/{ctx.payload_path(d)}", (f.lst.st_ino, f.lst.st_dev), d) for f, d, _ in entries])  # type: ignore[arg-type]

        unread = 0
        own = CopyPool(None if pooled and ctx.pool is None else 0)
        with own, ThreadPoolExecutor(4, thread_name_prefix="evidpack-io") as threads:
            pool = ctx.pool if pooled and ctx.pool is not None else own
            units = _units(readable, pooled and pool.workers > 0, self._poolable)
            for (entries, to_pool), results in in_order(units, start, window=8 if pooled else 32, idle=ctx.waiting_for_copies):
                for (f, dest, _why), result in zip(entries, results):
                    if isinstance(result, WriteError):
                        raise EvidpackError(f"cannot write {ctx.payload_path(dest or f.rel)} into the bundle ({result.strerror or result}); nothing was sealed")
                    if isinstance(result, OSError):
                        unread += 1
                        shown = escaped_name(f.abs_path)
                        ctx.problem(f"{shown}: cannot read ({result.strerror or result})", check="file-readable", subject=f.rel)
                        ctx.emit(_not_copied(f, source, f"cannot read: {result.strerror or result}"))
                        continue
                    if to_pool:
                        size, mtime_ns, digests, media_type = result
                        result = ctx.file_record(ctx.payload_path(dest), size, mtime_ns, digests, media_type, _original(f))  # type: ignore[arg-type]
                    self._emit(f, result, ctx)
        if ctx.file_count == 0:
            ctx.problem(f"{source.paths[0]}: source {source.id} ({source.label}) holds no readable files", check="source-empty")
        ctx.check(
            "files-copied",
            "pass" if unread == 0 else "fail",
            f"{ctx.file_count} file(s), {ctx.byte_count} bytes copied and hashed in one read each"
            + (f"; {unread} could not be read" if unread else ""),
        )
        ctx.check(
            "files-unchanged-while-read",
            "pass",
            "each file had the same size and modification time after reading as before",
        )

    # Hooks for importers built on this one (``device`` catalogues containers
    # while they are copied): ``_copy`` runs in worker threads, ``_emit`` in
    # order in the calling thread (it also gets the not-copied records).

    def _copy(self, f: Found, dest: str, ctx: ImportContext, extra: dict[str, Any]) -> Any:
        """Copy one found file into the payload; returns what ``_emit`` takes."""
        return ctx.copy_file(f.abs_path, dest, f.lst, extra)

    def _emit(self, f: Found, copied: Any, ctx: ImportContext) -> None:
        ctx.emit(copied)

    def _poolable(self, f: Found) -> bool:
        """Whether the worker processes may copy ``f`` (a small or a large file) as they copy
        any file, instead of ``_copy``: ``_emit`` then gets its plain record."""
        return True

    def _found(self, source: "Source", ctx: ImportContext) -> Iterator[Found]:
        if source.is_list:
            for p in source.paths:
                lst = self._lstat(p, source)
                if statmod.S_ISDIR(lst.st_mode):
                    raise EvidpackError(f"{p}: is a folder; a list of files may only name files")
                yield Found(str(p), p.name, lst)
            return
        root = source.paths[0]
        lst = self._lstat(root, source)
        if statmod.S_ISREG(lst.st_mode):
            yield Found(str(root), root.name, lst)
            return
        if not statmod.S_ISDIR(lst.st_mode):
            raise EvidpackError(f"{root}: source {source.id} is {_kind_of(lst.st_mode)}, not a file or folder")
        empty: list[str] = []
        yield from walk(str(root), empty)
        if empty:
            shown = [escaped_name(e) for e in empty]
            ctx.facts["empty_folders"] = shown
            ctx.check(
                "empty-folders",
                "warn",
                f"{len(empty)} empty folder(s) are listed in sources.jsonl but cannot be held in a BagIt payload",
            )

    @staticmethod
    def _lstat(p: os.PathLike[str] | str, source: "Source") -> os.stat_result:
        try:
            return os.lstat(p)
        except FileNotFoundError:
            raise EvidpackError(f"{p}: source {source.id} ({source.label}) does not exist") from None
        except OSError as exc:
            raise EvidpackError(f"{p}: cannot read source {source.id} ({exc.strerror})") from None

    def _destinations(self, found: Iterator[Found], ctx: ImportContext) -> Iterator[tuple[Found, str | None, str]]:
        """(entry, payload-relative name, "") for each entry to copy, and
        (entry, None, reason) for one that is only recorded (special files). Name clashes can only happen within one
        folder, and the walk yields a folder's files together, so only the current
        folder's names are remembered."""
        folder: str | None = None
        seen: dict[str, str] = {}
        folded: dict[str, str] = {}
        for f in found:
            parent = f.rel.rpartition("/")[0]
            if parent != folder:
                folder, seen, folded = parent, {}, {}
            kind = _kind_of(f.lst.st_mode)
            if kind is not None:
                shown = escaped_name(f.abs_path)
                what = kind
                if statmod.S_ISLNK(f.lst.st_mode):
                    try:
                        what += f" to {escaped_name(os.readlink(f.abs_path))!r}"
                    except OSError:
                        pass
                ctx.problem(f"{shown}: is {what}; not followed or read", check="special-file", subject=escaped_name(f.rel))
                yield f, None, f"{what}; not followed or read"
                continue
            dest = f.rel
            if has_bad_utf8(f.rel):
                shown = escaped_name(f.abs_path)
                ctx.problem(f"{shown}: file name is not valid UTF-8", check="utf8-name", subject=escaped_name(f.rel))
                dest = escaped_name(f.rel)
                ctx.check("utf8-name", "warn", f"stored as {dest!r}; original bytes kept in original_path_raw", escaped_name(f.rel))
            if dest in seen:
                raise EvidpackError(f"{escaped_name(f.abs_path)}: its stored name {dest!r} would collide with {seen[dest]!r}")
            seen[dest] = f.rel
            low = dest.casefold()
            if low in folded:
                ctx.check(
                    "case-collision",
                    "warn",
                    f"{dest!r} and {folded[low]!r} differ only by case; both are kept, but a case-insensitive file system cannot hold both",
                    dest,
                )
            folded[low] = dest
            yield f, dest, ""


SMALL_MAX = 256 * 1024  # files below this are copied by the worker processes, in batches
LARGE_MIN = 64 << 20  # files from this size are copied by a worker process each (its own CPU, its own GIL)
BATCH = 64
INLINE_BATCHES = 2  # the first batches are copied in threads: a small source starts no processes (unless started: the CLI does)


def _units(
    entries: Iterator[tuple[Found, str | None, str]], pooled: bool, poolable: Callable[[Found], bool] = lambda f: True
) -> Iterator[tuple[list[tuple[Found, str | None, str]], bool]]:
    """Group entries into units of work, in order: (entries, for the pool?).
    Runs of small files become batches for the worker processes, and a file
    of LARGE_MIN or more a batch of its own; anything else is a unit of its
    own, copied in a thread."""
    batch: list[tuple[Found, str | None, str]] = []
    inline = INLINE_BATCHES
    for entry in entries:
        f, dest, _ = entry
        size = f.lst.st_size
        to_pool = pooled and dest is not None and (size < SMALL_MAX or size >= LARGE_MIN) and poolable(f)
        if to_pool and size < SMALL_MAX:
            batch.append(entry)
            if len(batch) >= BATCH:
                yield batch, inline <= 0
                inline -= 1
                batch = []
            continue
        if batch:
            yield batch, False
            batch = []
        yield [entry], to_pool
    if batch:
        yield batch, inline <= 0 and len(batch) > 1


def _original(f: Found) -> dict[str, Any]:
    """The source-relative name of a file as found (escaped if not UTF-8, with its bytes)."""
    if not has_bad_utf8(f.rel):
        return {"original_path": f.rel}
    return {"original_path": escaped_name(f.rel), "original_path_raw": raw_bytes(f.rel).hex()}


def _not_copied(f: Found, source: "Source", reason: str) -> dict:
    rec = {
        "kind": "not-copied",
        "original_path": escaped_name(f.rel),
        "reason": reason,
        "source": source.id,
    }
    if has_bad_utf8(f.rel):
        rec["original_path_raw"] = raw_bytes(f.rel).hex()
    return rec
