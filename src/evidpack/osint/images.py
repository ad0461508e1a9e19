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

from ..timeparse import TimeProblem, read_time

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
_TEXT_LIMIT = 1 << 20  # decompressed text chunk limit
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


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, _TEXT_LIMIT)
    if d.unconsumed_tail:
        raise ImageProblem(f"a compressed text chunk expands to more than {_TEXT_LIMIT} bytes")
    return out


def read_png(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"format": "png", "text": {}, "problems": []}
    pos = len(PNG_MAGIC)
    chunks: list[str] = []
    while pos + 8 <= len(data):
        length, ctype = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        name = ctype.decode("latin-1")
        if len(body) < length or len(crc) < 4:
            raise ImageProblem(f"PNG chunk {name!r} at offset {pos} is cut short (the file ends inside it)")
        if struct.unpack(">I", crc)[0] != zlib.crc32(ctype + body):
            raise ImageProblem(f"PNG chunk {name!r} at offset {pos} fails its CRC check (the image is damaged)")
        chunks.append(name)
        pos += 12 + length
        try:
            _png_chunk(name, body, out)
        except (ValueError, struct.error, zlib.error) as exc:
            out["problems"].append(f"chunk {name}: {exc}")
        if name == "IEND":
            break
    if not chunks or chunks[0] != "IHDR":
        raise ImageProblem("PNG without an IHDR chunk first")
    if "IEND" not in chunks:
        raise ImageProblem("PNG is cut short (no IEND chunk)")
    if pos < len(data):
        out["trailing_bytes"] = len(data) - pos
    out["chunks"] = sorted(set(chunks))
    return out


def _png_chunk(name: str, body: bytes, out: dict[str, Any]) -> None:
    if name == "IHDR":
        w, h, depth, colour = struct.unpack_from(">IIBB", body)
        out.update(width=w, height=h, bit_depth=depth, colour=_COLOUR.get(colour, str(colour)))
    elif name == "tEXt":
        key, _, text = body.partition(b"\x00")
        out["text"][key.decode("latin-1")] = text.decode("latin-1")
    elif name == "zTXt":
        key, _, rest = body.partition(b"\x00")
        out["text"][key.decode("latin-1")] = _inflate(rest[1:]).decode("latin-1")
    elif name == "iTXt":
        key, _, rest = body.partition(b"\x00")
        compressed, _method = rest[0], rest[1]
        _lang, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        raw = _inflate(text) if compressed else text
        out["text"][key.decode("latin-1")] = raw.decode("utf-8", "replace")
    elif name == "tIME":
        y, mo, d, h, mi, s = struct.unpack_from(">HBBBBB", body)
        out["png_time"] = read_time(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z").to_json()  # tIME is UTC
    elif name == "pHYs":
        x, y, unit = struct.unpack_from(">IIB", body)
        if unit == 1:
            out["pixels_per_metre"] = [x, y]
    elif name == "eXIf":
        out["exif"] = read_exif(body)


# --- JPEG ------------------------------------------------------------------------------------

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def read_jpeg(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"format": "jpeg", "text": {}, "problems": []}
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
            out["bit_depth"], h, w, out["components"] = struct.unpack_from(">BHHB", body)
            out.update(width=w, height=h)
        elif marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
            try:
                out["exif"] = read_exif(body[6:])
            except (ValueError, struct.error) as exc:
                out["problems"].append(f"EXIF: {exc}")
        elif marker == 0xE1 and body.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
            out["xmp"] = body[29:].decode("utf-8", "replace")
        elif marker == 0xFE:
            out["text"][f"comment {len(out['text']) + 1}"] = body.decode("utf-8", "replace")
        elif marker == 0xDA:  # start of scan: entropy-coded data follows, no more metadata
            break
        pos += 2 + length
    if "width" not in out:
        raise ImageProblem("JPEG without a frame header (no image size): the file is damaged or cut short")
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


def read_exif(tiff: bytes) -> dict[str, Any]:
    """Selected EXIF tags from a TIFF structure (bounds-checked; loops refused)."""
    if tiff[:2] == b"II":
        endian = "<"
    elif tiff[:2] == b"MM":
        endian = ">"
    else:
        raise ValueError("not a TIFF/EXIF structure")
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
            where = entry + 8 if size <= 4 else struct.unpack_from(endian + "I", tiff, entry + 8)[0]
            raw = tiff[where : where + size]
            if len(raw) < size:
                continue
            tags[name] = _value(raw, typ, n, endian)
    dates = {}
    for when, offset_tag in _DATES:
        if isinstance(tags.get(when), str):
            text = tags[when] + (tags[offset_tag] if isinstance(tags.get(offset_tag), str) else "")
            try:
                dates[when] = read_time(text.replace(":", "-", 2)).to_json()
            except TimeProblem:
                dates[when] = {"original": tags[when], "utc": None, "zone": None, "note": "EXIF time with no zone: local time of the device, not converted"}
    if dates:
        tags["times"] = dates
    return tags


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
