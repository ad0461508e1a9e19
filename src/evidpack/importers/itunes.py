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

from ..artifacts import SQLITE_MAGIC
from ..timeutil import format_epoch_ns, format_utc

MARKERS = ("Manifest.plist", "Manifest.db", "Manifest.mbdb", "Info.plist", "Status.plist")
STORED = re.compile(r"^(?P<prefix>[0-9a-f]{2})/(?P<id>(?P=prefix)[0-9a-f]{38})$")
_FLAGS = {1: "file", 2: "directory", 4: "symlink"}


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


def _scalars(d: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The plain values of a plist dict (dates in UTC; data, arrays and dicts left out)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k in skip:
            continue
        if isinstance(v, datetime):
            out[k] = format_utc(v if v.tzinfo else v.replace(tzinfo=timezone.utc))  # plistlib dates are UTC
        elif isinstance(v, (str, int, float, bool)):
            out[k] = v
    return out


def read_plist(path: Path) -> dict[str, Any]:
    try:
        value = plistlib.loads(path.read_bytes())
    except (plistlib.InvalidFileException, ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
        raise ValueError(f"not a readable property list ({exc or type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise ValueError("not a property list dictionary")
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
        if name == "Manifest.plist":
            backup.encrypted = bool(plist.get("IsEncrypted"))
            facts = _scalars(plist, ("BackupKeyBag", "ManifestKey"))
            facts["Lockdown"] = _scalars(plist.get("Lockdown") or {})
            facts["Applications"] = sorted((plist.get("Applications") or {}).keys())
            backup.manifest = facts
        else:
            setattr(backup, attr, _scalars(plist, ("Applications", "iTunes Files", "iTunes Settings")))
    if "Manifest.db" in copies:
        problems += _read_manifest_db(backup, copies["Manifest.db"])
    elif "Manifest.mbdb" in copies:
        backup.manifest_db = "mbdb"
    return problems


def _read_manifest_db(backup: Backup, copy: Path) -> list[tuple[str, str]]:
    with open(copy, "rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if not head.startswith(SQLITE_MAGIC):
        backup.manifest_db = "encrypted" if backup.encrypted else "unreadable: it is not an SQLite database"
        return [] if backup.encrypted else [(backup.rel("Manifest.db"), "not an SQLite database, though Manifest.plist does not say the backup is encrypted")]
    fd, private = tempfile.mkstemp(prefix="evidpack-manifest-", suffix=".db")
    try:
        with os.fdopen(fd, "wb") as out, open(copy, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        con = sqlite3.connect("file:" + urllib.parse.quote(private) + "?mode=ro&immutable=1", uri=True)
        try:
            rows = con.execute("SELECT fileID, domain, relativePath, flags, file FROM Files")
            counts: dict[str, int] = {}
            for file_id, domain, rel_path, flags, blob in rows:
                kind = _FLAGS.get(flags, f"flags {flags}")
                counts[kind] = counts.get(kind, 0) + 1
                if hashlib.sha1(f"{domain}-{rel_path}".encode("utf-8", "surrogateescape")).hexdigest() != file_id:
                    backup.id_mismatches.append(str(file_id))
                if flags != 1 or not isinstance(file_id, str) or len(file_id) < 3:
                    continue
                fields = {"backup_domain": domain, "backup_path": rel_path, "backup_file_id": file_id}
                fields.update(_mbfile(blob))
                backup.files[f"{file_id[:2]}/{file_id}"] = StoredFile(domain, rel_path, fields)
            backup.counts = counts
            backup.manifest_db = "read"
        finally:
            con.close()
    except sqlite3.Error as exc:
        backup.manifest_db = f"unreadable: {exc}"
        return [(backup.rel("Manifest.db"), f"cannot be read as a backup manifest ({exc})")]
    finally:
        os.unlink(private)
    return []


def _mbfile(blob: Any) -> dict[str, Any]:
    """Device times, size and mode from a Files.file blob (an NSKeyedArchiver MBFile)."""
    if not isinstance(blob, bytes):
        return {}
    try:
        archive = plistlib.loads(blob)
        objects = archive["$objects"]
        obj = objects[archive["$top"]["root"].data]
    except (plistlib.InvalidFileException, ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        return {}
    out: dict[str, Any] = {}
    for key, name in (("LastModified", "device_mtime"), ("Birth", "device_birth"), ("LastStatusChange", "device_ctime")):
        value = obj.get(key)
        if isinstance(value, int) and value > 0:
            out[name] = format_epoch_ns(value * 1_000_000_000)
    if isinstance(obj.get("Size"), int):
        out["device_size"] = obj["Size"]
    if isinstance(obj.get("Mode"), int):
        out["device_mode"] = f"{obj['Mode']:o}"
    return out
