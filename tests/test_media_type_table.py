"""The name-extension table is evidpack's own (frozen from Python 3.11.7), so the
media type in an item record, and with it the Merkle root, is the same whatever
Python or host builds the bundle."""

from __future__ import annotations

import mimetypes
import sys

import pytest

from evidpack import mediatype, mediatype_names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("data/a/photo.JPG", "image/jpeg"),
        ("x.tar.gz", "application/x-tar"),  # the compression suffix is set aside
        ("x.TGZ", "application/x-tar"),  # .tgz stands for .tar.gz
        ("x.svgz", "image/svg+xml"),
        ("x.webp", "image/webp"),  # a common, unregistered type
        ("x.rtf", "application/rtf"),
        ("x.GZ", None),  # compression suffixes are case-sensitive, as in Python
        ("x.gz", None),
        ("noextension", None),
        ("data:text,hello.bin", "application/octet-stream"),  # a name, never a data: URL
        ("a.ufd", None),  # not in the table: sniffed from the bytes instead
    ],
)
def test_names_the_table_gives(name: str, expected: str | None) -> None:
    assert mediatype.by_name(name) == expected


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the table is Python 3.11's; later versions changed entries")
def test_the_table_answers_as_python_3_11_does() -> None:
    table = mimetypes.MimeTypes()  # Python's defaults only, no host files
    exts = [*mediatype_names.TYPES, *mediatype_names.COMMON_TYPES, *mediatype_names.SUFFIXES, *mediatype_names.ENCODINGS, ".X", "", "."]
    checked = 0
    for a in exts:
        for b in (".gz", ".Z", ".tgz", "", ".TXT", ".json"):
            for name in (f"d/x{a}{b}", f"d/x{a.upper()}{b}"):
                assert mediatype.by_name(name) == table.guess_type(name, strict=False)[0], name
                checked += 1
    assert checked > 1000


def test_python_s_own_table_is_never_consulted(monkeypatch) -> None:
    # What a later Python or a host's mime.types would change must not reach a record.
    monkeypatch.setitem(mimetypes._types_map_default, ".ufd", "application/x-changed")
    monkeypatch.setitem(mimetypes._types_map_default, ".jpg", "image/x-changed")

    def refuse(*_a, **_k):
        raise AssertionError("mimetypes consulted")

    monkeypatch.setattr(mimetypes, "guess_type", refuse)
    monkeypatch.setattr(mimetypes.MimeTypes, "guess_type", refuse)
    assert mediatype.sniff(b"", "a.ufd") == "application/x-empty"
    assert mediatype.sniff(b"not a jpeg", "b.jpg") == "image/jpeg"
    assert mediatype.sniff(b"hello", "c.txt") == "text/plain"
