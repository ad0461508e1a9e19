"""Errors a user can act on: one line that says what and where.

The CLI prints ``evidpack: error: <message>`` and exits with ``exit_code``;
no traceback is shown for any of these.
"""

from __future__ import annotations

from pathlib import Path


class EvidpackError(Exception):
    """Bad input or usage: the message names the file (row, member) and the problem."""

    exit_code = 2


class IntegrityError(EvidpackError):
    """Evidence read back does not match what was recorded."""

    exit_code = 1


def read_input(path: Path, what: str, *, limit: int | None = None) -> bytes:
    """The bytes of a small input file (manifest, key, password file), or one
    line saying why not: ``<path>: no such <what>``, ``is a folder``, ..."""
    try:
        with open(path, "rb") as fh:
            data = fh.read() if limit is None else fh.read(limit + 1)
    except FileNotFoundError:
        raise EvidpackError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise EvidpackError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise EvidpackError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if limit is not None and len(data) > limit:
        raise EvidpackError(f"{path}: too large to be a {what}")
    return data
