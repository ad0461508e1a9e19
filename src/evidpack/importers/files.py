"""Source kind ``files``: a folder (copied file by file) or a list of files."""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat as statmod
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ..errors import EvidpackError
from ..hashing import in_order
from ..payloadcopy import CopyPool, WriteError
from .base import ImportContext

if TYPE_CHECKING:
    from ..casefile import Source


class Found(NamedTuple):
    """A directory entry found while walking a source (not yet read). (A named
    tuple: one is made per file, and a tuple is made three times faster than a
    frozen dataclass.)"""

    abs_path: str  # may hold surrogate escapes for non-UTF-8 names
    rel: str  # relative path as found, '/'-separated (surrogates kept)
    # Its lstat when found; None: a regular file by its folder's listing, not
    # stat'ed until it is opened (see :func:`walk`'s ``stat_files``).
    lst: os.stat_result | None
    dest: str | None = None  # the name it is stored under, when :func:`walk` chose it (else derived from rel)
    error: str | None = None  # a folder that could not be listed: why


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
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def raw_bytes(text: str) -> bytes:
    return os.fsencode(text)


def escaped_name(text: str) -> str:
    """A readable, UTF-8 form of a name: a valid UTF-8 name as it is; in one that
    is not, each byte that is not part of valid UTF-8 becomes ``%XX`` (and ``%``
    itself ``%25``, so that the form can be read back)."""
    if not has_bad_utf8(text):
        return text
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


NAME_MAX = 255  # bytes in one name on the file systems a bundle is written to
ESCAPE = "\uff05"  # FULLWIDTH PERCENT SIGN: the escape of stored names (never '%', see stored_name)
_ENCODED = ("%", "\r", "\n")  # what a BagIt manifest must percent-encode (RFC 8493 2.1.3)


def plain_name(name: str) -> bool:
    """Whether a file or folder name is stored as it is: valid UTF-8 without
    ``%``, CR or LF, and not ending in white space, so its manifest line is the
    name itself."""
    return "%" not in name and "\r" not in name and "\n" not in name and not name[-1:].isspace() and not has_bad_utf8(name)


def _trailing_space(name: str) -> int:
    """Where the white space that ends ``name`` starts (``len(name)`` if none).
    bagit-python strips it from each manifest line (Python's ``str.strip``: any
    Unicode white space), and would then look for a file of another name."""
    end = len(name)
    while end and name[end - 1].isspace():
        end -= 1
    return end


def stored_name(name: str, taken: set[str], *, key: bytes | None = None) -> str:
    """The name a file or folder called ``name`` (surrogates for bytes that are not
    UTF-8) is stored under, among siblings whose stored names are ``taken``.

    A name that is not :func:`plain_name` is stored with each ``%`` written as
    ``％`` (FULLWIDTH PERCENT SIGN), and each CR, LF and byte that is not UTF-8
    as ``％XX`` (its hex value), as is each white-space character ending it (the
    hex of its UTF-8 bytes). A manifest line must percent-encode ``%``, CR
    and LF, and stock tools do not decode that (``sha256sum -c`` reads the line
    as it is; bagit-python 1.9 decodes CR and LF but not ``%25``, and strips
    white space from both ends of a line): a stored name without them reads
    the same to every tool. It is shortened to fit
    :data:`NAME_MAX` and made unique with ``~`` and 12 hex digits of the SHA-256
    of its original bytes (or of ``key``) when it would be too long or would
    take a sibling's name. The original name (and its bytes) is in the item record."""
    end = _trailing_space(name)
    out = "".join(
        ESCAPE if c == "%" else f"{ESCAPE}{ord(c) - 0xDC00:02X}" if 0xDC80 <= ord(c) <= 0xDCFF else f"{ESCAPE}{ord(c):02X}" if c in _ENCODED else c
        for c in name[:end]
    ) + "".join(f"{ESCAPE}{b:02X}" for b in name[end:].encode("utf-8"))
    if len(out.encode("utf-8")) <= NAME_MAX and out not in taken:
        return out
    tag = "~" + hashlib.sha256(raw_bytes(name) if key is None else key).hexdigest()[:12]
    stem, dot, ext = out.rpartition(".")
    ext = dot + ext if stem and 0 < len(ext) <= 16 else ""
    stem = out[: len(out) - len(ext)]
    room = NAME_MAX - len((tag + ext).encode("utf-8"))
    while len(stem.encode("utf-8")) > room:
        stem = stem[:-1]
    return stem + tag + ext


def stored_path(rel: str) -> str:
    """:func:`stored_name` of each part of a relative path (found other than by :func:`walk`)."""
    return "/".join(p if plain_name(p) else stored_name(p, set()) for p in rel.split("/"))


def walk(
    root: str,
    empty_dirs: list[str],
    *,
    unlistable: str = "raise",
    note: Callable[[str, str, str], None] | None = None,
    stat_files: bool = True,
) -> Iterator[Found]:
    """Every entry below ``root`` in a stable order (names sorted as bytes),
    never following symlinks. Empty folders are collected in ``empty_dirs``.

    Each entry carries the name it is stored under (``dest``): its own where it
    is :func:`plain_name` (names in a folder are unique, so these never clash),
    otherwise :func:`stored_name`, unique among all its siblings, files and
    folders alike.
    A folder below ``root`` that cannot be listed raises, or with
    ``unlistable="yield"`` comes out as an entry carrying ``error``. ``note(kind,
    rel, detail)`` hears of sibling names that differ only by case or Unicode
    normalisation (both kept; a case-insensitive or normalising file system, as
    on macOS and Windows, could not hold both).

    With ``stat_files=False``, an entry the listing says is a regular file
    comes without its lstat (``lst`` None): it is stat'ed once, when it is
    opened to be copied (an lstat per file is a tenth of the main process's
    time per file in a build; the copy refuses anything but a regular file
    all the same). Anything else (a folder, a symbolic link, a FIFO, a device,
    or an entry of a file system whose listings do not say) is lstat'ed."""
    stack: list[tuple[str, str, str, os.stat_result | None]] = [(root, "", "", None)]
    while stack:
        path, rel, dest, lst = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = _sorted_by_bytes(it)
        except OSError as exc:
            if not rel or unlistable == "raise" or lst is None:
                raise EvidpackError(f"{path}: cannot list folder ({exc.strerror})") from None
            yield Found(path, rel, lst, dest, f"cannot list folder ({exc.strerror})")
            continue
        if not entries and rel:
            empty_dirs.append(rel)
        names = _stored_names(entries)
        if note is not None and len(entries) > 1:
            _note_lookalikes(entries, names, rel, note)
        subdirs = []
        for i, entry in enumerate(entries):
            name = entry.name if names is None else names[i]
            erel = f"{rel}/{entry.name}" if rel else entry.name
            edest = f"{dest}/{name}" if dest else name
            if not stat_files and entry.is_file(follow_symlinks=False):
                yield Found(entry.path, erel, None, edest)
                continue
            elst = entry.stat(follow_symlinks=False)
            if statmod.S_ISDIR(elst.st_mode):
                subdirs.append((entry.path, erel, edest, elst))
            else:
                yield Found(entry.path, erel, elst, edest)
        # Depth-first, in sorted order: push in reverse so the first pops first.
        stack.extend(reversed(subdirs))


def _sorted_by_bytes(entries: Iterator[os.DirEntry[str]]) -> list[os.DirEntry[str]]:
    """Directory entries sorted by their names' bytes. UTF-8 keeps the order of
    code points, so names that are all valid UTF-8 sort as strings; only a
    name holding bytes that are not UTF-8 (surrogate escapes) needs its bytes."""
    listed = list(entries)
    if has_bad_utf8("".join([e.name for e in listed])):
        listed.sort(key=lambda e: os.fsencode(e.name))
    else:
        listed.sort(key=attrgetter("name"))
    return listed


def _stored_names(entries: list[os.DirEntry[str]]) -> list[str] | None:
    """The stored name of each entry of one folder, or None when every name is
    stored as it is (the usual case, checked without building sets)."""
    odd = [i for i, e in enumerate(entries) if not plain_name(e.name)]
    if not odd:
        return None
    names = [e.name for e in entries]
    taken = set(names).difference(names[i] for i in odd)
    for i in odd:
        names[i] = stored_name(entries[i].name, taken)
        taken.add(names[i])
    return names


def _note_lookalikes(entries: list[os.DirEntry[str]], names: list[str] | None, rel: str, note: Callable[[str, str, str], None]) -> None:
    """Tell ``note`` of names in one folder that match caselessly (Unicode's
    canonical caseless match: NFD, case-folded)."""
    shown = [e.name for e in entries] if names is None else names
    joined = "".join(shown)
    if joined.isascii() and len({n.lower() for n in shown}) == len(shown):
        return  # ASCII names, none alike (for ASCII, casefold() is lower())
    seen: dict[str, str] = {}
    for name in shown:
        key = name.casefold() if name.isascii() else unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())
        other = seen.setdefault(key, name)
        if other is name:
            continue
        if other.casefold() == name.casefold():
            how = "by case"
        elif unicodedata.normalize("NFC", other) == unicodedata.normalize("NFC", name):
            how = "by Unicode normalisation (NFC and NFD)"
        else:
            how = "by case and Unicode normalisation"
        where = f"{rel}/{name}" if rel else name
        note(
            "name-collision",
            escaped_name(where),
            f"{escaped_name(name)!r} and {escaped_name(other)!r} differ only {how}; both are kept, "
            "but a case-insensitive or normalising file system (macOS, Windows) cannot hold both",
        )


class FilesImporter:
    """A folder is copied file by file, keeping relative paths; a list of files is
    copied flat. Symlinks, FIFOs and devices are never followed or read."""

    kind: ClassVar[str] = "files"
    says_when_copying: ClassVar[bool] = True  # calls ctx.waiting_for_copies once its first copies are under way
    # Whether the walk lstats each file (importers built on this one that look at
    # what was found, such as ``device``, want it); if not, each is stat'ed when opened.
    stat_files: ClassVar[bool] = False

    def run(self, source: "Source", ctx: ImportContext) -> None:
        # Entries are streamed: found (from the folder listings), named, copied
        # (small files, and files found without their size, in batches, and files
        # of LARGE_MIN or more one each, by worker processes; others by a few
        # threads; see _units), and emitted in order — memory does not grow with
        # the number of files.
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
            rels = bag_rels[id(entries)] = [ctx.payload_path(d) for _, d, _ in entries]  # type: ignore[arg-type]
            return pool.submit(algorithms, [(f.abs_path, f"{root}/{rel}", _ino_dev(f), d) for (f, d, _), rel in zip(entries, rels)])  # type: ignore[misc]

        bag_rels: dict[int, list[str]] = {}  # a pooled unit's payload paths, made once (by the id of its list of entries)
        unread = 0
        own = CopyPool(None if pooled and ctx.pool is None else 0)
        with own, ThreadPoolExecutor(4, thread_name_prefix="evidpack-io") as threads:
            pool = ctx.pool if pooled and ctx.pool is not None else own
            units = _units(readable, pooled and pool.workers > 0, self._poolable)
            for (entries, to_pool), results in in_order(units, start, window=POOL_WINDOW if pooled else 32, idle=ctx.waiting_for_copies):
                rels = bag_rels.pop(id(entries)) if to_pool else None
                for n, ((f, dest, _why), result) in enumerate(zip(entries, results)):
                    if isinstance(result, WriteError):
                        raise EvidpackError(f"cannot write {ctx.payload_path(dest or f.rel)} into the bundle ({result.strerror or result}); nothing was sealed")
                    if isinstance(result, OSError):
                        unread += 1
                        shown = shown_path(source, f.rel)
                        ctx.problem(f"{shown}: cannot read ({result.strerror or result})", check="file-readable", subject=f.rel)
                        ctx.emit(_not_copied(f, source, f"cannot read: {result.strerror or result}"))
                        continue
                    if to_pool:
                        size, mtime_ns, digests, media_type = result
                        result = ctx.file_record(rels[n], size, mtime_ns, digests, media_type, _original(f))  # type: ignore[index]
                    self._emit(f, result, ctx)
        if ctx.file_count == 0:
            ctx.problem(f"{source.written[0]}: source {source.id} ({source.label}) holds no readable files", check="source-empty")
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
            yield from self._listed(source)
            return
        root = source.paths[0]
        lst = self._lstat(root, source)
        if statmod.S_ISREG(lst.st_mode):
            yield Found(str(root), root.name, lst)
            return
        if not statmod.S_ISDIR(lst.st_mode):
            raise EvidpackError(f"{root}: source {source.id} is {_kind_of(lst.st_mode)}, not a file or folder")
        empty: list[str] = []

        def note(kind: str, rel: str, detail: str) -> None:
            ctx.check(kind, "warn", detail, rel)

        yield from walk(str(root), empty, unlistable="yield", note=note, stat_files=self.stat_files)
        if empty:
            shown = [escaped_name(e) for e in empty]
            ctx.facts["empty_folders"] = shown
            ctx.check(
                "empty-folders",
                "warn",
                f"{len(empty)} empty folder(s) are listed in sources.jsonl but cannot be held in a BagIt payload",
            )

    def _listed(self, source: "Source") -> Iterator[Found]:
        """The files of a list, copied flat. Files of the same name from different
        folders are each stored under that name with ``~`` and 12 hex digits of
        the SHA-256 of the path the manifest gives (see :func:`stored_name`), and
        recorded by that path, so each can be told apart; a file listed twice
        is refused."""
        seen: dict[str, int] = {}
        repeated = {n for n, k in Counter(p.name for p in source.paths).items() if k > 1}
        taken = {p.name for p in source.paths}
        for n, (written, p) in enumerate(zip(source.written, source.paths)):
            lst = self._lstat(p, source)
            if statmod.S_ISDIR(lst.st_mode):
                raise EvidpackError(f"{written}: is a folder; a list of files may only name files")
            first = seen.setdefault(os.path.normpath(p), n)
            if first != n:
                raise EvidpackError(f"{written}: source {source.id} lists the same file twice (also as {source.written[first]})")
            if p.name not in repeated:
                yield Found(str(p), p.name, lst)
                continue
            dest = stored_name(p.name, taken, key=os.fsencode(written))
            taken.add(dest)
            yield Found(str(p), written, lst, dest)

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
        (entry, None, reason) for one that is only recorded (special files, a
        folder that cannot be listed). The names :func:`walk` chose are unique;
        entries found otherwise (a device's extra files) are checked here, within
        their folder (the walk yields a folder's files together)."""
        folder: str | None = None
        seen: dict[str, int] = {}
        source = ctx.source
        renamed, examples = 0, []
        for f in found:
            if f.error is not None:
                ctx.problem(f"{shown_path(source, f.rel)}: {f.error}; nothing in it was read", check="folder-readable", subject=escaped_name(f.rel))
                yield f, None, f"a folder that {f.error.replace('cannot', 'could not')}; nothing in it was read"
                continue
            kind = None if f.lst is None else _kind_of(f.lst.st_mode)
            if kind is not None:
                what = kind
                if statmod.S_ISLNK(f.lst.st_mode):  # type: ignore[union-attr]
                    try:
                        what += f" to {escaped_name(os.readlink(f.abs_path))!r}"
                    except OSError:
                        pass
                ctx.problem(f"{shown_path(source, f.rel)}: is {what}; not followed or read", check="special-file", subject=escaped_name(f.rel))
                yield f, None, f"{what}; not followed or read"
                continue
            dest = f.dest
            if dest is None:
                dest = f.rel if plain_name(f.rel) else stored_path(f.rel)
                parent = f.rel.rpartition("/")[0]
                if parent != folder:
                    folder, seen = parent, {}
                if dest in seen:
                    raise EvidpackError(f"{shown_path(source, f.rel)}: its stored name {dest!r} would collide with that of {shown_path(source, seen[dest])!r}")
                seen[dest] = f.rel
            if has_bad_utf8(f.rel):
                shown = shown_path(source, f.rel)
                ctx.problem(f"{shown}: file name is not valid UTF-8", check="utf8-name", subject=escaped_name(f.rel))
                ctx.check("utf8-name", "warn", f"stored as {dest!r}; original bytes kept in original_path_raw", escaped_name(f.rel))
            elif dest != f.rel:
                renamed += 1
                if len(examples) < 3:
                    examples.append(f"{f.rel!r} as {dest!r}")
            yield f, dest, ""
        if renamed:
            ctx.check(
                "stored-names",
                "warn",
                f"{renamed} file(s) stored under another name, e.g. {'; '.join(examples)}: a stored name holds no '%', CR or LF "
                f"(written {ESCAPE}, and CR, LF as {ESCAPE}0D, {ESCAPE}0A) and does not end in white space (a space as {ESCAPE}20), "
                "so every manifest line reads the same to sha256sum -c and bagit-python; "
                "original_path keeps each name as found",
            )


def shown_path(source: "Source", rel: str) -> str:
    """A source file named as the case manifest names it (relative to the
    manifest, never an absolute path of the examiner's machine), escaped."""
    if source.is_list:
        shown = next((w for w, p in zip(source.written, source.paths) if p.name == rel), rel)
    elif source.paths[0].is_dir():
        shown = f"{source.written[0].rstrip('/')}/{rel}" if rel else source.written[0]
    else:  # one file (and, for a .ufd, the files beside it that it names)
        shown = posixpath.join(posixpath.dirname(source.written[0]), rel)
    return escaped_name(shown)


SMALL_MAX = 256 * 1024  # files below this are copied by the worker processes, in batches
LARGE_MIN = 64 << 20  # files from this size are copied by a worker process each (its own CPU, its own GIL)
BATCH = 64
# Units under way at once when worker processes copy: enough that the workers
# keep copying (about 0.1 s of small files each) while the build does the work
# that holds this process (unlocking the key, when the first units are under
# way; loading the PDF renderer). Their pipes are made large enough to take them.
POOL_WINDOW = 64
INLINE_BATCHES = 2  # the first batches are copied in threads: a small source starts no processes (unless started: the CLI does)


def _units(
    entries: Iterator[tuple[Found, str | None, str]], pooled: bool, poolable: Callable[[Found], bool] = lambda f: True
) -> Iterator[tuple[list[tuple[Found, str | None, str]], bool]]:
    """Group entries into units of work, in order: (entries, for the pool?).
    Runs of small files become batches for the worker processes, and a file
    of LARGE_MIN or more a batch of its own; anything else is a unit of its
    own, copied in a thread.

    A file found without its lstat (see :func:`walk`) is stat'ed here while the
    first batches may still be copied here (so a small source, or a large
    file among its first files, goes where its size says); after that it
    joins a batch whatever its size (a worker copies a file of any size)."""
    batch: list[tuple[Found, str | None, str]] = []
    inline = INLINE_BATCHES
    for entry in entries:
        f, dest, _ = entry
        if f.lst is None and inline > 0 and pooled:
            entry = _stat_now(entry)
            f = entry[0]
        size = 0 if f.lst is None else f.lst.st_size
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
        yield batch, inline <= 0 and (len(batch) > 1 or batch[0][0].lst is None)


def _stat_now(entry: tuple[Found, str | None, str]) -> tuple[Found, str | None, str]:
    """The entry with its file's lstat (as found, if it cannot be had: the copy
    then reports why the file cannot be read)."""
    f, dest, why = entry
    try:
        return f._replace(lst=os.lstat(f.abs_path)), dest, why
    except OSError:
        return entry


def _ino_dev(f: Found) -> tuple[int, int] | None:
    """The (inode, device) a file must still have when opened, if it was stat'ed when found."""
    return None if f.lst is None else (f.lst.st_ino, f.lst.st_dev)


def _original(f: Found) -> dict[str, Any]:
    """The source-relative name of a file as found (escaped if not UTF-8, with its bytes)."""
    if not has_bad_utf8(f.rel):
        return {"original_path": f.rel}
    return {"original_path": escaped_name(f.rel), "original_path_raw": raw_bytes(f.rel).hex()}


def _not_copied(f: Found, source: "Source", reason: str) -> dict:
    return {"kind": "not-copied", **_original(f), "reason": reason, "source": source.id}
