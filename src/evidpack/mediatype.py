"""Media type of an item from its first bytes, falling back to the file name."""

from __future__ import annotations

import mimetypes

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


def sniff(head: bytes, name: str) -> str:
    for magic, offset, mtype in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if mtype == "application/octet-stream" and head[8:12] == b"WEBP":
                return "image/webp"
            if mtype != "application/octet-stream":
                return mtype
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/mp4" if head[8:11] != b"hei" else "image/heic"
    guessed, _ = mimetypes.guess_type(name, strict=False)
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
