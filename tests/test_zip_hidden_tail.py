"""Bytes hidden inside a zip member's compressed size, after the end of its
compressed stream.

A deflated (or bzip2, LZMA) member's data is a stream that knows where it ends;
the zip's central directory and local header declare a compressed size. When
the size is larger, the bytes between the stream's end and the declared end
lie inside the member as the zip lays it out (so no ``container-unlisted-data``
gap shows them), and every extraction tool stops at the stream's end: they are
never seen. Stock tools on such a zip (the deflate one built here): ``unzip -t``
says "No errors detected" (exit 0) and Python's ``zipfile.testzip`` finds
nothing; only 7-Zip's ``7z t`` says "ERROR: There are some data after the end
of the payload data" (exit 2; for an LZMA member, "Data Error").

Every reader of a member — the streaming reader (:func:`containers._zip_data`),
the one-piece reader of small members (:func:`zipmembers.whole`) and the helper
processes that use it — counts them when the stream ends (from what the
decompressor holds and how much of the declared size is left, reading none of
it), and the member record says so (``member-trailing-data``, a ``warn`` check
on the source); the member's digests stay those of what it decompresses to."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import build_args, run_proc, tool
from device_support import checks, device_case, member, verify_deep
from test_container_hidden_bytes import _catalogue, _from_memory

from evidpack.importers import containers
from evidpack.importers.containers import RandomReader, catalogue
from evidpack.zipmembers import whole

TEXT = b"the visible text of the report\n" * 40
HIDDEN = (b"HIDDEN PAYLOAD " * 67)[:1000]  # 1,000 bytes


def _spliced_zip(entries: list[tuple[str, bytes, int]], hidden: dict[str, bytes]) -> bytes:
    """A zip written by zipfile, then ``hidden[name]`` spliced in right after that
    member's compressed data, its compressed size raised to match in the local
    header and the central directory, and every later offset moved on."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, method in entries:
            zi = zipfile.ZipInfo(name, (2024, 7, 28, 7, 27, 26))
            zi.external_attr = (0o40755 if name.endswith("/") else 0o100644) << 16
            zf.writestr(zi, data, compress_type=method)
    z = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(z)) as zf:
        infos, cd = zf.infolist(), zf.start_dir
    out = bytearray()
    offsets = []
    for n, info in enumerate(infos):
        local = bytearray(z[info.header_offset : infos[n + 1].header_offset if n + 1 < len(infos) else cd])
        extra = hidden.get(info.filename, b"")
        if extra:
            assert not info.flag_bits & 0x8  # (no data descriptor: the sizes are in the local header)
            struct.pack_into("<L", local, 18, info.compress_size + len(extra))
            local += extra
        offsets.append(len(out))
        out += local
    central = bytearray(z[cd:])
    pos = 0
    for info, off in zip(infos, offsets):
        struct.pack_into("<L", central, pos + 20, info.compress_size + len(hidden.get(info.filename, b"")))
        struct.pack_into("<L", central, pos + 42, off)
        nlen, xlen, clen = struct.unpack_from("<HHH", central, pos + 28)
        pos += 46 + nlen + xlen + clen
    struct.pack_into("<L", central, pos + 16, len(out))  # the end record: where the directory starts
    return bytes(out + central)


def _hidden_zip(path: Path, method: int = zipfile.ZIP_DEFLATED, hidden: bytes = HIDDEN) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_spliced_zip([("report.txt", TEXT, method), ("after.txt", b"after\n", zipfile.ZIP_DEFLATED)], {"report.txt": hidden}))
    return path


def _digests(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


def _content(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: fields.get(k) for k in ("size", "sha256", "md5")}


def _trailing(problems: list[tuple[str, str]]) -> list[str]:
    return [reason for check, reason in problems if check == "member-trailing-data"]


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["deflate", "bzip2", "lzma"])
def test_the_hidden_bytes_are_counted_and_the_digests_are_those_extracted(tmp_path: Path, method: int) -> None:
    src = _hidden_zip(tmp_path / "h.zip", method)
    with zipfile.ZipFile(src) as zf:  # what zipfile extracts: the stream, and nothing said
        assert zf.read("report.txt") == TEXT and zf.testzip() is None
        info = zf.getinfo("report.txt")
    found, problems, notes = _catalogue(src, "zip")
    assert not problems and not notes  # (inside the member: no unlisted bytes)
    report = found["report.txt"]
    assert _content(report.fields) == _digests(TEXT) and report.fields["compressed_size"] == info.compress_size
    start = info.header_offset + 30 + len("report.txt")
    at = start + info.compress_size - len(HIDDEN)
    name = {zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}[method]
    assert report.problems == [(
        "member-trailing-data",
        f"has 1000 byte(s) at offsets {at} to {at + 999} after the end of its {name} stream, inside the {info.compress_size} compressed "
        f"byte(s) its directory entry declares; they start with {HIDDEN[:8].hex(' ')}; extraction stops at the end of the stream and never "
        "shows them (unzip -t and Python's zipfile find nothing wrong, 7-Zip's test reports an error); they are kept in the container but "
        "are not the member's content, whose digests are of the bytes it decompresses to",
    )]
    assert found["after.txt"].problems == [] and _content(found["after.txt"].fields) == _digests(b"after\n")


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is not installed")
def test_unzip_extracts_the_stream_and_says_nothing_of_the_hidden_bytes(tmp_path: Path) -> None:
    src = _hidden_zip(tmp_path / "h.zip")
    assert subprocess.run(["unzip", "-t", str(src)], capture_output=True).returncode == 0
    out = subprocess.run(["unzip", "-p", str(src), "report.txt"], capture_output=True, check=True).stdout
    assert _content(_catalogue(src, "zip")[0]["report.txt"].fields) == _digests(out)


def test_a_stored_member_or_an_ordinary_zip_says_nothing(tmp_path: Path) -> None:
    src = tmp_path / "plain.zip"
    src.write_bytes(_spliced_zip([("a.txt", TEXT, zipfile.ZIP_STORED), ("b.txt", TEXT, zipfile.ZIP_DEFLATED),
                                  ("c.bin", os.urandom(3000), zipfile.ZIP_BZIP2), ("d/", b"", zipfile.ZIP_DEFLATED)], {}))
    found, problems, notes = _catalogue(src, "zip")
    assert len(found) == 4 and not problems and not notes and all(m.problems == [] for m in found.values())
    # (bytes after a stored member's data, inside no declared size, are a gap: container-unlisted-data)


def test_the_one_piece_reader_returns_what_follows_the_stream() -> None:
    c = zlib_raw(TEXT)
    assert whole(c, 8, len(TEXT), 1 << 20) == (TEXT, 0)
    assert whole(c + HIDDEN, 8, len(TEXT), 1 << 20) == (TEXT, 1000)
    assert whole(TEXT, 0, len(TEXT), 1 << 20) == (TEXT, 0)
    assert whole(c[:-3], 8, len(TEXT), 1 << 20) is None  # (not simple: the streaming reader says why)


def zlib_raw(data: bytes) -> bytes:
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def test_a_large_member_is_streamed_and_its_hidden_bytes_are_counted_not_read(tmp_path: Path, monkeypatch) -> None:
    # The stream ends exactly at the end of a piece (nothing left in the decompressor), and
    # 16 MiB of hidden bytes follow: they are counted from the declared size, not read.
    data = os.urandom(200_000)
    stream = zlib_raw(data)
    monkeypatch.setattr(containers, "CHUNK", len(stream))
    hidden = b"\x00" * (16 << 20)
    src = tmp_path / "big.zip"
    src.write_bytes(_spliced_zip([("big.bin", data, zipfile.ZIP_DEFLATED)], {"big.bin": hidden}))
    read = [0]
    fd = os.open(src, os.O_RDONLY)
    try:
        def pread(off: int, n: int) -> bytes:
            got = os.pread(fd, n, off)
            read[0] += len(got)
            return got

        events = list(catalogue("zip", RandomReader(pread, lambda: os.fstat(fd).st_size), name="big.zip", algorithms=("sha256", "md5")))
    finally:
        os.close(fd)
    (big,) = events
    assert _content(big.fields) == _digests(data)
    assert _trailing(big.problems)[0].startswith(f"has {len(hidden)} byte(s) at offsets ")
    assert read[0] < 5 << 20, read[0]  # (the stream, the directory, a read-ahead window: not the 16 MiB)


def test_the_stream_ending_inside_a_piece_is_counted_from_what_the_decompressor_holds(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(containers, "CHUNK", 64 << 10)
    data = os.urandom(300_000)
    src = tmp_path / "mid.zip"
    src.write_bytes(_spliced_zip([("m.bin", data, zipfile.ZIP_DEFLATED)], {"m.bin": os.urandom(150_001)}))
    (m,) = _catalogue(src, "zip")[0].values()
    assert _content(m.fields) == _digests(data) and _trailing(m.problems)[0].startswith("has 150001 byte(s) at offsets ")


def test_an_empty_folder_with_bytes_after_its_empty_stream_is_still_an_empty_folder_and_said(tmp_path: Path) -> None:
    src = tmp_path / "f.zip"
    src.write_bytes(_spliced_zip([("d/", b"", zipfile.ZIP_DEFLATED)], {"d/": HIDDEN}))
    d = _catalogue(src, "zip")[0]["d/"]
    assert d.fields["size"] == 0 and "sha256" not in d.fields and [c for c, _r in d.problems] == ["member-trailing-data"]
    assert d.problems[0][1].startswith("has 1000 byte(s) at offsets 34 to 1033 after the end of its deflate stream, inside the 1002 ")


@pytest.mark.parametrize("shared", [False, True], ids=["threads", "helper-processes"])
def test_read_from_memory_while_copied_threads_and_helpers_say_the_same(tmp_path: Path, monkeypatch, shared: bool) -> None:
    monkeypatch.setattr(containers, "HELPED_MIN", 1)
    monkeypatch.setattr(containers, "CHUNK", 64 << 10)  # (pieces that fit the small buffers _from_memory copies through)
    entries, hidden = [], {}
    for n in range(60):
        entries += [(f"h{n}.txt", TEXT + b"%d" % n, zipfile.ZIP_DEFLATED), (f"p{n}.txt", b"plain %d\n" % n, zipfile.ZIP_DEFLATED),
                    (f"s{n}.txt", b"stored %d\n" % n, zipfile.ZIP_STORED)]
        hidden[f"h{n}.txt"] = HIDDEN[: 10 + n]
    entries.append(("big.bin", os.urandom(3 << 20), zipfile.ZIP_DEFLATED))
    hidden["big.bin"] = os.urandom(70_000)
    src = tmp_path / "many.zip"
    src.write_bytes(_spliced_zip(entries, hidden))
    from_file = _catalogue(src, "zip")
    from_memory = _from_memory(src, tmp_path / "copy.zip", shared)
    assert [(m.fields, m.problems) for m in from_memory[0].values()] == [(m.fields, m.problems) for m in from_file[0].values()]
    assert from_memory[1:] == from_file[1:] == ([], [])
    said = {path: _trailing(m.problems) for path, m in from_file[0].items()}
    assert said["big.bin"][0].startswith("has 70000 byte(s)")
    assert all(said[f"h{n}.txt"][0].startswith(f"has {10 + n} byte(s)") for n in range(60))
    assert not any(said[f"{k}{n}.txt"] for n in range(60) for k in "ps")


# --- through the CLI ------------------------------------------------------------------------------


def test_through_the_cli_the_build_warns_and_verify_deep_and_bagit_agree(cli, tmp_path: Path) -> None:
    _hidden_zip(tmp_path / "ev/h.zip")
    out = tmp_path / "out/B"
    r = cli(*build_args(device_case(tmp_path, "ev/h.zip"), out))  # (no --keep-going: a warning stops nothing)
    assert r.exit_code == 0, r.output
    report = member(out, "report.txt")
    assert _content(report) == _digests(TEXT)
    assert len(report["problems"]) == 1 and report["problems"][0].startswith("member-trailing-data: has 1000 byte(s) at offsets ")
    (check,) = checks(out, "member-trailing-data")
    assert check["verdict"] == "warn" and check["subject"] == report["id"]
    assert check["detail"].startswith("ev/h.zip: member 'report.txt' has 1000 byte(s) at offsets ")
    assert member(out, "after.txt").get("problems") is None
    assert all(c["verdict"] == "pass" for c in checks(out, "container-readable"))
    r = verify_deep(cli, out)
    assert r.exit_code == 0, r.output
    assert "container-members" in r.output
    r = run_proc(tool("bagit.py"), "--validate", out)
    assert r.returncode == 0, r.stderr.decode()[-2000:]


def test_verify_deep_accepts_a_bundle_built_before_the_hidden_bytes_were_said(cli, tmp_path: Path, monkeypatch) -> None:
    # A bundle built before: the same member digests, no problem in the record. --deep compares
    # names, types, sizes and digests, which are unchanged.
    _hidden_zip(tmp_path / "ev/h.zip")
    monkeypatch.setattr(containers, "_trailing", lambda *a: None)
    out = tmp_path / "out/B"
    assert cli(*build_args(device_case(tmp_path, "ev/h.zip"), out)).exit_code == 0
    assert "problems" not in member(out, "report.txt") and not checks(out, "member-trailing-data")
    monkeypatch.undo()
    r = verify_deep(cli, out)
    assert r.exit_code == 0, r.output

