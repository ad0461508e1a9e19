"""The importer interface.

An importer reads one source (never writing to it) and reports to an
:class:`ImportContext`: payload files it copies, member records of containers,
derived records (``evidpack/records/``) and source checks. The context is the
only way an importer writes anything, so everything lands inside the bundle
being built.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .. import bag
from ..errors import EvidpackError
from ..mediatype import sniff
from ..payloadcopy import Tee, copy_file
from ..timeutil import format_epoch_ns

if TYPE_CHECKING:
    from ..build import BundleWriter
    from ..payloadcopy import CopyPool
    from ..casefile import Source

VERDICTS = ("pass", "fail", "not-checkable", "warn")


@dataclass(frozen=True)
class SourceCheck:
    """One check made on a source: pass, fail, not-checkable (with why), or warn."""

    name: str
    verdict: str
    detail: str
    subject: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.name, "verdict": self.verdict, "detail": self.detail}
        if self.subject is not None:
            out["subject"] = self.subject
        return out


class Importer(Protocol):
    kind: ClassVar[str]

    def run(self, source: "Source", ctx: "ImportContext") -> None: ...


class ImportContext:
    def __init__(self, writer: "BundleWriter", source: "Source", keep_going: bool, pool: "CopyPool | None" = None) -> None:
        self.writer = writer
        self.source = source
        self.keep_going = keep_going
        self.pool = pool  # the build's copy workers (shared by its sources), if it has them
        self.checks: list[SourceCheck] = []
        self.facts: dict[str, Any] = {}
        self.file_count = 0
        self.byte_count = 0
        self.events: list[tuple[str, dict[str, Any]]] = []

    # --- catalogue tables and custody events ----------------------------------

    def add_rows(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Rows for an importer's own catalogue table (e.g. ``wechat_logins``),
        a list or any iterable (read once, now). Each row gets a ``source``
        column; the rows are spooled to disk, and the table is created at build
        time (even with no rows)."""
        source = self.source.id
        self.writer.add_rows(table, ({"source": source, **r} for r in rows))

    def custody_event(self, action: str, details: dict[str, Any]) -> None:
        """A custody event this source calls for (e.g. ``received`` for a production),
        appended after the source's ``imported`` event, signed by the sealer."""
        self.events.append((action, details))

    # --- checks and problems ------------------------------------------------

    def check(self, name: str, verdict: str, detail: str, subject: str | None = None) -> SourceCheck:
        c = SourceCheck(name, verdict, detail, subject)
        self.checks.append(c)
        return c

    def problem(self, message: str, *, check: str, subject: str | None = None) -> None:
        """Bad input: stop the build with ``message``, or with ``--keep-going``
        record it as a failed check (shown in every report) and carry on."""
        if not self.keep_going:
            raise EvidpackError(message + " (use --keep-going to record it as a failed check and continue)")
        self.writer.warn(message)
        self.check(check, "fail", message, subject)

    # --- payload -------------------------------------------------------------

    @property
    def scratch(self) -> str:
        """The folder for an importer's temporary files: the one the bundle is
        built in (never the system's temporary folder, which may be memory, or
        small). Make them anonymous (``tempfile.TemporaryFile(dir=...)``)."""
        return str(self.writer.root.parent)

    def waiting_for_copies(self) -> None:
        """Called by an importer that has copies under way and would wait for
        them: the build does now what needs no data (it starts the catalogue's
        child and the loading of the PDF renderer, and unlocks the sealing key)."""
        self.writer.copies_under_way()

    def payload_path(self, rel: str) -> str:
        """Bag-relative path of a payload file of this source. Whatever an
        importer read its name from, it stays inside the source's folder: an
        absolute name, a '..' or '.' part or an empty part is refused here."""
        if not bag.inside(rel):
            raise EvidpackError(
                f"refusing to write {rel!r} into the bundle: it would not stay inside data/{self.source.folder}/ "
                "(an absolute path, a '..', '.' or empty part, or a NUL); nothing was sealed"
            )
        return f"data/{self.source.folder}/{rel}"

    def copy_file(
        self,
        src: str,
        rel: str,
        lst: os.stat_result | None,
        extra: dict[str, Any] | None = None,
        *,
        tee: Tee | None = None,
        also: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Copy one regular file into the payload, hashing it in the same pass.

        ``lst`` is the lstat taken when the file was found (None: it was not
        stat'ed when found); the file must be the same regular file when opened
        (a regular file, if ``lst`` is None) and unchanged (size, mtime) after reading.
        ``tee``, if given, gets each chunk from memory as it is written (so the
        copy can be read while it is written, see ``payloadcopy.Tee``).
        ``also`` names digests wanted beside the bundle's (e.g. ``sha1``, to check
        a tool's record); they are computed in the same read and recorded too.
        Returns the item record (not yet emitted)."""
        bag_rel = self.payload_path(rel)
        algorithms = tuple(dict.fromkeys((*self.writer.algorithms, *also)))
        copied = copy_file(src, f"{self.writer.root}/{bag_rel}", None if lst is None else (lst.st_ino, lst.st_dev), algorithms, tee=tee)
        return self.file_record(bag_rel, copied.size, copied.mtime_ns, copied.hex, sniff(copied.head, rel), extra)

    def file_record(
        self, bag_rel: str, size: int, mtime_ns: int, digests: dict[str, str], media_type: str, extra: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The item record of a payload file just copied (not yet emitted)."""
        record: dict[str, Any] = {
            "kind": "file",
            "path": bag_rel,
            "size": size,
            "mtime": format_epoch_ns(mtime_ns),
            "source": self.source.id,
            "media_type": media_type,
        }
        record.update(digests)
        if extra:
            record.update(extra)
        return record

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Assign the exhibit id and salt, and write the record to items.jsonl."""
        if record.get("kind") == "file":
            self.file_count += 1
            self.byte_count += record["size"]
        record.setdefault("source", self.source.id)
        return self.writer.emit(record)

    def write_record(self, name: str, obj: Any) -> Path:
        """A derived record: ``evidpack/records/<source>-<name>.json``."""
        return self.writer.write_record(f"{self.source.id}-{name}.json", obj)

    def write_record_bytes(self, name: str, data: bytes) -> Path:
        """A derived record that is not JSON (e.g. a CSV export):
        ``evidpack/records/<source>-<name>``, written once."""
        rel = f"evidpack/records/{self.source.id}-{name}"
        path = self.writer.root / rel
        path.parent.mkdir(exist_ok=True)
        with open(path, "xb") as fh:
            fh.write(data)
        self.writer.records_written.append(rel)
        return path
