"""Writing ``catalogue.sqlite`` beside the rest of a build (:class:`CatalogueWriter`).

Apart from :mod:`evidpack.catalogue` so that a build can start the child
process without loading SQLite's libraries itself (the child loads them)."""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path
from typing import Any

from .errors import EvidpackError


class CatalogueWriter:
    """:func:`write_catalogue` in a child process, so a build can draw its PDF
    index meanwhile (both are CPU-bound; threads would take turns on the GIL).
    Made early (``CatalogueWriter()``), the child loads its libraries while the
    sources are read; :meth:`write` gives it the job; :meth:`wait` returns when
    the file is complete, raising its error if it failed. Where no child
    process can be had (one CPU, or ``EVIDPACK_COPY_WORKERS=0``), it is written
    in this process, by ``wait``. ``CatalogueWriter(path, **kwargs)`` starts
    and writes at once."""

    def __init__(self, path: Path | None = None, **kwargs: Any) -> None:
        from .payloadcopy import _Worker, worker_count

        self._job: dict[str, Any] | None = None
        self._worker: Any = None
        self._answer: Any = None
        if worker_count() > 0:
            try:
                self._worker = _Worker("evidpack.cataloguewriter", path=sys.path)  # (its worker_main, below)
            except OSError:
                self._worker = None
        if path is not None:
            self.write(path, **kwargs)

    def __enter__(self) -> "CatalogueWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, path: Path, **kwargs: Any) -> None:
        """Start writing the catalogue at ``path`` (see :func:`write_catalogue`)."""
        if self._job is not None:
            raise ValueError("a catalogue writer writes one catalogue")
        self._job = {"path": str(path), **kwargs}
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
