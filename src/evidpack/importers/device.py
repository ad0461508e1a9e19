"""Source kind ``device``: what an extraction tool wrote, taken exactly as it is.

Accepted: a folder (a file-system dump, a UFED output folder, an iTunes/Finder
backup), a single container (``.zip`` incl. ZIP64, ``.ufdr``, ``.tar``,
``.tar.gz``/``.tgz``, ``.gz``, Android ``.ab``), a ``.ufd`` or ``.ufdx`` (with
the files it names), or a list of such files.

Every file is copied byte for byte, as kind ``files`` does (plain small files
by its worker processes). A container is one payload item, so its hash still
matches the tool's record; while it is being copied its members are read from
the bytes being copied (never unpacked to disk) and each gets a member record
(``E0001/M000001``...), made then and written after the container's own. A ``.ufd``'s hashes are
checked against the digests computed during the copy; a ``.ufdr``'s
``report.xml`` against the members' digests; an iTunes backup's files are
mapped to their domains and paths through ``Manifest.db``. The artifact
recognisers (:mod:`evidpack.artifacts`) tag what they recognise. Bad input is
a problem (``ctx.problem``): it stops the build with one line naming the file
and member, or with ``--keep-going`` is recorded as a failed check.
"""

from __future__ import annotations

import errno
import os
import pickle
import stat as statmod
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, NamedTuple

from ..artifacts import matching
from ..artifacts._scan import COMPANIONS, DEFAULT_SQLITE_MAX, ContentTap, Scanner
from ..build import item_id, member_id, prepare_member
from ..errors import EvidpackError
from ..payloadcopy import open_source as open_source_file
from . import itunes, ufed
from .base import ImportContext
from .containers import (
    CopyAborted,
    Event,
    Fact,
    Limits,
    Member,
    MemberScanner,
    Note,
    Problem,
    RandomReader,
    StreamedCopy,
    ZipDirectory,
    ZipUnreadable,
    announced_format,
    catalogue,
    read_zip_directory,
    report_member_problem,
)
from .files import FilesImporter, Found, escaped_name, has_bad_utf8, shown_path, walk
from .support import Options

if TYPE_CHECKING:
    from ..build import BundleWriter
    from ..casefile import Source

SHOWN_PER_CHECK = 20  # member problems of one kind reported one by one per container; the rest are counted
TOOL_HASHES_LISTED = 1000  # a .ufdr's matches (and, apart, mismatches) listed in facts.tool_hashes; the rest are counted


def tool_hash(file: str, algorithm: str, tool: str, copy: str, source: str, **extra: str) -> dict[str, Any]:
    """One comparison of a hash the extraction tool recorded with the copy's digest (``facts.tool_hashes``)."""
    return {"file": file, "algorithm": algorithm, "tool": tool, "copy": copy, "match": tool.lower() == copy, "from": source, **extra}


def _tool_hash_key(fact: dict[str, Any]) -> tuple[str, ...]:
    return (fact["from"], fact["file"], fact["algorithm"], fact["tool"], fact["copy"], fact.get("device_path", ""))


@dataclass(frozen=True)
class DeviceOptions:
    limits: Limits
    sqlite_max: int
    catalogue_members: bool


def _options(source: "Source", ctx: ImportContext) -> DeviceOptions:
    opts = Options(source, ctx.writer.case.manifest_path, ("catalogue_members", "max_expansion_ratio", "max_expanded_bytes", "sqlite_summary_max_bytes"))

    def number(key: str, default: float, minimum: float) -> Any:
        value = opts.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise opts.error(key, f"must be a number of at least {minimum}")
        return value

    default = Limits()
    limits = Limits(
        max_ratio=float(number("max_expansion_ratio", default.max_ratio, 1)),
        max_expanded=int(number("max_expanded_bytes", default.max_expanded, 1)),
    )
    flag = opts.values.get("catalogue_members", True)
    if not isinstance(flag, bool):
        raise opts.error("catalogue_members", "must be true or false")
    return DeviceOptions(limits, int(number("sqlite_summary_max_bytes", DEFAULT_SQLITE_MAX, 0)), flag)


# --- cataloguing a container while it is copied ------------------------------------------


class _Spool:
    """Member events, and the member records' finished lines, written to private
    temporary files while the copy runs and read back, in order, when they are
    emitted: memory does not grow with the number of members (events are kept
    in batches of ``BATCH``)."""

    BATCH = 1000

    def __init__(self) -> None:
        self._fh: IO[bytes] = tempfile.TemporaryFile(prefix="evidpack-members-", buffering=1 << 20)
        self._lines: IO[bytes] = tempfile.TemporaryFile(prefix="evidpack-lines-", buffering=1 << 20)
        self._batch: list[Event | _Todo] = []

    def add_line(self, line: bytes) -> None:
        self._lines.write(line + b"\n")

    def lines(self) -> Iterator[bytes]:
        """The lines, in blocks of whole lines."""
        self._lines.flush()
        self._lines.seek(0)
        rest = b""
        for block in iter(lambda: self._lines.read(1 << 20), b""):
            block, _, tail = (rest + block).rpartition(b"\n")
            rest = tail
            if block:
                yield block + b"\n"

    def add(self, ev: "Event | _Todo") -> None:
        self._batch.append(ev)
        if len(self._batch) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            pickle.dump(self._batch, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []

    def events(self) -> "Iterator[Event | _Todo]":
        self._flush()
        self._fh.seek(0)
        while True:
            try:
                batch = pickle.load(self._fh)  # our own private file, written above
            except EOFError:
                return
            yield from batch

    def close(self) -> None:
        self._fh.close()
        self._lines.close()


class _UfdrScanner:
    """The artifact scanner, plus: keeps ``report.xml`` (in a private temporary
    file) as it streams past and parses it when it has been read."""

    def __init__(self, inner: Scanner) -> None:
        self.inner = inner
        self.report: ufed.Report | None = None
        self.error: str | None = None
        self.seen = False

    def tap(self, path: str, size: int | None, head: bytes) -> Any:
        if path.lower() == "report.xml":
            self.seen = True
            return ContentTap(0, True, ".xml")
        return self.inner.tap(path, size, head)

    def result(self, path: str, size: int, head: bytes, tap: Any) -> dict[str, Any] | None:
        if path.lower() != "report.xml" or tap is None:
            return self.inner.result(path, size, head, tap)
        try:
            with open(tap.path, "rb") as fh:
                self.report = ufed.read_report(fh)
        except ufed.UfedError as exc:
            self.error = str(exc)
        return None


@dataclass
class _Job:
    """Catalogues one container from its copy while the copy is written (in its own thread)."""

    fmt: str
    name: str
    algorithms: tuple[str, ...]
    limits: Limits
    directory: ZipDirectory | None
    scanner: MemberScanner | None
    source: str
    cid: str  # the container's item id: its members' records are made while it is copied
    writer: "BundleWriter"
    spool: _Spool = field(default_factory=_Spool)
    facts: dict[str, Any] = field(default_factory=dict)
    members: int = 0
    types: Counter[str] = field(default_factory=Counter)
    expanded: int = 0  # bytes of the members read
    unread: int = 0  # members in a compression method evidpack cannot read
    error: BaseException | None = None

    def run(self, reader: RandomReader) -> None:
        # A .ufdr's members are recorded with what its report.xml says of them,
        # which is known only once report.xml has streamed past: they wait.
        ready = not isinstance(self.scanner, _UfdrScanner)
        try:
            for ev in catalogue(self.fmt, reader, name=self.name, algorithms=self.algorithms, limits=self.limits,
                                zip_directory=self.directory, scanner=self.scanner):
                if isinstance(ev, Fact):
                    self.facts[ev.key] = ev.value
                if isinstance(ev, Member):
                    self.members += 1
                    if ready:
                        line, todo = self.record(ev, self.members)
                        self.spool.add_line(line)
                        if todo is not None:
                            self.spool.add(todo)
                        continue
                self.spool.add(ev)
        except CopyAborted:
            pass
        except BaseException as exc:  # a bug: re-raised in the importer's thread
            self.error = exc
        finally:
            reader.close()

    def record(self, ev: Member, n: int, report: "ufed.Report | None" = None, reported: "_ReportedHashes | None" = None,
               rescan: Any = None) -> "tuple[bytes, _Todo | None]":
        """The line of ``ev``'s member record, member ``n`` (for a .ufdr, with what its
        report says), and what emitting it must do besides, if anything."""
        rec, scans = _member_record(ev, self.source, report, reported, rescan, member_id(self.cid, n))
        size = rec.get("size", 0)
        self.types[rec["member_type"]] += 1
        self.expanded += size if "sha256" in rec else 0
        self.unread += bool(ev.unread)
        line = self.writer.member_line(prepare_member(rec), self.cid, n)
        todo = [(path, scan) for path, scan in scans if scan or path.endswith(COMPANIONS)]
        if not todo and not ev.problems:
            return line, None
        return line, _Todo(member_id(self.cid, n), ev.path, size, todo, ev.problems)


def _members_not_read(job: _Job) -> str | None:
    """Why the members of ``job``'s container are not known (an encrypted Android
    backup: only its header is read), or None when they were read."""
    header = job.facts.get("android_backup")
    if isinstance(header, dict) and header.get("encryption") not in (None, "none"):
        return f"encrypted ({header.get('encryption')}): only its header was read; evidpack decrypts nothing, so its members were not read"
    return None


class _Todo(NamedTuple):
    """What emitting a member record must do besides writing its line, in order:
    show it to the artifact scan (path, scan), report its problems."""

    mid: str
    path: str
    size: int
    scans: list[tuple[str, dict[str, Any] | None]]
    problems: list[tuple[str, str]]


def _member_record(ev: Member, source: str, report: "ufed.Report | None", reported: "_ReportedHashes | None",
                   rescan: Any, mid: str = "") -> tuple[dict[str, Any], list[tuple[str, dict[str, Any] | None]]]:
    """The member record of ``ev`` (without container, id and salt), and the
    (path, scan) pairs it was recognised by."""
    rec: dict[str, Any] = {"kind": "member", **ev.fields}
    if ev.problems:
        rec["problems"] = [f"{check}: {reason}" for check, reason in ev.problems]
    scans = [(ev.path, ev.scan)]
    if report is not None and reported is not None:
        claims = report.claims(ev.path)
        if claims:
            # the first tagged file (in report order) giving this Local Path; when more
            # than one gives it, every one is listed (device path and hashes, as given)
            rec["device_path"] = claims[0][0]
            tagged = 1 + report.repeated_local_paths.get(ev.path, 0)
            if tagged > 1:
                rec["ufdr_tagged_files"] = [claim_fact(c) for c in claims]
                if tagged > len(claims):
                    rec["ufdr_tagged_files_not_listed"] = tagged - len(claims)
                if ev.path in report.disagreeing:
                    rec.setdefault("problems", []).append(
                        f"ufdr-local-paths: report.xml gives this Local Path for {tagged} tagged files whose hashes differ")
                reported.ids[ev.path] = mid
            reported.compare(ev.path, claims, rec)
            for device_path in dict.fromkeys(c[0] for c in claims):
                scans.append((device_path, rescan(device_path, rec.get("size", 0), ev.head)))
    tags = {t for _path, s in scans if s for t in s["tags"]}
    if rec.get("encrypted"):
        tags.add("encrypted")
    if tags:
        rec["tags"] = sorted(tags)
    if ev.unread:
        rec["not_read"] = ev.unread
    rec["source"] = source
    return rec, scans[:1] + [(p, s) for p, s in scans[1:] if s]


def claim_fact(claim: tuple[str, str, str, str]) -> dict[str, str]:
    """A report.xml tagged file as recorded: its device path and the hashes and size it gives (those it gives)."""
    return {k: v for k, v in zip(("device_path", "sha256", "md5", "size"), claim) if v}


@dataclass
class _Copied:
    record: dict[str, Any]
    path: str  # the path recognisers see (iTunes: domain/relativePath)
    scan: dict[str, Any] | None = None
    job: _Job | None = None
    tags: tuple[str, ...] = ()


# --- the importer --------------------------------------------------------------------------


class DeviceImporter(FilesImporter):
    """Extraction outputs: copied as they are, containers catalogued, tool hashes checked."""

    kind: ClassVar[str] = "device"
    stat_files: ClassVar[bool] = True  # (what was found is looked at: containers, .ufd files, backups)

    def run(self, source: "Source", ctx: ImportContext) -> None:
        self._opts = _options(source, ctx)
        self._scanner = Scanner(self._opts.sqlite_max)
        self._pre: dict[str, dict[str, Any]] = {}  # marker files copied first, by source-relative path
        self._extra_found: list[Found] | None = None
        # each .ufd read: (its source-relative path, what it says, each name it gives -> the
        # source-relative file it stands for, or None when refused (outside the source: never read))
        self._ufds: list[tuple[str, ufed.Ufd, dict[str, str | None]]] = []
        self._ufdx: list[tuple[str, list[str]]] = []
        self._named: dict[str, set[str]] = {}  # files a .ufd names -> digests it gives for them
        self._digests: dict[str, dict[str, str]] = {}
        self._backups: list[itunes.Backup] = []
        self._containers: list[dict[str, Any]] = []
        self._first_item = ctx.writer.next_item
        self._ordinal: dict[str, int] = {}  # containers: their place among the entries found
        self._plan(source, ctx)
        self._named_all = self._named_files()
        self._tool_hashes: list[dict[str, Any]] = []  # facts.tool_hashes: the tools' hashes against the copy's
        self._tool_hashes_not_listed: list[dict[str, Any]] = []
        super().run(source, ctx)
        self._check_ufds(ctx)
        self._check_backups(ctx)
        if self._tool_hashes:
            ctx.facts["tool_hashes"] = sorted(self._tool_hashes, key=_tool_hash_key)
        if self._tool_hashes_not_listed:
            ctx.facts["tool_hashes_not_listed"] = sorted(self._tool_hashes_not_listed, key=lambda f: f["from"])
        if self._containers:
            ctx.facts["containers"] = self._containers
            ctx.facts["members"] = sum(c["members"] or 0 for c in self._containers)
            unknown = [c["item"] for c in self._containers if c["members"] is None]
            if unknown:
                ctx.facts["members_not_known_in"] = unknown  # containers whose members were not read (not counted above)
        self._scanner.write(ctx)

    # --- before copying: the files that say what the others are -------------------------

    def _plan(self, source: "Source", ctx: ImportContext) -> None:
        markers = self._markers(source)
        for f in markers:
            if f.rel.lower().endswith((".ufd", ".ufdx")) or f.rel.rpartition("/")[2] in itunes.MARKERS:
                try:
                    self._pre[f.rel] = ctx.copy_file(f.abs_path, f.rel, f.lst, {"original_path": f.rel})
                except OSError:
                    continue  # copied (and reported as unreadable) with the other files
        for rel in sorted(self._pre):
            low = rel.lower()
            if low.endswith(".ufd"):
                self._read_ufd(rel, ctx)
            elif low.endswith(".ufdx"):
                self._read_ufdx(rel, ctx)
        rels = {rel for rel in self._pre if rel.rpartition("/")[2] in itunes.MARKERS}
        for root in itunes.backup_roots(rels):
            backup = itunes.Backup(root)
            copies = {name: self._copy_of(ctx, backup.rel(name)) for name in itunes.MARKERS if backup.rel(name) in self._pre}
            for why in itunes.describe(backup, copies):
                ctx.problem(f"{self._shown(source, why[0])}: {why[1]}", check="itunes-manifest", subject=backup.root or ".")
            self._backups.append(backup)
        if self._extra_found is not None:  # a single .ufd/.ufdx: the files it names come with it
            base = source.paths[0].parent
            for rel in sorted(self._named_files()):  # (each checked to be inside the source when read: _confined)
                p = base / rel
                try:
                    lst = os.lstat(p)
                except OSError:
                    continue  # reported as a missing dump after copying
                if not any(f.rel == rel for f in self._extra_found):
                    self._extra_found.append(Found(str(p), rel, lst))

    def _markers(self, source: "Source") -> list[Found]:
        """Every .ufd/.ufdx and iTunes marker in the source (lstat only)."""
        if source.is_list:
            found = [Found(str(p), p.name, os.lstat(p)) for p in source.paths if os.path.lexists(p) and not os.path.isdir(p)]
        else:
            root = source.paths[0]
            try:
                lst = os.lstat(root)
            except OSError:
                return []  # the files importer says why
            if statmod.S_ISDIR(lst.st_mode):
                found = [f for f in walk(str(root), []) if f.rel.lower().endswith((".ufd", ".ufdx")) or f.rel.rpartition("/")[2] in itunes.MARKERS]
            else:
                found = [Found(str(root), root.name, lst)]
                if root.name.lower().endswith((".ufd", ".ufdx")):
                    self._extra_found = list(found)
        return [f for f in found if statmod.S_ISREG(f.lst.st_mode) and not has_bad_utf8(f.rel)]

    def _copy_of(self, ctx: ImportContext, rel: str) -> Path:
        return ctx.writer.root / self._pre[rel]["path"]

    def _read_ufd(self, rel: str, ctx: ImportContext) -> None:
        shown = self._shown(ctx.source, rel)
        try:
            parsed = ufed.parse_ufd(self._copy_of(ctx, rel).read_bytes())
        except ufed.UfedError as exc:
            ctx.problem(f"{shown}: cannot be read as a .ufd ({exc})", check="ufd-readable", subject=rel)
            return
        folder = rel.rpartition("/")[0]
        targets: dict[str, str | None] = {}
        self._ufds.append((rel, parsed, targets))
        facts = ufed.ufd_facts(parsed, rel)
        ctx.facts.setdefault("ufd", []).append(facts)
        _warn_unconverted_dates(ctx, shown, "ufd-date", facts["dates"], rel)
        for named in ufed.named_files(parsed):
            if named.path not in targets:  # (a name given in [Dumps] and a hash section is refused once)
                targets[named.path] = self._confined(rel, folder, named, "ufd-dump-path", ctx)
        for name in ufed.dump_names(parsed):
            target = targets[name]
            if target is not None:
                self._named.setdefault(target, set())
        for entry in ufed.hash_entries(parsed):
            target = targets[entry.path]
            if target is not None:
                self._named[target].add(entry.algorithm)

    def _read_ufdx(self, rel: str, ctx: ImportContext) -> None:
        try:
            facts, entries = ufed.parse_ufdx(self._copy_of(ctx, rel).read_bytes())
        except ufed.UfedError as exc:
            ctx.problem(f"{self._shown(ctx.source, rel)}: cannot be read as a .ufdx ({exc})", check="ufdx-readable", subject=rel)
            return
        folder = rel.rpartition("/")[0]
        named = []
        for entry in entries:
            target = self._confined(rel, folder, entry, "ufdx-extraction-path", ctx)
            if target is not None:
                named.append(target)
        self._ufdx.append((rel, named))
        ctx.facts.setdefault("ufdx", []).append({"file": rel, **facts})
        if self._extra_found is None:
            return
        base = ctx.source.paths[0].parent
        for ufd_rel in named:  # a single .ufdx: bring its .ufd files (and, through them, their dumps)
            if ufd_rel in self._pre:
                continue
            p = base / ufd_rel
            try:
                lst = os.lstat(p)  # (never a symlink: a missing or special .ufd is reported after copying)
            except OSError:
                continue
            if not statmod.S_ISREG(lst.st_mode):
                continue
            self._extra_found.append(Found(str(p), ufd_rel, lst))
            try:
                self._pre[ufd_rel] = ctx.copy_file(str(p), ufd_rel, lst, {"original_path": ufd_rel})
            except OSError:
                continue  # copied (and reported as unreadable) with the other files
            self._read_ufd(ufd_rel, ctx)

    def _confined(self, rel: str, folder: str, named: ufed.Named, check: str, ctx: ImportContext) -> str | None:
        """The source-relative path of a file the .ufd/.ufdx ``rel`` names, or None
        when it would lie outside the source (absolute, NUL, '..' climbing out, a
        symbolic link on the way): that is a problem, and the file is never read."""
        try:
            target = ufed.source_path(folder, named.name)
        except ufed.UfedError as exc:
            why = str(exc)
        else:
            why = self._linked(ctx.source, target)
            if why is None:
                return target
        ctx.problem(f"{self._shown(ctx.source, rel)}: {named.where} names {named.name!r} {why}; not read", check=check, subject=rel)
        return None

    @staticmethod
    def _linked(source: "Source", target: str) -> str | None:
        """Why the folders on the way to the source-relative ``target`` cannot be
        gone through (one is a symbolic link), or None. Links are never followed:
        the message says whether this one points outside the source. A folder that
        is missing (or not a folder) leaves the file missing, reported after copying."""
        if source.is_list:  # a listed file is matched by its name only: nothing it names is opened
            return None
        root = source.paths[0]
        base = str(root if root.is_dir() and not root.is_symlink() else root.parent)
        parts = target.split("/")[:-1]
        path = base
        for n, part in enumerate(parts, 1):
            path = os.path.join(path, part)
            try:
                lst = os.lstat(path)
            except OSError:
                return None
            if statmod.S_ISLNK(lst.st_mode):
                link = "/".join(parts[:n])
                try:
                    to = f" to {escaped_name(os.readlink(path))!r}"
                except OSError:
                    to = ""
                real, top = os.path.realpath(path), os.path.realpath(base)
                if os.path.commonpath([real, top]) != top:
                    return f"outside the source folder (through the symbolic link {link!r}{to})"
                return f"through the symbolic link {link!r}{to}, which is not followed"
            if not statmod.S_ISDIR(lst.st_mode):
                return None
        return None

    def _named_files(self) -> set[str]:
        return set(self._named) | {p for _rel, paths in self._ufdx for p in paths}

    def _found(self, source: "Source", ctx: ImportContext) -> Iterator[Found]:
        found = iter(self._extra_found) if self._extra_found is not None else super()._found(source, ctx)
        # Each entry found becomes one item record, in this order: a container's
        # number is known before it is copied, so its members' records can be
        # made while it is.
        for n, f in enumerate(found):
            if announced_format(f.rel) is not None:
                self._ordinal[f.rel] = n
            yield f

    # --- copying (worker threads) -----------------------------------------------------------

    def _poolable(self, f: Found) -> bool:
        """A plain file, which the worker processes may copy: not one copied
        beforehand, a container, a file a .ufd names or an iTunes backup holds,
        nor a path a recogniser looks at (one that turns out to be an SQLite
        database is scanned when it is emitted)."""
        rel = f.rel
        return (rel not in self._pre and announced_format(rel) is None and rel not in self._named
                and all(backup.stored(rel) is None for backup in self._backups) and not matching(rel))

    def _copy(self, f: Found, dest: str, ctx: ImportContext, extra: dict[str, Any]) -> _Copied:
        if f.rel in self._pre:
            record = self._pre[f.rel]
            return _Copied(record, f.rel, self._scanner.scan_copy(ctx.writer.root / record["path"], f.rel, record["size"], record["media_type"]))
        path, tags = f.rel, ()
        for backup in self._backups:
            stored = backup.stored(f.rel)
            if stored is None:
                continue
            if stored in backup.files:
                extra.update(backup.files[stored].fields)
                path = backup.files[stored].logical_path
            elif backup.encrypted:
                extra["backup_encrypted"] = True
                tags = ("encrypted", "itunes-encrypted")
        also = tuple(sorted(a for a in self._named.get(f.rel, ()) if a not in ctx.writer.algorithms))
        fmt = announced_format(f.rel)
        if fmt is not None and (self._opts.catalogue_members or f.rel in self._named):
            return self._copy_container(f, dest, ctx, extra, fmt, also, path)
        record = ctx.copy_file(f.abs_path, dest, f.lst, extra, also=also)
        scan = self._scanner.scan_copy(ctx.writer.root / record["path"], path, record["size"], record["media_type"])
        return _Copied(record, path, scan, tags=tags)

    def _copy_container(self, f: Found, dest: str, ctx: ImportContext, extra: dict[str, Any], fmt: str, also: tuple[str, ...], path: str) -> _Copied:
        directory = None
        seen: list[tuple[int, bytes]] = []  # the bytes of the source the directory was read from
        if fmt == "zip":
            try:
                fd = open_source_file(f.abs_path)
                with os.fdopen(fd, "rb") as fh:  # only its tail: members are read as the copy is written
                    directory = read_zip_directory(fh, seen)
            except ZipUnreadable:
                directory = None  # the directory is read again from the copy and the problem reported from it
        scanner: MemberScanner = _UfdrScanner(self._scanner) if f.rel.lower().endswith(".ufdr") else self._scanner
        cid = item_id(self._first_item + self._ordinal[f.rel])  # (one item record per entry found, in order: checked when emitted)
        job = _Job(fmt, f.rel.rpartition("/")[2], ctx.writer.algorithms, self._opts.limits, directory, scanner, ctx.source.id, cid, ctx.writer)
        reader = StreamedCopy(ctx.writer.root / ctx.payload_path(dest), expect=seen, shared=True)
        thread = threading.Thread(target=job.run, args=(reader,), name="evidpack-members", daemon=True)
        thread.start()
        try:
            record = ctx.copy_file(f.abs_path, dest, f.lst, extra, tee=reader, also=also)
        except BaseException as exc:
            reader.abort(exc)
            thread.join()
            reader.release()
            job.spool.close()
            raise
        reader.finish()
        thread.join()
        reader.release()
        if job.error is not None:
            job.spool.close()
            raise job.error
        if not reader.as_expected:
            job.spool.close()
            raise OSError(errno.EAGAIN, "changed while being read (its zip directory differs between reads)")
        return _Copied(record, path, self._scanner.rescan(path, record["size"], b""), job)

    # --- emitting (in order, this thread) -------------------------------------------------------

    def _emit(self, f: Found, copied: Any, ctx: ImportContext) -> None:
        if isinstance(copied, dict) and copied["kind"] == "file":  # copied by a worker process (see _poolable)
            copied = _Copied(copied, f.rel, self._scanner.scan_copy(ctx.writer.root / copied["path"], f.rel, copied["size"], copied["media_type"]))
        if not isinstance(copied, _Copied):
            ctx.emit(copied)
            return
        record = copied.record
        tags = set(copied.tags) | set((copied.scan or {}).get("tags", ()))
        if tags:
            record["tags"] = sorted(tags)
        job = copied.job
        if job is not None:
            record["container_format"] = job.facts.get("container_format", job.fmt)
            not_read = _members_not_read(job)
            if not_read is None:
                record["members"] = job.members
            else:  # not "members": 0, which would read as an empty container
                record["members_not_known"] = not_read
                record["tags"] = sorted(set(record.get("tags", ())) | {"encrypted"})
            if job.limits != Limits():
                record["expansion_caps"] = {"max_ratio": job.limits.max_ratio, "max_expanded": job.limits.max_expanded}
            if "android_backup" in job.facts:
                record["android_backup"] = job.facts["android_backup"]
        emitted = ctx.emit(record)
        if job is not None and emitted["id"] != job.cid:
            job.spool.close()
            raise EvidpackError(f"internal error: {self._shown(ctx.source, f.rel)} was numbered {job.cid} for its members but emitted as {emitted['id']}")
        self._scanner.collect(emitted["id"], copied.path, emitted["size"], copied.scan)
        rel = f.rel
        if rel in self._named_all:
            self._digests[rel] = {a: emitted[a] for a in ("sha256", "sha1", "md5") if a in emitted}
        for backup in self._backups:
            stored = backup.stored(rel)
            if stored is not None:
                backup.seen.add(stored)
        if job is not None:
            try:
                self._emit_members(f, emitted, job, ctx)
            finally:
                job.spool.close()

    def _emit_members(self, f: Found, container: dict[str, Any], job: _Job, ctx: ImportContext) -> None:
        shown = self._shown(ctx.source, f.rel)
        cid = container["id"]
        ufdr = job.scanner if isinstance(job.scanner, _UfdrScanner) else None
        report = ufdr.report if ufdr is not None else None
        reported = _ReportedHashes(shown) if report is not None else None
        shown_per_check: Counter[str] = Counter()
        readable: bool | None = True
        ctx.writer.add_member_lines(cid, job.spool.lines())
        n = 0
        for ev in job.spool.events():
            if isinstance(ev, Problem):
                readable = False
                ctx.problem(f"{shown}: {ev.reason}", check=ev.check, subject=cid)
                continue
            if isinstance(ev, Note):
                ctx.check(ev.check, ev.verdict, f"{shown}: {ev.reason}", cid)
                continue
            if isinstance(ev, Member):  # (a .ufdr's, recorded now that its report.xml has been read)
                n += 1
                line, todo = job.record(ev, n, report, reported, self._scanner.rescan)
                ctx.writer.add_member_lines(cid, [line + b"\n"])
                ev = todo
            if not isinstance(ev, _Todo):
                continue
            for path, scan in ev.scans:
                self._scanner.collect(ev.mid, path, ev.size, scan)
            for check, reason in ev.problems:
                shown_per_check[check] += 1
                if shown_per_check[check] <= SHOWN_PER_CHECK:
                    report_member_problem(ctx, f"{shown}: member {ev.path!r} {reason}", check, ev.mid)
        types, expanded, unread = job.types, job.expanded, job.unread
        for check, n in sorted(shown_per_check.items()):
            if n > SHOWN_PER_CHECK:
                report_member_problem(ctx, f"{shown}: {n - SHOWN_PER_CHECK} more member(s) with the same problem ({check}); each is marked in its member record", check, cid)
        kinds = ", ".join(f"{n} {k}{'' if n == 1 else 's'}" for k, n in sorted(types.items()))
        header = job.facts.get("android_backup")
        not_read = _members_not_read(job)
        if readable and not_read:  # only the header was read: the members are behind the password
            readable = None
            ctx.check("container-readable", "not-checkable", f"{shown}: not read to its end: {not_read}", cid)
            ctx.check("member-count", "not-checkable", f"{shown}: members not known (not listed): {not_read}", cid)
        else:
            ctx.check(
                "container-readable",
                "pass" if readable else "fail",
                f"{shown}: read to its end as {container['container_format']}" if readable else f"{shown}: could not be read to its end (see the failed checks above)",
                cid,
            )
            ctx.check(
                "member-count",
                "pass",
                f"{shown}: {job.members} member(s){f' ({kinds})' if kinds else ''}; {expanded} bytes streamed out of the copy and hashed "
                f"({', '.join(job.algorithms)}), nothing unpacked to disk",
                cid,
            )
        if unread:
            ctx.check("member-hashes", "not-checkable", f"{shown}: {unread} member(s) use a compression method evidpack cannot read; they are kept, not hashed", cid)
        if ufdr is not None:
            self._ufdr_checks(shown, cid, ufdr, reported, ctx)
        fact: dict[str, Any] = {"item": cid, "path": container["path"], "format": container["container_format"], "members": job.members,
                                "member_bytes": expanded, "readable": readable}
        if readable is None and not_read:
            fact.update(members=None, member_bytes=None, not_read=not_read)  # not known: never 0, which reads as empty
        if isinstance(header, dict):
            fact["android_backup"] = header
        self._containers.append(fact)

    def _ufdr_checks(self, shown: str, cid: str, ufdr: _UfdrScanner, reported: "_ReportedHashes | None", ctx: ImportContext) -> None:
        if ufdr.report is None:
            why = ufdr.error or ("it holds no report.xml" if not ufdr.seen else "report.xml could not be read")
            ctx.problem(f"{shown}: not a readable .ufdr: {why}", check="ufdr-report", subject=cid)
            return
        report = ufdr.report
        assert reported is not None
        # (every member has been emitted: ``found`` holds the Local Paths that are members)
        fact = {"item": cid, **report.facts(), "tagged_files_in_ufdr": report.tagged(reported.found)}
        ctx.facts.setdefault("ufdr", []).append(fact)
        _warn_unconverted_dates(ctx, f"{shown}: report.xml", "ufdr-date", fact, cid)
        if report.namespace != ufed.UFDR_NAMESPACE:
            ctx.check("ufdr-report", "warn", f"{shown}: report.xml is in namespace {report.namespace!r}, not {ufed.UFDR_NAMESPACE}", cid)
        fact.update(reported.local_paths(report, cid, ctx))
        self._tool_hashes += reported.listed
        if reported.not_listed:
            self._tool_hashes_not_listed.append({"from": reported.shown, "item": cid, **dict(sorted(reported.not_listed.items()))})
        reported.finish(report, cid, ctx)

    # --- after copying: the tools' own records ------------------------------------------------

    def _check_ufds(self, ctx: ImportContext) -> None:
        for rel, parsed, targets in self._ufds:
            shown = self._shown(ctx.source, rel)
            hashed: set[str] = set()
            for entry in ufed.hash_entries(parsed):
                target = targets[entry.path]
                if target is None:
                    continue  # outside the source: refused (a problem) when the .ufd was read
                hashed.add(target)
                check = f"ufd-{entry.algorithm}"
                where = f"[{entry.section}] {entry.name} (line {entry.line})"
                got = self._digests.get(target)
                if got is None:
                    ctx.problem(f"{shown}: {where} names a file that is not in the source (missing dump)", check="ufd-dump-present", subject=target)
                elif not entry.well_formed():
                    ctx.problem(f"{shown}: {where}: {entry.value!r} is not a {entry.algorithm.upper()} value", check=check, subject=target)
                elif got[entry.algorithm] == entry.value.lower():
                    self._tool_hashes.append(tool_hash(target, entry.algorithm, entry.value, got[entry.algorithm], shown))
                    ctx.check(check, "pass", f"{shown}: {where} matches the {entry.algorithm.upper()} of the file as copied ({got[entry.algorithm]})", target)
                else:
                    self._tool_hashes.append(tool_hash(target, entry.algorithm, entry.value, got[entry.algorithm], shown))
                    ctx.problem(
                        f"{shown}: {where} says {entry.value.lower()}, but the file as copied has {entry.algorithm.upper()} {got[entry.algorithm]} (hash mismatch)",
                        check=check, subject=target,
                    )
            for key, _value, line in parsed.entries("Hash"):
                ctx.check("ufd-hmac", "not-checkable", f"{shown}: [Hash] {key} (line {line}) is keyed with a secret only the acquisition tool holds; it cannot be recomputed", rel)
            for name in ufed.dump_names(parsed):
                target = targets[name]
                if target is None or target in hashed:
                    continue
                if target in self._digests:
                    ctx.check("ufd-dump-present", "pass", f"{shown}: [Dumps] names {name!r}, which was copied (the .ufd records no hash for it)", target)
                else:
                    ctx.problem(f"{shown}: [Dumps] names {name!r}, which is not in the source (missing dump)", check="ufd-dump-present", subject=target)
        for rel, paths in self._ufdx:
            for target in paths:
                if target in self._pre or target in self._digests:
                    ctx.check("ufdx-extraction-present", "pass", f"{self._shown(ctx.source, rel)}: names {target!r}, which was copied", target)
                else:
                    ctx.problem(f"{self._shown(ctx.source, rel)}: names {target!r}, which is not in the source", check="ufdx-extraction-present", subject=target)

    def _check_backups(self, ctx: ImportContext) -> None:
        for backup in self._backups:
            ctx.facts.setdefault("itunes_backups", []).append(backup.facts())
            where = self._shown(ctx.source, backup.root)
            for note in backup.notes:  # a value recorded other than as read (a NaN as text)
                ctx.check("itunes-manifest", "warn", f"{where}: {note}", backup.root or ".")
            # The flag alone never skips a check: a Manifest.db that is plain SQLite was read,
            # and the files are checked against it whatever Manifest.plist says.
            if backup.encrypted and backup.manifest_db != "read":
                ctx.check(
                    "itunes-manifest", "not-checkable",
                    f"{where}: the backup is encrypted (Manifest.plist IsEncrypted); its Manifest.db and files are encrypted with keys "
                    "protected by the backup password, and evidpack decrypts nothing, so stored files are kept and catalogued as encrypted "
                    "but not mapped to domains and paths",
                    backup.root or ".",
                )
                continue
            if backup.manifest_db == "mbdb":
                ctx.check("itunes-manifest", "not-checkable", f"{where}: Manifest.mbdb (iOS 9 or older) is kept but not read", backup.root or ".")
                continue
            if backup.manifest_db != "read":
                continue
            missing = sorted(set(backup.files) - backup.seen)
            maps = f"Manifest.db maps {len(backup.files)} stored file(s) to their domains and paths"
            if not backup.encrypted:
                ctx.check("itunes-manifest", "pass", f"{where}: {maps}", backup.root or ".")
            elif backup.manifest_key:
                ctx.problem(
                    f"{where}: Manifest.plist says the backup is encrypted (IsEncrypted, and a ManifestKey, the key of an encrypted "
                    f"Manifest.db), yet Manifest.db is a plain SQLite database: they disagree; {maps}, and the files are checked against it",
                    check="itunes-manifest", subject=backup.root or ".",
                )
            else:
                ctx.check(
                    "itunes-manifest", "warn",
                    f"{where}: Manifest.plist says the backup is encrypted (IsEncrypted), yet Manifest.db is a plain SQLite database "
                    f"(iOS before 10.2 did not encrypt it; later versions do): {maps}, and the files are checked against it",
                    backup.root or ".",
                )
            if missing:
                ctx.problem(
                    f"{where}: Manifest.db lists {len(missing)} file(s) the backup folder does not hold, e.g. {missing[0]} "
                    f"({backup.files[missing[0]].logical_path})",
                    check="itunes-files-present", subject=backup.root or ".",
                )
            unlisted = sorted(backup.seen - set(backup.files))
            if unlisted:
                ctx.check("itunes-files-present", "warn", f"{where}: {len(unlisted)} stored file(s) are not listed in Manifest.db, e.g. {unlisted[0]}", backup.root or ".")
            if backup.id_mismatches:
                ctx.check(
                    "itunes-file-ids", "warn",
                    f"{where}: {len(backup.id_mismatches)} Manifest.db row(s) have a fileID that is not SHA-1(domain-relativePath), e.g. {backup.id_mismatches[0]}",
                    backup.root or ".",
                )
            else:
                ctx.check("itunes-file-ids", "pass", f"{where}: every fileID is SHA-1(domain-relativePath), as iOS names them", backup.root or ".")

    @staticmethod
    def _shown(source: "Source", rel: str) -> str:
        return shown_path(source, rel)


class _ReportedHashes:
    """A .ufdr's report.xml hashes against the members' own, counted as members are emitted."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.counts: Counter[str] = Counter()
        self.mismatched: list[str] = []
        self.found: set[str] = set()
        self.listed: list[dict[str, Any]] = []  # comparisons for facts.tool_hashes (at most TOOL_HASHES_LISTED of each outcome)
        self.not_listed: Counter[str] = Counter()  # the rest, counted: "matched", "mismatched"
        self.compared: Counter[str] = Counter()
        self.ids: dict[str, str] = {}  # Local Paths given by more than one tagged file -> the member's id

    def local_paths(self, report: ufed.Report, cid: str, ctx: ImportContext) -> dict[str, Any]:
        """The ``ufdr-local-paths`` check (only when a Local Path is given by more than
        one tagged file: a problem when their hashes differ, else a warning) and the
        facts listing each such Local Path with every tagged file giving it."""
        repeated = report.repeated_local_paths
        if not repeated:
            return {}
        listed = []
        for local, more in repeated.items():
            if len(listed) >= TOOL_HASHES_LISTED:
                break
            claims = report.claims(local)
            entry: dict[str, Any] = {"local_path": local, "member": self.ids.get(local), "tagged_files": 1 + more,
                                     "hashes_agree": local not in report.disagreeing, "claims": [claim_fact(c) for c in claims]}
            if 1 + more > len(claims):
                entry["claims_not_listed"] = 1 + more - len(claims)
            listed.append(entry)
        facts: dict[str, Any] = {"repeated_local_paths": listed}
        if len(repeated) > len(listed):
            facts["repeated_local_paths_not_listed"] = len(repeated) - len(listed)

        def example(local: str) -> str:
            claims = report.claims(local)
            shown = "; ".join(
                c[0] + (f" (sha256 {c[1].lower()}" + (f", md5 {c[2].lower()}" if c[2] else "") + ")" if c[1] else f" (md5 {c[2].lower()})" if c[2] else " (no hash given)")
                for c in claims[:4]
            )
            more = 1 + repeated[local] - min(len(claims), 4)
            return f"{local!r} by {shown}" + (f" and {more} more" if more > 0 else "")

        differing = [p for p in repeated if p in report.disagreeing]
        if differing:
            subject = self.ids.get(differing[0]) or cid
            ctx.problem(
                f"{self.shown}: report.xml gives {len(differing)} Local Path(s) for more than one tagged file with different hashes "
                f"(at most one can be the member's), e.g. {example(differing[0])}",
                check="ufdr-local-paths", subject=subject,
            )
        agreeing = [p for p in repeated if p not in report.disagreeing]
        if agreeing:
            ctx.check(
                "ufdr-local-paths", "warn",
                f"{self.shown}: report.xml gives {len(agreeing)} Local Path(s) for more than one tagged file (one copy in the .ufdr for "
                f"several device paths; the hashes given agree), e.g. {example(agreeing[0])}; each member record lists them",
                self.ids.get(agreeing[0]) or cid,
            )
        return facts

    def compare(self, path: str, claims: list[tuple[str, str, str, str]], rec: dict[str, Any]) -> None:
        """Compare the hashes each tagged file giving ``path`` as its Local Path reports with the member's."""
        self.found.add(path)
        flagged: set[str] = set()
        for device_path, sha256, md5, _size in claims:
            for alg, value in (("sha256", sha256), ("md5", md5)):
                if value and alg in rec:
                    fact = tool_hash(path, alg, value, rec[alg], self.shown, device_path=device_path)
                    outcome = "matched" if fact["match"] else "mismatched"
                    self.compared[outcome] += 1
                    if self.compared[outcome] <= TOOL_HASHES_LISTED:
                        self.listed.append(fact)
                    else:
                        self.not_listed[outcome] += 1
            checked = False
            for alg, value in (("sha256", sha256), ("md5", md5)):
                if not value or alg not in rec:
                    continue
                checked = True
                if value.lower() != rec[alg]:
                    self.counts["mismatched"] += 1
                    self.mismatched.append(f"{path} ({device_path}): report.xml {alg} {value.lower()}, member {rec[alg]}")
                    if alg not in flagged:
                        flagged.add(alg)
                        rec.setdefault("problems", []).append(f"ufdr-reported-hashes: report.xml gives another {alg.upper()}")
                    break
            else:
                self.counts["matched" if checked else "not-checkable"] += 1

    def finish(self, report: ufed.Report, cid: str, ctx: ImportContext) -> None:
        missing = [p for p in report.files if p not in self.found]
        c = self.counts
        text = (
            f"{self.shown}: report.xml hashes: {c['matched']} matched, {c['mismatched']} mismatched, "
            f"{c['not-checkable']} not checkable (no hash given), {len(missing)} named but not in the .ufdr"
            + (f"; {report.files_without_local_path} tagged file(s) have no copy in the .ufdr" if report.files_without_local_path else "")
        )
        if self.mismatched or missing:
            first = self.mismatched[0] if self.mismatched else f"{missing[0]} is not a member"
            ctx.problem(f"{text}; e.g. {first}", check="ufdr-reported-hashes", subject=cid)
        else:
            ctx.check("ufdr-reported-hashes", "pass" if c["matched"] else "not-checkable", text, cid)


def _dates_with_problems(value: Any) -> Iterator[str]:
    """The problems of the dates (as :mod:`.ufed` parses them: ``text``, ``utc``,
    ``offset``, ``problem``) anywhere in ``value``, in order."""
    if isinstance(value, dict):
        if "problem" in value and "text" in value and value.get("utc") is None:
            yield str(value["problem"])
        for v in value.values():
            yield from _dates_with_problems(v)
    elif isinstance(value, list):
        for v in value:
            yield from _dates_with_problems(v)


def _warn_unconverted_dates(ctx: ImportContext, shown: str, check: str, facts: Any, subject: str) -> None:
    """One warning check for the dates a tool's record gives with an offset not in use
    (kept as written, not converted to UTC), as other importers warn of theirs."""
    problems = list(_dates_with_problems(facts))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        ctx.check(check, "warn", f"{shown}: {len(problems)} date(s) not converted to UTC: {'; '.join(problems[:3])}{more}", subject)
