"""Streaming multi-digest hashing: one read, several digests, computed concurrently.

hashlib releases the GIL on buffers larger than 2 KiB, so for large inputs each
digest (and the write of a copy) runs in its own thread while the calling
thread reads ahead (:func:`pump`). Small inputs are hashed inline (thread
hand-off would cost more than it saves).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

CHUNK = 1 << 20  # 1 MiB
_PARALLEL_MIN = 256 * 1024
HEAD = 512
DEFAULT_ALGORITHMS: tuple[str, ...] = ("sha256", "md5")

_pool: ThreadPoolExecutor | None = None


def _digest_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="evidpack-digest")
    return _pool


def short(hex_digest: str) -> str:
    """The first 16 hex digits of a digest, for messages (the full value is in the records)."""
    return hex_digest[:16] + "…"


@dataclass(frozen=True)
class Digests:
    size: int
    hex: dict[str, str]
    head: bytes = b""  # the first bytes read, for media-type sniffing

    def __getitem__(self, algorithm: str) -> str:
        return self.hex[algorithm]


class MultiHasher:
    """Feed chunks once; every algorithm sees every byte. ``parallel=False``
    hashes in the calling thread: for callers that run beside other threads
    doing the same (more threads than cores cost more than they save)."""

    def __init__(self, algorithms: Iterable[str] = DEFAULT_ALGORITHMS, parallel: bool = True) -> None:
        self.algorithms = tuple(algorithms)
        self._hashers = [hashlib.new(a) for a in self.algorithms]
        self._pending: list[Future[None]] = []
        self._parallel_min = _PARALLEL_MIN if parallel else 1 << 62
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        """Hash ``chunk``. For large chunks the work is started in threads;
        call :meth:`wait` before the buffer is reused."""
        self.wait()
        self.size += len(chunk)
        if len(chunk) >= self._parallel_min:  # in threads, even for one digest: the caller reads on meanwhile
            pool = _digest_pool()
            self._pending = [pool.submit(h.update, chunk) for h in self._hashers]
        else:
            for h in self._hashers:
                h.update(chunk)

    def wait(self) -> None:
        for fut in self._pending:
            fut.result()
        self._pending = []

    def result(self) -> Digests:
        self.wait()
        return Digests(self.size, {a: h.hexdigest() for a, h in zip(self.algorithms, self._hashers)})


def copy_and_hash(
    src: BinaryIO | int,
    dst: BinaryIO | None = None,
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
    *,
    limit: int | None = None,
) -> Digests:
    """Read ``src`` to the end (or ``limit`` bytes) once, hashing every byte and
    writing it to ``dst`` if given (see :func:`pump`)."""
    read = _reader(src)
    if limit is not None:
        left = [limit]
        read_all = read

        def read(buf: bytearray) -> int:  # at most ``limit`` bytes in all
            n = read_all(memoryview(buf)[: min(len(buf), left[0])]) if left[0] else 0
            left[0] -= n
            return n

    return pump(read, tuple(algorithms), chunk_buffers(RING), write=None if dst is None else _write_to(dst))


def _write_to(dst: BinaryIO) -> Callable[[memoryview, int], None]:
    return lambda view, _offset: dst.write(view)  # type: ignore[func-returns-value]


#: Chunks in flight in :func:`pump`: enough for reads to run ahead of the
#: slowest digest when the disk's speed varies (it does, on virtual machines).
RING = 4


def pump(
    read: Callable[[Any], int],
    algorithms: tuple[str, ...],
    buffers: Sequence[Any] = (),
    *,
    next_buffer: Callable[[], Any] | None = None,
    write: Callable[[memoryview, int], None] | None = None,
    written: Callable[[memoryview], None] | None = None,
) -> Digests:
    """Read a stream chunk by chunk with ``read`` (fills the buffer it is given,
    returns the byte count, 0 at the end) and hash every chunk with each
    algorithm; ``write(chunk, offset)``, if given, copies it.

    Each digest and the writing run in their own thread ("lane"; hashlib
    releases the GIL), each lane taking the chunks in order, while this thread
    reads ahead into the next free buffer of ``buffers`` (a ring: a buffer is
    reused once every lane is done with it). So the slowest digest runs without
    pause as long as reading keeps ahead of it, and reading, writing and the
    other digests happen meanwhile.

    With ``next_buffer`` (a tee: it hands out its own buffers, see
    payloadcopy.Tee) ``written(chunk)`` is called here once the chunk is
    written and every lane is done with the chunk before it.
    Errors (a failed write, a read error) propagate; no lane is still using a
    buffer when this returns or raises."""
    hashers = [hashlib.new(a) for a in algorithms]
    lanes = _lanes(len(hashers) + (write is not None))
    inflight: deque[tuple[Any, list[Future[Any]]]] = deque()
    free = list(buffers)
    size = 0
    head = b""
    try:
        while True:
            if next_buffer is not None:
                buf = next_buffer()
            else:
                if not free:
                    free.append(_done(inflight.popleft()))
                buf = free.pop()
            n = read(buf)
            if not n:
                break
            view = memoryview(buf)[:n]
            if not size:
                head = bytes(view[:HEAD])
            futures = [lane.submit(h.update, view) for h, lane in zip(hashers, lanes)]
            if write is not None:
                futures.append(lanes[-1].submit(write, view, size))
            size += n
            if written is not None:
                if write is not None:
                    futures[-1].result()
                while inflight:
                    _done(inflight.popleft())
                written(view)
            inflight.append((buf, futures))
        while inflight:
            _done(inflight.popleft())
    finally:
        for _buf, futures in inflight:  # an error: let the lanes finish with the buffers
            for fut in futures:
                try:
                    fut.result()
                except Exception:  # noqa: BLE001 - the first error is the one raised
                    pass
    return Digests(size, {a: h.hexdigest() for a, h in zip(algorithms, hashers)}, head)


def _done(entry: tuple[Any, list["Future[Any]"]]) -> Any:
    buf, futures = entry
    for fut in futures:
        fut.result()
    return buf


def _lanes(n: int) -> list[ThreadPoolExecutor]:
    """``n`` single-thread executors of the calling thread's own (threads that
    copy files side by side each get theirs)."""
    lanes: list[ThreadPoolExecutor] = getattr(_local, "lanes", [])
    while len(lanes) < n:
        lanes.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"evidpack-lane{len(lanes)}"))
    _local.lanes = lanes
    return lanes[:n]


_local = threading.local()


def chunk_buffers(n: int = 1) -> list[bytearray]:
    """``n`` reusable chunk buffers of the calling thread (allocating a buffer
    per small file would dominate). A thread hashes or copies one file at a time."""
    bufs: list[bytearray] = getattr(_local, "buffers", [])
    while len(bufs) < n:
        bufs.append(bytearray(CHUNK))
    _local.buffers = bufs
    return bufs[:n]


def _reader(src: BinaryIO | int) -> Callable[[memoryview], int]:
    if isinstance(src, int):
        return lambda view: os.readv(src, [view])
    readinto = getattr(src, "readinto", None)
    if readinto is not None:
        return lambda view: readinto(view) or 0

    def read(view: memoryview) -> int:
        data = src.read(len(view))
        view[: len(data)] = data
        return len(data)

    return read


def hash_bytes(data: bytes, algorithms: Iterable[str] = DEFAULT_ALGORITHMS) -> Digests:
    hasher = MultiHasher(algorithms)
    hasher.update(data)
    return hasher.result()


def hash_file(path: str | os.PathLike[str], algorithms: Iterable[str] = DEFAULT_ALGORITHMS) -> Digests:
    with open(path, "rb", buffering=0) as fh:
        return copy_and_hash(fh, None, algorithms)


T = TypeVar("T")
R = TypeVar("R")


def in_order(
    items: Iterable[T], start: Callable[[T], "Future[R]"], window: int, idle: Callable[[], object] | None = None
) -> Iterator[tuple[T, R]]:
    """Start work on each item with ``start`` and yield (item, result) in the
    items' order, with at most ``window`` started and not yet yielded, so
    memory stays flat however many items there are. Exceptions propagate.
    ``idle`` is work to do while waiting, called once: as soon as ``window``
    items are under way (the most work there will be queued), or, if there are
    fewer items, the first time a result is wanted before it is ready."""
    queue: deque[tuple[T, Future[R]]] = deque()
    pending = [idle] if idle is not None else []

    def run_idle() -> None:
        while pending:
            pending.pop()()

    def result(fut: "Future[R]") -> R:
        if pending and not fut.done():
            run_idle()
        return fut.result()

    for item in items:
        queue.append((item, start(item)))
        if len(queue) >= window:
            run_idle()
            head, fut = queue.popleft()
            yield head, result(fut)
    while queue:
        head, fut = queue.popleft()
        yield head, result(fut)


def bounded_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int = 4, window: int = 64
) -> Iterator[tuple[T, R]]:
    """Like ``executor.map`` but in order with at most ``window`` tasks in flight."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evidpack-io") as pool:
        yield from in_order(items, lambda item: pool.submit(fn, item), window)
