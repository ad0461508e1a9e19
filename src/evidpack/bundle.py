"""The one reader: opens a bundle (folder or zip) read-only.

verify, custody, query, disclose and proof all read bundles through here.
"""

from __future__ import annotations

import io
import mmap
import os
import stat as statmod
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from .errors import EvidpackError
from .names import BAGIT_TXT_FILE, CUSTODY_FILE, DISCLOSURE_FILE, INDEX_SIG, SIG_FILE, SSHSIG_FILE, TAGMANIFEST
from .hashing import DEFAULT_ALGORITHMS, Digests, bounded_map, copy_and_hash, in_order
from .payloadcopy import CopyPool, hash_file_at

T = TypeVar("T")


_KINDS = {statmod.S_IFLNK: "symbolic link", statmod.S_IFIFO: "FIFO", statmod.S_IFSOCK: "socket",
          statmod.S_IFCHR: "character device", statmod.S_IFBLK: "block device", statmod.S_IFDIR: "folder"}


def file_kind(mode: int) -> str:
    """A file mode's type in words ("symbolic link", "FIFO", ...)."""
    return _KINDS.get(statmod.S_IFMT(mode), f"mode {statmod.S_IFMT(mode):o}")


def zip_entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry is not a plain file or folder as evidpack writes them, or None:
    an entry marked as a symlink, FIFO or device (unzip would make one, whatever a
    reader of its bytes saw), or a folder entry carrying bytes (which no listing shows)."""
    if info.is_dir():
        return f"a folder entry carrying {info.file_size} byte(s)" if info.file_size or info.compress_size else None
    kind = statmod.S_IFMT(info.external_attr >> 16)
    if kind and kind != statmod.S_IFREG:
        return f"not a regular file (zip entry of type {file_kind(kind)})"
    return None


_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})  # what zipfile reads

# Guards against a zip bomb among the tag files (a zip member that inflates far
# beyond its stored size). The tag files evidpack writes compress at most ~10:1;
# a member that claims more than ZIP_RATIO_LIMIT:1 and more than ZIP_RATIO_FLOOR
# bytes is not one of them. (zipfile never inflates a member past its declared
# size, so the declared size bounds what a read can produce.)
ZIP_RATIO_LIMIT = 100
ZIP_RATIO_FLOOR = 8 << 20
# Tag files that are small by nature (a custody log of a quarter of a million
# events is ~256 MiB): read whole, so never read past this.
TAG_READ_LIMIT = 256 << 20
SMALL_TAG_FILES = frozenset({
    BAGIT_TXT_FILE, "bag-info.txt", TAGMANIFEST, SIG_FILE, SSHSIG_FILE, INDEX_SIG, CUSTODY_FILE,
    "evidpack/case.json", "evidpack/seal.json", "evidpack/signer.pem", "evidpack/allowed_signers",
})


def zip_bomb_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member is implausible as a tag file (it inflates more than
    ``ZIP_RATIO_LIMIT``:1 to more than ``ZIP_RATIO_FLOOR`` bytes), or None."""
    size, packed = info.file_size, max(info.compress_size, 1)
    if size > ZIP_RATIO_FLOOR and size > ZIP_RATIO_LIMIT * packed:
        return (
            f"member {info.filename} inflates to {size} bytes from {info.compress_size} ({size // packed}:1), "
            f"far more than any file evidpack writes (a zip bomb?); refusing to inflate it"
        )
    return None


class TagFileRefused(EvidpackError):
    """A tag file refused unread: a zip member that would inflate implausibly,
    or a file larger than such a file can hold. Not something evidpack wrote."""


class Bundle:
    """A bundle opened for reading. Paths are bag-relative with ``/``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_zip = False
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        self._zip_names: dict[str, zipfile.ZipInfo] = {}
        self.special: list[str] = []  # entries that are not regular files (symlinks, ...)
        self._zip_special: list[str] = []  # (in a zip: found when it is opened)
        self.empty_folders: list[str] = []  # folders holding nothing (BagIt cannot list them)
        self.outside: list[str] = []  # bytes in a zip that belong to no entry (a comment, a prefix, a tail)

    @classmethod
    def open(cls, path: Path) -> "Bundle":
        path = Path(path)
        b = cls(path)
        if path.is_dir():
            if not (path / "bagit.txt").is_file():
                raise EvidpackError(f"{path}: not an evidpack bundle (no bagit.txt)")
            return b
        if not path.exists():
            raise EvidpackError(f"{path}: no such bundle")
        if not path.is_file():  # (a device or a FIFO would be read forever)
            raise EvidpackError(f"{path}: not a bundle folder or a zip file")
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise EvidpackError(f"{path}: not a bundle folder or a readable zip ({exc})") from None
        b.is_zip, b._zip = True, zf
        refuse_zip_prefix(zf, path, "a bundle zip")
        tops = {n.split("/", 1)[0] for n in zf.namelist()}
        if len(tops) != 1:
            raise EvidpackError(f"{path}: a bundle zip must hold exactly one top folder")
        b._prefix = tops.pop() + "/"
        for info in zf.infolist():
            rel = info.filename[len(b._prefix) :]
            if zip_entry_problem(info) is not None:
                b._zip_special.append(rel.rstrip("/"))
                continue
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise EvidpackError(f"{path}: member {info.filename} is encrypted; evidpack writes no encrypted bundle zips")
            if info.compress_type not in _ZIP_METHODS:
                raise EvidpackError(f"{path}: member {info.filename} uses compression method {info.compress_type}, which evidpack cannot read")
            if rel in b._zip_names:
                raise EvidpackError(f"{path}: member {info.filename} appears twice")
            b._zip_names[rel] = info
        if "bagit.txt" not in b._zip_names:
            raise EvidpackError(f"{path}: not an evidpack bundle (no bagit.txt in {b._prefix})")
        b.outside = zip_outside_bytes(zf, path)
        b.empty_folders = _zip_empty_folders(zf, b._prefix)
        return b

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "Bundle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self._prefix.rstrip("/") if self.is_zip else self.path.name

    # --- reading ---------------------------------------------------------------

    @contextmanager
    def mapped(self, rel: str) -> Iterator[bytes | None]:
        """A file's bytes without reading it into memory where possible (a
        folder's file is memory-mapped; a zip member is read), or None."""
        if self._zip is not None or not self.exists(rel) or self.size(rel) == 0:
            yield self.read(rel)
            return
        with open(self.path / rel, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            yield m  # type: ignore[misc]

    def sha256(self, rel: str) -> str | None:
        """The SHA-256 of a file, streamed (memory does not grow with its size),
        or None if it is not there."""
        if not self.exists(rel):
            return None
        try:
            with self.open_stream(rel) as fh:
                return copy_and_hash(fh, None, ("sha256",))["sha256"]
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise EvidpackError(f"{self.path}: {rel} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None

    def exists(self, rel: str) -> bool:
        if self._zip is not None:
            return rel in self._zip_names
        p = self.path / rel
        return p.is_file() and not p.is_symlink()

    def read(self, rel: str, *, limit: int | None = None) -> bytes | None:
        """The bytes of a file, or None if it is not there.

        Read whole, so bounded: a tag file (anything outside ``data/``) in a zip
        that inflates implausibly (:func:`zip_bomb_problem`) is refused, and so is
        a file larger than ``limit`` (by default ``TAG_READ_LIMIT`` for the tag
        files that are small by nature, ``SMALL_TAG_FILES``), with one line
        naming it, before anything is inflated or read."""
        if limit is None and rel in SMALL_TAG_FILES:
            limit = TAG_READ_LIMIT
        if self._zip is not None:
            info = self._zip_names.get(rel)
            if info is None:
                return None
            bomb = None if rel.startswith("data/") else zip_bomb_problem(info)
            if bomb is not None:
                raise TagFileRefused(f"{self.path}: {bomb}")
            if limit is not None and info.file_size > limit:
                raise TagFileRefused(self._too_large(info.filename, info.file_size, limit))
            try:
                return self._zip.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise EvidpackError(f"{self.path}: member {info.filename} cannot be read ({exc})") from None
        p = self.path / rel
        if p.is_symlink() or not p.is_file():
            return None
        if limit is None:
            return p.read_bytes()
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            data = fh.read(limit + 1) if size <= limit else b""
        if size > limit or len(data) > limit:  # (read past the limit if it grew meanwhile)
            raise TagFileRefused(self._too_large(rel, max(size, len(data)), limit))
        return data

    def _too_large(self, what: str, size: int, limit: int) -> str:
        most = f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"
        return f"{self.path}: {what} is {size} bytes, more than the {most} such a file can plausibly hold; refusing to read it"

    def zip_member(self, rel: str) -> zipfile.ZipInfo | None:
        """A zipped bundle's entry for a file (None in a folder, or if absent)."""
        return self._zip_names.get(rel) if self._zip is not None else None

    def open_stream(self, rel: str) -> BinaryIO:
        if self._zip is not None:
            return self._zip.open(self._zip_names[rel])
        return open(self.path / rel, "rb", buffering=0)

    def lines(self, rel: str) -> Iterator[bytes]:
        """The lines of a text file without their newlines, streamed (a missing
        file has none). A final line without a newline is still yielded."""
        if not self.exists(rel):
            return
        with self.open_stream(rel) as raw:
            for line in io.BufferedReader(raw, 1 << 20) if not self.is_zip else raw:  # type: ignore[arg-type]
                yield line[:-1] if line.endswith(b"\n") else line

    def size(self, rel: str) -> int:
        if self._zip is not None:
            return self._zip_names[rel].file_size
        return (self.path / rel).stat().st_size

    def files(self, payload: bool = True) -> list[str]:
        """Every regular file in the bundle, sorted (without ``data/`` when
        ``payload`` is false). Symlinks and other special entries are not files:
        they are listed in ``self.special``."""
        if self._zip is not None:
            self.special = list(self._zip_special)  # (those under data/ too: a zip is listed at once)
            return sorted(r for r in self._zip_names if payload or not r.startswith("data/"))
        out: list[str] = []
        self.special = []
        self.empty_folders = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            rel_dir = os.path.relpath(dirpath, self.path)
            out.extend(rel for rel, _size in self._regular(dirpath, rel_dir, dirnames, filenames))
            if not payload and rel_dir == ".":  # (after _regular: a symlink named data is special)
                dirnames[:] = [d for d in dirnames if d != "data"]
        return sorted(out)

    def walk_payload(self) -> Iterator[tuple[str, int]]:
        """(path, size) of each regular file under ``data/``, streamed in no
        particular order; special entries found are added to ``self.special``."""
        if self._zip is not None:
            yield from ((r, i.file_size) for r, i in self._zip_names.items() if r.startswith("data/"))
            return
        if os.path.islink(self.path / "data"):  # never followed (files() reports it)
            return
        for dirpath, dirnames, filenames in os.walk(self.path / "data"):
            yield from self._regular(dirpath, os.path.relpath(dirpath, self.path), dirnames, filenames)

    def _regular(self, dirpath: str, rel_dir: str, dirnames: list[str], filenames: list[str]) -> Iterator[tuple[str, int]]:
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                self.special.append(_join(rel_dir, name))
                dirnames.remove(name)
        if not dirnames and not filenames and rel_dir != ".":
            self.empty_folders.append(rel_dir.replace(os.sep, "/"))
        for name in filenames:
            rel = _join(rel_dir, name)
            st = os.lstat(os.path.join(dirpath, name))
            if statmod.S_ISREG(st.st_mode):
                yield rel, st.st_size
            else:
                self.special.append(rel)

    def hash_files(self, rels: list[str], algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS) -> Iterator[tuple[str, Digests | str]]:
        """(path, digests) for each file, in order, or (path, error text) when it
        cannot be read. Each file is read once for all algorithms; a folder's
        files are hashed by worker processes in batches when there are many."""
        many = len(rels) >= POOL_MIN_FILES
        yield from self.hash_stream(rels, lambda rel: rel, algorithms, many=many)

    def hash_stream(
        self, things: Iterable[T], rel_of: Callable[[T], str], algorithms: tuple[str, ...], *, many: bool = True
    ) -> Iterator[tuple[T, Digests | str]]:
        """Like :meth:`hash_files` for any iterable (pulled lazily, so memory
        stays flat), with the path of each thing given by ``rel_of``."""

        def one(thing: T) -> Digests | str:
            rel = rel_of(thing)
            try:
                if self._zip is not None:
                    with self._zip.open(self._zip_names[rel]) as fh:
                        d = copy_and_hash(fh, None, algorithms)
                    return Digests(d.size, d.hex)  # without the sniffing head: callers keep one per file
                size, hexes = hash_file_at(str(self.path / rel), algorithms)
                return Digests(size, hexes)
            except KeyError:
                return _failed(FileNotFoundError(2, "No such file or directory"))
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                return _failed(exc)

        if self._zip is not None or not many:
            yield from bounded_map(one, things, workers=1 if self._zip is not None else 4, window=64)
            return
        with CopyPool() as pool:
            if not pool.workers:
                yield from bounded_map(one, things, workers=4, window=64)
                return
            root = str(self.path)

            def start(batch: list[T]) -> "Future[list[Any]]":
                return pool.submit_hash(algorithms, [f"{root}/{rel_of(t)}" for t in batch])

            for batch, answers in in_order(_batches(things, POOL_BATCH), start, window=8):
                for thing, answer in zip(batch, answers):
                    yield thing, _failed(answer) if isinstance(answer, OSError) else Digests(answer[0], answer[1])


def zip_outside_bytes(zf: zipfile.ZipFile, path: Path) -> list[str]:
    """What a zip holds outside its entries, in words: a comment, bytes after the
    end record. None of it is part of the bag (no digest covers it, and no entry
    changes with it); evidpack writes none. Bytes before the first entry are
    refused (:func:`refuse_zip_prefix`), not listed here."""
    out: list[str] = []
    if zf.comment:
        out.append(f"a zip comment of {len(zf.comment)} byte(s)")
    try:
        with open(path, "rb") as fh:
            end = zipfile._EndRecData(fh)  # (where zipfile itself found the end record)
            size = fh.seek(0, os.SEEK_END)
    except OSError:
        return out
    if end:
        tail = size - (end[zipfile._ECD_LOCATION] + zipfile.sizeEndCentDir + end[zipfile._ECD_COMMENT_SIZE])
        if tail > 0:
            out.append(f"{tail} byte(s) after the zip's end record")
    return out


def refuse_zip_prefix(zf: zipfile.ZipFile, path: Path, what: str) -> None:
    """A zip evidpack writes starts with its first entry. Bytes before it are
    what a file cut off just after a zip it holds looks like (a bundle holding
    an earlier bundle's zip as evidence, or a package holding one): read from
    its end, such a file is the inner zip, a different case. Nothing is verified."""
    first = min((i.header_offset for i in zf.infolist()), default=getattr(zf, "start_dir", 0))
    if first > 0:
        raise EvidpackError(
            f"{path}: {first} byte(s) come before its first zip entry; {what} as evidpack writes it starts with its first entry, "
            "and a file cut off just after a zip it holds reads like this one; nothing was verified "
            "(compare the file's size and SHA-256 with what was delivered)"
        )


def _zip_empty_folders(zf: zipfile.ZipFile, prefix: str) -> list[str]:
    """Folder entries of a zip under which no other entry lies."""
    names = sorted(zf.namelist())
    out = []
    for i, n in enumerate(names):
        if n.endswith("/") and n != prefix and not (i + 1 < len(names) and names[i + 1].startswith(n)):
            out.append(n[len(prefix) :].rstrip("/"))
    return out


def _failed(exc: BaseException) -> str:
    return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"


def _batches(things: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for t in things:
        batch.append(t)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


POOL_MIN_FILES = 256  # fewer payload files are hashed in threads: starting worker processes would cost more
POOL_BATCH = 64


def _join(rel_dir: str, name: str) -> str:
    return name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")


def is_disclosure_package(path: Path) -> bool:
    """A folder holding ``disclosure.json``, or a zip with ``<top>/disclosure.json``
    (names are readable without the password)."""
    path = Path(path)
    if path.is_dir():
        return (path / DISCLOSURE_FILE).is_file() and not (path / BAGIT_TXT_FILE).exists()
    if not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):  # (e.g. a "version needed" zipfile refuses)
        return False
    tops = {n.split("/", 1)[0] for n in names}
    return len(tops) == 1 and f"{next(iter(tops))}/{DISCLOSURE_FILE}" in names
