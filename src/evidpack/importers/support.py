"""Helpers shared by importers that copy a source like ``files`` and then read
what they copied: copying with the files importer, naming a source file in a
message, reading the copy inside the bundle, cataloguing a zip among the copies,
streaming a member out of such a zip, writing a derived record a piece at a
time, and checking ``[sources.options]``.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import EvidpackError
from .base import ImportContext
from .containers import Member, Note, Problem, RandomReader, catalogue, report_member_problem
from .files import FilesImporter

if TYPE_CHECKING:
    from ..casefile import Source
    from ..timeparse import Zone


class _Recording:
    """An ImportContext that also remembers the file records emitted through it."""

    def __init__(self, ctx: ImportContext) -> None:
        self._ctx = ctx
        self.copied: list[dict[str, Any]] = []

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        out = self._ctx.emit(record)
        if out.get("kind") == "file":
            self.copied.append(out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def copy_source(source: "Source", ctx: ImportContext) -> list[dict[str, Any]]:
    """Copy the source byte for byte exactly as kind ``files`` does (a folder file
    by file, a list of files flat) and return the item records of the copies."""
    recording = _Recording(ctx)
    FilesImporter().run(source, recording)  # type: ignore[arg-type]
    return recording.copied


def bundle_file(ctx: ImportContext, record: dict[str, Any]) -> Path:
    """The copy of a payload file inside the bundle being built: importers read
    this, so each source byte is read from the source only once."""
    return ctx.writer.root / record["path"]


def source_name(source: "Source", record: dict[str, Any]) -> str:
    """The source file a payload record was copied from, named as the case
    manifest names it (relative to the manifest): machine-independent, so it can
    go into sealed check text without leaking or varying with local paths."""
    rel = record.get("original_path") or record["path"].split("/", 2)[-1]
    if source.is_list:
        for written, p in zip(source.written, source.paths):
            if p.name == rel:
                return written
    root, written = source.paths[0], source.written[0]
    return written if root.name == rel and not root.is_dir() else f"{written.rstrip('/')}/{rel}"


@dataclass(frozen=True)
class ZipMember:
    """A member of a copied zip: its emitted member record and its place in the zip."""

    record: dict[str, Any]
    index: int  # 1-based position in the zip's central directory

    @property
    def name(self) -> str:
        return self.record["member_path"]

    @property
    def readable(self) -> bool:
        return "sha256" in self.record and self.record.get("member_type") == "file" and "declared_size" not in self.record


def catalogue_zip(ctx: ImportContext, container: dict[str, Any], shown: str, tags: list[str] | None = None) -> list[ZipMember] | None:
    """Emit a member record for every member of the copied zip ``container``,
    exactly as the ``device`` importer does (so ``verify --deep`` re-derives
    them), and report its problems. None when the zip cannot be read."""
    cid = container["id"]
    members: list[ZipMember] = []
    readable = True
    fd = os.open(bundle_file(ctx, container), os.O_RDONLY)
    try:
        for ev in catalogue("zip", RandomReader.over_fd(fd), name=container["path"].rsplit("/", 1)[-1], algorithms=ctx.writer.algorithms):
            if isinstance(ev, Problem):
                readable = False
                ctx.problem(f"{shown}: {ev.reason}", check=ev.check, subject=cid)
            elif isinstance(ev, Note):
                ctx.check(ev.check, ev.verdict, f"{shown}: {ev.reason}", cid)
            elif isinstance(ev, Member):
                rec: dict[str, Any] = {"kind": "member", "container": cid, **ev.fields}
                if ev.problems:
                    rec["problems"] = [f"{check}: {reason}" for check, reason in ev.problems]
                if ev.unread:
                    rec["not_read"] = ev.unread
                if tags:
                    rec["tags"] = tags
                emitted = ctx.emit(rec)
                for check, reason in ev.problems:
                    report_member_problem(ctx, f"{shown}: member {ev.path!r} {reason}", check, emitted["id"])
                members.append(ZipMember(emitted, ev.fields["member_index"]))
    finally:
        os.close(fd)
    if not readable and not members:
        return None
    files = [m for m in members if m.record.get("member_type") == "file"]
    ctx.check(
        "zip-members",
        "pass" if readable and all(m.readable for m in files) else "fail",
        f"{shown}: {len(files)} file member(s) catalogued and hashed from the zip without extracting it",
        cid,
    )
    return members


class MemberError(Exception):
    """A member of a copied zip that cannot be read (too large, damaged); the message says why."""


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, ValueError)


class _MemberStream:
    """A member's bytes as they are inflated; a damaged member raises :class:`MemberError`."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh

    def read(self, size: int = -1) -> bytes:
        try:
            return self._fh.read(size)
        except _ZIP_ERRORS as exc:
            raise MemberError(str(exc)) from None

    def close(self) -> None:
        self._fh.close()


@contextmanager
def open_zip(ctx: ImportContext, container: dict[str, Any]) -> Iterator[zipfile.ZipFile]:
    """The copied zip ``container``, opened once for reading any number of its members."""
    with zipfile.ZipFile(bundle_file(ctx, container)) as zf:
        yield zf


def member_opener(zf: zipfile.ZipFile, member: ZipMember, limit: int) -> Callable[[], Any]:
    """What opens one member of a zip opened by :func:`open_zip` as a stream, from
    its first byte, as often as it is called (each a context manager). Nothing is
    read into memory: the member is inflated as it is read, and Python's zipfile
    never inflates it beyond the size it declares. MemberError if that size is
    larger than ``limit``."""
    size = member.record.get("size", 0)
    if size > limit:
        raise MemberError(f"{size} bytes is more than evidpack reads into memory ({limit})")
    info = zf.infolist()[member.index - 1]

    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        try:
            fh = zf.open(info)
        except _ZIP_ERRORS as exc:
            raise MemberError(str(exc)) from None
        stream = _MemberStream(fh)
        try:
            yield stream  # type: ignore[misc]
        finally:
            stream.close()

    return opener


@contextmanager
def record_file(ctx: ImportContext, name: str) -> Iterator[IO[bytes]]:
    """A derived record written a piece at a time, as ``ctx.write_record_bytes``
    writes one whole: ``evidpack/records/<source>-<name>``, created once."""
    rel = f"evidpack/records/{ctx.source.id}-{name}"
    path = ctx.writer.root / rel
    path.parent.mkdir(exist_ok=True)
    with open(path, "xb", buffering=1 << 20) as fh:
        ctx.writer.records_written.append(rel)
        yield fh


class Options:
    """``[sources.options]`` of one source, checked with one-line errors such as
    ``case.toml: sources[1].options.zone: ...``."""

    def __init__(self, source: "Source", manifest: Path, known: Iterable[str]) -> None:
        self.values = dict(source.options)
        self.prefix = f"{manifest}: sources[{int(source.id[1:]) - 1}].options"
        known = sorted(known)
        unknown = sorted(set(self.values) - set(known))
        if unknown:
            raise EvidpackError(
                f"{self.prefix}: unknown option(s) {', '.join(unknown)} for kind {source.kind!r}; known: {', '.join(known)}"
            )

    def error(self, key: str, message: str) -> EvidpackError:
        return EvidpackError(f"{self.prefix}.{key}: {message}")

    def text(self, key: str, choices: Iterable[str] | None = None) -> str | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty string")
        if choices is not None:
            allowed = tuple(choices)
            if value not in allowed:
                raise self.error(key, f"{value!r} is not one of {', '.join(repr(c) for c in allowed)}")
        return value

    def zone(self, key: str = "zone") -> "Zone | None":
        """A zone for naive times: an offset (+08:00), UTC, or an IANA name."""
        from ..timeparse import TimeProblem, parse_zone

        text = self.text(key)
        if text is None:
            return None
        try:
            return parse_zone(text)
        except TimeProblem as exc:
            raise self.error(key, str(exc)) from None

    def flag(self, key: str) -> bool:
        value = self.values.get(key, False)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def table(self, key: str) -> dict[str, Any]:
        value = self.values.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, "must be a table, e.g. { name = \"value\" }")
        return value


