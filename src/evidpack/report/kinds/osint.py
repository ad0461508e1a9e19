"""Kind ``osint``: open-source captures, from ``records/<source>-osint.json`` —
one row per capture (URL, capture time, digest status) with a thumbnail of
every screenshot, and the pages a WACZ lists."""

from __future__ import annotations

import io
import struct
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError
from reportlab.platypus import Flowable

from ...osint.images import read_image
from ..flowables import Column, Lines, Para, Picture, Row, Table
from ..styles import CELL_BOLD, CELL_MONO, CELL_NAME, CELL_NOTE, CELL_NOTE_NAME, CELL_PATH, NOTE, VERDICTS
from .common import SourceView, first, subheading, time_cell

THUMBNAIL_PX = 480  # longest side of an embedded screenshot thumbnail
THUMBNAIL_HEIGHT = 150.0  # points
THUMBNAIL_MAX_PIXELS = 40_000_000  # a screenshot larger than this gets no thumbnail (decoding it would take too much memory)
PAGE_ROWS = 500  # pages of WACZ files listed in the index (all are in the record and the wacz_pages table)


def render(view: SourceView) -> list[Flowable]:
    record = view.records.get("osint")
    if not isinstance(record, dict):
        return [*subheading("Captures"), Para(f"No capture record (records/{view.id}-osint.json) was written.", NOTE)]
    captures = record.get("captures") or []
    out: list[Flowable] = subheading(f"Captures ({len(captures):,})")
    if (record.get("settings") or {}).get("zone"):
        out.append(Para(f"Times that state no zone were read as {record['settings']['zone']}.", NOTE, space_after=3))
    if not captures:
        out.append(Para("No capture was read from this source.", NOTE))
    else:
        out.append(
            Table(
                [Column("Item", 64, CELL_MONO), Column("Capture", 1.0), Column("Captured (UTC)", 96), Column("Digests", 96)],
                (_capture_row(c) for c in captures),
            )
        )
    out += screenshots(view, [c for c in captures if c.get("format") in ("png", "jpeg")])
    not_listed = sum(int((f.get("wacz") or {}).get("pages_not_listed") or 0) for f in record.get("files") or [] if isinstance(f, dict))
    out += pages(record.get("pages") or [], not_listed)
    return out


def _capture_row(c: dict[str, Any]) -> Row:
    sidecar = c.get("sidecar") or {}
    url = first(c, "target_uri", "url") or sidecar.get("url")
    kind = c.get("record_type") or c.get("format")
    detail = f"{kind}" + (f", record {c['record']} at offset {c['offset']}" if c.get("record") is not None else "")
    detail += (f", HTTP {c['http_status']}" if c.get("http_status") else "") + (f", {c['width']}×{c['height']} px" if c.get("width") else "")
    return [
        Lines.of((c.get("item"), CELL_MONO), (c.get("member"), CELL_MONO)),
        Lines.of(
            (url or "(no URL recorded)", CELL_PATH if url else CELL_NOTE),
            (c.get("title"), CELL_NAME),
            (detail, CELL_NOTE),
            (c.get("member_path") or c.get("file"), CELL_NOTE_NAME),
            *((p, CELL_NOTE) for p in c.get("problems") or []),
        ),
        time_cell(_when(c)) or Lines.of(("not recorded", CELL_NOTE)),
        _digests(c),
    ]


def screenshots(view: SourceView, shots: list[dict[str, Any]]) -> list[Flowable]:
    """Every screenshot, as a thumbnail beside what is known about it."""
    if not shots:
        return []
    folder = str(view.row.get("folder", ""))

    def row(c: dict[str, Any]) -> Row:
        sidecar = c.get("sidecar") or {}
        data = view.data.bundle.read(f"{folder}/{c.get('file')}") if not c.get("member_path") else None
        picture = thumbnail(data) if data is not None else "the image could not be read"
        return [
            Lines.of((c.get("item"), CELL_MONO)),
            picture if isinstance(picture, Picture) else Lines.of((f"no thumbnail: {picture}", CELL_NOTE)),
            Lines.of(
                (c.get("file"), CELL_PATH),
                (f"{c.get('format', '').upper()}, {c.get('width')}×{c.get('height')} px" if c.get("width") else None, CELL_NOTE),
                (f"URL (sidecar): {sidecar['url']}" if sidecar.get("url") else None, CELL_PATH),
                (f"tool: {sidecar['tool']}" if sidecar.get("tool") else None, CELL_NOTE),
                (f"operator: {sidecar['operator']}" if sidecar.get("operator") else None, CELL_NOTE),
                (f"sidecar: {sidecar['file']}" if sidecar.get("file") else None, CELL_NOTE),
            ),
        ]

    table = Table([Column("Item", 64, CELL_MONO), Column("Screenshot (thumbnail; the original is the item)", 0.55), Column("File and sidecar", 0.45)], (row(c) for c in shots))
    return subheading(f"Screenshots ({len(shots)})") + [table]


def _when(c: dict[str, Any]) -> Any:
    sidecar = c.get("sidecar") or {}
    return first(c, "warc_date", "captured_at") or sidecar.get("captured_at") or c.get("png_time")


def _digests(c: dict[str, Any]) -> Lines:
    """The verdict on the capture's own digests: WARC block and payload digests,
    or a sidecar's SHA-256 of a screenshot."""
    if "block_digest" in c or "payload_digest" in c:
        verdicts = {w.split("_")[0]: (c.get(w) or {}).get("verdict", "not-checkable") for w in ("block_digest", "payload_digest")}
        overall = "fail" if "fail" in verdicts.values() else "pass" if "pass" in verdicts.values() else "not-checkable"
        return Lines.of((VERDICTS.get(overall, (overall,))[0], CELL_BOLD), *((f"{w}: {v}", CELL_NOTE) for w, v in verdicts.items()))
    check = (c.get("sidecar") or {}).get("sha256_check") or {}
    if check.get("verdict"):
        return Lines.of((VERDICTS.get(check["verdict"], (check["verdict"],))[0], CELL_BOLD), ("the sidecar's SHA-256 of the file", CELL_NOTE))
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


