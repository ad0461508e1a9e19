"""Helpers shared by importers that copy a source like ``files`` and then read
what they copied: copying with the files importer, naming a source file in a
message, reading the copy inside the bundle, cataloguing a zip among the copies,
and checking ``[sources.options]``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EvidpackError
from .base import ImportContext
from .containers import Member, Note, Problem, RandomReader, catalogue
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
                    ctx.problem(f"{shown}: member {ev.path!r} {reason}", check=check, subject=emitted["id"])
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


def read_member(ctx: ImportContext, container: dict[str, Any], member: ZipMember, limit: int) -> bytes:
    """The bytes of one member of a copied zip (ValueError if larger than ``limit``)."""
    size = member.record.get("size", 0)
    if size > limit:
        raise ValueError(f"{size} bytes is more than evidpack reads into memory ({limit})")
    with zipfile.ZipFile(bundle_file(ctx, container)) as zf:
        return zf.read(zf.infolist()[member.index - 1])


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


