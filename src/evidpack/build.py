"""Build a sealed bundle from a case: run importers, write the payload, seal atomically.

The bundle is written into a hidden sibling folder that carries an
``evidpack/.incomplete`` marker; it is renamed into place only when sealed, and
the marker is removed last. ``verify`` fails any bundle that still has the
marker, so an interrupted build never leaves anything that verifies as sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mmap
import os
import secrets
import shutil
import signal
import threading
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import FORMAT, TOOL_NAME, __version__, bag, canonical, merkle
from .bundle import Bundle
from .casefile import Case, Source
from .cataloguewriter import RowSpool
from .atomic import Interrupted, fsync_dir, signals_deferred, sigterm_interrupts
from .errors import EvidpackError
from .hashing import hash_file
from .importers import ImportContext, importer_for
from .names import (  # noqa: F401  (re-exported: the names a bundle's files go by)
    CUSTODY_FILE,
    INCOMPLETE_MARKER,
    INDEX_PDF,
    INDEX_SIG,
    SIG_FILE,
    SSHSIG_FILE,
    TAGMANIFEST,
    UNSEALED_TAG_FILES,
)
from .timeutil import format_utc

if TYPE_CHECKING:
    from .cataloguewriter import CatalogueWriter
    from .custody import ChainWriter
    from .keys import PublicKey, SigningKey
    from .payloadcopy import CopyPool
    from .report.pades import PdfCertSigner

@dataclass(frozen=True)
class BuildResult:
    path: Path
    items: int
    files: int
    bytes: int
    merkle_root: str
    tagmanifest_sha256: str
    custody_head: str
    warnings: tuple[str, ...]
    zip_path: Path | None
    signer: "PublicKey"


_WRITE_BUFFER = 1 << 20


class _Key:
    """The sealing key, unlocked when first asked for (in any thread; once)."""

    def __init__(self, key: "SigningKey | Callable[[], SigningKey]") -> None:
        self._unlock = key if callable(key) else None
        self._key = None if callable(key) else key
        self._lock = threading.Lock()

    def __call__(self) -> "SigningKey":
        if self._key is None:
            with self._lock:
                if self._key is None:
                    assert self._unlock is not None
                    self._key = self._unlock()
        return self._key


class BundleWriter:
    """Owns everything written into the bundle under construction."""

    def __init__(
        self,
        root: Path,
        case: Case,
        key: "SigningKey | Callable[[], SigningKey]",
        algorithms: tuple[str, ...],
        warn: Callable[[str], None],
        rows: RowSpool | None = None,
        starters: Iterable[Callable[[], None]] = (),
    ) -> None:
        self.root = root
        self._starters = list(starters)
        self.case = case
        self.key = _Key(key)
        self.algorithms = algorithms
        self.warn = warn
        self.merkle = merkle.RootBuilder()
        self.payload_files = 0
        self.payload_bytes = 0
        self._next_item = 1
        self._next_member: dict[str, int] = {}
        self._salt_hmac: hmac.HMAC | None = None
        (root / "evidpack").mkdir(parents=True)
        (root / "data").mkdir()
        # Written a line per item: large buffers, few system calls.
        self._items = open(root / "evidpack/items.jsonl", "wb", buffering=_WRITE_BUFFER)
        self._manifests = {a: open(root / f"manifest-{a}.txt", "wb", buffering=_WRITE_BUFFER) for a in algorithms}
        self.records_written: list[str] = []
        # The importers' catalogue rows go to a hidden file in the unsealed folder until the catalogue is written (deleted before sealing).
        self.rows = rows if rows is not None else RowSpool(_rows_path(root))

    @property
    def _salt(self) -> hmac.HMAC:
        """The HMAC the leaf salts are made with (its key derived from the sealing key)."""
        if self._salt_hmac is None:
            self._salt_hmac = hmac.new(self.key().derive_secret(f"leaf-salt {self.case.id}"), digestmod=hashlib.sha256)
        return self._salt_hmac

    def copies_under_way(self) -> None:
        """The first copies are under way (or the sources are read): start the
        work that waits for none of them, once -- the ``starters`` (the
        catalogue's child, the loading of the PDF renderer: started any
        earlier, they would take the CPU, and the GIL, from handing out the
        first files) -- and unlock the sealing key."""
        while self._starters:
            self._starters.pop(0)()
        self.key()

    def add_rows(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Rows for an importer's catalogue table, spooled to disk (see :class:`RowSpool`)."""
        self.rows.add(table, rows)

    @property
    def next_item(self) -> int:
        """The number the next item record gets (see :func:`item_id`)."""
        return self._next_item

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        if record.get("kind") == "member":
            container = record["container"]
            n = self._next_member.get(container, 0) + 1
            self._next_member[container] = n
            record["id"] = member_id(container, n)
        else:
            record["id"] = item_id(self._next_item)
            self._next_item += 1
        line = self._salted(record)
        self._items.write(line + b"\n")
        self.merkle.add(merkle.leaf_hash(line))
        if record["kind"] == "file":
            path = record["path"]
            for alg, fh in self._manifests.items():
                fh.write(bag.manifest_line(record[alg], path))
            self.payload_files += 1
            self.payload_bytes += record["size"]
        return record

    def _salted(self, record: dict[str, Any]) -> bytes:
        """The record's line: its salt set, in canonical form (no newline)."""
        record.pop("salt", None)
        # The salt is an HMAC of the record under a secret only the sealer's key
        # yields: deterministic on rebuild, unguessable to anyone holding a proof.
        # The record is encoded once, with a placeholder salt (as prepare_member
        # does): cut out, it leaves the record's canonical form without a salt.
        line = canonical.dumps({**record, "salt": _HOLES["salt"]})
        if line.count(b"\\u0000") == 1 and _SALT in line:
            s = line.index(_SALT)
            head, rest = line[:s], line[s + len(_SALT) :]
            salt = self._salt.copy()
            salt.update(head + rest)
            record["salt"] = salt.hexdigest()[:32]
            return b"".join((head, b',"salt":"', record["salt"].encode(), b'"', rest))
        salt = self._salt.copy()  # a NUL in a value, or "salt" the first key: the plain way
        salt.update(canonical.dumps(record))
        record["salt"] = salt.hexdigest()[:32]
        return canonical.dumps(record)

    # A container's member records can be made in the thread that reads its
    # members, while the container is still being copied, and written after it.

    def member_line(self, prepared: "PreparedMember", container: str, n: int) -> bytes:
        """The line :meth:`emit` would write for member ``n`` of ``container``, a
        record encoded by :func:`prepare_member`; in any thread (nothing is written)."""
        if isinstance(prepared, dict):
            return self._salted({**prepared, "container": container, "id": member_id(container, n)})
        head, middle, tail, rest = prepared
        cid, mid = container.encode(), member_id(container, n).encode()
        salt = self._salt.copy()
        salt.update(b"".join((head, cid, middle, mid, tail, rest)))
        return b"".join((head, cid, middle, mid, tail, b',"salt":"', salt.hexdigest()[:32].encode(), b'"', rest))

    def add_member_lines(self, container: str, blocks: Iterable[bytes]) -> None:
        """Write lines made by :meth:`member_line` (each ending in a newline), for
        the members of ``container`` that follow those written so far, in order."""
        n = self._next_member.get(container, 0)
        for block in blocks:
            for line in block.split(b"\n")[:-1]:
                self.merkle.add(merkle.leaf_hash(line))
                n += 1
            self._items.write(block)
        self._next_member[container] = n

    def write_record(self, name: str, obj: Any) -> Path:
        path = self.root / "evidpack/records" / name
        path.parent.mkdir(exist_ok=True)
        if path.exists():
            raise EvidpackError(f"internal: derived record {name} written twice")
        path.write_bytes(json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8") + b"\n")
        self.records_written.append(f"evidpack/records/{name}")
        return path

    def close(self) -> None:
        self._items.close()
        for fh in self._manifests.values():
            fh.close()


def item_id(number: int) -> str:
    """The id of the item record numbered ``number`` (1: ``E0001``)."""
    return f"E{number:04d}"


def member_id(container: str, n: int) -> str:
    return f"{container}/M{n:06d}"


#: A member record encoded before its container's id is known: its canonical
#: form cut where the container id, the member id and the salt go (or, when it
#: cannot be cut, the record itself).
PreparedMember = tuple[bytes, bytes, bytes, bytes] | dict[str, Any]

_HOLES = {"container": "\x00c", "id": "\x00i", "salt": "\x00s"}  # placeholders: encoded, \u0000c and so on
_HOLE = len(b"\\u0000c")
_SALT = b',"salt":"\\u0000s"'


def prepare_member(record: dict[str, Any]) -> PreparedMember:
    """Encode a member record (everything but its container, id and salt) for
    :meth:`BundleWriter.member_line`, in any thread: the canonical encoding,
    the costly part, is done once, with placeholders cut out afterwards."""
    line = canonical.dumps({**record, **_HOLES})
    if line.count(b"\\u0000") != 3:
        return record  # a placeholder's bytes may occur elsewhere (a NUL in a value): emitted the plain way
    c = line.index(b'"container":"\\u0000c"') + len(b'"container":"')
    i = line.index(b'"id":"\\u0000i"') + len(b'"id":"')
    s = line.index(_SALT)
    return line[:c], line[c + _HOLE : i], line[i + _HOLE : s], line[s + len(_SALT) :]


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    with open(path, "xb") as fh:
        fh.write(data)


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(canonical.dumps(r) + b"\n" for r in rows)


def _rows_path(root: Path) -> Path:
    """Where the importers' catalogue rows are spooled while ``root`` (the
    temporary folder) is built: inside it, hidden, and deleted before the tag
    manifest is made. A build killed outright (SIGKILL, power loss) so leaves
    nothing beside its unsealed temporary folder."""
    return root / ".catalogue-rows.spool"


def tag_files(root: Path) -> list[str]:
    """Every file outside ``data/`` that the tag manifest must cover, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == "data" or rel_dir.startswith("data" + os.sep):
            dirnames[:] = []
            continue
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            if rel.startswith("tagmanifest-") or rel in UNSEALED_TAG_FILES or rel == INCOMPLETE_MARKER:
                continue
            out.append(rel)
    return sorted(out)


def build(
    case: Case,
    key: "SigningKey | Callable[[], SigningKey]",
    out: Path,
    *,
    built_at: datetime,
    keep_going: bool = False,
    md5: bool = True,
    make_zip: bool = False,
    warn: Callable[[str], None] | None = None,
    pdf_signer: PdfCertSigner | None = None,
    pool: "CopyPool | None" = None,
) -> BuildResult:
    """Build and seal ``case`` into the new folder ``out``. With ``pdf_signer``,
    the PDF index also carries a PAdES signature by that X.509 certificate.

    ``key`` is the sealing key, or a function that unlocks it: the build calls
    it once, while its first files are being copied (or when the key is first
    needed), so the key derivation (a few hundredths of a second) costs no
    time; an error it raises stops the build.
    ``pool`` copies the files (the caller may start it early, see
    :meth:`CopyPool.start`); by default the build makes its own. Either way
    it is closed when the build ends."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise EvidpackError(f"{out}: already exists; evidpack never writes into an existing folder")
    zip_path = out.with_name(out.name + ".zip") if make_zip else None
    if zip_path is not None and (zip_path.exists() or zip_path.is_symlink()):
        raise EvidpackError(f"{zip_path}: already exists")
    for source in case.sources:
        if importer_for(source.kind) is None:
            raise EvidpackError(f"{case.manifest_path}: source {source.id}: kind {source.kind!r} is not supported yet")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    warnings: list[str] = []

    def _warn(msg: str) -> None:
        warnings.append(msg)
        if warn:
            warn(msg)

    # The PDF renderer (reportlab, fonts) takes a few tenths of a second to load:
    # it is loaded while the sources are read, once the first copies are under
    # way (see BundleWriter.copies_under_way), as the catalogue's child is started.
    preload = threading.Thread(target=_preload_renderer, name="evidpack-preload", daemon=True)
    from .cataloguewriter import CatalogueWriter
    from .payloadcopy import CopyPool

    rows = RowSpool(_rows_path(tmp))
    zip_tmp: Path | None = None
    with sigterm_interrupts():
        try:
            tmp.mkdir()
            # The catalogue's child process loads its libraries while the sources are read.
            try:
                with CatalogueWriter(start=False) as catalogue, pool or CopyPool() as copiers:
                    result = _build_into(
                        tmp, case, key, built_at, keep_going, ("sha256", "md5") if md5 else ("sha256",), _warn, pdf_signer, catalogue, copiers, rows,
                        (catalogue.start, preload.start),
                    )
            finally:
                rows.remove()  # (the catalogue's child, which reads it, has ended)
            if zip_path is not None:
                # Written before anything is moved into place: the command makes
                # the sealed folder and its zip, or, interrupted, neither.
                zip_tmp = write_zip(tmp, zip_path, built_at, name=out.name, keep_tmp=True)
            for final in (out, zip_path):
                if final is not None and (final.exists() or final.is_symlink()):
                    raise EvidpackError(f"{final}: appeared while building; the new bundle was discarded")
        except BaseException as exc:
            _discard(tmp, zip_tmp)
            # The process ends soon after a failed build: let the preload finish
            # its imports first (an interpreter shutting down while a daemon
            # thread is still loading C extensions can crash instead of exiting).
            if preload.ident is not None:
                preload.join(timeout=30)
            if isinstance(exc, (Interrupted, KeyboardInterrupt)):
                raise BuildInterrupted(exc) from None
            raise
    # Moving the bundle (and its zip) into place takes a moment and must not be
    # cut short: a signal now is ignored (the command ends next).
    with signals_deferred():
        try:
            os.rename(tmp, out)
        except OSError as exc:
            _discard(tmp, zip_tmp)
            raise EvidpackError(f"{out}: cannot move the new bundle into place ({exc.strerror or exc}); nothing was sealed") from None
        (out / INCOMPLETE_MARKER).unlink()
        fsync_dir(out / "evidpack")
        if zip_tmp is not None and zip_path is not None:
            try:
                os.rename(zip_tmp, zip_path)
            except OSError as exc:
                zip_tmp.unlink(missing_ok=True)
                raise EvidpackError(f"{zip_path}: cannot move the zip into place ({exc.strerror or exc}); {out} is sealed without it") from None
        fsync_dir(out.parent)
    *counts, signer = result
    return BuildResult(out, *counts, tuple(warnings), zip_path, signer)


class BuildInterrupted(EvidpackError):
    """Ctrl-C or SIGTERM stopped a build before anything was sealed (and
    everything it wrote was removed); exit status 130 or 143, as a shell gives."""

    def __init__(self, why: BaseException) -> None:
        how = "Ctrl-C" if isinstance(why, KeyboardInterrupt) else str(why)
        super().__init__(f"build interrupted ({how}); nothing was sealed")
        self.exit_code = 130 if isinstance(why, KeyboardInterrupt) else 128 + signal.SIGTERM


def _check_acquired_before(source: Source, ctx: ImportContext, built_at: datetime, warn: Callable[[str], None]) -> None:
    """An acquisition the manifest dates after the bundle's sealing time cannot
    be right (the manifest's time, or the build's --time or clock, is wrong):
    a ``warn`` check, sealed with the source, and a warning now."""
    at = source.acquisition.at
    if at <= built_at:
        return
    text = (
        f"source {source.id} ({source.label}): acquired at {format_utc(at)} according to the case manifest, "
        f"after this bundle's sealing time {format_utc(built_at)}; one of the two is wrong "
        "(the manifest's acquisition time, or the build's --time or clock)"
    )
    warn(text)
    ctx.check("acquisition-time", "warn", text)


def _discard(tmp: Path, zip_tmp: Path | None) -> None:
    """Remove what an unfinished build wrote (its folder and zip, both temporary)."""
    if zip_tmp is not None:
        zip_tmp.unlink(missing_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)


def _preload_renderer() -> None:
    from .payloadcopy import in_background

    in_background()
    try:
        import_module("evidpack.report").fonts.register()
    except Exception:  # noqa: BLE001 - the real import, when it is used, reports it
        pass


def _build_into(
    root: Path,
    case: Case,
    key: "SigningKey | Callable[[], SigningKey]",
    built_at: datetime,
    keep_going: bool,
    algorithms: tuple[str, ...],
    warn: Callable[[str], None],
    pdf_signer: PdfCertSigner | None,
    catalogue: "CatalogueWriter",
    pool: "CopyPool",
    rows: RowSpool,
    starters: tuple[Callable[[], None], ...] = (),
) -> tuple[int, int, int, str, str, str, "PublicKey"]:
    _write(root, "bagit.txt", bag.BAGIT_TXT)
    writer = BundleWriter(root, case, key, algorithms, warn, rows, starters)
    _write(root, INCOMPLETE_MARKER, b"build in progress or interrupted: this bundle is not sealed\n")
    # Custody events are signed once the sources are read (the key may still be
    # locked until then); their order is the order they happened in.
    events: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("created", {"case": case.id}, {"title": case.title, "authority": case.authority, "examiner": case.examiner})
    ]

    source_rows: list[dict[str, Any]] = []
    try:
        for source in case.sources:
            importer = importer_for(source.kind)
            assert importer is not None
            ctx = ImportContext(writer, source, keep_going, pool)
            first_item = writer._next_item
            if not getattr(importer, "says_when_copying", False):
                writer.copies_under_way()  # (it will not say when its copies are under way: now)
            importer.run(source, ctx)
            _check_acquired_before(source, ctx, built_at, warn)
            row = {
                "id": source.id,
                "kind": source.kind,
                "label": source.label,
                "folder": f"data/{source.folder}",
                "location": list(source.written) if source.is_list else source.written[0],
                "acquisition": source.acquisition.to_json(),
                "checks": [c.to_json() for c in ctx.checks],
                "counts": {"files": ctx.file_count, "bytes": ctx.byte_count, "items": writer._next_item - first_item},
                "facts": ctx.facts,
            }
            if source.notes:
                row["notes"] = source.notes
            if source.options:
                row["options"] = source.options
            source_rows.append(row)
            subject = {"case": case.id, "source": source.id}
            events.append(("acquired", subject, {"declared": True, "label": source.label, **source.acquisition.to_json()}))
            events.append(("imported", subject, {"importer": source.kind, **row["counts"]}))
            events.extend((action, subject, details) for action, details in ctx.events)
            events.extend(("source-verified", subject, c.to_json()) for c in ctx.checks)
    finally:
        writer.close()
    pool.release()  # the copy workers end while the rest is written
    writer.copies_under_way()  # (if no importer said so: e.g. no files to copy)
    from .custody import ChainWriter  # (here: it loads the key library, which the copy need not wait for)

    sealer = writer.key()
    custody = ChainWriter()
    for action, subject, details in events:
        custody.append(built_at, action, sealer, subject, details)

    leaves = writer.merkle.size
    root_hex = writer.merkle.root().hex()
    sealed_at = format_utc(built_at)
    signer = {
        "name": sealer.public.name,
        "role": sealer.public.role,
        "fingerprint": sealer.public.fingerprint,
        "principal": sealer.public.principal,
    }
    case_json = {**case.to_json(), "created": sealed_at, "manifest": case.manifest_path.name}
    _write(root, "evidpack/case.json", canonical.dumps(case_json) + b"\n")
    _write(root, "evidpack/sources.jsonl", _jsonl(source_rows))
    # Written by the child process while the index is drawn.
    catalogue.write(
        root / "evidpack/catalogue.sqlite",
        case=case_json,
        sources=source_rows,
        items_path=root / "evidpack/items.jsonl",
        custody_lines=list(custody.lines),
        tables=rows.tables(),
    )
    tm_hash = ""

    def seal() -> str:
        """The tag manifest and its two signatures, once every other tag file is
        written (the catalogue last); returns its SHA-256."""
        nonlocal tm_hash
        catalogue.wait()
        rows.remove()  # read: its disk space is free again
        tm = b"".join(bag.manifest_line(hash_file(root / rel, ("sha256",))["sha256"], rel) for rel in tag_files(root))
        _write(root, TAGMANIFEST, tm)
        _write(root, SIG_FILE, sealer.sign(tm))
        _write(root, SSHSIG_FILE, sealer.sshsig(tm))
        tm_hash = hashlib.sha256(tm).hexdigest()
        return tm_hash

    _write_seal_files(root, case, sealer, built_at, algorithms, writer, leaves, root_hex, signer, sealed_at)
    # The index is laid out while the catalogue is written; it prints the tag
    # manifest's hash, so it calls seal() when it is saved.
    index = _seal_index(root, built_at, custody, sealer, pdf_signer, seal)
    if not tm_hash:  # (write_index calls seal() when it saves the PDF)
        raise EvidpackError(f"{root}: the index was written without sealing the tag manifest")
    custody.append(
        built_at,
        "sealed",
        sealer,
        {"case": case.id, "tagmanifest_sha256": tm_hash},
        {"merkle_root": root_hex, "items": leaves, "payload_files": writer.payload_files, "payload_bytes": writer.payload_bytes, **index},
    )
    _write(root, CUSTODY_FILE, custody.data())
    return leaves, writer.payload_files, writer.payload_bytes, root_hex, tm_hash, custody.head, sealer.public


def _write_seal_files(
    root: Path,
    case: Case,
    key: SigningKey,
    built_at: datetime,
    algorithms: tuple[str, ...],
    writer: BundleWriter,
    leaves: int,
    root_hex: str,
    signer: dict[str, Any],
    sealed_at: str,
) -> None:
    """seal.json, signer.pem, allowed_signers and bag-info.txt."""
    seal = {
        "format": FORMAT,
        "case": case.id,
        "merkle": {"alg": "sha256-rfc6962", "leaves": leaves, "root": root_hex},
        "sealed_at": sealed_at,
        "signer": signer,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "digests": list(algorithms),
        "payload": {"files": writer.payload_files, "bytes": writer.payload_bytes},
    }
    _write(root, "evidpack/seal.json", canonical.dumps(seal) + b"\n")
    _write(root, "evidpack/signer.pem", key.public.pem())
    _write(
        root,
        "evidpack/allowed_signers",
        f'{key.public.principal} namespaces="evidpack" {key.public.openssh()} {key.public.name}\n'.encode("utf-8"),
    )
    info = [
        ("Source-Organization", case.agency),
        ("Contact-Name", case.examiner),
        ("External-Identifier", case.id),
        ("External-Description", case.title),
        ("Bagging-Date", built_at.strftime("%Y-%m-%d")),
        ("Payload-Oxum", f"{writer.payload_bytes}.{writer.payload_files}"),
        ("Bag-Software-Agent", f"{TOOL_NAME} {__version__}"),
        ("Evidpack-Format", FORMAT),
        ("Evidpack-Seal-Root", root_hex),
    ]
    _write(root, "bag-info.txt", bag.bag_info(info))


def _seal_index(
    root: Path, built_at: datetime, custody: ChainWriter, key: SigningKey, pdf_signer: PdfCertSigner | None, seal: Callable[[], str]
) -> dict[str, Any]:
    """evidpack/index.pdf, rendered from the sealed records and the custody log so
    far, PAdES-signed when a certificate is given, then signed by the sealing key
    (evidpack/index.pdf.sig). ``seal`` writes the tag manifest, which the index
    prints the hash of: the index calls it once its pages are laid out. Returns
    what the 'sealed' event records about the index."""
    from .report import write_index

    path = root / INDEX_PDF
    with Bundle.open(root) as bundle, open(path, "xb") as fh:  # written page by page
        write_index(
            bundle, fh, rendered_at=built_at, custody_lines=custody.lines, pdf_signer=pdf_signer.subject if pdf_signer else None, seal=seal
        )
    details: dict[str, Any] = {}
    if pdf_signer is not None:
        signed = pdf_signer.sign(path.read_bytes())
        path.unlink()
        _write(root, INDEX_PDF, signed)
        details["index_pdf_pades"] = pdf_signer.describe()
    # Ed25519 signs the message itself (no pre-hash: openssl pkeyutl -rawin checks
    # it), so the PDF is mapped, not read into memory.
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as pdf:
        _write(root, INDEX_SIG, key.sign(pdf))  # type: ignore[arg-type]
        details["index_pdf_sha256"] = hashlib.sha256(pdf).hexdigest()
    return details


def write_zip(folder: Path, zip_path: Path, built_at: datetime, *, name: str | None = None, keep_tmp: bool = False) -> Path:
    """The bag as one zip (top folder = bag name, ``name`` or the folder's),
    deterministic for a given bag: sorted names, fixed times, payload stored as
    is, tag files deflated. The build's in-progress marker is never put in it.
    Written to a temporary file beside ``zip_path`` and renamed to it, or, with
    ``keep_tmp``, left there for the caller to rename: the temporary file's path
    is returned. On any failure no file is left."""
    tmp = zip_path.with_name(f".{zip_path.name}.partial-{secrets.token_hex(4)}")
    top = name or folder.name
    stamp = built_at.timetuple()[:6]
    stamp = max(stamp, (1980, 1, 1, 0, 0, 0))
    try:
        with zipfile.ZipFile(tmp, "x", allowZip64=True) as zf:
            names = []
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames.sort()
                for fname in filenames:
                    full = Path(dirpath) / fname
                    names.append(full.relative_to(folder).as_posix())
            for rel in sorted(names):
                if rel == INCOMPLETE_MARKER:
                    continue
                full = folder / rel
                info = zipfile.ZipInfo(f"{top}/{rel}", date_time=stamp)
                info.external_attr = (0o100444 if rel.startswith("data/") else 0o100644) << 16
                info.compress_type = zipfile.ZIP_STORED if rel.startswith("data/") else zipfile.ZIP_DEFLATED
                size = full.stat().st_size
                with open(full, "rb") as src, zf.open(info, "w", force_zip64=size >= 2**31) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        if keep_tmp:
            return tmp
        os.rename(tmp, zip_path)
        return zip_path
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
