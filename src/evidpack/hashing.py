"""Streaming multi-digest hashing: one read, several digests, computed concurrently.

hashlib releases the GIL on buffers larger than 2 KiB, so for large inputs each
digest runs in its own thread while the calling thread reads the next chunk and
writes the copy. Small inputs are hashed inline (thread hand-off would cost more
than it saves).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

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
    writing it to ``dst`` if given. Two buffers alternate so the next read and the
    write overlap with hashing of the current chunk."""
    hasher = MultiHasher(algorithms)
    read = _reader(src)
    buffers = chunk_buffers()
    turn = 0
    remaining = limit
    head = b""
    while True:
        buf = buffers[turn]
        want = CHUNK if remaining is None else min(CHUNK, remaining)
        if want == 0:
            break
        n = read(memoryview(buf)[:want])
        if not n:
            break
        view = memoryview(buf)[:n]
        if not head:
            head = bytes(view[:HEAD])
        hasher.update(view)  # waits for the previous chunk before starting this one
        if dst is not None:
            dst.write(view)
        if remaining is not None:
            remaining -= n
        turn ^= 1
    digests = hasher.result()
    return Digests(digests.size, digests.hex, head)


_local = threading.local()


def chunk_buffers() -> tuple[bytearray, bytearray]:
    """Two reusable chunk buffers per thread (allocating 2 MiB per small file
    would dominate). A thread hashes or copies one file at a time."""
    bufs = getattr(_local, "buffers", None)
    if bufs is None:
        bufs = _local.buffers = (bytearray(CHUNK), bytearray(CHUNK))
    return bufs


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


def in_order(items: Iterable[T], start: Callable[[T], "Future[R]"], window: int) -> Iterator[tuple[T, R]]:
    """Start work on each item with ``start`` and yield (item, result) in the
    items' order, with at most ``window`` started and not yet yielded, so
    memory stays flat however many items there are. Exceptions propagate."""
    queue: deque[tuple[T, Future[R]]] = deque()
    for item in items:
        queue.append((item, start(item)))
        if len(queue) >= window:
            head, fut = queue.popleft()
            yield head, fut.result()
    while queue:
        head, fut = queue.popleft()
        yield head, fut.result()


def bounded_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int = 4, window: int = 64
) -> Iterator[tuple[T, R]]:
    """Like ``executor.map`` but in order with at most ``window`` tasks in flight."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evidpack-io") as pool:
        yield from in_order(items, lambda item: pool.submit(fn, item), window)
