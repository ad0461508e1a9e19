"""``verify --deep``: every member of every container, re-read from the sealed
copy and re-hashed, compared with its member record.

A container's member records are derived from the container's bytes by
:func:`evidpack.importers.containers.catalogue`; running it again over the
payload file (in a bundle folder or a bundle zip) must give the same members
in the same order, with the same names, types, sizes and digests. The payload
manifests already prove the container's own bytes; this proves each member
record says what is really inside.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .importers.containers import FORMATS, Limits, Member, RandomReader, announced_format, catalogue

if TYPE_CHECKING:
    from .bundle import Bundle
    from .verify import Report

_COMPARED = ("member_path", "member_path_raw", "member_type", "size", "sha256", "md5")


def _key(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: fields.get(k) for k in _COMPARED}


def _limits(record: dict[str, Any]) -> Limits:
    caps = record.get("expansion_caps") or {}
    default = Limits()
    return Limits(max_ratio=float(caps.get("max_ratio", default.max_ratio)), max_expanded=int(caps.get("max_expanded", default.max_expanded)))


def _records(b: "Bundle") -> tuple[dict[str, dict[str, Any]], dict[str, list[tuple[str, dict[str, Any]]]]]:
    """Container records (by id) and member records (by container id, in order).
    A file that is not marked as a container but has member records (another
    importer's, e.g. a WACZ) counts as a container too."""
    candidates: dict[str, dict[str, Any]] = {}
    members: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for line in b.lines("evidpack/items.jsonl"):
        try:
            rec = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue  # the items check reports it
        if not isinstance(rec, dict):
            continue
        if rec.get("kind") == "file" and (rec.get("container_format") or announced_format(str(rec.get("path", ""))) or rec.get("media_type") == "application/zip"):
            candidates[str(rec.get("id"))] = rec
        elif rec.get("kind") == "member":
            members.setdefault(str(rec.get("container")), []).append((str(rec.get("id")), _key(rec)))
    containers = {cid: rec for cid, rec in candidates.items() if rec.get("container_format") or cid in members}
    return containers, members


def _format(record: dict[str, Any]) -> str | None:
    return record.get("container_format") or announced_format(str(record.get("path", ""))) or "zip"


@contextmanager
def _payload_reader(b: "Bundle", rel: str) -> Iterator[RandomReader]:
    """Positioned reads of a payload file: straight from the file in a bundle
    folder; in a bundle zip, straight from the zip at the member's data when it
    is stored (as evidpack writes payload), else from a private temporary copy."""
    if not b.is_zip:
        fd = os.open(b.path / rel, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            yield RandomReader.over_fd(fd)
        finally:
            os.close(fd)
        return
    with zipfile.ZipFile(b.path) as zf:
        info = zf.getinfo(f"{b.name}/{rel}")
    fd = os.open(b.path, os.O_RDONLY)
    try:
        header = os.pread(fd, 30, info.header_offset)
        if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 1 and header[:4] == b"PK\x03\x04":
            nlen, xlen = struct.unpack_from("<HH", header, 26)
            yield RandomReader.over_fd(fd, info.header_offset + 30 + nlen + xlen, info.file_size)
            return
        with tempfile.TemporaryFile(prefix="evidpack-deep-") as tmp, b.open_stream(rel) as src:
            shutil.copyfileobj(src, tmp, 1 << 20)
            tmp.flush()
            yield RandomReader.over_fd(tmp.fileno())
    finally:
        os.close(fd)


def _reread(b: "Bundle", record: dict[str, Any], algorithms: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    path = record["path"]
    with _payload_reader(b, path) as reader:
        for ev in catalogue(record["container_format"], reader, name=path.rsplit("/", 1)[-1], algorithms=algorithms, limits=_limits(record)):
            if isinstance(ev, Member):
                yield _key(ev.fields)


def _compare_in_order(recorded: list[tuple[str, dict[str, Any]]], found: Iterator[dict[str, Any]], where: str, problems: list[str]) -> None:
    """evidpack's own member records: one per member, in the container's order."""
    n = 0
    for n, got in enumerate(found, 1):
        if n <= len(recorded):
            _differs(recorded[n - 1], got, where, problems)
    if n != len(recorded):
        problems.append(f"{where}: the container holds {n} member(s), the bundle has {len(recorded)} member record(s) for it")


def _compare_by_name(recorded: list[tuple[str, dict[str, Any]]], found: Iterator[dict[str, Any]], where: str, problems: list[str]) -> None:
    """Member records another importer wrote (which may leave out folders): each
    must name a member of the container and agree with it."""
    waiting: dict[Any, list[tuple[str, dict[str, Any]]]] = {}
    for mid, want in recorded:
        waiting.setdefault(want["member_path_raw"] or want["member_path"], []).append((mid, want))
    for got in found:
        queue = waiting.get(got["member_path_raw"] or got["member_path"])
        if queue:
            mid, want = queue.pop(0)
            _differs((mid, want), got, where, problems, only=[k for k in _COMPARED if want[k] is not None])
    for queue in waiting.values():
        for mid, want in queue:
            problems.append(f"{mid} {want['member_path']!r} in {where}: no such member in the container")


def _differs(rec: tuple[str, dict[str, Any]], got: dict[str, Any], where: str, problems: list[str], only: list[str] | None = None) -> None:
    mid, want = rec
    for k in only or _COMPARED:
        if got[k] != want[k]:
            problems.append(f"{mid} {want['member_path']!r} in {where}: {k} differs (the container gives {got[k]!r}, the record says {want[k]!r})")
            return


def check_members(b: "Bundle", rep: "Report") -> None:
    """Add the ``container-members`` check to ``rep``."""
    containers, members = _records(b)
    problems: list[str] = []
    total = 0
    for cid, record in containers.items():
        recorded = members.pop(cid, [])
        where = f"{cid} {record.get('path')}"
        fmt = _format(record)
        if fmt not in FORMATS:
            problems.append(f"{where}: unknown container format {fmt!r}")
            continue
        record = {**record, "container_format": fmt}
        algorithms = tuple(a for a in ("sha256", "md5") if a in record)
        compare = _compare_in_order if "container_format" in containers[cid] else _compare_by_name
        try:
            compare(recorded, _reread(b, record, algorithms), where, problems)
        except (OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            problems.append(f"{where}: cannot be re-read ({exc})")
            continue
        total += len(recorded)
    for cid, recorded in sorted(members.items()):
        problems.append(f"{recorded[0][0]}: member record(s) of {cid}, which is not a container in this bundle")
    if not containers and not members:
        rep.add("container-members", "pass", "no containers in this bundle")
        return
    rep.fail(
        "container-members",
        problems,
        f"{len(containers)} container(s): {total} member record(s) re-derived from the sealed copies (members re-read and re-hashed); all match",
    )
