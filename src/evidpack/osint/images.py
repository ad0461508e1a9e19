"""Screenshots: PNG and JPEG read by hand (no image library is needed to read
dimensions and metadata, and none decodes pixels here).

PNG: the IHDR chunk (size, bit depth, colour type), text chunks (tEXt, zTXt,
iTXt), the tIME chunk and eXIf; every chunk's CRC is checked. JPEG: the frame
header (SOFn) for the size, EXIF (APP1), XMP (APP1) and comments (COM).
EXIF dates are local times with no zone unless an OffsetTime tag gives one: they
are kept as written, and converted to UTC only when the zone is stated.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from ..timeparse import NoZone, TimeProblem, read_time

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
_TEXT_LIMIT = 1 << 20  # decompressed text chunk limit
_TEXT_TOTAL = 4 << 20  # text read from one image, all chunks or comments together
_TEXT_ENTRIES = 1000  # text chunks or comments read from one image
_VALUE_LIMIT = 64 << 10  # bytes in one EXIF value
_CHUNK_PROBLEMS = 100  # damaged chunks named one by one; the rest are counted
_COLOUR = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale+alpha", 6: "RGBA"}


class ImageProblem(ValueError):
    pass


def image_format(head: bytes) -> str | None:
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    return None


def read_image(data: bytes) -> dict[str, Any]:
    fmt = image_format(data)
    if fmt == "png":
        return read_png(data)
    if fmt == "jpeg":
        return read_jpeg(data)
    raise ImageProblem(f"not a PNG or JPEG image (it starts with {data[:8].hex(' ') or 'nothing: the file is empty'})")


# --- PNG -------------------------------------------------------------------------------------


def _inflate(data: bytes, room: int) -> bytes:
    """A compressed text chunk's text: at most _TEXT_LIMIT bytes, and ``room`` + 1 (more than that is not kept)."""
    d = zlib.decompressobj()
    out = d.decompress(data, min(_TEXT_LIMIT, room) + 1)
    if len(out) > _TEXT_LIMIT:
        raise ImageProblem(f"a compressed text chunk expands to more than {_TEXT_LIMIT} bytes")
    return out


class _Text:
    """The text an image's chunks or comments add, within _TEXT_TOTAL bytes and _TEXT_ENTRIES entries."""

    def __init__(self, out: dict[str, Any]) -> None:
        self.out, self.left, self.skipped = out, _TEXT_TOTAL, 0

    def room(self) -> int:
        """How many more bytes of text may be read (0 once the entries are used up)."""
        return self.left if len(self.out["text"]) < _TEXT_ENTRIES else 0

    def add(self, key: str, value: str, size: int) -> None:
        if len(self.out["text"]) >= _TEXT_ENTRIES or size > self.left:
            self.skipped += 1
            return
        self.left -= size
        self.out["text"][key] = value

    def report(self, what: str) -> None:
        if self.skipped:
            self.out["problems"].append(
                f"{self.skipped} {what} not read: an image's text is read up to {_TEXT_ENTRIES} entries and {_TEXT_TOTAL} bytes"
            )


def read_png(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"format": "png", "text": {}, "problems": []}
    text = _Text(out)
    pos = len(PNG_MAGIC)
    first: str | None = None
    chunks: set[str] = set()
    damaged = 0
    while pos + 8 <= len(data):
        length, ctype = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        name = ctype.decode("latin-1")
        if len(body) < length or len(crc) < 4:
            raise ImageProblem(f"PNG chunk {name!r} at offset {pos} is cut short (the file ends inside it)")
        if struct.unpack(">I", crc)[0] != zlib.crc32(ctype + body):
            raise ImageProblem(f"PNG chunk {name!r} at offset {pos} fails its CRC check (the image is damaged)")
        if first is None:
            first = name
            if name == "IHDR" and length != 13:
                raise ImageProblem(f"PNG chunk 'IHDR' at offset {pos} holds {length} bytes, not 13: no image size (the image is damaged)")
        chunks.add(name)
        try:
            _png_chunk(name, body, out, text)
        except (ValueError, struct.error, zlib.error) as exc:
            damaged += 1
            if damaged <= _CHUNK_PROBLEMS:
                out["problems"].append(f"chunk {name} at offset {pos}: {exc}")
        pos += 12 + length
        if name == "IEND":
            break
    if first != "IHDR":
        raise ImageProblem("PNG without an IHDR chunk first")
    if "IEND" not in chunks:
        raise ImageProblem("PNG is cut short (no IEND chunk)")
    if pos < len(data):
        out["trailing_bytes"] = len(data) - pos
    if damaged > _CHUNK_PROBLEMS:
        out["problems"].append(f"and {damaged - _CHUNK_PROBLEMS} more damaged chunk(s)")
    text.report("text chunk(s)")
    out["chunks"] = sorted(chunks)
    return out


_PNG_SIZES = {"tIME": 7, "pHYs": 9}  # chunks of a fixed size (IHDR is checked as it is read)


def _png_chunk(name: str, body: bytes, out: dict[str, Any], text: _Text) -> None:
    if name in _PNG_SIZES and len(body) != _PNG_SIZES[name]:
        raise ImageProblem(f"the chunk holds {len(body)} bytes, not {_PNG_SIZES[name]}")
    if name == "IHDR":
        if "width" in out:
            raise ImageProblem("a second IHDR chunk (a PNG has one); the first is recorded")
        w, h, depth, colour = struct.unpack_from(">IIBB", body)
        out.update(width=w, height=h, bit_depth=depth, colour=_COLOUR.get(colour, str(colour)))
    elif name == "tEXt":
        key, _, value = body.partition(b"\x00")
        text.add(key.decode("latin-1"), value.decode("latin-1"), len(value))
    elif name == "zTXt":
        key, _, rest = body.partition(b"\x00")
        raw = _inflate(rest[1:], text.room())
        text.add(key.decode("latin-1"), raw.decode("latin-1"), len(raw))
    elif name == "iTXt":
        key, sep, rest = body.partition(b"\x00")
        if not sep or len(rest) < 2:
            raise ImageProblem("the chunk ends before its compression flag and method (it is cut short)")
        compressed = rest[0]  # rest[1] is the compression method: 0 (zlib) is the only one
        _lang, _, rest = rest[2:].partition(b"\x00")
        _translated, _, value = rest.partition(b"\x00")
        raw = _inflate(value, text.room()) if compressed else value
        text.add(key.decode("latin-1"), raw.decode("utf-8", "replace"), len(raw))
    elif name == "tIME":
        y, mo, d, h, mi, s = struct.unpack_from(">HBBBBB", body)
        out["png_time"] = read_time(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z").to_json()  # tIME is UTC
    elif name == "pHYs":
        x, y, unit = struct.unpack_from(">IIB", body)
        if unit == 1:
            out["pixels_per_metre"] = [x, y]
    elif name == "eXIf":
        out["exif"] = read_exif(body, out["problems"])


# --- JPEG ------------------------------------------------------------------------------------

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def read_jpeg(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"format": "jpeg", "text": {}, "problems": []}
    text = _Text(out)
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageProblem(f"JPEG marker expected at offset {pos} (the image is damaged)")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        body = data[pos + 4 : pos + 2 + length]
        if length < 2 or len(body) < length - 2:
            raise ImageProblem(f"JPEG segment 0x{marker:02X} at offset {pos} is cut short")
        if marker in _SOF:
            if len(body) < 6:
                raise ImageProblem(
                    f"JPEG frame header (SOF{marker - 0xC0}) at offset {pos} is cut short: {len(body)} bytes, not the 6 or more that give the image size"
                )
            out["bit_depth"], h, w, out["components"] = struct.unpack_from(">BHHB", body)
            out.update(width=w, height=h)
        elif marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
            try:
                out["exif"] = read_exif(body[6:], out["problems"])
            except (ValueError, struct.error) as exc:
                out["problems"].append(f"EXIF at offset {pos}: {exc}")
        elif marker == 0xE1 and body.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
            out["xmp"] = body[29:].decode("utf-8", "replace")
        elif marker == 0xFE:
            text.add(f"comment {len(out['text']) + 1}", body.decode("utf-8", "replace"), len(body))
        elif marker == 0xDA:  # start of scan: entropy-coded data follows, no more metadata
            break
        pos += 2 + length
    if "width" not in out:
        raise ImageProblem("JPEG without a frame header (no image size): the file is damaged or cut short")
    text.report("comment(s)")
    return out


# --- EXIF -------------------------------------------------------------------------------------

_TAGS = {
    0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0112: "Orientation", 0x0131: "Software",
    0x0132: "DateTime", 0x013B: "Artist", 0x8298: "Copyright", 0x9003: "DateTimeOriginal",
    0x9004: "DateTimeDigitized", 0x9010: "OffsetTime", 0x9011: "OffsetTimeOriginal", 0x9012: "OffsetTimeDigitized",
    0x9286: "UserComment", 0xA002: "PixelXDimension", 0xA003: "PixelYDimension", 0xA420: "ImageUniqueID",
    0x0001: "GPSLatitudeRef", 0x0002: "GPSLatitude", 0x0003: "GPSLongitudeRef", 0x0004: "GPSLongitude",
}
_POINTERS = {0x8769: "exif", 0x8825: "gps"}
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}
_DATES = (("DateTimeOriginal", "OffsetTimeOriginal"), ("DateTimeDigitized", "OffsetTimeDigitized"), ("DateTime", "OffsetTime"))


def read_exif(tiff: bytes, problems: list[str]) -> dict[str, Any]:
    """Selected EXIF tags from a TIFF structure (bounds-checked; loops refused).

    What cannot be read (a time out of range, a value too large) is added to ``problems``."""
    if tiff[:2] == b"II":
        endian = "<"
    elif tiff[:2] == b"MM":
        endian = ">"
    else:
        raise ValueError("not a TIFF/EXIF structure")
    if len(tiff) < 8:
        raise ValueError(f"the EXIF block is cut short ({len(tiff)} bytes; its TIFF header alone takes 8)")
    (first,) = struct.unpack_from(endian + "I", tiff, 4)
    tags: dict[str, Any] = {}
    seen: set[int] = set()
    todo = [(first, "ifd0")]
    while todo:
        offset, ifd = todo.pop()
        if offset in seen or offset + 2 > len(tiff):
            continue
        seen.add(offset)
        (count,) = struct.unpack_from(endian + "H", tiff, offset)
        for i in range(min(count, 512)):
            entry = offset + 2 + 12 * i
            if entry + 12 > len(tiff):
                break
            tag, typ, n = struct.unpack_from(endian + "HHI", tiff, entry)
            if tag in _POINTERS and ifd == "ifd0":
                todo.append((struct.unpack_from(endian + "I", tiff, entry + 8)[0], _POINTERS[tag]))
                continue
            name = _TAGS.get(tag)
            if name is None or (name.startswith("GPS") != (ifd == "gps")) or typ not in _SIZES:
                continue
            size = _SIZES[typ] * n
            if size > _VALUE_LIMIT:
                problems.append(f"EXIF {name} is {size} bytes, more than the {_VALUE_LIMIT} read; not read")
                continue
            where = entry + 8 if size <= 4 else struct.unpack_from(endian + "I", tiff, entry + 8)[0]
            raw = tiff[where : where + size]
            if len(raw) < size:
                continue
            tags[name] = _value(raw, typ, n, endian)
    dates = {}
    for when, offset_tag in _DATES:
        if isinstance(tags.get(when), str):
            dates[when] = _exif_time(when, tags[when], tags.get(offset_tag), problems)
    if dates:
        tags["times"] = dates
    return tags


def _exif_time(name: str, value: str, offset: Any, problems: list[str]) -> dict[str, Any]:
    """An EXIF time (``2026:03:11 14:10:00``), in UTC only when its OffsetTime tag states the zone."""
    text = value + (offset if isinstance(offset, str) else "")
    try:
        return read_time(text.replace(":", "-", 2)).to_json()
    except NoZone:
        return {"original": value, "utc": None, "zone": None, "note": "EXIF time with no zone: local time of the device, not converted"}
    except TimeProblem as exc:
        if not value.strip(" :0"):
            return {"original": value, "utc": None, "zone": None, "note": "EXIF time left blank or zero: the device did not know it"}
        problems.append(f"EXIF {name}: {exc}")
        return {"original": value, "utc": None, "zone": None, "problem": str(exc)}


def _value(raw: bytes, typ: int, n: int, endian: str) -> Any:
    if typ == 2:
        return raw.rstrip(b"\x00").decode("utf-8", "replace")
    if typ == 7:
        if raw[:8] in (b"ASCII\x00\x00\x00", b"UNICODE\x00", b"\x00" * 8):
            body = raw[8:]
            return (body.decode("utf-16-be" if endian == ">" else "utf-16-le", "replace") if raw[:7] == b"UNICODE" else body.decode("latin-1")).rstrip("\x00 ")
        return raw.hex()
    fmt = {1: "B", 3: "H", 4: "I", 9: "i"}.get(typ)
    if fmt:
        values = list(struct.unpack(endian + fmt * n, raw))
        return values[0] if n == 1 else values
    pairs = struct.unpack(endian + ("II" if typ == 5 else "ii") * n, raw)
    values = [round(pairs[i] / pairs[i + 1], 6) if pairs[i + 1] else None for i in range(0, len(pairs), 2)]
    return values[0] if n == 1 else values
