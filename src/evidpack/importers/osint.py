"""Source kind ``osint``: open-source captures — WARC/WARC.gz, WACZ, MHTML and
screenshots (PNG, JPEG) with optional sidecar JSON.

Every file is copied byte for byte, as kind ``files`` copies; a WACZ is kept
whole and its members catalogued. The copies are then read from the bundle:
one entry per capture (each WARC record, each MHTML page, each screenshot) in
``evidpack/records/<source>-osint.json`` and the ``web_captures`` catalogue
table; WACZ pages in ``wacz_pages``. Captures are spooled to a temporary file
as they are read and the record is written from it (osint/spool.py), so memory
does not grow with the records of a WARC. See docs/osint.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..osint.images import ImageProblem, image_format, read_image
from ..osint.mhtml import MhtmlProblem, read_mhtml
from ..osint.wacz import PAGE_BYTES, PAGE_ROWS, JsonProblem, escape_surrogates, loads, open_member, read_wacz, surrogate_note, type_name, why_not_read
from ..osint.spool import CaptureSpool, Streamed, write_record
from ..osint.warc import WarcScan, scan_warc
from ..timeparse import DATE_ORDERS, TimeProblem, Zone, read_time
from .base import ImportContext
from .support import Options, bundle_file, catalogue_zip, copy_source, record_file, source_name

if TYPE_CHECKING:
    from ..casefile import Source

FORMAT = "evidpack/osint/1"
OPTIONS = ("zone", "date_order")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jpe", ".jfif")
WARC_EXTENSIONS = (".warc", ".warc.gz", ".warc.gzip")
READ_LIMIT = 256 * 1024 * 1024  # MHTML pages and screenshots are read into memory up to this size
SIDECAR_LIMIT = 16 * 1024 * 1024  # sidecar JSON is read up to this size
SIDECAR_FIELDS = ("url", "captured_at", "tool", "operator", "sha256")


def _kind(rel: str, head: bytes) -> str:
    low = rel.lower()
    if head.startswith(b"WARC/") or low.endswith(WARC_EXTENSIONS):
        return "warc"
    if low.endswith(".wacz"):
        return "wacz"
    if low.endswith((".mhtml", ".mht")):
        return "mhtml"
    if image_format(head):
        return "image"
    if low.endswith(IMAGE_EXTENSIONS):
        return "not-image"
    return "other"


def _sidecar_for(rel: str, names: set[str]) -> str | None:
    """``shot.png`` -> ``shot.png.json`` or ``shot.json`` beside it, if present."""
    for candidate in (rel + ".json", rel.rsplit(".", 1)[0] + ".json" if "." in rel.rsplit("/", 1)[-1] else None):
        if candidate and candidate != rel and candidate in names:
            return candidate
    return None


class OsintImporter:
    kind: ClassVar[str] = "osint"

    def run(self, source: "Source", ctx: ImportContext) -> None:
        opts = Options(source, ctx.writer.case.manifest_path, OPTIONS)
        reader = _Reader(source, ctx, opts.zone(), opts.text("date_order", DATE_ORDERS))
        try:
            copied = copy_source(source, ctx)
            by_rel = {r.get("original_path", r["path"]): r for r in copied}
            sidecars = {rel: s for rel in by_rel if (s := _sidecar_for(rel, set(by_rel)))}
            for rel, record in by_rel.items():
                if rel in sidecars.values() and rel not in sidecars:
                    continue  # read with the capture it describes
                reader.read(record, by_rel.get(sidecars.get(rel, "")))
            reader.finish()
        finally:
            reader.captures.close()


class _Placed:
    """A capture sink that places each capture in its file (and WACZ member) before spooling it."""

    def __init__(self, spool: CaptureSpool, where: dict[str, Any]) -> None:
        self.spool, self.where = spool, where

    def add(self, capture: dict[str, Any]) -> None:
        self.spool.add({**self.where, **capture})

    def mark(self) -> Any:
        return self.spool.mark()

    def rewind(self, mark: Any) -> None:
        self.spool.rewind(mark)


class _Reader:
    """Reads the copies. Captures are spooled to a temporary file as they are read
    (a WARC may hold millions of records); memory holds only the files' summaries,
    the WACZ pages (at most PAGE_ROWS a WACZ) and counts."""

    def __init__(self, source: "Source", ctx: ImportContext, zone: Zone | None, date_order: str | None) -> None:
        self.source, self.ctx, self.zone, self.date_order = source, ctx, zone, date_order
        self.files: list[dict[str, Any]] = []
        self.captures = CaptureSpool(ctx.scratch)
        self.pages: list[dict[str, Any]] = []
        self.other: list[str] = []

    def read(self, record: dict[str, Any], sidecar: dict[str, Any] | None) -> None:
        path = bundle_file(self.ctx, record)
        rel = record.get("original_path") or record["path"]
        shown = source_name(self.source, record)
        with open(path, "rb") as fh:
            head = fh.read(16)
        kind = _kind(rel, head)
        summary: dict[str, Any] = {"item": record["id"], "file": rel, "kind": kind, "size": record["size"], "sha256": record.get("sha256")}
        self.files.append(summary)
        where = {"item": record["id"], "file": rel}
        single: dict[str, Any] | None = None  # an MHTML page's or screenshot's capture: spooled with its sidecar
        if kind == "warc":
            self._warc(lambda: open(path, "rb"), head.startswith(b"\x1f\x8b"), shown, where, summary)
        elif kind == "wacz":
            self._wacz(record, path, shown, summary)
        elif kind in ("mhtml", "image"):
            single = self._single(kind, path, record, shown, where, summary)
        elif kind == "not-image":
            summary["problem"] = f"not a PNG or JPEG image (it starts with {head[:8].hex(' ') or 'nothing: the file is empty'})"
            self.ctx.problem(f"{shown}: {summary['problem']}; kept as received", check="image", subject=rel)
        else:
            self.other.append(rel)
        if sidecar is not None:
            summary["sidecar"] = side = self._sidecar(sidecar, record, rel)
            # A sidecar beside a page or screenshot describes that one capture: it is attached to it.
            # Beside a WARC or WACZ it describes the file, not each of its records: it stays on the
            # file (its summary), marked so, and a check says what it describes.
            side["applies_to"] = "capture" if single is not None else "file"
            if single is not None:
                single["sidecar"] = side
            elif kind in ("warc", "wacz") and "fields" in side:
                self._file_sidecar(sidecar, side, record["id"], rel)
        if single is not None:
            self.captures.add(single)

    # --- formats -----------------------------------------------------------------------------

    def _warc(self, opener: Callable[[], Any], gzipped: bool, shown: str, where: dict[str, Any], summary: dict[str, Any]) -> None:
        scan: WarcScan = scan_warc(opener, gzipped=gzipped, sink=_Placed(self.captures, where))
        tallies = {which: scan.tally(which) for which in ("block_digest", "payload_digest")}
        summary.update(records=scan.records, gzip_members=scan.gzip_members, digests=tallies)
        if scan.problems:  # what stopped or spoilt the reading of the file: in the record too, not only in the checks
            summary["problems"] = list(scan.problems)
        subject = where["file"] + (f":{where['member_path']}" if "member_path" in where else "")
        if scan.whole_file_gzip:
            summary["whole_file_gzip"] = True
            what = "the whole file is one gzip member"
            if scan.gzip_members and scan.gzip_members > 1:
                summary["multi_record_member"] = scan.multi_record_member
                what = f"gzip member {scan.multi_record_member or '?'} of {scan.gzip_members} holds more than one record"
            self.ctx.problem(
                f"{shown}: {what}, not one member per record as WARC.gz requires "
                "(tools cannot seek to its records); its records were read from the decompressed stream",
                check="warc-gzip-members",
                subject=subject,
            )
        for text in scan.problems:
            self.ctx.problem(f"{shown}: {text}", check="warc-readable", subject=subject)
        counts = "; ".join(
            f"{which.replace('_', ' ')}s: " + ", ".join(f"{n} {v}" for v, n in t.items() if n) for which, t in tallies.items()
        )
        if scan.first_bad is not None:
            c = scan.first_bad
            more = scan.record_problems - 1
            self.ctx.problem(
                f"{shown}: record {c['record']} ({c['record_id']}) at offset {c['offset']}: {c['problem']}"
                + (f" (and {more} more problem(s) in {scan.records_with_problems} record(s))" if more else "")
                + f"; {counts}",
                check="warc-digests",
                subject=subject,
            )
        elif not scan.problems:
            self.ctx.check("warc-digests", "pass", f"{shown}: {scan.records} record(s); {counts or 'no digests'}", subject)

    def _wacz(self, record: dict[str, Any], path: Path, shown: str, summary: dict[str, Any]) -> None:
        rel = summary["file"]
        members = catalogue_zip(self.ctx, record, shown, tags=["wacz"])
        if members is None:
            summary["problem"] = "not a readable zip"
            return
        failures: set[str] = set()

        def problem(text: str, check: str = "wacz-resources") -> None:
            failures.add(check)
            self.ctx.problem(f"{shown}: {text}", check=check, subject=rel)

        wacz, package_read = read_wacz(path, members, problem)
        summary["wacz"] = wacz
        checked = [r for r in wacz["resources"] if r.get("verdict") == "pass"]
        digest_verdict = wacz["datapackage_digest"]["verdict"]
        if package_read and "wacz-resources" not in failures and not wacz["resources"]:
            self.ctx.check("wacz-resources", "not-checkable", f"{shown}: datapackage.json lists no resources; datapackage-digest.json: {digest_verdict}", rel)
        elif package_read and "wacz-resources" not in failures:
            self.ctx.check("wacz-resources", "pass", f"{shown}: {len(checked)} of {len(wacz['resources'])} datapackage.json resource(s) match in hash and size; datapackage-digest.json: {digest_verdict}", rel)
        if wacz.get("notes"):
            more = len(wacz["notes"]) - 1
            self.ctx.check("wacz", "warn", f"{shown}: {wacz['notes'][0]}" + (f" (and {more} more note(s) in the record)" if more else ""), rel)
        if wacz.get("pages_not_listed"):
            self.ctx.check(
                "wacz-pages",
                "warn",
                f"{shown}: {len(wacz['pages']):,} page(s) listed; {wacz['pages_not_listed']:,} more line(s) of its pages lists not read "
                f"(evidpack reads at most {PAGE_ROWS:,} lines, {PAGE_BYTES >> 20} MiB, of them per WACZ; the WACZ is kept whole)",
                rel,
            )
        sig = wacz["datapackage_digest"]
        if sig.get("signed"):
            who = sig["signature"].get("domain") or sig["signature"]["kind"]
            self.ctx.check("wacz-signature", "not-checkable", f"{shown}: signed ({who}); evidpack records the signature but does not verify WACZ signatures", rel)
        else:
            self.ctx.check("wacz-signature", "not-checkable", f"{shown}: not signed (no signedData in datapackage-digest.json)", rel)
        for page in wacz["pages"]:
            self.pages.append({"item": record["id"], "file": rel, **page})
        for m in members:
            low = m.name.lower()
            if m.record.get("member_type") == "file" and m.name.startswith("archive/") and low.endswith(WARC_EXTENSIONS):
                where = {"item": record["id"], "file": rel, "member": m.record["id"], "member_path": m.name}
                msummary: dict[str, Any] = {"item": m.record["id"], "file": rel, "member_path": m.name, "kind": "warc"}
                self.files.append(msummary)
                why = why_not_read(m)
                if why:  # (the catalogue has reported it): nothing is read from a member found bad
                    msummary["not_read"] = why
                    self.ctx.check("warc-readable", "not-checkable", f"{shown}: member {m.name!r}: its records were not read ({why})", f"{rel}:{m.name}")
                    continue
                opener = lambda m=m: open_member(path, m.index, m.name)  # noqa: E731
                self._warc(opener, low.endswith((".gz", ".gzip")), f"{shown}: member {m.name!r}", where, msummary)

    def _single(self, kind: str, path: Path, record: dict[str, Any], shown: str, where: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any] | None:
        """The capture of an MHTML page or screenshot (spooled by the caller, with its sidecar), or None."""
        if record["size"] > READ_LIMIT:
            summary["note"] = f"larger than {READ_LIMIT} bytes; kept but not read"
            self.ctx.check(kind, "not-checkable", f"{shown}: {summary['note']}", where["file"])
            return None
        data = path.read_bytes()
        try:
            capture = read_mhtml(data) if kind == "mhtml" else read_image(data)
        except (MhtmlProblem, ImageProblem) as exc:
            summary["problem"] = str(exc)
            self.ctx.problem(f"{shown}: {exc}; kept as received", check=kind, subject=where["file"])
            return None
        del data
        if kind == "mhtml":
            capture["captured_at"] = capture["date"]
        placed = {**where, **capture}
        problems = capture.get("problems") or []
        if problems:  # what was found inside the page or image fails its check, as a WARC record's problems do
            more = len(problems) - 1
            self.ctx.problem(
                f"{shown}: {problems[0]}" + (f" (and {more} more problem(s))" if more else "") + "; kept as received",
                check=kind,
                subject=where["file"],
            )
            return placed
        what = f"{capture.get('width')}x{capture.get('height')} {capture['format'].upper()}" if kind == "image" else f"{capture['url']!r}, {capture['parts']} part(s)"
        self.ctx.check(kind, "pass", f"{shown}: {what}", where["file"])
        return placed

    # --- sidecars --------------------------------------------------------------------------------

    def _sidecar(self, sidecar: dict[str, Any], capture: dict[str, Any], capture_rel: str) -> dict[str, Any]:
        rel = sidecar.get("original_path") or sidecar["path"]
        shown = source_name(self.source, sidecar)
        out: dict[str, Any] = {"item": sidecar["id"], "file": rel}
        try:
            if sidecar["size"] > SIDECAR_LIMIT:
                raise JsonProblem(f"it is {sidecar['size']} bytes, more than evidpack reads ({SIDECAR_LIMIT})")
            fields = loads(bundle_file(self.ctx, sidecar).read_bytes())
            if not isinstance(fields, dict):
                raise JsonProblem(f"{type_name(fields)}, not an object")
        except JsonProblem as exc:
            out["problem"] = f"not a JSON object ({exc})"
            self.ctx.problem(f"{shown}: sidecar of {capture_rel}: {out['problem']}", check="sidecar", subject=rel)
            return out
        fields, escaped = escape_surrogates(fields)
        out["fields"] = fields
        if escaped:
            out["notes"] = [surrogate_note("its fields", escaped)]
            self.ctx.check("sidecar", "warn", f"{shown}: {out['notes'][0]}", rel)
        for key in ("url", "tool", "operator"):
            value = fields.get(key)
            out[key] = value if value is None or isinstance(value, str) else None
            if value is not None and not isinstance(value, str):
                self.ctx.problem(f"{shown}: sidecar of {capture_rel}: {key!r} is {type_name(value)}, not text", check="sidecar", subject=rel)
        if isinstance(fields.get("captured_at"), (list, dict, bool)):
            out["captured_at"] = {"original": None, "utc": None, "problem": f"{type_name(fields['captured_at'])}, not a time"}
            self.ctx.problem(f"{shown}: captured_at is {type_name(fields['captured_at'])}, not a time", check="sidecar", subject=rel)
        elif fields.get("captured_at") is not None:
            try:
                out["captured_at"] = read_time(fields["captured_at"], zone=self.zone, date_order=self.date_order).to_json()
            except TimeProblem as exc:
                out["captured_at"] = {"original": str(fields["captured_at"]), "utc": None, "problem": str(exc)}
                self.ctx.problem(f"{shown}: captured_at: {exc}", check="sidecar", subject=rel)
        declared = fields.get("sha256")
        if declared is not None:
            computed = capture.get("sha256")
            ok = isinstance(declared, str) and declared.strip().lower().removeprefix("sha256:") == computed
            out["sha256_check"] = {"declared": declared, "computed": computed, "verdict": "pass" if ok else "fail"}
            if ok:
                self.ctx.check("sidecar-sha256", "pass", f"{shown}: declared sha256 matches {capture_rel}", rel)
            else:
                self.ctx.problem(
                    f"{shown}: declares sha256 {declared} for {capture_rel}, but its sha256 is {computed}",
                    check="sidecar-sha256",
                    subject=rel,
                )
        else:
            out["sha256_check"] = {"declared": None, "verdict": "not-checkable"}
        return out

    def _file_sidecar(self, sidecar: dict[str, Any], side: dict[str, Any], item: str, rel: str) -> None:
        """A check naming a sidecar read beside a WARC or WACZ: what it says is of the whole file."""
        records = sum(f.get("records") or 0 for f in self.files if f["item"] == item or f["file"] == rel)
        said = [f"{k} {side[k]!r}" for k in ("url", "tool", "operator") if side.get(k)]
        when = side.get("captured_at") or {}
        if when.get("utc") or when.get("original"):
            said.append(f"captured_at {when.get('utc') or when.get('original')!r}")
        self.ctx.check(
            "sidecar",
            "not-checkable",
            f"{source_name(self.source, sidecar)}: describes {rel} as a whole ({records:,} WARC record(s)), not each record"
            + (f": {', '.join(said)}" if said else "")
            + "; recorded on the file in the record (files), not checked against its records",
            sidecar.get("original_path") or sidecar["path"],
        )

    # --- the record -----------------------------------------------------------------------------------

    def finish(self) -> None:
        ctx, sid = self.ctx, self.source.id
        if self.other:
            ctx.check("osint-other-files", "not-checkable", f"kept as evidence, not a capture format evidpack reads: {', '.join(self.other)}")
        counts = {
            "files": len(self.files),
            "captures": self.captures.count,
            "pages": len(self.pages),
            "captures_with_problems": self.captures.with_problems,
        }
        # Written as ctx.write_record("osint", {...}) would write it (the same bytes), the captures
        # read back from the spool one at a time; the web_captures rows are read from it again.
        with record_file(ctx, "osint.json") as fh:
            write_record(
                fh,
                {
                    "format": FORMAT,
                    "source": sid,
                    "settings": {"zone": self.zone.label if self.zone else None, "date_order": self.date_order},
                    "files": self.files,
                    "captures": Streamed(self.captures),
                    "pages": self.pages,
                    "counts": counts,
                },
            )
        ctx.add_rows("web_captures", (_capture_row(c) for c in self.captures))
        ctx.add_rows("wacz_pages", (_page_row(p) for p in self.pages))
        ctx.facts["osint"] = counts


def _capture_row(c: dict[str, Any]) -> dict[str, Any]:
    sidecar = c.get("sidecar") or {}
    when = c.get("warc_date") or c.get("captured_at") or sidecar.get("captured_at") or {}
    return {
        "item": c["item"],
        "file": c["file"],
        "member": c.get("member"),
        "member_path": c.get("member_path"),
        "format": c["format"],
        "record": c.get("record"),
        "offset": c.get("offset"),
        "record_type": c.get("record_type"),
        "record_id": c.get("record_id"),
        "url": c.get("target_uri") or c.get("url") or sidecar.get("url"),
        "captured_at_utc": when.get("utc"),
        "captured_at_original": when.get("original"),
        "ip_address": c.get("ip_address"),
        "http_status": c.get("http_status"),
        "content_type": c.get("content_type"),
        "payload_type": c.get("payload_type"),
        "block_digest": (c.get("block_digest") or {}).get("verdict"),
        "payload_digest": (c.get("payload_digest") or {}).get("verdict"),
        "title": c.get("title"),
        "width": c.get("width"),
        "height": c.get("height"),
        "tool": sidecar.get("tool"),
        "operator": sidecar.get("operator"),
        "problems": c.get("problems") or [],
    }


def _page_row(p: dict[str, Any]) -> dict[str, Any]:
    ts = p.get("ts") or {}
    return {
        "item": p["item"],
        "file": p["file"],
        "list": p["list"],
        "line": p["line"],
        "url": p.get("url"),
        "title": p.get("title"),
        "ts_utc": ts.get("utc"),
        "ts_original": ts.get("original"),
    }
