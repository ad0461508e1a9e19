"""The court-ready PDF index of a bundle (``evidpack/index.pdf``).

:func:`render_index` reads a bundle through :class:`evidpack.bundle.Bundle`
(so a folder, a zip, or the folder a build is sealing) and returns the PDF:
cover, contents, one section per source, the item schedule, the custody log
and how to verify. Each part is made by its own module; this one gathers what
they read and puts them in order.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import IO, Any

from reportlab.platypus import Flowable, PageBreak

from .. import bag
from ..bundle import Bundle
from ..custody import CUSTODY_FILE, line_hash, parse_lines
from ..errors import EvidpackError
from . import cover, custody_log, schedule, sources, verifying
from .document import Contents, Entry, Heading, Identity, LateDigest, ReportDocument, body_pages
from .flowables import keep_with_next
from .styles import H1

TAGMANIFEST = "tagmanifest-sha256.txt"
RECORDS = "evidpack/records/"


@dataclass
class IndexInput:
    """Everything the index prints, read from the bundle once."""

    bundle: Bundle
    case: dict[str, Any]
    seal: dict[str, Any]
    sources: list[dict[str, Any]]
    tagmanifest_sha256: str  # while sealing, the stand-in of ``late``
    record_files: list[str]  # the derived records (evidpack/records/...), sorted
    custody: list[dict[str, Any]]  # one per line of the log (an unreadable line as an event saying so)
    at_seal: bool  # rendered while sealing: the 'sealed' event is not in ``custody`` yet
    rendered_at: datetime
    pdf_signer: str | None = None  # subject of the X.509 certificate that signs the PDF, if any
    late: LateDigest | None = None  # while sealing: the tag manifest is written as the PDF is saved
    custody_head: str | None = None  # SHA-256 of the log's last line
    _records: dict[str, Any] = field(default_factory=dict)

    @property
    def case_id(self) -> str:
        return str(self.case.get("id") or self.seal.get("case") or "")

    @property
    def digests(self) -> tuple[str, ...]:
        return tuple(self.seal.get("digests") or ("sha256",))

    @property
    def signer(self) -> dict[str, Any]:
        return self.seal.get("signer") or {}

    @cached_property
    def tool(self) -> str:
        tool = self.seal.get("tool") or {}
        return f"{tool.get('name', '?')} {tool.get('version', '?')}"

    def records_of(self, source_id: str) -> dict[str, Any]:
        """The derived JSON records of a source, by name without the ``<source>-``
        prefix (``S02-wechat.json`` -> ``wechat``)."""
        prefix = f"{RECORDS}{source_id}-"
        out = {}
        for rel in self.record_files:
            if rel.startswith(prefix) and rel.endswith(".json"):
                if rel not in self._records:
                    self._records[rel] = _json(self.bundle, rel)
                out[rel[len(prefix) : -len(".json")]] = self._records[rel]
        return out


def _json(bundle: Bundle, rel: str) -> Any:
    data = bundle.read(rel)
    if data is None:
        raise EvidpackError(f"{bundle.path}: {rel} is missing; cannot render the index")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise EvidpackError(f"{bundle.path}: {rel} is not valid JSON ({exc})") from None
    except RecursionError:
        raise EvidpackError(f"{bundle.path}: {rel} is not valid JSON (nested too deeply)") from None


def _object(bundle: Bundle, rel: str) -> dict[str, Any]:
    value = _json(bundle, rel)
    if not isinstance(value, dict):
        raise EvidpackError(f"{bundle.path}: {rel} is not a JSON object; cannot render the index")
    return value


def _sources(bundle: Bundle, data: bytes) -> list[dict[str, Any]]:
    """The lines of evidpack/sources.jsonl (sealed: one that is not a JSON object is an error, named)."""
    out = []
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise EvidpackError(f"{bundle.path}: evidpack/sources.jsonl line {n} is not valid JSON ({problem}); cannot render the index") from None
        if not isinstance(row, dict):
            raise EvidpackError(f"{bundle.path}: evidpack/sources.jsonl line {n} is not a JSON object; cannot render the index")
        out.append(row)
    return out


def load(
    bundle: Bundle,
    *,
    custody_lines: list[bytes] | None,
    rendered_at: datetime,
    pdf_signer: str | None = None,
    seal: Callable[[], str] | None = None,
) -> IndexInput:
    """Read what the index needs. ``custody_lines`` are the events written so
    far while sealing; without them, the bundle's whole custody log is read.
    With ``seal``, the tag manifest is not written yet (see :func:`write_index`)."""
    late = None
    if seal is not None:
        late = LateDigest.of(seal)
        tm_sha256 = late.stand_in
        entries = [rel for rel in bundle.files(payload=False) if rel.startswith(RECORDS)]
    else:
        tm = bundle.read(TAGMANIFEST)
        if tm is None:
            raise EvidpackError(f"{bundle.path}: {TAGMANIFEST} is missing; cannot render the index")
        tm_sha256 = hashlib.sha256(tm).hexdigest()
        entries = [rel for rel in bag.parse_manifest(tm, TAGMANIFEST)[0] if rel.startswith(RECORDS)]
    sources_data = bundle.read("evidpack/sources.jsonl") or b""
    if custody_lines is None:
        parsed = parse_lines(bundle.read(CUSTODY_FILE) or b"")
    else:
        parsed = parse_lines(b"".join(line + b"\n" for line in custody_lines))
    custody: list[dict[str, Any]] = []
    head = None
    for _, line, event, _ in parsed:
        if event is None:  # not JSON, not an object, nested past the decoder's limit, torn
            event = {"action": "(unreadable line)", "details": {"line": line.decode("utf-8", "replace")}}
        custody.append(event)
        head = line_hash(line)
    return IndexInput(
        bundle=bundle,
        case=_object(bundle, "evidpack/case.json"),
        seal=_object(bundle, "evidpack/seal.json"),
        sources=_sources(bundle, sources_data),
        tagmanifest_sha256=tm_sha256,
        record_files=sorted(entries),
        custody=custody,
        custody_head=head,
        at_seal=custody_lines is not None,
        rendered_at=rendered_at,
        pdf_signer=pdf_signer,
        late=late,
    )


def render_index(
    bundle: Bundle,
    *,
    rendered_at: datetime,
    custody_lines: list[bytes] | None = None,
    pdf_signer: str | None = None,
) -> bytes:
    """The index as PDF bytes (see :func:`write_index`, which writes it to a
    file page by page instead of holding it)."""
    out = io.BytesIO()
    write_index(bundle, out, rendered_at=rendered_at, custody_lines=custody_lines, pdf_signer=pdf_signer)
    return out.getvalue()


def write_index(
    bundle: Bundle,
    out: IO[bytes],
    *,
    rendered_at: datetime,
    custody_lines: list[bytes] | None = None,
    pdf_signer: str | None = None,
    seal: Callable[[], str] | None = None,
) -> None:
    """Write the index as PDF to ``out`` (a binary file opened for writing),
    each page as soon as it is laid out: memory does not grow with the case.

    While sealing, give ``custody_lines`` (the events so far): the result is the
    sealed index, whose custody log ends with a row describing the seal. Without
    them, the result is a reading copy showing the whole custody log, including
    events recorded after the seal. The output depends on nothing else (not the
    bundle's folder name, not the clock): the same bundle and time give the same bytes.

    ``seal`` lets the index be laid out before the tag manifest exists: it is
    called once every page is laid out, must write (and sign) the tag manifest
    and return its SHA-256, which the index prints (see :class:`LateDigest`).
    The result is the same as if the tag manifest had been there from the start."""
    if seal is not None and custody_lines is None:
        raise ValueError("only the sealed index is rendered before the tag manifest exists")
    data = load(bundle, custody_lines=custody_lines, rendered_at=rendered_at, pdf_signer=pdf_signer, seal=seal)
    identity = Identity(
        case_id=data.case_id,
        tagmanifest_sha256=data.tagmanifest_sha256,
        title="Evidence index",
        kind="Sealed index (evidpack/index.pdf)" if data.at_seal else "Reading copy — not the sealed index",
        author=str(data.case.get("examiner") or data.signer.get("name") or ""),
        created=rendered_at,
    )
    parts: list[tuple[Entry, list[Entry], list[Flowable]]] = [
        sources.section(data),
        schedule.section(data),
        custody_log.section(data),
        verifying.section(data),
    ]
    story: list[Flowable] = [*cover.page(data), *body_pages()]
    story += [Heading("Contents", H1, key="contents", space_before=0), Contents(e for entry, subs, _ in parts for e in (entry, *subs))]
    for entry, _, flowables in parts:
        story += [PageBreak(), Heading(entry.text, H1, key=entry.key, space_before=0), *flowables]
    ReportDocument(identity, data.late).write(keep_with_next(story), out)
