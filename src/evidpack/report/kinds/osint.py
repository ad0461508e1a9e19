"""Kind ``osint``: open-source captures, from ``records/<source>-osint.json`` —
one row per capture (URL, capture time, digest status) with a thumbnail of
every screenshot, and the pages a WACZ lists."""

from __future__ import annotations

import io
import json
import struct
import warnings
from collections.abc import Collection, Iterator
from typing import Any

from PIL import Image, UnidentifiedImageError
from reportlab.platypus import Flowable

from ...osint.images import read_image
from ...timeparse import TimeProblem, read_time
from ..flowables import Column, Lines, Mark, Para, Picture, Row, Table
from ..styles import CELL, CELL_BOLD, CELL_MONO, CELL_NAME, CELL_NOTE, CELL_NOTE_NAME, CELL_PATH, NOTE, VERDICT_WIDTH, VERDICTS
from .common import SourceView, first, subheading, text, time_cell

THUMBNAIL_PX = 480  # longest side of an embedded screenshot thumbnail
THUMBNAIL_HEIGHT = 150.0  # points
THUMBNAIL_MAX_PIXELS = 40_000_000  # a screenshot larger than this gets no thumbnail (decoding it would take too much memory)
PAGE_ROWS = 500  # pages of WACZ files listed in the index (all are in the record and the wacz_pages table)
CAPTURE_ROWS = 2000  # captures listed in the index, those with problems first (all are in the record and the web_captures table)


STREAMED = ("captures",)  # the record's list that grows with the records of a WARC: read back as drawn, never held


def render(view: SourceView) -> list[Flowable]:
    record = view.streamed("osint", STREAMED)
    if not isinstance(record, dict):
        return [*subheading("Captures"), Para(f"No capture record (records/{view.id}-osint.json) was written.", NOTE)]
    captures = _Captures(record.get("captures"))
    out: list[Flowable] = subheading(f"Captures ({len(captures):,})")
    settings = _dict(record.get("settings"))
    if settings.get("zone"):
        out.append(Para(f"Times that state no zone were read as {text(settings['zone'])}.", NOTE, space_after=3))
    if settings.get("date_order"):
        out.append(Para(f"Dates such as 03/04/2024 were read in the order {text(settings['date_order'])}.", NOTE, space_after=3))
    if not len(captures):
        out.append(Para("No capture was read from this source.", NOTE))
    else:
        listed = captures.listed()
        if listed < len(captures):
            out.append(Para(
                f"{listed:,} of the {len(captures):,} captures are listed here (every one with a problem first, then the others "
                f"in order); all are in records/{text(view.id)}-osint.json and the web_captures table of the catalogue (evidpack query).",
                NOTE, space_after=3))
        out.append(
            Table(
                [Column("Item", 64, CELL_MONO), Column("Capture", 1.0), Column("Captured (UTC)", 96), Column("Digests", 96)],
                (_capture_row(c) for c in captures.chosen()),
            )
        )
    out += screenshots(view, captures.screenshots)
    files = [f for f in _list(record.get("files")) if isinstance(f, dict)]
    out += files_read(files)
    not_listed = sum(_int(_dict(f.get("wacz")).get("pages_not_listed")) for f in files)
    out += pages([p for p in _list(record.get("pages")) if isinstance(p, dict)], not_listed)
    return out


class _Captures:
    """The record's captures (a list, or entries read back from the record as
    drawn: a WARC may hold millions), never all held: one pass counts them and
    notes which are listed and the screenshots; :meth:`chosen` reads them again."""

    def __init__(self, value: Any) -> None:
        self.entries: Collection[Any] = value if isinstance(value, Collection) and not isinstance(value, (str, bytes, dict)) else []
        self.count = 0
        self.screenshots: list[dict[str, Any]] = []  # (one per image file of the source)
        bad: list[int] = []
        good: list[int] = []
        for c in self._dicts():
            if c.get("problems"):
                if len(bad) < CAPTURE_ROWS:
                    bad.append(self.count)
            elif len(good) < CAPTURE_ROWS:
                good.append(self.count)
            if c.get("format") in ("png", "jpeg"):
                self.screenshots.append(c)
            self.count += 1
        # At most CAPTURE_ROWS, in order: every one with a problem (up to the cap), then the others, so a WARC of a
        # million records does not make a million rows and no problem is crowded out by good records.
        self._chosen = set(bad).union(good[: CAPTURE_ROWS - len(bad)])

    def _dicts(self) -> Iterator[dict[str, Any]]:
        return (c for c in self.entries if isinstance(c, dict))

    def __len__(self) -> int:
        return self.count

    def listed(self) -> int:
        return len(self._chosen)

    def chosen(self) -> Iterator[dict[str, Any]]:
        """The captures listed, in order."""
        last = max(self._chosen, default=-1)
        for n, c in enumerate(self._dicts()):
            if n > last:
                break
            if n in self._chosen:
                yield c


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _capture_row(c: dict[str, Any]) -> Row:
    sidecar = _dict(c.get("sidecar"))
    url = text(first(c, "target_uri", "url") or sidecar.get("url"))
    kind = text(c.get("record_type") or c.get("format"))
    detail = kind
    if c.get("record") is not None:
        where = "" if c.get("offset_in") in (None, "file") else f" of the {text(c['offset_in'])}"
        detail += f", record {text(c['record'])} at offset {text(c.get('offset'))}{where}"
    if c.get("http_method"):
        detail += f", {text(c['http_method'])}"
    detail += (f", HTTP {text(c['http_status'])}" if c.get("http_status") is not None else "") + (f", {text(c['width'])}×{text(c.get('height'))} px" if c.get("width") else "")
    if c.get("parts") is not None and c.get("format") == "mhtml":
        detail += f", {text(c['parts'])} part(s)"
    notes: list[tuple[str | None, Any]] = []
    if c.get("warc_truncated"):
        notes.append((f"truncated by the capturing tool (WARC-Truncated: {text(c['warc_truncated'])}): the record does not hold the whole response", CELL_NOTE))
    if c.get("refers_to_target_uri") or c.get("refers_to_date"):
        notes.append((f"revisit of {text(c.get('refers_to_target_uri')) or 'a record'}"
                      + (f", captured {_as_utc(c['refers_to_date'])}" if c.get("refers_to_date") else ""), CELL_NOTE))
    if c.get("saved_by"):
        notes.append((f"saved by: {text(c['saved_by'])}", CELL_NOTE))
    if c.get("url_from") and url:
        notes.append((f"URL from the {text(c['url_from'])}", CELL_NOTE))
    if sidecar.get("url") and text(sidecar["url"]) != url:
        notes.append((f"URL (sidecar): {text(sidecar['url'])}", CELL_PATH))
    for key in ("tool", "operator"):
        if sidecar.get(key) and c.get("format") not in ("png", "jpeg"):  # (a screenshot's are beside its thumbnail)
            notes.append((f"{key} (sidecar): {text(sidecar[key])}", CELL_NOTE))
    return [
        Lines.of((text(c.get("item")), CELL_MONO), (text(c.get("member")), CELL_MONO)),
        Lines.of(
            (url or "(no URL recorded)", CELL_PATH if url else CELL_NOTE),
            (text(c.get("title")), CELL_NAME),
            (detail, CELL_NOTE),
            (text(c.get("member_path") or c.get("file")), CELL_NOTE_NAME),
            *notes,
            *((text(p), CELL_NOTE) for p in _list(c.get("problems"))),
            *_sidecar_problems(sidecar),
        ),
        _when_cell(c),
        _digests(c),
    ]


def _sidecar_problems(sidecar: dict[str, Any]) -> list[tuple[str, Any]]:
    """What went wrong reading a capture's sidecar (its checks failed or warned): shown beside the capture."""
    out = []
    if sidecar.get("problem"):
        out.append((f"sidecar {text(sidecar.get('file'))}: {text(sidecar['problem'])}", CELL_NOTE))
    out += [(f"sidecar: {text(n)}", CELL_NOTE) for n in _list(sidecar.get("notes"))]
    return out


def _as_utc(value: Any) -> str:
    """A time — a time object, or (in a record written before such times were
    stored as time objects) a WARC header's text: in UTC with the text beside it,
    or as written and why not."""
    if isinstance(value, dict):
        utc, written = text(value.get("utc")), text(first(value, "original", "text"))
        if not utc:
            why = text(value.get("problem"))
            return f"{written} (as written; not read as a time" + (f": {why})" if why else ")")
        return f"{utc} UTC (as written: {written})" if written and utc != written else utc
    written = text(value)
    try:
        utc = read_time(written).utc
    except (TimeProblem, ValueError, OverflowError) as exc:
        return f"{written} (as written; not read as a time: {exc})"
    return f"{utc} UTC (as written: {written})" if utc and utc != written else written


def _when_cell(c: dict[str, Any]) -> Any:
    """The capture's time in UTC (with its text), and a sidecar's, when it gives another."""
    when = _when(c)
    cell = time_cell(when) or Lines.of(("not recorded", CELL_NOTE))
    said = _dict(c.get("sidecar")).get("captured_at")
    if said is None or said is when:
        return cell
    other = time_cell(said)
    pieces = cell.pieces if isinstance(cell, Lines) else ((cell, CELL_MONO),)
    extra = (("sidecar says:", CELL_NOTE), *(other.pieces if isinstance(other, Lines) else ((text(other), CELL_NOTE),)))
    return Lines(tuple(pieces) + tuple(extra))


def screenshots(view: SourceView, shots: list[dict[str, Any]]) -> list[Flowable]:
    """Every screenshot, as a thumbnail beside what is known about it."""
    if not shots:
        return []
    paths = _payload_paths(view, {c.get("item") for c in shots if not c.get("member_path")})

    def row(c: dict[str, Any]) -> Row:
        sidecar = _dict(c.get("sidecar"))
        path = paths.get(c.get("item")) if not c.get("member_path") else None
        data = view.data.bundle.read(path) if path else None
        picture = thumbnail(data) if data is not None else "the image could not be read"
        return [
            Lines.of((text(c.get("item")), CELL_MONO)),
            picture if isinstance(picture, Picture) else Lines.of((f"no thumbnail: {picture}", CELL_NOTE)),
            Lines.of(
                (text(c.get("file")), CELL_PATH),
                (f"{text(c.get('format')).upper()}, {text(c.get('width'))}×{text(c.get('height'))} px" if c.get("width") else None, CELL_NOTE),
                (f"URL (sidecar): {text(sidecar['url'])}" if sidecar.get("url") else None, CELL_PATH),
                (f"tool: {text(sidecar['tool'])}" if sidecar.get("tool") else None, CELL_NOTE),
                (f"operator: {text(sidecar['operator'])}" if sidecar.get("operator") else None, CELL_NOTE),
                (f"sidecar: {text(sidecar['file'])}" if sidecar.get("file") else None, CELL_NOTE),
                *_image_times(c),
            ),
        ]

    table = Table([Column("Item", 64, CELL_MONO), Column("Screenshot (thumbnail; the original is the item)", 0.55), Column("File and sidecar", 0.45)], (row(c) for c in shots))
    return subheading(f"Screenshots ({len(shots)})") + [table]


ITEMS = "evidpack/items.jsonl"


def _payload_paths(view: SourceView, ids: set[Any]) -> dict[str, str]:
    """The bag paths of the items ``ids``, from items.jsonl (read as a stream, until
    each is found): a file is stored under another name than its name in the source
    when that name cannot be a BagIt path (``％``, ``~`` and a hash: docs/format.md)."""
    wanted = {i for i in ids if isinstance(i, str) and i}
    found: dict[str, str] = {}
    if not wanted:
        return found
    marks = {f'"id":{json.dumps(i)}'.encode() for i in wanted}
    for line in view.data.bundle.lines(ITEMS):
        if not any(m in line for m in marks):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("id") in wanted and rec.get("kind") == "file" and isinstance(rec.get("path"), str):
            found[rec["id"]] = rec["path"]
            if len(found) == len(wanted):
                break
    return found


def _image_times(c: dict[str, Any]) -> list[tuple[str | None, Any]]:
    """The times an image holds (PNG tIME, EXIF): in UTC where it states a zone, else as written and why not."""
    out: list[tuple[str | None, Any]] = []
    if isinstance(c.get("png_time"), dict):
        out.append((f"PNG tIME (UTC): {text(c['png_time'].get('utc')) or 'not read'}", CELL_NOTE))
    exif = _dict(c.get("exif"))
    for name, when in sorted(_dict(exif.get("times")).items()):
        when = _dict(when)
        shown = text(when.get("utc")) and f"{text(when['utc'])} UTC (as written: {text(when.get('original'))})"
        why = text(when.get("note") or when.get("problem"))
        out.append((f"EXIF {name}: " + (shown or f"{text(when.get('original'))} as written" + (f" ({why})" if why else "")), CELL_NOTE))
    return out


def _when(c: dict[str, Any]) -> Any:
    sidecar = _dict(c.get("sidecar"))
    return first(c, "warc_date", "captured_at") or sidecar.get("captured_at") or c.get("png_time")


def _digests(c: dict[str, Any]) -> Lines:
    """The verdict on the capture's own digests: WARC block and payload digests,
    or a sidecar's SHA-256 of a screenshot."""
    if "block_digest" in c or "payload_digest" in c:
        verdicts = {w.split("_")[0]: text(_dict(c.get(w)).get("verdict")) or "not-checkable" for w in ("block_digest", "payload_digest")}
        overall = "fail" if "fail" in verdicts.values() else "pass" if "pass" in verdicts.values() else "not-checkable"
        return Lines.of((VERDICTS.get(overall, (overall,))[0], CELL_BOLD), *((f"{w}: {v}", CELL_NOTE) for w, v in verdicts.items()))
    sidecar = _dict(c.get("sidecar"))
    check = _dict(sidecar.get("sha256_check"))
    verdict = text(check.get("verdict"))
    if verdict and verdict != "not-checkable":
        return Lines.of((VERDICTS.get(verdict, (verdict,))[0], CELL_BOLD), ("the sidecar's SHA-256 of the file", CELL_NOTE),
                        (f"declared {text(check.get('declared'))}" if verdict == "fail" else None, CELL_NOTE))
    if sidecar.get("problem"):
        return Lines.of(("FAIL", CELL_BOLD), ("the sidecar cannot be read, so no digest it declares was checked", CELL_NOTE))
    return Lines.of(("NOT CHECKABLE", CELL_BOLD), ("the capture states no digest", CELL_NOTE))


def _too_large(width: Any, height: Any) -> str | None:
    if not isinstance(width, int) or not isinstance(height, int):
        return "its size could not be read"
    if width * height > THUMBNAIL_MAX_PIXELS:
        return f"too large ({width:,}×{height:,} px, over {THUMBNAIL_MAX_PIXELS // 1_000_000} megapixels); the original is the item"
    return None


def thumbnail(data: bytes) -> Picture | str:
    """A screenshot scaled down for the index (the original stays in the payload),
    or why there is none. The size is read from the image's header first (by
    evidpack, then as Pillow reads it) and an image over
    :data:`THUMBNAIL_MAX_PIXELS` is never decoded; Pillow's decompression-bomb
    warning is an error, so nothing reaches stderr."""
    try:
        header = read_image(data)
    except (ValueError, IndexError, struct.error):
        return "the image could not be read"
    why = _too_large(header.get("width"), header.get("height"))
    if why:
        return why
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                why = _too_large(*im.size)
                if why:
                    return why
                im.draft("RGB", (THUMBNAIL_PX, THUMBNAIL_PX))
                if im.format == "PNG" and im.mode == "RGB":  # (the same pixels as convert() gives, without a full-size copy)
                    im.load()
                    small = im
                else:
                    small = im.convert("RGB")
                small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
                out = io.BytesIO()
                small.save(out, "JPEG", quality=82, optimize=False, progressive=False)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "the image could not be read"
    return Picture(out.getvalue(), THUMBNAIL_HEIGHT)


def files_read(files: list[dict[str, Any]]) -> list[Flowable]:
    """Every file of the source as the importer read it: what it held (records and
    their digest tallies, a WACZ's package and signature) and what went wrong,
    including files that gave no capture (unreadable, too large, not a capture format)."""
    if not files:
        return []
    table = Table(
        [Column("Verdict", VERDICT_WIDTH), Column("Item", 64, CELL_MONO), Column("File", 0.45), Column("What was read", 0.55)],
        (_file_row(f) for f in files),
    )
    return subheading(f"Files read ({len(files):,})") + [
        Para("Each file of the source (and each WARC inside a WACZ) and what evidpack read from it; the checks above give the details.",
             NOTE, space_after=3),
        table,
    ]


def _file_row(f: dict[str, Any]) -> Row:
    said: list[tuple[str | None, Any]] = []
    bad: list[str] = []
    warn: list[str] = []
    kind = text(f.get("kind"))
    if "records" in f:
        said.append((f"{text(f['records'])} WARC record(s)" + (f" in {text(f['gzip_members'])} gzip member(s)" if f.get("gzip_members") else ""), CELL))
        for which, tally in _dict(f.get("digests")).items():
            counts = ", ".join(f"{text(n)} {v}" for v, n in _dict(tally).items() if n)
            said.append((f"{str(which).replace('_', ' ')}s: {counts or 'none'}", CELL_NOTE))
            if _int(_dict(tally).get("fail")):
                bad.append(f"{which.replace('_', ' ')}s")
    if f.get("whole_file_gzip"):
        member = f" (member {text(f['multi_record_member'])} holds more than one record)" if f.get("multi_record_member") else " (one gzip member for the whole file)"
        bad.append("WARC.gz")
        said.append((f"not one gzip member per record as WARC.gz requires{member}; records read from the decompressed stream", CELL_NOTE))
    for key, verdict in (("problem", "fail"), ("note", "not-checkable"), ("not_read", "not-checkable")):
        if f.get(key):
            said.append((("not read: " if key == "not_read" else "") + text(f[key]), CELL_NOTE))
            (bad if verdict == "fail" else warn).append(key)
    for problem in _list(f.get("problems")):  # what stopped or spoilt the reading of a WARC (truncated, a corrupt gzip member)
        said.append((text(problem), CELL_NOTE))
        bad.append("problems")
    wacz = _dict(f.get("wacz"))
    if wacz:
        said += _wacz_lines(wacz, bad, warn)
    sidecar = _dict(f.get("sidecar"))
    if sidecar:
        said.append((f"sidecar: {text(sidecar.get('file'))}", CELL_NOTE_NAME))
        if sidecar.get("applies_to") == "file" and kind in ("warc", "wacz"):
            said += _file_sidecar(sidecar)
        if sidecar.get("problem"):
            bad.append("sidecar")
            said.append((text(sidecar["problem"]), CELL_NOTE))
        if _dict(sidecar.get("sha256_check")).get("verdict") == "fail":
            bad.append("sidecar sha256")
            said.append(("the SHA-256 the sidecar declares does not match the file", CELL_NOTE))
    if kind == "other":
        said.append(("not a capture format evidpack reads: kept as evidence", CELL_NOTE))
    verdict = "fail" if bad else "warn" if any(w == "wacz" for w in warn) else "not-checkable" if warn or kind == "other" else "pass"
    return [
        Mark(verdict),
        Lines.of((text(f.get("item")), CELL_MONO)),
        Lines.of((text(f.get("member_path") or f.get("file")), CELL_PATH), (f"in {text(f['file'])}" if f.get("member_path") else None, CELL_NOTE_NAME),
                 (f"{kind}" + (f", {text(f['size'])} bytes" if f.get("size") is not None else ""), CELL_NOTE)),
        Lines.of(*said) if said else Lines.of(("nothing further recorded", CELL_NOTE)),
    ]


def _file_sidecar(sidecar: dict[str, Any]) -> list[tuple[str | None, Any]]:
    """What a sidecar beside a WARC or WACZ says: of the file as a whole, not of each record."""
    out: list[tuple[str | None, Any]] = [("the sidecar describes the whole file, not each record:", CELL_NOTE)]
    out += [(f"{key}: {text(sidecar[key])}", CELL_PATH if key == "url" else CELL_NOTE) for key in ("url", "tool", "operator") if sidecar.get(key)]
    when = sidecar.get("captured_at")
    if when:
        out.append((f"captured at: {_as_utc(when)}", CELL_NOTE))
    check = _dict(sidecar.get("sha256_check"))
    if check.get("verdict") == "pass":
        out.append(("the SHA-256 the sidecar declares matches the file", CELL_NOTE))
    return out


def _wacz_lines(wacz: dict[str, Any], bad: list[str], warn: list[str]) -> list[tuple[str | None, Any]]:
    """A WACZ's data package as recorded: its fields, its resources' and digest file's verdicts, its notes."""
    out: list[tuple[str | None, Any]] = []
    for key, label in (("title", "title"), ("software", "software"), ("wacz_version", "WACZ version"), ("main_page", "main page")):
        if wacz.get(key):
            out.append((f"{label}: {text(wacz[key])}", CELL_PATH if key == "main_page" else CELL_NOTE))
    if wacz.get("created"):
        out.append((f"created: {_as_utc(wacz['created'])}", CELL_NOTE))
    resources = [r for r in _list(wacz.get("resources")) if isinstance(r, dict)]
    verdicts: dict[str, int] = {}
    for r in resources:
        verdicts[text(r.get("verdict")) or "not-checkable"] = verdicts.get(text(r.get("verdict")) or "not-checkable", 0) + 1
    out.append((f"datapackage.json resources: {len(resources):,}" + ("" if not verdicts else " (" + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) + ")"), CELL))
    if verdicts.get("fail"):
        bad.append("wacz-resources")
    if _int(wacz.get("resources_not_checked")):
        bad.append("wacz-resources")
        out.append((f"{text(wacz['resources_not_checked'])} more resource(s) not checked", CELL_NOTE))
    unlisted = _list(wacz.get("unlisted_members"))
    if unlisted:
        out.append((f"{len(unlisted):,} member(s) not among the resources (no hash declared), e.g. {text(unlisted[0])}", CELL_NOTE))
    digest = _dict(wacz.get("datapackage_digest"))
    if digest:
        verdict = text(digest.get("verdict")) or "not-checkable"
        if verdict == "fail":
            bad.append("datapackage-digest")
        signature = _dict(digest.get("signature"))
        signed = f"signed ({text(signature.get('domain') or signature.get('kind'))}; not verified by evidpack)" if digest.get("signed") else "not signed"
        out.append((f"datapackage-digest.json: {verdict}" + (f" ({text(digest['reason'])})" if digest.get("reason") else "") + f"; {signed}", CELL_NOTE))
    pages = len(_list(wacz.get("pages")))
    out.append((f"{pages:,} page(s) listed" + (f"; {text(wacz['pages_not_listed'])} more line(s) of its pages lists not read" if wacz.get("pages_not_listed") else ""), CELL_NOTE))
    if wacz.get("pages_not_listed"):
        warn.append("wacz")
    for note in _list(wacz.get("notes")):
        warn.append("wacz")
        out.append((text(note), CELL_NOTE))
    return out


def _text(value: Any) -> str | None:
    """A value of a record drawn as text (a record read back may hold anything)."""
    return value if value is None or isinstance(value, str) else str(value)


def pages(rows: list[dict[str, Any]], not_listed: int = 0) -> list[Flowable]:
    """The pages WACZ files list: the first :data:`PAGE_ROWS`, and how many more there are."""
    if not rows:
        return []
    shown = rows[:PAGE_ROWS]
    table = Table(
        [Column("Item", 64, CELL_MONO), Column("URL and title", 1.0), Column("Time (UTC)", 96)],
        ([_text(p.get("item")), Lines.of((_text(p.get("url")), CELL_PATH), (_text(p.get("title")), CELL_NAME), (f"{p.get('file')}: {p.get('list')} line {p.get('line')}", CELL_NOTE)),
          time_cell(p.get("ts") if isinstance(p.get("ts"), dict) else None)] for p in shown),
    )
    out: list[Flowable] = subheading(f"Pages listed in WACZ files ({len(rows):,})")
    more = len(rows) - len(shown)
    if more or not_listed:
        said = [f"The first {len(shown):,} are listed here"]
        if more:
            said.append(f"all {len(rows):,} read are in the capture record and the wacz_pages table")
        if not_listed:
            said.append(f"{not_listed:,} more line(s) of the pages lists were not read (the WACZ is kept whole)")
        out.append(Para("; ".join(said) + ".", NOTE, space_after=3))
    return out + [table]


