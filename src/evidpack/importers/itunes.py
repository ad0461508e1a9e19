"""iTunes / Finder backups: ``Manifest.db`` maps each stored ``<id[:2]>/<id>``
file to its domain and relative path; ``Info.plist``, ``Manifest.plist`` and
``Status.plist`` describe the device and the backup.

A backup is copied file by file like any folder; this module only reads what
was copied: the plists directly (small), ``Manifest.db`` from a private
temporary copy opened read-only. An encrypted backup (``IsEncrypted``) has an
encrypted ``Manifest.db`` and encrypted files: it is kept and catalogued as
encrypted — not an error — and evidpack decrypts nothing.
"""

from __future__ import annotations

import hashlib
import math
import os
import plistlib
import re
import shutil
import sqlite3
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from ..artifacts import SQLITE_MAGIC
from ..timeutil import format_epoch_ns, format_utc

MARKERS = ("Manifest.plist", "Manifest.db", "Manifest.mbdb", "Info.plist", "Status.plist")
STORED = re.compile(r"^(?P<prefix>[0-9a-f]{2})/(?P<id>(?P=prefix)[0-9a-f]{38})$")
_FLAGS = {1: "file", 2: "directory", 4: "symlink"}

# What a hostile backup could make cost memory or time out of proportion to its size:
PLIST_MAX_BYTES = 64 << 20  # a plist (Info, Manifest, Status) larger than this is not read
PLIST_MAX_OBJECTS = 2_000_000  # nor a binary plist declaring more objects (real ones hold thousands)
MBFILE_MAX_BYTES = 1 << 20  # an MBFile blob (a few hundred bytes in a real Manifest.db)
TIME_MAX = 253402300799  # 9999-12-31T23:59:59Z, in seconds since 1970
_PLIST_INT = range(-(2**63), 2**128)  # a binary plist's integers: 64-bit signed or 128-bit unsigned
_INT64 = range(-(2**63), 2**63)  # what an item record's integer may be (the catalogue is SQLite)
_MODE = range(0, 0o200000)  # st_mode: 16 bits
_COLUMNS = ("fileID", "domain", "relativePath", "flags", "file")
# Manifest.db is read under a budget of SQLite virtual-machine steps and of rows, both in
# proportion to its size: a table's rows are stored in the file (at least a few bytes each),
# so a real Files table is read well within them.
_STEPS_PER_BYTE = 64
_STEPS_FLOOR = 1_000_000
_STEP_CHECK = 1000
_ROW_BYTES = 4  # a stored row takes at least 5 bytes of the file (its cell and the cell's pointer)


def backup_roots(marker_rels: set[str]) -> list[str]:
    """Folders (source-relative, "" for the top) that hold a backup: a
    ``Manifest.plist`` beside a ``Manifest.db`` (or an old ``Manifest.mbdb``)."""
    roots = []
    for rel in sorted(marker_rels):
        folder, _, name = rel.rpartition("/")
        prefix = f"{folder}/" if folder else ""
        if name == "Manifest.plist" and ({prefix + "Manifest.db", prefix + "Manifest.mbdb"} & marker_rels):
            roots.append(folder)
    return roots


@dataclass
class StoredFile:
    domain: str
    relative_path: str
    fields: dict[str, Any]

    @property
    def logical_path(self) -> str:
        return f"{self.domain}/{self.relative_path}"


@dataclass
class Backup:
    root: str  # source-relative folder
    encrypted: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)  # "<id[:2]>/<id>" -> file
    counts: dict[str, int] = field(default_factory=dict)
    id_mismatches: list[str] = field(default_factory=list)
    manifest_db: str = "absent"  # read / encrypted / unreadable: <why> / absent / mbdb
    seen: set[str] = field(default_factory=set)
    flag_unreadable: bool = False  # Manifest.plist's IsEncrypted is there but not a boolean
    manifest_key: bool = False  # Manifest.plist holds a ManifestKey (the key of an encrypted Manifest.db)
    notes: list[str] = field(default_factory=list)  # values recorded other than as read (a NaN as text), said

    def rel(self, name: str) -> str:
        return f"{self.root}/{name}" if self.root else name

    def stored(self, source_rel: str) -> str | None:
        """The ``<id[:2]>/<id>`` of a source-relative path inside this backup, or None."""
        prefix = f"{self.root}/" if self.root else ""
        if not source_rel.startswith(prefix):
            return None
        inner = source_rel[len(prefix) :]
        return inner if STORED.match(inner) else None

    def facts(self) -> dict[str, Any]:
        return {
            "root": self.root or ".",
            "encrypted": self.encrypted,
            "manifest_db": self.manifest_db,
            "info": self.info,
            "manifest": self.manifest,
            "status": self.status,
            "manifest_db_entries": self.counts,
        }


def _kind(value: Any) -> str:
    """A plist value's type, in the property-list terms an examiner sees in a viewer."""
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in ((dict, "a dictionary"), (list, "an array"), (str, "a string"), (bytes, "data"), (int, "an integer"),
                       (float, "a real number"), (datetime, "a date"), (plistlib.UID, "a UID")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def _scalars(d: dict[str, Any], skip: tuple[str, ...] = (), where: str = "", notes: list[str] | None = None,
             problems: list[str] | None = None) -> dict[str, Any]:
    """The plain values of a plist dict (dates in UTC; data, arrays and dicts left out).

    What JSON cannot hold as read is said: a real number that is not finite
    (``nan``, ``inf``) is recorded as its text with a note in ``notes``; a key
    that is not a string, or an integer beyond a plist's 128 bits, is left out
    with a problem in ``problems`` (``where`` names the dict in both)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k in skip:
            continue
        if not isinstance(k, str):
            if problems is not None:
                problems.append(f"{where}a key that is {_kind(k)}, not a string: its value is not recorded")
            continue
        if isinstance(v, datetime):
            out[k] = format_utc(v if v.tzinfo else v.replace(tzinfo=timezone.utc))  # plistlib dates are UTC
        elif isinstance(v, float) and not math.isfinite(v):
            out[k] = str(v)  # "nan", "inf", "-inf"
            if notes is not None:
                notes.append(f"{where}{k!r} is the real number {v}, which JSON cannot hold: recorded as the text {str(v)!r}")
        elif isinstance(v, int) and not isinstance(v, bool) and v not in _PLIST_INT:
            if problems is not None:
                problems.append(f"{where}{k!r} is an integer of {v.bit_length()} bits, beyond a property list's 128: not recorded")
        elif isinstance(v, (str, int, float, bool)):
            out[k] = v
    return out


def _loads(data: bytes) -> Any:
    """``plistlib.loads``; ValueError (saying why) for anything it cannot read,
    nests too deeply, or that would cost memory out of proportion to its size."""
    if data.startswith(b"bplist00") and len(data) >= 40:
        declared = int.from_bytes(data[-24:-16], "big")  # the trailer's number of objects
        if declared > PLIST_MAX_OBJECTS:
            raise ValueError(f"a binary property list declaring {declared} objects, over the {PLIST_MAX_OBJECTS:,} evidpack reads")
    try:
        return plistlib.loads(data)
    except RecursionError:
        raise ValueError("not a readable property list (nested too deeply)") from None
    except MemoryError:
        raise ValueError("not a readable property list (too large to hold in memory)") from None
    except (plistlib.InvalidFileException, ValueError, TypeError, OverflowError, KeyError, IndexError, ExpatError) as exc:
        raise ValueError(f"not a readable property list ({exc or type(exc).__name__})") from None


def read_plist(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    if size > PLIST_MAX_BYTES:
        raise ValueError(f"{size} bytes, over the {PLIST_MAX_BYTES:,} bytes evidpack reads of a property list: kept, not read")
    value = _loads(path.read_bytes())
    if not isinstance(value, dict):
        raise ValueError(f"not a property list dictionary (its root is {_kind(value)})")
    return value


def describe(backup: Backup, copies: dict[str, Path]) -> list[tuple[str, str]]:
    """Fill ``backup`` from the copies of its plists and Manifest.db (bundle
    paths by name). Returns what could not be read: (source-relative file, why)."""
    problems: list[tuple[str, str]] = []
    for name, attr in (("Info.plist", "info"), ("Manifest.plist", "manifest"), ("Status.plist", "status")):
        if name not in copies:
            continue
        try:
            plist = read_plist(copies[name])
        except ValueError as exc:
            problems.append((backup.rel(name), str(exc)))
            continue
        found: list[str] = []
        noted: list[str] = []
        if name == "Manifest.plist":
            flag = plist.get("IsEncrypted", False)
            if isinstance(flag, bool):
                backup.encrypted = flag
            else:
                backup.flag_unreadable = True
                found.append(f"IsEncrypted is {_kind(flag)} ({_short(flag)}), not a boolean: whether the backup is encrypted is "
                             "told by Manifest.db alone")
            backup.manifest_key = "ManifestKey" in plist
            facts = _scalars(plist, ("BackupKeyBag", "ManifestKey"), "", noted, found)
            lockdown = plist.get("Lockdown", {})
            if not isinstance(lockdown, dict):
                found.append(f"Lockdown is {_kind(lockdown)}, not a dictionary: not recorded")
                lockdown = {}
            facts["Lockdown"] = _scalars(lockdown, (), "Lockdown: ", noted, found)
            apps = plist.get("Applications", {})
            if not isinstance(apps, dict):
                found.append(f"Applications is {_kind(apps)}, not a dictionary: not recorded")
                apps = {}
            odd = [k for k in apps if not isinstance(k, str)]
            if odd:
                found.append(f"Applications: {len(odd)} key(s) that are not strings (the first is {_kind(odd[0])}): not recorded")
            facts["Applications"] = sorted(k for k in apps if isinstance(k, str))
            backup.manifest = facts
        else:
            setattr(backup, attr, _scalars(plist, ("Applications", "iTunes Files", "iTunes Settings"), "", noted, found))
        problems += [(backup.rel(name), why) for why in found]
        backup.notes += [f"{name}: {note}" for note in noted]
    if "Manifest.db" in copies:
        problems += _read_manifest_db(backup, copies["Manifest.db"])
    elif "Manifest.mbdb" in copies:
        backup.manifest_db = "mbdb"
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _read_manifest_db(backup: Backup, copy: Path) -> list[tuple[str, str]]:
    rel = backup.rel("Manifest.db")
    with open(copy, "rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if not head.startswith(SQLITE_MAGIC):
        if backup.encrypted:
            backup.manifest_db = "encrypted"
            return []
        backup.manifest_db = "unreadable: it is not an SQLite database"
        if backup.flag_unreadable:
            return [(rel, "not an SQLite database, and Manifest.plist's IsEncrypted is not a boolean: whether it is encrypted cannot be told")]
        return [(rel, "not an SQLite database, though Manifest.plist does not say the backup is encrypted")]
    fd, private = tempfile.mkstemp(prefix="evidpack-manifest-", suffix=".db")
    budget = _Budget(0)
    try:
        with os.fdopen(fd, "wb") as out, open(copy, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        size = os.path.getsize(private)
        budget = _Budget(size)
        con = sqlite3.connect("file:" + urllib.parse.quote(private) + "?mode=ro&immutable=1", uri=True)
        try:
            con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(size, 1 << 20))  # no value is larger than the file
            con.set_progress_handler(budget.step, _STEP_CHECK)
            refused = _refuse_schema(con)
            if refused:
                backup.manifest_db = f"unreadable: {refused}"
                return [(rel, f"refused: {refused}")]
            con.text_factory = _text  # a row whose text is not UTF-8 is that row's problem, not the whole file's
            problems = _read_files(backup, con, budget)
        finally:
            con.close()
    except sqlite3.Error as exc:
        why = budget.why() or str(exc)
        backup.manifest_db = f"unreadable: {why}"
        return [(rel, f"cannot be read as a backup manifest ({why})")]
    except MemoryError:
        backup.manifest_db = "unreadable: too large to hold in memory"
        return [(rel, "cannot be read as a backup manifest (too large to hold in memory)")]
    finally:
        os.unlink(private)
    return [(rel, why) for why in problems]


class _Budget:
    """SQLite virtual-machine steps and rows allowed for one Manifest.db, in
    proportion to its size (counted, never timed: the same file always gives
    the same answer)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.steps_left = (_STEPS_FLOOR + _STEPS_PER_BYTE * size) // _STEP_CHECK
        self.rows = size // _ROW_BYTES + 16
        self.spent = False

    def step(self) -> int:
        self.steps_left -= 1
        if self.steps_left < 0:
            self.spent = True
            return 1  # SQLite stops the statement ("interrupted")
        return 0

    def why(self) -> str | None:
        if self.spent:
            return f"reading it took more work than a database of {self.size} bytes can need; stopped"
        return None


class _NotUtf8(bytes):
    """A TEXT value of Manifest.db that is not UTF-8 (kept as its bytes)."""


def _text(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _NotUtf8(raw)


_LITERAL_NULL = re.compile(r"^\s*null\s*$", re.IGNORECASE)


def _refuse_schema(con: sqlite3.Connection) -> str | None:
    """Why the Files table cannot be read as stored rows, or None. Files must
    be an ordinary table: a view (or a virtual table) computes its rows, which
    can be endless, and a generated column or a DEFAULT computes values a
    stored row does not hold. (Triggers never run on reading.)"""
    entries = con.execute("SELECT type, sql FROM sqlite_master WHERE name = 'Files' COLLATE NOCASE").fetchall()
    if not entries:
        return "it has no Files table"
    kinds = sorted({str(kind) for kind, _ in entries})
    if kinds != ["table"] or len(entries) != 1:
        return f"its Files is {' and '.join(('an ' if k[:1] in 'aeiou' else 'a ') + k for k in kinds)}, not a table of stored rows (a backup's Manifest.db stores them)"
    sql = entries[0][1]
    if not isinstance(sql, str) or not re.match(r"\s*CREATE\s+TABLE\b", sql, re.IGNORECASE):
        return "its Files is a virtual table, not a table of stored rows"
    columns = {}
    for _cid, name, _type, _notnull, default, _pk, hidden in con.execute("PRAGMA table_xinfo(Files)"):
        columns[str(name).lower()] = (name, default, hidden)
    for wanted in _COLUMNS:
        got = columns.get(wanted.lower())
        if got is None:
            continue  # "no such column", from the query
        name, default, hidden = got
        if hidden:
            return f"Files column {name!r} is generated, computed on reading rather than stored"
        if default is not None and not _LITERAL_NULL.match(str(default)):
            return f"Files column {name!r} has a DEFAULT ({_short(default)}), which rows that do not store it would be given"
    return None


def _read_files(backup: Backup, con: sqlite3.Connection, budget: _Budget) -> list[str]:
    """Every row of Files, into ``backup``; returns problems (one line each kind)."""
    rows = con.execute("SELECT fileID, domain, relativePath, flags, file FROM Files")
    counts: dict[str, int] = {}
    odd = _Tally()
    n = 0
    for file_id, domain, rel_path, flags, blob in rows:
        n += 1
        if n > budget.rows:
            raise sqlite3.DatabaseError(f"more rows than a database of {budget.size} bytes can store; stopped")
        kind = _FLAGS.get(flags, f"flags {_short(flags)}") if not isinstance(flags, bytes) else "flags (a blob)"
        counts[kind] = counts.get(kind, 0) + 1
        if hashlib.sha1(f"{domain}-{rel_path}".encode("utf-8", "surrogateescape")).hexdigest() != file_id:
            backup.id_mismatches.append(file_id if isinstance(file_id, str) else _shown_value(file_id))
        if flags != 1:
            continue
        if not isinstance(file_id, str):
            odd.add(_shown_value(file_id), f"fileID is {_column_kind(file_id)}: the row is not mapped")
            continue
        if len(file_id) < 3:
            continue
        bad = [f"{col} is {_column_kind(v)}" for col, v in (("domain", domain), ("relativePath", rel_path)) if not isinstance(v, str)]
        if bad:
            odd.add(file_id, "; ".join(bad) + ": the row is not mapped")
            continue
        fields = {"backup_domain": domain, "backup_path": rel_path, "backup_file_id": file_id}
        values, found = _mbfile(blob)
        fields.update(values)
        if found:
            fields["problems"] = [f"itunes-manifest: {why}" for why in found]
            odd.add(file_id, "; ".join(found))
        backup.files[f"{file_id[:2]}/{file_id}"] = StoredFile(domain, rel_path, fields)
    backup.counts = counts
    backup.manifest_db = "read"
    return odd.lines()


def _shown_value(value: Any) -> str:
    """A Manifest.db value that is not text, as SQL writes it (a blob as X'..')."""
    if isinstance(value, bytes):
        return f"X'{value[:64].hex()}'" + ("..." if len(value) > 64 else "")
    return _short(value)


def _column_kind(value: Any) -> str:
    if isinstance(value, _NotUtf8):
        return "text that is not UTF-8"
    return {bytes: "a blob", int: "an integer", float: "a real number"}.get(type(value), "null") + ", not text"


class _Tally:
    """Rows with a problem: counted, the first named."""

    def __init__(self) -> None:
        self.count = 0
        self.first: tuple[str, str] | None = None

    def add(self, file_id: str, why: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = (file_id, why)

    def lines(self) -> list[str]:
        if self.first is None:
            return []
        more = f" ({self.count - 1} more row(s) likewise: each such record lists its problems)" if self.count > 1 else ""
        return [f"Files row with fileID {self.first[0]}: {self.first[1]}{more}"]


def _mbfile(blob: Any) -> tuple[dict[str, Any], list[str]]:
    """Device times, size and mode from a Files.file blob (an NSKeyedArchiver
    MBFile), and what in it could not be recorded as read."""
    if not isinstance(blob, bytes):
        return {}, []
    if len(blob) > MBFILE_MAX_BYTES:
        return {}, [f"its MBFile blob is {len(blob)} bytes, over the {MBFILE_MAX_BYTES:,} bytes evidpack reads of one: not read"]
    try:
        archive = _loads(blob)
    except ValueError as exc:
        return {}, [f"its MBFile blob is {exc}"]
    try:
        obj = archive["$objects"][archive["$top"]["root"].data]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        return {}, ["its MBFile blob is not an NSKeyedArchiver archive with a root object"]
    if not isinstance(obj, dict):
        return {}, [f"its MBFile blob's root object is {_kind(obj)}, not a dictionary"]
    out: dict[str, Any] = {}
    found: list[str] = []
    for key, name in (("LastModified", "device_mtime"), ("Birth", "device_birth"), ("LastStatusChange", "device_ctime")):
        if key not in obj:
            continue
        value = obj[key]
        if not isinstance(value, int) or isinstance(value, bool):
            found.append(f"MBFile {key} is {_kind(value)}, not an integer: not recorded")
        elif 0 < value <= TIME_MAX:
            out[name] = format_epoch_ns(value * 1_000_000_000)
        elif value != 0:
            out[f"{name}_raw"] = str(value) if value.bit_length() <= 512 else hex(value)
            found.append(f"MBFile {key} {out[f'{name}_raw']} is outside 0..{TIME_MAX} seconds since 1970 (the years 1970-9999): "
                         f"recorded as read in {name}_raw, not converted")
    for key, name, valid in (("Size", "device_size", _INT64), ("Mode", "device_mode", _MODE)):
        if key not in obj:
            continue
        value = obj[key]
        if not isinstance(value, int) or isinstance(value, bool):
            found.append(f"MBFile {key} is {_kind(value)}, not an integer: not recorded")
        elif value < 0 or value not in valid:
            found.append(f"MBFile {key} {value if value.bit_length() <= 512 else hex(value)} is out of range: not recorded")
        else:
            out[name] = value if key == "Size" else f"{value:o}"
    return out, found
