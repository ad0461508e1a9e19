"""Media type of an item from its first bytes, falling back to the file name.

A zip is told apart from the formats built on it by what its head shows of
its first members (the local file headers within the bytes given, never
more): an OpenDocument file (ODF) begins with a stored member ``mimetype``
holding its media type; an Office Open XML file (OOXML: .docx, .xlsx, .pptx)
has ``[Content_Types].xml``, ``_rels/``, ``docProps/`` or its part folder
(``word/``, ``xl/``, ``ppt/``) among them. The part folder says which; when the
members seen do not (``[Content_Types].xml`` or ``docProps/app.xml`` first),
the name's extension does, if it is an OOXML one. Any other zip, or an OOXML
package whose kind neither says, is ``application/zip``.
"""

from __future__ import annotations

import posixpath
import re
import struct

from .mediatype_names import COMMON_TYPES, ENCODINGS, SUFFIXES, TYPES

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF-", 0, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"PK\x05\x06", 0, "application/zip"),
    (b"\x1f\x8b", 0, "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", 0, "application/x-7z-compressed"),
    (b"SQLite format 3\x00", 0, "application/vnd.sqlite3"),
    (b"ANDROID BACKUP\n", 0, "application/x-android-backup"),
    (b"WARC/", 0, "application/warc"),
    (b"bplist00", 0, "application/x-bplist"),
    (b"ustar", 257, "application/x-tar"),
    (b"RIFF", 0, "application/octet-stream"),
    (b"ID3", 0, "audio/mpeg"),
    (b"#!AMR", 0, "audio/amr"),
    (b"\x02#!SILK_V3", 0, "audio/silk"),
    (b"#!SILK_V3", 0, "audio/silk"),
)
# The entries of _MAGIC a head could match, in _MAGIC's order, by its first byte
# (and for an empty head): sniff runs once per file, and most heads match none.
_MAGIC_BY_FIRST = tuple(tuple(m for m in _MAGIC if m[1] or m[0][0] == b) for b in range(256))
_MAGIC_NO_HEAD = tuple(m for m in _MAGIC if m[1])


ZIP = "application/zip"
_OOXML_WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_OOXML_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_OOXML_SLIDES = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
# An OOXML package's part folder -> its media type (the main document kinds).
_OOXML_PARTS = {"word/": _OOXML_WORD, "xl/": _OOXML_SHEET, "ppt/": _OOXML_SLIDES}
# Members that only an OOXML package (Open Packaging Conventions) has.
_OOXML_MARKS = ("[Content_Types].xml", "_rels/", "docProps/")
# Extensions that name an OOXML kind, for a package whose members seen do not say it.
_OOXML_EXTENSIONS = {
    ".docx": _OOXML_WORD,
    ".docm": "application/vnd.ms-word.document.macroEnabled.12",
    ".dotx": "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    ".xlsx": _OOXML_SHEET,
    ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    ".xltx": "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
    ".pptx": _OOXML_SLIDES,
    ".pptm": "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
    ".potx": "application/vnd.openxmlformats-officedocument.presentationml.template",
    ".ppsx": "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
}
# What an ODF file's (or an EPUB's) ``mimetype`` member may say.
_PACKAGE_TYPE = re.compile(rb"application/(?:vnd\.oasis\.opendocument\.[a-z][a-z0-9.-]{0,60}|epub\+zip)")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # a zip's local file header
_MAX_MEMBERS = 32  # member headers looked at (a head of 512 bytes holds a few at most)


def _zip_members(head: bytes) -> list[tuple[str, int, bytes]]:
    """The first members of the zip that ``head`` begins: (name, compression
    method, the stored bytes the head holds), as far as the head shows them."""
    members: list[tuple[str, int, bytes]] = []
    at = 0
    while len(members) < _MAX_MEMBERS and at + _LOCAL.size <= len(head):
        sig, _, flags, method, _, _, _, csize, _, nlen, xlen = _LOCAL.unpack_from(head, at)
        if sig != b"PK\x03\x04":
            break
        start = at + _LOCAL.size
        if start + nlen > len(head):
            break
        name = head[start : start + nlen].decode("utf-8" if flags & 0x800 else "cp437", "replace")
        data = start + nlen + xlen
        members.append((name, method, head[data : data + csize] if method == 0 else b""))
        if flags & 0x8 or csize == 0xFFFFFFFF:  # sizes after the data, or in a zip64 field: the next header cannot be found
            break
        at = data + csize
    return members


def _zip_kind(head: bytes, name: str) -> str:
    """A zip's media type: ODF, OOXML or plain zip (see the module's docstring)."""
    members = _zip_members(head)
    if members and members[0][0] == "mimetype" and members[0][1] == 0:
        declared = members[0][2].strip()
        if _PACKAGE_TYPE.fullmatch(declared):
            return declared.decode("ascii")
    names = [m[0] for m in members]
    for member in names:
        for folder, mtype in _OOXML_PARTS.items():
            if member.startswith(folder):
                return mtype
    if any(member == mark or (mark.endswith("/") and member.startswith(mark)) for member in names for mark in _OOXML_MARKS):
        dot = name.rfind(".")
        return _OOXML_EXTENSIONS.get(name[dot:].lower(), ZIP) if dot > name.rfind("/") else ZIP
    return ZIP


def by_name(name: str) -> str | None:
    """The media type the name's extension gives, from evidpack's own frozen
    table (:mod:`evidpack.mediatype_names`), looked up as Python 3.11's
    ``mimetypes.guess_type(name, strict=False)`` does for a path.

    Never Python's or the host's table: a media type goes into the item
    record and so into the Merkle root, which must not depend on the machine
    or the Python version that built the bundle (/etc/mime.types, which
    ``guess_type`` reads, called a Cellebrite ``.ufd`` ``application/vnd.ufdl``;
    Python 3.12 and 3.13 changed entries). Unlike ``guess_type``, a name is
    never taken for a URL (3.11 read ``data:x,y`` as a data URL)."""
    base, ext = posixpath.splitext(name)
    for _ in range(8):  # each step shortens the name; the bound is only a guard
        if ext.lower() not in SUFFIXES:
            break
        base, ext = posixpath.splitext(base + SUFFIXES[ext.lower()])
    if ext in ENCODINGS:  # case-sensitive, as in Python
        base, ext = posixpath.splitext(base)
    ext = ext.lower()
    return TYPES.get(ext) or COMMON_TYPES.get(ext)


def sniff(head: bytes, name: str) -> str:
    for magic, offset, mtype in _MAGIC_BY_FIRST[head[0]] if head else _MAGIC_NO_HEAD:
        if head[offset : offset + len(magic)] == magic:
            if mtype == ZIP and magic == b"PK\x03\x04":
                return _zip_kind(head, name)
            if mtype == "application/octet-stream" and head[8:12] == b"WEBP":
                return "image/webp"
            if mtype != "application/octet-stream":
                return mtype
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/mp4" if head[8:11] != b"hei" else "image/heic"
    guessed = by_name(name)
    if guessed:
        return guessed
    if not head:
        return "application/x-empty"
    try:
        head.decode("utf-8")
        return "text/plain"
    except UnicodeDecodeError:
        # The head may end inside a multi-byte character.
        try:
            head[:-3].decode("utf-8")
            return "text/plain" if len(head) > 3 else "application/octet-stream"
        except UnicodeDecodeError:
            return "application/octet-stream"
