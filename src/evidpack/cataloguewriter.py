"""Writing ``catalogue.sqlite`` beside the rest of a build (:class:`CatalogueWriter`),
and the rows of the importers' tables spooled to disk until then (:class:`RowSpool`).

Apart from :mod:`evidpack.catalogue` so that a build can start the child
process without loading SQLite's libraries itself (the child loads them)."""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Iterable, Iterator
from importlib import import_module
from itertools import islice
from pathlib import Path
from typing import IO, Any

from .errors import EvidpackError


class CatalogueWriter:
    """:func:`write_catalogue` in a child process, so a build can draw its PDF
    index meanwhile (both are CPU-bound; threads would take turns on the GIL).
    Made early (``CatalogueWriter()``), the child loads its libraries while the
    sources are read; :meth:`write` gives it the job; :meth:`wait` returns when
    the file is complete, raising its error if it failed. Where no child
    process can be had (one CPU, or ``EVIDPACK_COPY_WORKERS=0``), it is written
    in this process, by ``wait``. ``CatalogueWriter(path, **kwargs)`` starts
    and writes at once; ``CatalogueWriter(start=False)`` starts the child at
    :meth:`start` (or :meth:`write`)."""

    def __init__(self, path: Path | None = None, *, start: bool = True, **kwargs: Any) -> None:
        self._job: dict[str, Any] | None = None
        self._worker: Any = None
        self._answer: Any = None
        self._started = False
        if start or path is not None:
            self.start()
        if path is not None:
            self.write(path, **kwargs)

    def start(self) -> None:
        """Start the child process (once), where there can be one."""
        from .payloadcopy import _Worker, worker_count

        if self._started:
            return
        self._started = True
        if worker_count() > 0:
            try:
                self._worker = _Worker("evidpack.cataloguewriter", path=sys.path)  # (its worker_main, below)
            except OSError:
                self._worker = None

    def __enter__(self) -> "CatalogueWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, path: Path, **kwargs: Any) -> None:
        """Start writing the catalogue at ``path`` (see :func:`write_catalogue`)."""
        if self._job is not None:
            raise ValueError("a catalogue writer writes one catalogue")
        self._job = {"path": str(path), **kwargs}
        self.start()
        if self._worker is not None:
            self._answer = self._worker.submit("catalogue", (), self._job)

    def wait(self) -> None:
        if self._job is None:
            raise ValueError("nothing to wait for: no catalogue was written")
        if self._worker is None:
            from .catalogue import write_catalogue

            write_catalogue(**{**self._job, "path": Path(self._job["path"])})
            return
        try:
            problems = self._answer.result()
        except BaseException:
            self.close()
            raise
        if problems:
            self.close()
            raise EvidpackError(problems[0])
        self._worker.release()  # it ends on its own; close() (the with block) reaps it

    def close(self) -> None:
        """Reap the child, stopping it first if it has not answered (a build that
        fails elsewhere); safe to call twice."""
        worker, self._worker = self._worker, None
        if worker is not None:
            if not (self._answer and self._answer.done()):
                worker.proc.kill()
            worker.close()


class RowSpool:
    """The rows of the importers' catalogue tables (``wechat_logins``,
    ``web_captures``, …), written to a temporary file as they are handed over
    and read back, table by table, by whoever writes the catalogue: a build
    holds none of them in memory, however many there are (a production may
    hand over 200,000). The file is made on the first row, readable by its
    owner only; :meth:`remove` deletes it (the build does, however it ends).

    Rows are pickled :data:`CHUNK` at a time, so they come back exactly as
    given (types, nesting, key order) and in order; each table's chunks are
    noted by offset, so tables may be handed over interleaved."""

    CHUNK = 1000  # rows per pickle: what a reader holds at a time

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] | None = None
        self._tables: dict[str, tuple[list[int], list[int]]] = {}  # name -> (chunk offsets, rows per chunk)
        self._lock = threading.Lock()

    def add(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Append ``rows`` to ``table`` (which exists from now on, even with no rows)."""
        with self._lock:
            offsets, counts = self._tables.setdefault(table, ([], []))
            rows = iter(rows)
            while chunk := list(islice(rows, self.CHUNK)):
                fh = self._fh or self._open()
                offsets.append(fh.tell())
                counts.append(len(chunk))
                pickle.dump(chunk, fh, protocol=pickle.HIGHEST_PROTOCOL)

    def _open(self) -> IO[bytes]:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        self._fh = os.fdopen(fd, "wb", buffering=1 << 20)
        return self._fh

    def tables(self) -> dict[str, "SpooledRows"]:
        """Every table handed over, as rows to read back (the spool is closed
        for writing: its readers see everything written)."""
        self.close()
        return {name: SpooledRows(str(self.path), tuple(offsets), sum(counts)) for name, (offsets, counts) in self._tables.items()}

    def close(self) -> None:
        with self._lock:
            fh, self._fh = self._fh, None
            if fh is not None:
                fh.close()

    def remove(self) -> None:
        """Close and delete the file (safe to call twice, or when none was made)."""
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class SpooledRows:
    """One table's rows in a :class:`RowSpool`'s file, read back in order a
    chunk at a time (as often as wanted; in any process: it pickles as the
    file's name and offsets, so it can be handed to the catalogue's child)."""

    __slots__ = ("path", "offsets", "rows")

    def __init__(self, path: str, offsets: tuple[int, ...], rows: int) -> None:
        self.path, self.offsets, self.rows = path, offsets, rows

    def __getstate__(self) -> tuple[str, tuple[int, ...], int]:
        return self.path, self.offsets, self.rows

    def __setstate__(self, state: tuple[str, tuple[int, ...], int]) -> None:
        self.path, self.offsets, self.rows = state

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.offsets:
            return
        with open(self.path, "rb") as fh:
            for offset in self.offsets:
                fh.seek(offset)
                yield from pickle.load(fh)


def worker_main() -> None:
    """The catalogue's child process. It waits for its job while the sources are
    read, and its start-up (loading SQLite's libraries) must not slow the copy:
    that loading runs in a thread of lower priority. The job itself runs at the
    normal priority: a priority lowered for the whole process could not be
    raised again without privileges, and on a machine busy with other work the
    build would wait for a catalogue written at a tenth of a core."""
    _load_in_background()
    from .catalogue import worker_main as serve

    serve()


def _load_in_background() -> None:
    import threading

    from .payloadcopy import in_background

    def load() -> None:
        in_background()
        try:
            import_module("evidpack.catalogue")
        except Exception:  # noqa: BLE001 - imported again by the caller, which reports it
            pass

    loader = threading.Thread(target=load, name="evidpack-catalogue-load")
    loader.start()
    loader.join()
