"""Captures kept on disk, not in memory, until the record is written.

A WARC may hold millions of records: the importer hands each capture to a
:class:`CaptureSpool` as it is read (pickled to an unnamed temporary file, so it
comes back exactly as given: types, nesting, key order) and keeps only counts.
:func:`write_record` then writes the record as ``json.dumps(record,
ensure_ascii=False, indent=1, sort_keys=True)`` and a newline would (what
``ImportContext.write_record`` writes) — the same bytes — one capture at a time.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any


class CaptureSpool:
    """Captures, in order, in an unnamed temporary file in ``folder`` (deleted
    when closed, or however the process ends). Memory does not grow with them."""

    def __init__(self, folder: str | None) -> None:
        self._fh: IO[bytes] = tempfile.TemporaryFile(prefix=".evidpack-osint-", dir=folder, buffering=1 << 20)
        self.count = 0
        self.with_problems = 0  # captures with a problem

    def add(self, capture: dict[str, Any]) -> None:
        pickle.dump(capture, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1
        if capture.get("problems"):
            self.with_problems += 1

    def mark(self) -> tuple[int, int, int]:
        """Where the spool is now: :meth:`rewind` goes back to it."""
        return self._fh.tell(), self.count, self.with_problems

    def rewind(self, mark: tuple[int, int, int]) -> None:
        """Forget the captures added since ``mark`` (a WARC read again another way)."""
        at, self.count, self.with_problems = mark
        self._fh.seek(at)
        self._fh.truncate()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The captures in order, read back one at a time (nothing may be added meanwhile)."""
        end = self._fh.tell()
        self._fh.seek(0)
        try:
            for _ in range(self.count):
                yield pickle.load(self._fh)
        finally:
            self._fh.seek(end)

    def close(self) -> None:
        self._fh.close()


class Streamed:
    """A top-level list of the record, written entry by entry as it is drawn from ``entries``."""

    def __init__(self, entries: Iterable[Any]) -> None:
        self.entries = entries
        self.written = 0


def _nested(value: Any, depth: int) -> bytes:
    """``value`` as json.dumps(indent=1) writes it ``depth`` levels down: its own
    encoding with each line break indented ``depth`` more (a line break in the
    text of a value is always escaped, so every one is the layout's)."""
    text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return text.replace("\n", "\n" + " " * depth).encode("utf-8")


def write_record(fh: IO[bytes], record: dict[str, Any]) -> None:
    """Write ``record`` — a dict with string keys whose values are JSON values or
    :class:`Streamed` lists — exactly as ``json.dumps(record, ensure_ascii=False,
    indent=1, sort_keys=True)`` and a newline would write it."""
    if not record:
        fh.write(b"{}\n")
        return
    fh.write(b"{")
    for n, key in enumerate(sorted(record)):
        fh.write(b"\n " if n == 0 else b",\n ")
        fh.write(json.dumps(key, ensure_ascii=False).encode("utf-8") + b": ")
        value = record[key]
        if not isinstance(value, Streamed):
            fh.write(_nested(value, 1))
            continue
        for entry in value.entries:  # at depth 1: "[", each entry at depth 2, " ]"; or "[]"
            fh.write(b"[\n  " if value.written == 0 else b",\n  ")
            fh.write(_nested(entry, 2))
            value.written += 1
        fh.write(b"[]" if value.written == 0 else b"\n ]")
    fh.write(b"\n}\n")
