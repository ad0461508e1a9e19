"""catalogue.sqlite: the bundle's facts as tables, for sqlite-utils and Datasette.

Written once at build time, inside the sealed tag files, and never rewritten
after. :func:`write_catalogue` makes it; :func:`open_catalogue` opens it
read-only for ``evidpack query``, with the custody events appended since the
seal shown beside it in a temporary table.

The file is deterministic: the same facts give the same bytes (with the same
SQLite library), because every table is created with a fixed column order,
rows are inserted in record order, and nested values are canonical JSON.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import re
import shutil
import signal
import sqlite3
import stat
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm

from . import canonical
from .bag import parse_manifest
from .bundle import Bundle, zip_bomb_problem
from .custody import CUSTODY_FILE, parse_event, bundle_log, iter_raw_lines, line_hash
from .errors import EvidpackError, IntegrityError
from .hashing import copy_and_hash
from .keys import PublicKey, parse_public_key
from .names import SIG_FILE, TAGMANIFEST


def _import_sqlite_utils() -> Any:
    # sqlite-utils imports pandas and numpy when they are installed, only to map
    # their scalar types, which evidpack never stores; that costs ~0.35 s and
    # ~45 MiB at every start. Hide them while it loads (unless already loaded).
    hidden = [m for m in ("pandas", "numpy") if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # type: ignore[assignment]  # makes 'import m' raise ImportError
    try:
        import sqlite_utils
    finally:
        for m in hidden:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

CATALOGUE_FILE = "evidpack/catalogue.sqlite"
SIGNER_FILE = "evidpack/signer.pem"
CATALOGUE_VERSION = 1  # PRAGMA user_version of the file
BATCH = 2000

# Fixed leading columns (in this order); anything else an item record carries
# is added after them, as it is first met.
ITEM_COLUMNS: dict[str, type] = {
    "id": str,
    "kind": str,
    "source": str,
    "container": str,
    "name": str,
    "path": str,
    "member_path": str,
    "original_path": str,
    "size": int,
    "sha256": str,
    "md5": str,
    "mtime": str,
    "media_type": str,
    "tags": str,
}
ITEM_INDEXES = ("sha256", "md5", "source", "container", "kind")
ITEM_SEARCH_COLUMNS = ("name", "path", "member_path", "original_path")
CUSTODY_COLUMNS: dict[str, type] = {
    "seq": int,
    "at": str,
    "action": str,
    "actor_name": str,
    "actor_role": str,
    "actor_key": str,
    "subject": str,
    "details": str,
    "prev": str,
    "sig": str,
    "line_sha256": str,
}
BUILT_IN_TABLES = frozenset({"case", "sources", "source_checks", "items", "custody"})
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


# --- writing (build time) -----------------------------------------------------------


def write_catalogue(
    path: Path,
    *,
    case: dict[str, Any],
    sources: list[dict[str, Any]],
    items_path: Path,
    custody_lines: list[bytes],
    tables: Mapping[str, Iterable[dict[str, Any]]],
) -> None:
    """Write catalogue.sqlite: case, sources, source_checks, items (with indexes
    and full-text search), custody, and every importer table in ``tables``.

    ``items.jsonl`` is streamed in batches, and so are the importer tables'
    rows (a build hands them over as :class:`~evidpack.cataloguewriter.SpooledRows`,
    read back from its spool file a chunk at a time), so memory stays flat
    however many items and rows there are. ``custody_lines`` are the events
    before the seal."""
    for name in tables:
        _check_table_name(name)
    db = sqlite_utils.Database(path)
    try:
        # The build happens in a private folder and is discarded if interrupted:
        # no journal is needed, and none is left beside the file.
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.table("case").insert(_cells(case), pk="id")
        _write_sources(db, sources)
        _write_items(db, items_path)
        _write_custody_table(db.table("custody"), (custody_row(line) for line in custody_lines))
        for name in sorted(tables):
            if not tables[name]:
                # An importer that found nothing still gets its table, so a query
                # for e.g. wechat_parse_errors answers "no rows", not "no such table".
                db.table(name).create({"source": str})
                continue
            db.table(name).insert_all((_cells(r) for r in tables[name]), alter=True, batch_size=BATCH)
        db.execute(f"PRAGMA user_version = {CATALOGUE_VERSION}")
    finally:
        db.close()


def worker_main() -> None:
    """The child process of :class:`evidpack.cataloguewriter.CatalogueWriter`."""
    from .payloadcopy import worker_main as serve

    serve({"catalogue": _write_in_worker})


def _write_in_worker(_algorithms: tuple[str, ...], job: dict[str, Any]) -> list[str]:
    try:
        write_catalogue(**{**job, "path": Path(job["path"])})
    except EvidpackError as exc:  # bad input: one line for the parent to report
        return [str(exc)]
    return []


def _check_table_name(name: str) -> None:
    """Importer tables must not shadow a built-in table and must be plain names."""
    if name in BUILT_IN_TABLES or not _TABLE_NAME.match(name) or name.startswith(("items_fts", "sqlite_")):
        raise EvidpackError(f"internal: importer catalogue table {name!r} is reserved or not a plain lower-case name")


def _cell(value: Any) -> Any:
    """A value as SQLite stores it: lists and objects become canonical JSON text
    (sorted keys), so the same facts always give the same bytes."""
    if isinstance(value, (dict, list, tuple)):
        return canonical.dumps(value).decode("utf-8")
    return value


def _cells(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _cell(v) for k, v in row.items()}


def _flatten(row: dict[str, Any], key: str) -> dict[str, Any]:
    """``{"acquisition": {"by": ..}}`` -> ``{"acquisition_by": ..}``, so the parts
    can be filtered on directly; a value that is not an object is kept as is."""
    value = row.pop(key, None)
    if isinstance(value, dict):
        row.update({f"{key}_{k}": v for k, v in value.items()})
    elif value is not None:
        row[key] = value
    return row


def _write_sources(db: sqlite_utils.Database, sources: list[dict[str, Any]]) -> None:
    rows = []
    for s in sources:
        row = {k: v for k, v in s.items() if k != "checks"}
        rows.append(_cells(_flatten(_flatten(row, "acquisition"), "counts")))
    table = db.table("sources")
    table.create({"id": str, "kind": str, "label": str}, pk="id")  # exists even with no sources: items refer to it
    table.insert_all(rows, alter=True)
    checks = db.table("source_checks")
    checks.create(
        {"source": str, "seq": int, "check": str, "verdict": str, "detail": str, "subject": str},
        pk=("source", "seq"),
        foreign_keys=[("source", "sources", "id")],
    )
    checks.insert_all(
        (_cells({"source": s["id"], "seq": n, **c}) for s in sources for n, c in enumerate(s.get("checks", []), 1)),
        alter=True,
    )


def item_row(record: dict[str, Any]) -> dict[str, Any]:
    """One items.jsonl record as a catalogue row: a ``name`` (the last part of its
    path, unless the record names itself) for searching, nested values as JSON,
    and no leaf salt (it only serves the Merkle proofs and is in items.jsonl)."""
    return _named({k: _cell(v) for k, v in record.items() if k != "salt"})


def _named(row: dict[str, Any]) -> dict[str, Any]:
    where = row.get("member_path") or row.get("path") or row.get("original_path")
    if isinstance(where, str):
        row.setdefault("name", posixpath.basename(where.rstrip("/")))
    return row


def _read_items(items_path: Path) -> Iterator[dict[str, Any]]:
    decode = json.JSONDecoder().decode
    with open(items_path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            try:
                record = decode(line.decode("utf-8"))
            except ValueError as exc:  # (UnicodeDecodeError too)
                raise EvidpackError(f"{items_path}: line {n}: not a JSON record ({exc})") from None
            if not isinstance(record, dict):
                raise EvidpackError(f"{items_path}: line {n}: not a JSON record (not an object)")
            if line.count(b"{") == 1 and b"[" not in line:
                # Nothing nested (the usual file record): the values are SQLite's as they are.
                record.pop("salt", None)
                yield _named(record)
            else:
                yield item_row(record)


def _write_items(db: sqlite_utils.Database, items_path: Path) -> None:
    items = db.table("items")
    items.create(
        ITEM_COLUMNS,
        pk="id",
        foreign_keys=[("source", "sources", "id"), ("container", "items", "id")],
    )
    insert_rows(db.conn, "items", _read_items(items_path))
    for column in ITEM_INDEXES:
        items.create_index([column])
    # Trigram tokens match any part of a path or name of three or more
    # characters: "MicroMsg" finds EnMicroMsg.db, and CJK names (no spaces
    # between words) are searchable too.
    items.enable_fts(list(ITEM_SEARCH_COLUMNS), fts_version="FTS5", tokenize="trigram", create_triggers=False)


_SQL_TYPES: tuple[tuple[type, str], ...] = ((bool, "INTEGER"), (int, "INTEGER"), (float, "FLOAT"), (bytes, "BLOB"))


def _sql_type(value: Any) -> str:
    for kind, name in _SQL_TYPES:
        if isinstance(value, kind):
            return name
    return "TEXT"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def insert_rows(conn: sqlite3.Connection, table: str, rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows (values already SQLite types) into an existing table, in
    order, adding a column the first time a row has it (typed from its first
    value that is not null), as sqlite-utils' ``insert_all(alter=True)`` does,
    but with one ``executemany`` per run of rows with the same columns: tens of
    thousands of item records a second instead of per-value Python work."""
    columns = {r[1] for r in conn.execute(f"PRAGMA table_info({_quote(table)})")}
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        new: dict[str, Any] = {}
        for row in pending:
            for key, value in row.items():
                if key not in columns and new.get(key) is None:
                    new[key] = value
        for key, value in new.items():
            conn.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(key)} {_sql_type(value)}")
            columns.add(key)
        start = 0
        while start < len(pending):
            keys = tuple(pending[start])
            end = start + 1
            while end < len(pending) and tuple(pending[end]) == keys:
                end += 1
            sql = f"INSERT INTO {_quote(table)} ({', '.join(map(_quote, keys))}) VALUES ({', '.join('?' * len(keys))})"
            conn.executemany(sql, [tuple(r.values()) for r in pending[start:end]])
            start = end
        pending.clear()

    with conn:
        for row in rows:
            pending.append(row)
            if len(pending) >= BATCH:
                flush()
        flush()


def custody_row(line: bytes) -> dict[str, Any]:
    """One custody.jsonl line as a row: the actor's fields as ``actor_*`` columns,
    subject and details as JSON, and ``line_sha256`` (the next event's ``prev``)."""
    event = json.loads(line)
    row = _flatten(dict(event), "actor")
    row["line_sha256"] = line_hash(line)
    return _cells(row)


def _write_custody_table(table: sqlite_utils.db.Table, rows: Iterable[dict[str, Any]]) -> None:
    table.create(CUSTODY_COLUMNS, pk="seq")
    table.insert_all(rows, alter=True, batch_size=BATCH)


# --- reading (evidpack query) ---------------------------------------------------------------


# What a query may do: read tables, call functions, recurse (WITH RECURSIVE) and
# read introspective pragmas. Everything else (writes, ATTACH, DDL, transactions)
# is refused, before SQLite's own read-only guards (mode=ro, query_only) are even
# reached. SQLite reports an "update" of sqlite_master while it connects a
# virtual table (full-text search, pragma_* functions); it never writes it.
_READ_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE})
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"})
_NAME_PRAGMAS = frozenset({"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"})
_READ_PRAGMAS = _NAME_PRAGMAS | {
    "data_version", "database_list", "function_list", "collation_list", "compile_options",
    "user_version", "schema_version", "encoding", "page_size", "page_count", "freelist_count",
}
_AUTHORIZER_ACTIONS = (
    "CREATE_INDEX", "CREATE_TABLE", "CREATE_TEMP_INDEX", "CREATE_TEMP_TABLE", "CREATE_TEMP_TRIGGER",
    "CREATE_TEMP_VIEW", "CREATE_TRIGGER", "CREATE_VIEW", "DELETE", "DROP_INDEX", "DROP_TABLE",
    "DROP_TEMP_INDEX", "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW", "DROP_TRIGGER",
    "DROP_VIEW", "INSERT", "TRANSACTION", "UPDATE", "ATTACH", "DETACH", "ALTER_TABLE", "REINDEX",
    "ANALYZE", "CREATE_VTABLE", "DROP_VTABLE", "SAVEPOINT", "PRAGMA",
)
_ACTION_NAMES = {getattr(sqlite3, f"SQLITE_{n}"): n.replace("_", " ") for n in _AUTHORIZER_ACTIONS}
# Functions no query may call: fts3_tokenizer returns a tokenizer's address in
# memory with one argument and, with two, installs a tokenizer at any address
# (this SQLite is built with ENABLE_FTS3_TOKENIZER); load_extension runs code
# from a file (disabled on the connection anyway).
_REFUSED_FUNCTIONS = frozenset({"fts3_tokenizer", "load_extension"})


def _allowed(action: int, arg1: str | None, arg2: str | None) -> bool:
    if action == sqlite3.SQLITE_FUNCTION:
        return (arg2 or "").lower() not in _REFUSED_FUNCTIONS
    if action in _READ_ACTIONS:
        return True
    if action == sqlite3.SQLITE_UPDATE:
        return arg1 in _SCHEMA_TABLES
    if action == sqlite3.SQLITE_PRAGMA:
        return arg1 in _READ_PRAGMAS and (arg2 is None or arg1 in _NAME_PRAGMAS)
    return False


class _ReadOnlyGuard:
    """An SQLite authorizer that allows reading only, and remembers what it
    refused so the error can name it (the user's statement, not SQLite's
    internal bookkeeping of sqlite_master, when both were refused)."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if _allowed(action, arg1, arg2):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            self.refused.append(f"FUNCTION {arg2}")
            return sqlite3.SQLITE_DENY
        what = _ACTION_NAMES.get(action, f"action {action}")
        self.refused.append(f"{what} {arg1}" if arg1 else what)
        return sqlite3.SQLITE_DENY

    def reason(self) -> str | None:
        named = [r for r in self.refused if not any(t in r for t in _SCHEMA_TABLES)]
        return (named or self.refused or [None])[0]


# SQLite instructions between two calls of the progress handler: often enough
# that Ctrl-C stops a statement within a fraction of a second, rarely enough to
# cost nothing measurable.
PROGRESS_EVERY = 10_000


class _Interrupt:
    """Ctrl-C (SIGINT) during a query, and the query's time budget.

    SQLite runs a statement in C, where Python's own SIGINT handling never gets a
    turn: an endless ``WITH RECURSIVE`` would ignore Ctrl-C. So a progress handler
    calls back into Python every ``PROGRESS_EVERY`` SQLite instructions, which
    lets the signal handler run; while SQLite is working, the handler only
    notes the interrupt, the progress handler then aborts the statement, and
    :meth:`check` turns it into the KeyboardInterrupt the CLI reports as
    "interrupted" (exit 130). Outside SQLite, Ctrl-C is handled as before.

    The same handler stops a statement once SQLite has worked on it for more
    than ``timeout`` seconds (only time inside SQLite counts: a slow reader of
    the output, ``| less``, does not use the budget up); :meth:`check` then
    raises :class:`QueryLimit`."""

    def __init__(self, timeout: float | None = None) -> None:
        self.hit = False
        self.timeout = timeout
        self.timed_out = False
        self._in_sqlite = False
        self._entered = 0.0
        self._spent = 0.0
        self._previous: Callable[[int, FrameType | None], Any] | None = None

    @property
    def in_sqlite(self) -> bool:
        return self._in_sqlite

    @in_sqlite.setter
    def in_sqlite(self, value: bool) -> None:
        now = time.monotonic()
        if value and not self._in_sqlite:
            self._entered = now
        elif self._in_sqlite and not value:
            self._spent += now - self._entered
        self._in_sqlite = value

    def spent(self) -> float:
        """Seconds SQLite has worked for the query so far."""
        return self._spent + (time.monotonic() - self._entered if self._in_sqlite else 0.0)

    def progress(self) -> int:
        if not self.hit and self.timeout is not None and self.spent() > self.timeout:
            self.timed_out = True
        return int(self.hit or self.timed_out)  # non-zero: SQLite stops the statement (SQLITE_INTERRUPT)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.hit = True
        if not self._in_sqlite and self._previous is not None:
            self._previous(signum, frame)  # (the default raises KeyboardInterrupt)

    def check(self) -> None:
        if self.hit:
            raise KeyboardInterrupt
        if self.timed_out:
            raise QueryLimit(
                f"the query was stopped after {self.timeout:g} s of work (the time limit, --timeout); "
                "narrow it (WHERE, LIMIT) or allow more time"
            )

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Our SIGINT handler while the catalogue is open (main thread only; a
        SIGINT that is ignored, or not handled by Python, is left alone)."""
        previous = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is not threading.main_thread() or not callable(previous):
            yield
            return
        self._previous = previous
        signal.signal(signal.SIGINT, self._on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            self._previous = None


class QueryLimit(Exception):
    """A query went past one of its limits (time, memory, value size); the
    message says which. :class:`Catalogue` reports it as an EvidpackError
    naming the bundle."""


# Bounds on one query, whatever the SQL and whatever the (attacker-controllable)
# catalogue holds: seconds of SQLite work, SQLite's memory, and the size of one
# value (a string or blob; so also of one cell handed to Python).
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_MEMORY = 1 << 30
MAX_VALUE_BYTES = 64 << 20


class UntrustedSigner(EvidpackError):
    """The seal is intact, but its key is not among the keys the user trusts (exit 3,
    as ``evidpack verify`` exits for an intact bundle sealed by an untrusted key)."""

    exit_code = 3


class Catalogue:
    """A catalogue opened read-only for queries (see :func:`open_catalogue`).
    ``signer`` is the key whose signature over the tag manifest was checked (as
    ``evidpack/signer.pem`` names it: the name and role are its own claim), and
    ``trusted_as`` the ``--trust`` key it is, when trusted keys were given."""

    signer: PublicKey | None = None
    trusted_as: PublicKey | None = None

    def __init__(
        self,
        conn: sqlite3.Connection,
        label: Path,
        interrupt: _Interrupt | None = None,
        *,
        max_memory: int | None = None,
        still_sealed: Callable[[], None] | None = None,
    ) -> None:
        self.conn = conn
        self.label = label
        self.max_memory = max_memory
        self._still_sealed = still_sealed
        self._guard = _ReadOnlyGuard()
        self._interrupt = interrupt or _Interrupt()
        self._open_rows: list[Iterator[tuple[Any, ...]]] = []
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(self._guard)
        conn.set_progress_handler(self._interrupt.progress, PROGRESS_EVERY)

    def _check(self) -> None:
        """KeyboardInterrupt after Ctrl-C; one line naming the bundle when the
        statement was stopped by the time limit."""
        try:
            self._interrupt.check()
        except QueryLimit as exc:
            raise EvidpackError(f"{self.label}: {exc}") from None

    def _limit_error(self, exc: BaseException) -> EvidpackError | None:
        """The one line for a query stopped by one of its limits, else None."""
        if isinstance(exc, QueryLimit):
            return EvidpackError(f"{self.label}: {exc}")
        if isinstance(exc, MemoryError):
            most = f"{self.max_memory >> 20} MiB, " if self.max_memory else ""
            return EvidpackError(
                f"{self.label}: the query needs more memory than it may use ({most}--max-memory); narrow it (WHERE, LIMIT)"
            )
        if isinstance(exc, sqlite3.DataError) or "string or blob too big" in str(exc):
            return EvidpackError(
                f"{self.label}: the query makes or reads a value longer than {MAX_VALUE_BYTES >> 20} MiB, "
                "more than a query may show; take part of it (substr)"
            )
        return None

    def query(self, sql: str) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """Run one read-only statement: (column names, rows). Anything that would
        write, attach or change the schema is refused with one clear line, and so
        is a statement that goes past the time, memory or value-size limits."""
        self._guard.refused.clear()
        try:
            self._interrupt.in_sqlite = True
            try:
                cursor = self.conn.execute(sql)
            finally:
                self._interrupt.in_sqlite = False
        except (sqlite3.Error, sqlite3.Warning, MemoryError, OverflowError) as exc:
            self._check()
            limit = self._limit_error(exc)
            if limit is not None:
                raise limit from None
            refused = self._guard.reason()
            if refused is not None and refused.startswith("FUNCTION "):
                raise EvidpackError(
                    f"{self.label}: query refused ({refused.split()[1]}() is not allowed: it reads or changes the memory of the process)"
                ) from None
            if refused is not None and any(t in refused for t in _SCHEMA_TABLES):
                refused = (sql.split() or ["?"])[0].upper()  # e.g. DROP, CREATE: named by the statement
            if refused is not None:
                raise EvidpackError(
                    f"{self.label}: query refused ({refused}): the catalogue is read-only; only SELECT and read-only PRAGMAs run"
                ) from None
            raise EvidpackError(f"{self.label}: bad query: {exc}") from None
        self._check()
        try:
            columns = [d[0] for d in cursor.description or ()]
        except UnicodeDecodeError:  # (a column name in a hostile catalogue that is not UTF-8)
            raise EvidpackError(f"{self.label}: a column's name is not UTF-8; name the columns with AS") from None
        if not columns:
            raise EvidpackError(f"{self.label}: the statement returns no rows; query runs SELECT statements")
        rows = self._rows(cursor)
        self._open_rows.append(rows)
        return columns, rows

    def _rows(self, cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
        # (not ``yield from cursor``: closing this generator would then close the
        # cursor, which raises once the connection is closed)
        interrupt = self._interrupt
        while True:
            interrupt.in_sqlite = True
            try:
                row = next(cursor, None)
            except (sqlite3.Error, MemoryError, OverflowError) as exc:
                interrupt.in_sqlite = False
                self._check()  # (SQLite stopped the statement because of Ctrl-C or the time limit)
                raise self._limit_error(exc) or EvidpackError(f"{self.label}: bad query: {exc}") from None
            interrupt.in_sqlite = False
            self._check()
            if row is None:
                self.check_still_sealed()
                return
            yield row

    def check_still_sealed(self) -> None:
        """Raise IntegrityError if the catalogue file was replaced or changed
        since its digest was checked against the seal (a folder bundle)."""
        if self._still_sealed is not None:
            self._still_sealed()

    def close(self) -> None:
        """Close every row stream, then the connection."""
        for rows in self._open_rows:
            rows.close()  # type: ignore[attr-defined]
        self._open_rows.clear()
        self.conn.close()


@contextmanager
def open_catalogue(
    bundle_path: Path,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    trusted: list[PublicKey] | None = None,
) -> Iterator[Catalogue]:
    """The bundle's catalogue opened read-only, with every custody event.

    The tag manifest's Ed25519 signature is checked against
    ``evidpack/signer.pem`` first, and the catalogue must match its line in that
    signed manifest: this checks that the seal is intact, and hashes no payload.
    Who sealed it is checked only against ``trusted`` keys (``--trust``, as
    ``evidpack verify --trust``): given, a signer not among them raises
    :class:`UntrustedSigner` (exit 3) once the seal is found intact; without
    them, the caller says whose key it is (``Catalogue.signer``). A bundle folder's catalogue is then opened in place (``mode=ro``,
    ``immutable``), and checked again to be the same file, unchanged, after it is
    opened and after the last row; a zipped bundle's is copied to a private
    temporary file first. The table ``custody`` is a temporary, in-memory table built from
    ``custody.jsonl`` (so it shows the events since the seal too, with
    ``after_seal`` = 1); ``main.custody`` is the sealed copy. Nothing is ever
    written to the bundle. Ctrl-C stops a running statement (KeyboardInterrupt).

    The catalogue may have been made by anyone who can sign a tag manifest, so
    a query is bounded: ``timeout`` seconds of SQLite work, ``max_memory`` bytes
    of SQLite memory (for the process, while the catalogue is open), values of
    at most ``MAX_VALUE_BYTES``; SQL in its schema (views, generated columns)
    may call only functions SQLite deems harmless (``trusted_schema`` off)."""
    interrupt = _Interrupt(timeout)
    with (
        interrupt.installed(),
        _heap_limit(max_memory),
        Bundle.open(bundle_path) as b,
        _catalogue_file(b, bundle_path) as (path, still_sealed, signer),
    ):
        trusted_as = _check_trusted(signer, trusted, bundle_path)
        events = read_custody(b, bundle_path)
        conn = _connect_read_only(path, bundle_path)
        catalogue = None
        try:
            still_sealed()
            _load_live_custody(conn, events, bundle_path)
            catalogue = Catalogue(conn, bundle_path, interrupt, max_memory=max_memory, still_sealed=still_sealed)
            catalogue.signer, catalogue.trusted_as = signer, trusted_as
            yield catalogue
        finally:
            if catalogue is not None:
                catalogue.close()
            else:
                conn.close()


def _check_trusted(signer: PublicKey, trusted: list[PublicKey] | None, bundle_path: Path) -> PublicKey | None:
    """The ``trusted`` key that sealed the bundle; :class:`UntrustedSigner` when keys
    were given and the sealing key is none of them; None when none were given."""
    if trusted is None:
        return None
    from .verify import trusted_key

    match = trusted_key(signer, trusted)
    if match is None:
        raise UntrustedSigner(
            f"{bundle_path}: sealed by key {signer.fingerprint} (signer.pem claims: {signer.name or '(no name)'}, "
            f"{signer.role or '(no role)'}), which is not among the {len(trusted)} trusted key(s); not queried "
            "(evidpack verify --trust gives the full report)"
        )
    return match


def _sqlite_heap_limit() -> Callable[[int], int] | None:
    """``sqlite3_hard_heap_limit64`` of the SQLite library Python uses, when it can
    be reached (PRAGMA hard_heap_limit can only lower the limit, never lift it
    again, and the limit holds for the whole process)."""
    try:
        import ctypes

        import _sqlite3

        fn = ctypes.CDLL(_sqlite3.__file__).sqlite3_hard_heap_limit64
    except (ImportError, OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int64
    fn.argtypes = [ctypes.c_int64]
    return fn  # type: ignore[no-any-return]


@contextmanager
def _heap_limit(limit: int | None) -> Iterator[None]:
    """SQLite's memory capped at ``limit`` bytes while the catalogue is open (an
    allocation past it fails, and the statement with it), then as it was."""
    if not limit:
        yield
        return
    fn = _sqlite_heap_limit()
    if fn is None:  # (lower it for good: better than not at all)
        with sqlite3.connect(":memory:") as conn:
            conn.execute(f"PRAGMA hard_heap_limit = {int(limit)}")
        conn.close()
        yield
        return
    previous = fn(-1)
    fn(limit if not previous else min(previous, limit))
    try:
        yield
    finally:
        fn(previous)


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@contextmanager
def _catalogue_file(b: Bundle, bundle_path: Path) -> Iterator[tuple[Path, Callable[[], None], PublicKey]]:
    """A path to the catalogue file that SQLite can open, checked against the
    signed tag manifest; a temporary copy (removed afterwards) for a zip. With
    it, a check that the file is still the one whose digest was checked, and the
    key whose signature over the tag manifest verified.

    A folder's catalogue must be a regular file (a symbolic link is not
    followed, a FIFO never waited on); it is hashed through the descriptor it
    was opened with, and SQLite opens it by name afterwards, so the check
    compares the file then and now (device, inode, size, mtime, ctime).

    A zipped catalogue is hashed while it is inflated, and refused before
    anything is written when it could not be a catalogue evidpack wrote (it
    inflates implausibly far, :func:`~evidpack.bundle.zip_bomb_problem`) or
    would not fit in the temporary folder."""
    tm, signer = _signed_tag_manifest(b, bundle_path)
    if not b.is_zip:
        special = _special_file(b.path / CATALOGUE_FILE)
        if special is not None:
            raise IntegrityError(f"{bundle_path}: {CATALOGUE_FILE} is {special}, not a regular file; run evidpack verify")
    if not b.exists(CATALOGUE_FILE):
        raise EvidpackError(f"{bundle_path}: no {CATALOGUE_FILE}; was it built by an older evidpack?")
    sealed = _sealed_digest(tm, bundle_path)
    info = b.zip_member(CATALOGUE_FILE)
    if info is None:
        path = b.path / CATALOGUE_FILE
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            raise EvidpackError(f"{bundle_path}: {CATALOGUE_FILE} cannot be read ({exc.strerror or exc})") from None
        try:
            with os.fdopen(fd, "rb", buffering=0) as fh:
                before = os.fstat(fh.fileno())
                if not stat.S_ISREG(before.st_mode):
                    raise IntegrityError(f"{bundle_path}: {CATALOGUE_FILE} is not a regular file; run evidpack verify")
                digest = copy_and_hash(fh, None, ("sha256",))["sha256"]
                seen = _identity(os.fstat(fh.fileno()))
        except OSError as exc:
            raise EvidpackError(f"{bundle_path}: {CATALOGUE_FILE} cannot be read ({exc.strerror or exc})") from None
        _check_digest(digest, sealed, bundle_path)
        if _identity(before) != seen:
            raise IntegrityError(f"{bundle_path}: {CATALOGUE_FILE} changed while it was read; run evidpack verify")

        def still_sealed() -> None:
            try:
                now = _identity(os.stat(path, follow_symlinks=False))
            except OSError:
                now = ()
            if now != seen:
                raise IntegrityError(
                    f"{bundle_path}: {CATALOGUE_FILE} was replaced or changed while it was queried; "
                    "what was shown cannot be relied on; run evidpack verify"
                )

        yield path, still_sealed, signer
        return
    bomb = zip_bomb_problem(info)
    if bomb is not None:
        raise EvidpackError(f"{bundle_path}: {bomb}; run evidpack verify")
    tmp = tempfile.gettempdir()
    try:
        free = shutil.disk_usage(tmp).free
    except OSError:
        free = None
    if free is not None and info.file_size > free:
        raise EvidpackError(
            f"{bundle_path}: {CATALOGUE_FILE} inflates to {info.file_size} bytes, more than the {free} bytes free in {tmp}; "
            "free some space or set TMPDIR to a folder with room"
        )
    try:
        fd, name = tempfile.mkstemp(prefix="evidpack-catalogue-", suffix=".sqlite")  # mode 0600
    except OSError as exc:
        raise EvidpackError(f"{tmp}: cannot create a temporary copy of {CATALOGUE_FILE} ({exc.strerror or exc})") from None
    try:
        try:
            with os.fdopen(fd, "wb") as out, b.open_stream(CATALOGUE_FILE) as src:
                digests = copy_and_hash(src, out, ("sha256",), limit=info.file_size)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise EvidpackError(f"{bundle_path}: member {info.filename} cannot be read ({exc}); run evidpack verify") from None
        except OSError as exc:  # e.g. the disk filled up meanwhile
            raise EvidpackError(f"{bundle_path}: cannot copy {CATALOGUE_FILE} to {name} ({exc.strerror or exc})") from None
        _check_digest(digests["sha256"], sealed, bundle_path)
        yield Path(name), lambda: None, signer
    finally:
        os.unlink(name)


def _special_file(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (never following
    a symbolic link), else None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    for test, what in (
        (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a folder"),
        (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
    ):
        if test(st.st_mode):
            return what
    return None


def _signed_tag_manifest(b: Bundle, bundle_path: Path) -> tuple[bytes, PublicKey]:
    """The tag manifest, once its Ed25519 signature (tagmanifest-sha256.txt.sig)
    verifies with evidpack/signer.pem, as ``evidpack verify``'s signature check
    does, and that key. Whose key that is, is for ``--trust`` to judge."""
    tm, pem, sig = b.read(TAGMANIFEST), b.read(SIGNER_FILE), b.read(SIG_FILE)
    why = None
    if tm is None or pem is None or sig is None:
        why = f"{next(n for n, d in ((TAGMANIFEST, tm), (SIGNER_FILE, pem), (SIG_FILE, sig)) if d is None)} is missing"
    else:
        try:
            signer = parse_public_key(pem, SIGNER_FILE)
        except EvidpackError as exc:
            why = str(exc)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # as verify: a key the library cannot use
            why = f"{SIGNER_FILE}: not a usable Ed25519 public key ({type(exc).__name__})"
        else:
            if not signer.verify(sig, tm):
                why = ""
    if why is not None:
        detail = f" ({why})" if why else ""
        raise IntegrityError(
            f"{bundle_path}: the tag manifest's signature does not verify{detail}: the catalogue cannot be trusted; run evidpack verify"
        )
    assert tm is not None
    return tm, signer


def _sealed_digest(tm: bytes, bundle_path: Path) -> str:
    """The catalogue's SHA-256 as the signed tag manifest ``tm`` lists it."""
    entries = parse_manifest(tm, TAGMANIFEST)[0]
    if CATALOGUE_FILE not in entries:
        raise IntegrityError(f"{bundle_path}: {CATALOGUE_FILE} is not in the sealed tag manifest; run evidpack verify")
    return entries[CATALOGUE_FILE]


def _check_digest(actual: str, sealed: str, bundle_path: Path) -> None:
    if actual != sealed:
        raise IntegrityError(f"{bundle_path}: {CATALOGUE_FILE} differs from the sealed tag manifest (changed since sealing); run evidpack verify")


def _connect_read_only(path: Path, bundle_path: Path) -> sqlite3.Connection:
    """The catalogue opened read-only, hardened against a hostile file: no
    ATTACH, values of at most ``MAX_VALUE_BYTES``, the schema's SQL limited to
    harmless functions, page checks on, and text that is not UTF-8 shown with
    its bytes escaped (lone surrogates, ``surrogateescape``) instead of failing."""
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise EvidpackError(f"{bundle_path}: {CATALOGUE_FILE} cannot be read ({exc})") from None
    try:
        conn.text_factory = functools.partial(str, encoding="utf-8", errors="surrogateescape")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA cell_size_check = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (sqlite3.Error, MemoryError) as exc:
        conn.close()
        raise EvidpackError(f"{bundle_path}: {CATALOGUE_FILE} cannot be read ({exc or type(exc).__name__})") from None
    return conn


class CustodyEvents:
    """The events in a bundle's custody log now, as (raw line, event), read as a stream:
    memory stays flat however long the log is (at most one line of it is held).

    Made by :func:`read_custody`, which reads the log once: a line that is not a JSON event
    stops it there with one line naming it (the log's integrity is for ``evidpack verify``
    to judge, but nothing is shown from a log that cannot even be read). That pass counts
    the events (``len``), notes the first 'sealed' event's seq (``sealed_seq``) and pins
    what it read (the number of lines and a SHA-256 over their hashes). Each iteration
    reads the log again from its start, and yields exactly those lines: events appended
    since are left out, and a log changed in any other way (a line edited, removed or cut)
    raises :class:`IntegrityError` when the pass finds it, by its end at the latest."""

    def __init__(self, b: Bundle, label: Path) -> None:
        self._b = b
        self._label = label
        self._pinned: tuple[int, str] | None = None
        self.count = 0
        self.sealed_seq: Any = None
        sealed_seen = False
        for _, event in self._pass():
            self.count += 1
            if not sealed_seen and event.get("action") == "sealed":
                sealed_seen, self.sealed_seq = True, event.get("seq")

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        return self._pass()

    def _changed(self, why: str) -> IntegrityError:
        return IntegrityError(
            f"{self._label}: {CUSTODY_FILE} changed while it was read ({why}); nothing from it can be relied on: "
            "run the command again, and evidpack verify"
        )

    def _pass(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        label, pinned = self._label, self._pinned
        seen = hashlib.sha256()
        n = 0
        with bundle_log(self._b) as read:
            if read is None:
                if pinned is not None:
                    raise self._changed("it is gone")
                raise EvidpackError(f"{label}: no {CUSTODY_FILE}; not an evidpack bundle?")
            for raw in iter_raw_lines(read):
                if pinned is not None and n == pinned[0]:
                    break  # (appended since the first pass: not shown, as if read then)
                event, problem = parse_event(raw, CUSTODY_FILE)
                if event is None or raw.data is None:
                    if pinned is not None:
                        raise self._changed(f"line {raw.n} is no longer a JSON event")
                    raise EvidpackError(f"{label}: {problem or f'{CUSTODY_FILE} line {raw.n}: unreadable'}; run evidpack verify")
                n += 1
                seen.update(raw.digest.encode())
                yield raw.data, event
        if pinned is None:
            self._pinned = (n, seen.hexdigest())
        elif (n, seen.hexdigest()) != pinned:
            raise self._changed(f"{n} event(s) now where there were {pinned[0]}" if n != pinned[0] else "an event in it differs")


def read_custody(b: Bundle, label: Path) -> CustodyEvents:
    """Every event in the bundle's custody log now, as (raw line, event), read as a
    stream (:class:`CustodyEvents`: iterable again, with ``len``). A line that is not a
    JSON event stops the reader with one line naming it (EvidpackError), as does a log
    that is missing, larger than a custody log can hold, or a zip member that would
    inflate implausibly."""
    return CustodyEvents(b, label)


# Columns of the live custody table beyond the standard ones that events may
# add; further keys, and keys that cannot be a column, go to ``extra``.
MAX_LIVE_COLUMNS = 64
EXTRA_COLUMN = "extra"
_INT64 = range(-(2**63), 2**63)
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")  # NUL, and lone surrogates (not UTF-8)
# The live custody table is kept in a private temporary database on disk (SQLite's own
# temporary file, deleted as soon as it is made), attached under this name: an in-memory
# table would hold the whole log. ``custody`` is a temporary view of it.
LIVE_SCHEMA = "live"
# Rows handed to SQLite at once: at most this many, or about this many bytes of log.
LIVE_BATCH_ROWS = 500
LIVE_BATCH_BYTES = 4 << 20


def _load_live_custody(conn: sqlite3.Connection, events: Iterable[tuple[bytes, dict[str, Any]]], label: Path | None = None) -> None:
    """``temp.custody``: every event now in custody.jsonl. It shadows the sealed
    ``main.custody`` for unqualified names; it is a view of ``live.custody``, a table in
    a private temporary database on disk (deleted when the connection closes), filled a
    few rows at a time: memory stays flat however long the log is.

    The log is not sealed, so anything may have been appended: an event's key
    that cannot be a column of its own (it differs only in case from another,
    holds a control character, NUL or a lone surrogate, is too long, or comes
    after ``MAX_LIVE_COLUMNS`` new ones) is kept in ``extra``, a JSON object; a
    text value holding NUL or a lone surrogate is stored as its JSON string
    literal (escaped), an integer beyond 64 bits as its digits."""
    where = f"{label}: " if label is not None else ""
    if isinstance(events, CustodyEvents):
        sealed = events.sealed_seq
    else:
        events = list(events)
        sealed = next((e.get("seq") for _, e in events if e.get("action") == "sealed"), None)
    known = {c.lower(): c for c in CUSTODY_COLUMNS}  # (SQLite's column names ignore case)
    added: list[str] = []
    columns = [*CUSTODY_COLUMNS, "after_seal"]  # of the live table, in the order they were made
    table = f"{LIVE_SCHEMA}.custody"
    pending: list[dict[str, Any]] = []
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending_bytes
        if pending:
            names = ", ".join(_quote(c) for c in columns)
            marks = ", ".join("?" for _ in columns)
            conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", ([row.get(c) for c in columns] for row in pending))
            pending.clear()
        pending_bytes = 0

    def add_column(name: str) -> None:
        flush()
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {_quote(name)}")
        columns.append(name)

    try:
        # (attached while temporary files are files: with temp_store MEMORY it would be in
        # memory; then the query's own sorts and temporary indexes go back to memory,
        # where --max-memory bounds them)
        conn.execute("PRAGMA temp_store = FILE")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 1)
        try:
            conn.execute(f"ATTACH DATABASE '' AS {LIVE_SCHEMA}")
        finally:
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute(f"CREATE TABLE {table} ({', '.join(_quote(c) for c in columns)})")
        for n, (line, event) in enumerate(events, 1):
            fields = _flatten(dict(event), "actor")
            fields["line_sha256"] = line_hash(line)
            row: dict[str, Any] = {}
            extra: dict[str, Any] = {}
            for key, value in fields.items():
                name = known.get(key.lower())
                if name is None and _plain_column(key) and len(added) < MAX_LIVE_COLUMNS:
                    known[key.lower()] = name = key
                    added.append(key)
                    add_column(key)
                if name == key:
                    row[key] = _live_cell(value, n, where)
                else:
                    extra[key] = value
            if extra:
                if EXTRA_COLUMN not in columns:
                    add_column(EXTRA_COLUMN)
                row[EXTRA_COLUMN] = _json_text(extra, n, where)
            seq = event.get("seq")
            row["after_seal"] = int(isinstance(sealed, int) and isinstance(seq, int) and seq > sealed)
            pending.append(row)
            pending_bytes += len(line)
            if len(pending) >= LIVE_BATCH_ROWS or pending_bytes >= LIVE_BATCH_BYTES:
                flush()
        flush()
        shown = [*CUSTODY_COLUMNS, *added, *([EXTRA_COLUMN] if EXTRA_COLUMN in columns else []), "after_seal"]
        conn.execute(f"CREATE TEMP VIEW custody AS SELECT {', '.join(_quote(c) for c in shown)} FROM {table}")
        conn.commit()
    except (sqlite3.Error, MemoryError) as exc:
        raise EvidpackError(
            f"{where}{CUSTODY_FILE} cannot be put in a temporary table for the query ({exc or type(exc).__name__}); "
            "is the temporary folder (TMPDIR) writable and not full?"
        ) from None


def _plain_column(key: str) -> bool:
    """Whether an event's key can be a column of the live custody table as it is."""
    return (
        0 < len(key) <= 128
        and key.isprintable()  # no control, format (bidi) or unassigned characters, no lone surrogate
        and key.lower() not in (EXTRA_COLUMN, "after_seal")
    )


def _live_cell(value: Any, n: int, where: str) -> Any:
    """A custody value as SQLite can store it, whatever the (unsealed) log holds."""
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return str(value)
    if isinstance(value, str):
        return json.dumps(value) if _UNSAFE_TEXT.search(value) else value
    if isinstance(value, (dict, list)):
        return _json_text(value, n, where)
    return value


def _json_text(value: Any, n: int, where: str) -> str:
    """Canonical JSON as in the sealed table; with ASCII escapes when that cannot
    be UTF-8 (a lone surrogate), NaN and Infinity as Python writes them."""
    try:
        try:
            return canonical.dumps(value).decode("utf-8")
        except ValueError:  # (UnicodeEncodeError too)
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except RecursionError:
        raise EvidpackError(f"{where}{CUSTODY_FILE} line {n}: nested too deeply to show; run evidpack verify") from None
