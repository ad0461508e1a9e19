"""Helpers for outputs that must appear whole or not at all (bundles, packages).

Both are written under a hidden ``.NAME.partial-XXXX`` name and put in place
last; SIGTERM is turned into an exception so the partial output is removed.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Interrupted(BaseException):
    """SIGTERM arrived while an output was being written."""


def _on_term(signum: int, frame: Any) -> None:
    raise Interrupted(f"signal {signum}")


def in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Interrupted` (main thread only)."""
    old = signal.signal(signal.SIGTERM, _on_term) if in_main_thread() else None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are ignored (main thread only): for
    the few quick steps that, once begun, must all be done, such as moving a
    finished output into place (the command ends right after them)."""
    if not in_main_thread():
        yield
        return
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def fsync_dir(path: Path) -> None:
    """Make a rename or new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
