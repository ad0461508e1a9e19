"""Copy a source file into the payload, hashing every byte in the same read.

* :func:`copy_file` copies one file of any size. A large file is read ahead
  into a ring of chunk buffers while each digest and the write take the chunks
  in order, each in its own thread (:func:`evidpack.hashing.pump`; hashlib
  releases the GIL), so the slowest digest never waits for the disk. The copy
  is written with ``O_DIRECT`` where the file system allows it, and the source
  is read ``O_DIRECT`` except for what the page cache already holds: the data
  go from the disk to the buffer to the disk without filling the page cache,
  which on a large extraction saves both memory and the CPU time of caching
  pages nobody will read soon. The bytes hashed are the bytes written.
* :class:`CopyPool` copies many small files in batches in worker processes (the
  per-file work is system calls and interpreter time, which threads would
  serialise on the GIL) and hands the results back in order; ``verify`` uses
  the same workers to hash a bundle's files (:func:`hash_file_at`, which reads
  large files with ``O_DIRECT`` too).
* Failing to write the copy (disk full, I/O error) raises :class:`WriteError`,
  never mistaken for a problem of the source.

Both refuse anything but a regular file when opened, a file that is not the
one the walk found when it stat'ed it (a swap between ``lstat`` and ``open``),
or one that changed while being read (size or modification time differ after
reading), and leave no partial copy behind.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
import pickle
import queue
import signal
import stat as statmod
import subprocess
import sys
import threading
import traceback
from concurrent.futures import Future, InvalidStateError
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from .hashing import CHUNK, HEAD, RING, chunk_buffers, pump
from .mediatype import sniff

DIRECT_MIN = 8 << 20  # files from this size are written with O_DIRECT where possible
BIG_CHUNK = 8 << 20
_ALIGN = 4096  # O_DIRECT wants offsets and lengths in whole logical blocks; 4 KiB covers common disks

_NOATIME = getattr(os, "O_NOATIME", 0)
_DIRECT = getattr(os, "O_DIRECT", 0)
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)
# O_NONBLOCK: a FIFO put where a file was expected is refused (fstat) instead of blocking the open
# (regular files ignore it).
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
PAYLOAD_MODE = 0o444

_umask = os.umask(0)
os.umask(_umask)
_MODE_NEEDS_FCHMOD = (PAYLOAD_MODE & ~_umask) != PAYLOAD_MODE

_CONSTRUCTORS: dict[str, Callable[[], Any]] = {}


def _new_hash(name: str) -> Any:
    make = _CONSTRUCTORS.get(name)
    if make is None:
        make = _CONSTRUCTORS[name] = getattr(hashlib, name, None) or (lambda: hashlib.new(name))
    return make()


class Copied(NamedTuple):
    """What reading a source file found: its size and modification time as read,
    its digests (hex, by algorithm) and its first bytes (for the media type)."""

    size: int
    mtime_ns: int
    hex: dict[str, str]
    head: bytes


def open_source(path: str | bytes) -> int:
    """Open a source file read-only, without following a symlink and, where the
    OS allows, without updating its access time."""
    try:
        return os.open(path, _READ_FLAGS | _NOATIME)
    except PermissionError:
        if not _NOATIME:
            raise
        return os.open(path, _READ_FLAGS)  # O_NOATIME needs ownership; fall back


_local = threading.local()


def _ensure_parent(dest: str) -> None:
    """Create the folder ``dest`` goes in (remembering the last one: sources are
    walked folder by folder)."""
    parent = os.path.dirname(dest)
    if getattr(_local, "parent", None) == parent:
        return
    os.makedirs(parent, exist_ok=True)
    _local.parent = parent


def copy_file(
    src: str | bytes,
    dest: str,
    ino_dev: tuple[int, int] | None,
    algorithms: Sequence[str],
    *,
    direct: bool = True,
    tee: "Tee | None" = None,
) -> Copied:
    """Copy ``src`` to the new file ``dest`` (created read-only, with the source's
    times), hashing each byte read with every algorithm. ``ino_dev`` is the
    (inode, device) the walk found: anything else at ``src`` is refused (None:
    the walk did not stat it; any regular file there is copied).
    ``tee`` gets each chunk, from its own buffers, as it is written (see :class:`Tee`).
    Raises OSError; on any failure no file is left at ``dest``."""
    fd = open_source(src)
    try:
        before = os.fstat(fd)
        if ino_dev is not None and (not statmod.S_ISREG(before.st_mode) or (before.st_ino, before.st_dev) != ino_dev):
            raise OSError(errno.ESTALE, "replaced while being read")
        if not statmod.S_ISREG(before.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        try:
            _ensure_parent(dest)
            out = os.open(dest, _CREATE_FLAGS, PAYLOAD_MODE)
        except OSError as exc:
            raise WriteError(exc.errno, exc.strerror or str(exc)) from None
        try:
            if before.st_size < CHUNK and tee is None:
                copied = _copy_small(fd, out, algorithms)
            else:
                copied = _copy_large(fd, out, algorithms, direct and before.st_size >= DIRECT_MIN, tee)
            try:
                if _MODE_NEEDS_FCHMOD:
                    os.fchmod(out, PAYLOAD_MODE)
                os.utime(out, ns=(before.st_atime_ns, before.st_mtime_ns))
            except OSError as exc:
                raise WriteError(exc.errno, exc.strerror or str(exc)) from None
        except BaseException:
            os.close(out)
            os.unlink(dest)
            raise
        try:
            os.close(out)  # where a file system reports deferred write errors (NFS)
        except OSError as exc:
            os.unlink(dest)
            raise WriteError(exc.errno, exc.strerror or str(exc)) from None
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or copied[0] != before.st_size:
        os.unlink(dest)
        raise OSError(errno.EAGAIN, "changed while being read (size or modification time differ)")
    return Copied(copied[0], before.st_mtime_ns, copied[1], copied[2])


class WriteError(OSError):
    """Writing into the bundle failed (disk full, I/O error): a problem of the
    output, never of the source, so a build stops on it even with --keep-going."""


def _write_all(out: int, view: memoryview) -> None:
    try:
        while view:
            view = view[os.write(out, view) :]
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(exc.errno, exc.strerror or str(exc)) from None


def _copy_small(fd: int, out: int | None, algorithms: Sequence[str]) -> tuple[int, dict[str, str], bytes]:
    """A file expected to fit one chunk: one read, hashed inline, one write (a
    file that turns out larger is read on to its end). ``out`` None: hash only."""
    buf = chunk_buffers()[0]
    hashers = [_new_hash(a) for a in algorithms]
    size = 0
    head = b""
    while True:
        n = os.readv(fd, [buf])
        if not n:
            break
        view = memoryview(buf)[:n]
        if not size:
            head = bytes(view[:HEAD])
        for h in hashers:
            h.update(view)
        if out is not None:
            _write_all(out, view)
        size += n
        if n < CHUNK:
            break  # a short read of a regular file is its end; the size is checked after
    return size, {a: h.hexdigest() for a, h in zip(algorithms, hashers)}, head


def _big_buffers() -> list[mmap.mmap]:
    """The calling thread's ring of page-aligned chunk buffers (O_DIRECT needs
    aligned memory); only the pages used count towards memory."""
    bufs: list[mmap.mmap] | None = getattr(_local, "big", None)
    if bufs is None:
        bufs = _local.big = [mmap.mmap(-1, BIG_CHUNK) for _ in range(RING)]
    return bufs


def _set_direct(fd: int, on: bool) -> bool:
    """Set or clear O_DIRECT on ``fd``; returns whether it is now set."""
    if not _DIRECT:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | _DIRECT) if on else (flags & ~_DIRECT))
        return on
    except OSError:
        return False  # the file system does not do direct I/O: through the page cache


class Tee(Protocol):
    """Takes the chunks of a copy as they are written, to read them from memory
    (e.g. a container's members) instead of reading the copy back."""

    def buffer(self) -> Any:
        """A page-aligned writable buffer to read the next chunk into (it may wait
        for one to be free); the chunk is as long as the buffer, or the rest of the file."""

    def chunk(self, view: memoryview) -> None:
        """The chunk just written (a view of the last buffer given). The digests
        of the chunk before it are complete by now, so the tee may reuse that
        buffer; the last chunk's are complete when copy_file returns."""


def _copy_large(
    fd: int, out: int | None, algorithms: Sequence[str], direct: bool, tee: Tee | None = None
) -> tuple[int, dict[str, str], bytes]:
    """The chunks are read ahead into a ring of buffers (or the tee's) while the
    digests and the write of earlier ones run in their own threads (:func:`pump`)."""
    direct = direct and out is not None and _set_direct(out, True)
    # The source is read O_DIRECT too when the buffers allow it, apart from what
    # the page cache already holds: evidence read once should not fill the page
    # cache (nor pay to, which on some machines costs more than the copy).
    read = _SourceReader(fd, direct and tee is None)
    write = None if out is None else _ChunkWriter(out, direct)
    if tee is None:
        d = pump(read, tuple(algorithms), _big_buffers() if direct else chunk_buffers(RING), write=write)
    else:
        d = pump(read, tuple(algorithms), next_buffer=tee.buffer, write=write, written=tee.chunk)
    return d.size, d.hex, d.head


# --- many small files: worker processes -------------------------------------------------------------

#: One file for a worker: source path, destination (absolute), (inode, device)
#: found by the walk (None if it did not stat it), and the name used to guess
#: its media type.
Job = tuple[str, str, tuple[int, int] | None, str]


def copy_batch(algorithms: tuple[str, ...], jobs: list[Job]) -> list[Any]:
    """Copy each job in turn (in a worker process). Errors are returned, not raised."""
    out: list[Any] = []
    for src, dest, ino_dev, name in jobs:
        try:
            c = copy_file(src, dest, ino_dev, algorithms)
        except OSError as exc:  # its kind kept: WriteError stops a build, others are the source's
            out.append((WriteError if isinstance(exc, WriteError) else OSError)(exc.errno, exc.strerror or str(exc)))
            continue
        out.append((c.size, c.mtime_ns, c.hex, sniff(c.head, name)))
    return out


def hash_file_at(path: str, algorithms: Sequence[str]) -> tuple[int, dict[str, str]]:
    """Size and digests of the regular file at ``path`` (a symlink is refused),
    read once; a large file has its digests computed concurrently and is read
    with O_DIRECT where possible (verifying tens of gigabytes should neither
    fill the page cache nor pay for it)."""
    fd = os.open(path, _READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not statmod.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if st.st_size < CHUNK:
            size, hexes, _ = _copy_small(fd, None, algorithms)
        else:
            size, hexes = _hash_large(fd, algorithms, st.st_size >= DIRECT_MIN and _DIRECT != 0)
    finally:
        os.close(fd)
    return size, hexes


class _ChunkWriter:
    """Writes a copy's chunks in order (in pump's write lane), remembering
    whether writes are still O_DIRECT."""

    def __init__(self, out: int, direct: bool) -> None:
        self.out = out
        self.direct = direct

    def __call__(self, view: memoryview, start: int) -> None:
        self.direct = _write_chunk(self.out, view, self.direct, start)


def _write_chunk(out: int, view: memoryview, direct: bool, start: int) -> bool:
    """Write one chunk that begins at file offset ``start``; returns whether
    writes stay O_DIRECT (the tail, a short read, or a refusal ends it)."""
    if direct and len(view) % _ALIGN:
        direct = _set_direct(out, False)  # the tail (or a short read): leave O_DIRECT for good
    try:
        _write_all(out, view)
    except OSError as exc:
        if not direct or exc.errno != errno.EINVAL:
            raise
        direct = _set_direct(out, False)  # refused in practice: write through the cache
        os.lseek(out, start, os.SEEK_SET)  # from the chunk's start, whatever went before
        _write_all(out, view)
    return direct


class _SourceReader:
    """Reads a file chunk by chunk, at explicit offsets. With ``direct`` (the
    buffers are page-aligned), what the page cache already holds is copied from
    it (an ``RWF_NOWAIT`` read never waits for the disk, nor starts reading
    ahead), and the rest of the chunk is read ``O_DIRECT``, past the cache. A
    refused direct read is retried through the cache, and once a read ends off
    a block boundary (the end of the file, or a short read) reads stay cached."""

    def __init__(self, fd: int, direct: bool) -> None:
        self.fd = fd
        self.offset = 0
        self.direct = direct
        self._probe = direct and _NOWAIT != 0
        self._fd_direct = False  # whether O_DIRECT is set on the fd now

    def __call__(self, buf: Any) -> int:
        view = memoryview(buf)
        n, end = self._cached(view) if self._probe else (0, False)
        if n < len(view) and not end:
            n += self._read(view[n:], self.offset + n, self.direct and n % _ALIGN == 0)
        self.offset += n
        if n % _ALIGN:
            self.direct = self._probe = False
        return n

    def _cached(self, view: memoryview) -> tuple[int, bool]:
        """What the cache holds of the chunk, and whether the file ends there."""
        self._set(False)
        try:
            n = os.preadv(self.fd, [view], self.offset, _NOWAIT)
        except BlockingIOError:
            return 0, False  # not in the cache
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            self._probe = False  # RWF_NOWAIT not supported here
            return 0, False
        # Short: the end of the file, or the cache holds only the start of the chunk.
        return n, n < len(view) and self.offset + n >= os.fstat(self.fd).st_size

    def _read(self, view: memoryview, offset: int, direct: bool) -> int:
        self._set(direct)
        try:
            return os.preadv(self.fd, [view], offset)
        except OSError as exc:
            if not direct or exc.errno != errno.EINVAL:
                raise
            self.direct = self._probe = False
            self._set(False)
            return os.preadv(self.fd, [view], offset)

    def _set(self, direct: bool) -> None:
        if direct != self._fd_direct:
            self._fd_direct = _set_direct(self.fd, direct)


def _hash_large(fd: int, algorithms: Sequence[str], direct: bool) -> tuple[int, dict[str, str]]:
    """Like :func:`_copy_large` without a copy: with ``direct``, what is not in
    the page cache is read straight from the disk into aligned buffers."""
    d = pump(_SourceReader(fd, direct), tuple(algorithms), _big_buffers() if direct else chunk_buffers(RING))
    return d.size, d.hex


def hash_batch(algorithms: tuple[str, ...], paths: list[str]) -> list[Any]:
    """(size, digests) or the OSError, for each path in turn (in a worker process)."""
    out: list[Any] = []
    for path in paths:
        try:
            out.append(hash_file_at(path, algorithms))
        except OSError as exc:
            out.append(OSError(exc.errno, exc.strerror or str(exc)))
    return out


_OPS: dict[str, Callable[[tuple[str, ...], list[Any]], list[Any]]] = {"copy": copy_batch, "hash": hash_batch}


def worker_main(ops: dict[str, Callable[[tuple[str, ...], Any], list[Any]]] | None = None) -> None:
    """A copy worker: reads (op, algorithms, jobs) batches as pickles on stdin and
    answers each with a pickled list on stdout, until stdin closes. ``ops``
    replaces the copy operations (a worker of another module's)."""
    # The parent decides when a build stops (it cleans up on SIGTERM or Ctrl-C);
    # a worker ends when the parent closes its pipe or goes away.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            op, algorithms, jobs = pickle.load(inp)
        except EOFError:
            # Every answer is written and flushed, and nothing else is held (files
            # are closed as each job ends): end now, without the interpreter's
            # clean-up of everything it loaded, which the parent would wait for.
            os._exit(0)
        try:
            answer: Any = (ops or _OPS)[op](algorithms, jobs)
        except Exception:  # a bug, not bad input: hand the traceback to the parent
            answer = _WorkerFailed(traceback.format_exc())
        pickle.dump(answer, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


class _WorkerFailed:
    def __init__(self, text: str) -> None:
        self.text = text


def in_background() -> None:
    """Give the calling thread a lower CPU priority (nice 10): work done ahead of
    time, such as loading the PDF renderer while a build copies, must not take
    a core from the digests the build waits for. Linux only, where each thread
    has a nice value of its own (elsewhere it is the whole process's). It cannot
    be raised again without privileges: only for threads that end with the work."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except OSError:  # not allowed: no matter
        pass


def worker_count() -> int:
    override = os.environ.get("EVIDPACK_COPY_WORKERS", "")
    if override.isdigit():
        return int(override)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return min(cpus, 4) if cpus > 1 else 0


class _Worker:
    """One worker process. Batches are written to it as soon as they are
    submitted (it never waits for the parent between batches); a reader thread
    collects the answers, which come back in the order the batches went in."""

    def __init__(self, module: str = "evidpack.payloadcopy", pass_fds: Sequence[int] = (), path: Sequence[str] = ()) -> None:
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        paths = [package_parent, *(p for p in path if p and p != package_parent)]
        code = f"import sys; sys.path[:0] = {paths!r}; from {module} import worker_main; worker_main()"
        # -I -S: no environment variables, user or site packages: the worker needs
        # only the standard library, this package and the folders in ``path``.
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True, pass_fds=tuple(pass_fds)
        )
        _widen_pipe(self.proc.stdin)
        self._pending: queue.SimpleQueue[Future[list[Any]] | None] = queue.SimpleQueue()
        self._sent = self._answered = 0  # each written by one thread only (submitter, reader)
        self._reader = threading.Thread(target=self._read_answers, name="evidpack-copy-reader", daemon=True)
        self._reader.start()

    def waiting(self) -> int:
        """Batches handed to this worker and not yet answered."""
        return self._sent - self._answered

    def submit(self, op: str, algorithms: tuple[str, ...], jobs: list[Any]) -> "Future[list[Any]]":
        assert self.proc.stdin is not None
        fut: Future[list[Any]] = Future()
        self._sent += 1
        self._pending.put(fut)
        try:
            pickle.dump((op, algorithms, jobs), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
        except OSError as exc:  # the worker is gone (the reader may have said so first)
            _fail(fut, RuntimeError(f"copy worker ended unexpectedly ({exc})"))
        return fut

    def _read_answers(self) -> None:
        assert self.proc.stdout is not None
        while True:
            fut = self._pending.get()
            if fut is None:
                return
            try:
                answer = pickle.load(self.proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                failure = RuntimeError(f"copy worker ended unexpectedly (exit status {self.proc.poll()}): {exc or 'no answer'}")
                while fut is not None:
                    _fail(fut, failure)
                    fut = self._pending.get()
                return
            self._answered += 1
            if isinstance(answer, _WorkerFailed):
                _fail(fut, RuntimeError(f"copy worker failed:\n{answer.text}"))
            else:
                try:
                    fut.set_result(answer)
                except InvalidStateError:
                    pass

    def release(self) -> None:
        """No more batches: the worker finishes what it has and exits."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def close(self) -> None:
        self.release()
        self.proc.wait()
        self._pending.put(None)
        self._reader.join()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


PIPE_SIZE = 1 << 20  # bytes of batches a worker's pipe holds (Linux's default unprivileged limit; else 64 KiB)


def _widen_pipe(pipe: Any) -> None:
    """Let ``pipe`` hold :data:`PIPE_SIZE` bytes, where the OS allows (Linux), so
    that a worker has dozens of batches queued, not four or five, before a
    submit waits for it to read (it reads the next batch when one is done)."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None or pipe is None:
        return
    try:
        fcntl.fcntl(pipe.fileno(), setsize, PIPE_SIZE)
    except OSError:  # over the user's limit (/proc/sys/fs/pipe-max-size, pipe-user-pages-soft): the default size
        pass


def _fail(fut: "Future[Any]", exc: BaseException) -> None:
    try:
        fut.set_exception(exc)
    except InvalidStateError:  # already failed by the other side
        pass


class CopyPool:
    """Worker processes that copy batches of small files, and large files one
    at a time; a batch goes to the worker with the fewest batches waiting. With
    no workers (one CPU, or ``EVIDPACK_COPY_WORKERS=0``) a batch is copied when
    it is submitted, in the calling thread.

    Workers start on first use, or at :meth:`start`: a build starts them before
    it reads the case manifest, so they are ready when the first file is."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = worker_count() if workers is None else workers
        self._all: list[_Worker] = []
        self._released: list[_Worker] = []
        self._turn = 0

    def start(self) -> "CopyPool":
        """Start a worker process now (it takes a few hundredths of a second);
        the others start when the work needs them (see :meth:`_grow`)."""
        if self.workers and not self._all:
            self._grow()
        return self

    def _grow(self) -> None:
        """One more worker. A build of one large file, or of a few small ones,
        never starts the second: its start-up would only take CPU time from the
        digests the build waits for."""
        try:
            self._all.append(_Worker())
        except OSError:  # no interpreter to start (embedded, frozen): copy here instead
            if self._all:
                self.workers = len(self._all)
                return
            self.close()
            self.workers = 0

    def submit(self, algorithms: tuple[str, ...], jobs: list[Job]) -> "Future[list[Any]]":
        """Copy ``jobs``; the future's answer has one entry per job, in order:
        (size, mtime_ns, digests, media type) or the OSError that stopped it."""
        return self._submit("copy", algorithms, jobs)

    def submit_hash(self, algorithms: tuple[str, ...], paths: list[str]) -> "Future[list[Any]]":
        """Hash the files at ``paths``: (size, digests) or the OSError, in order."""
        return self._submit("hash", algorithms, paths)

    def _submit(self, op: str, algorithms: tuple[str, ...], jobs: list[Any]) -> "Future[list[Any]]":
        if not self.workers:
            fut: Future[list[Any]] = Future()
            fut.set_result(_OPS[op](algorithms, jobs))
            return fut
        if not self.start()._all:
            return self._submit(op, algorithms, jobs)
        if len(self._all) < self.workers and all(w.waiting() for w in self._all):
            self._grow()  # every worker is busy: another one takes this batch
        # The least busy worker, the next in turn among equals: a worker copying
        # a large file is passed over while the others have less to do.
        n = len(self._all)
        order = [self._all[(self._turn + i) % n] for i in range(n)]
        worker = min(order, key=lambda w: w.waiting())
        self._turn = (self._all.index(worker) + 1) % n
        return worker.submit(op, algorithms, jobs)

    def release(self) -> None:
        """No more work for now: the workers end once they have answered (so
        :meth:`close` need not wait for them later); more work starts new ones."""
        for w in self._all:
            w.release()
        self._released += self._all
        self._all = []

    def close(self, *, stop: bool = False) -> None:
        """Let the workers finish what they were given and end; with ``stop``
        (the build failed), end them now (what they were writing is discarded
        with the unfinished bundle)."""
        workers = self._released + self._all
        self._all, self._released = [], []
        for w in workers:
            if stop:
                w.proc.kill()
            w.close()

    def __enter__(self) -> "CopyPool":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(stop=exc_type is not None)
