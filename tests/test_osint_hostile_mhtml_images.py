"""Hostile MHTML pages, screenshots and capture times (review 5: #1, #6, #10, #11,
#12, #13 for MHTML, #20 for pages and screenshots): one line naming the file and
the problem, or with --keep-going a recorded failed check with the exact values
kept; memory stays flat; a time is never guessed and never crashes at the edge of
the calendar."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, assert_clean, run_cli
from test_osint_captures import build, built, failed_checks
from test_osint_hostile_archives import measured_build  # peak RSS of a build in a process of its own
from test_wechat_production import case, fails

from evidpack.errors import EvidpackError
from evidpack.timeutil import TimeOutOfRange, build_time, format_epoch_ns, format_utc

BOUNDARY = "----MultipartBoundary--hostile----"
DATE = "Wed, 11 Mar 2026 06:10:00 +0000"


def mhtml(*, subject: bytes = b"t", date: bytes | None = DATE.encode(), url: bytes = b"http://x/", content_type: bytes | None = None,
          body: bytes | None = None, extra: bytes = b"") -> bytes:
    head = b"From: <Saved by Blink>\r\nSnapshot-Content-Location: " + url + b"\r\nSubject: " + subject + b"\r\n"
    if date is not None:
        head += b"Date: " + date + b"\r\n"
    ctype = content_type or f'multipart/related; type="text/html"; boundary="{BOUNDARY}"'.encode()
    head += extra + b"MIME-Version: 1.0\r\nContent-Type: " + ctype + b"\r\n\r\n"
    if body is None:
        body = (f"--{BOUNDARY}\r\nContent-Type: text/html\r\nContent-Location: http://x/\r\n\r\n<p>hi</p>\r\n"
                f"--{BOUNDARY}\r\nContent-Type: image/png\r\nContent-Location: http://x/a.png\r\n\r\nAAAA\r\n--{BOUNDARY}--\r\n").encode()
    return head + body


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


IHDR = chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0))


def png(*chunks: bytes, ihdr: bytes = IHDR) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + chunk(b"IEND", b"")


def exif(date: bytes, offset: bytes | None) -> bytes:
    """A little-endian TIFF block: IFD0 -> EXIF IFD with DateTimeOriginal (and OffsetTimeOriginal)."""
    strings = date + b"\x00" + (offset + b"\x00" if offset else b"")
    n = 2 if offset else 1
    exif_at = 8 + 2 + 12 + 4
    data_at = exif_at + 2 + 12 * n + 4
    entries = struct.pack("<HHII", 0x9003, 2, len(date) + 1, data_at)
    if offset:
        entries += struct.pack("<HHII", 0x9011, 2, len(offset) + 1, data_at + len(date) + 1)
    return (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, exif_at) + b"\0\0\0\0"
            + struct.pack("<H", n) + entries + b"\0\0\0\0" + strings)


def verifies(out: Path) -> None:
    r = run_cli("verify", out, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output


def captures(rec: dict[str, Any], fmt: str) -> list[dict[str, Any]]:
    return [c for c in rec["captures"] if c["format"] == fmt]


def kept_going(cli, tmp_path: Path, files: dict[str, Any], options: str = "") -> tuple[dict[str, Any], Path]:
    """Built with --keep-going, verified, and every record valid UTF-8 JSON without NaN/Infinity."""
    rec, out = built(cli, tmp_path, files, options, "--keep-going")
    verifies(out)
    for path in (out / "evidpack/records").iterdir():
        json.loads(path.read_bytes().decode("utf-8"), parse_constant=lambda c: pytest.fail(f"{path.name} holds {c}"))
    return rec, out


PEAK_MIB = 250  # a small build peaks near 100 MB; the old code took gigabytes for these inputs


# --- #1: encoded words in the Subject ----------------------------------------------------------


def test_20000_encoded_words_in_a_subject_take_flat_memory_and_are_reported(cli, tmp_path: Path) -> None:
    subject = b"=?utf-8?q?a?= " * 20_000  # 280 KB: the old parser took 2.7 GB
    page = mhtml(subject=subject)
    peak, code, stderr, out = measured_build(tmp_path, {"page.mhtml": page}, "--keep-going")
    assert code == 0, stderr
    assert peak < PEAK_MIB, f"build peaked at {peak:,} MiB"
    verifies(out)
    [c] = captures(json.loads((out / "evidpack/records/S01-osint.json").read_text("utf-8")), "mhtml")
    assert c["title"] == subject.decode()  # as written
    assert c["problems"] == ["Subject: more than 1000 RFC 2047 encoded words (20000); not decoded, recorded as written"]
    assert any("more than 1000 RFC 2047 encoded words" in d for d in failed_checks(out)["mhtml"])
    r, _ = build(cli, tmp_path / "strict", {"page.mhtml": page})
    fails(r, "page.mhtml", "Subject: more than 1000 RFC 2047 encoded words")


def test_encoded_words_under_the_cap_are_decoded_as_before(cli, tmp_path: Path) -> None:
    subject = b"Re: " + b"=?utf-8?q?a?=  " * 990 + b"=?UTF-8?B?5bCP6b6Z?= and =?ISO-8859-1?Q?caf=E9?= end"
    rec, _ = kept_going(cli, tmp_path, {"page.mhtml": mhtml(subject=subject)})
    [c] = captures(rec, "mhtml")
    assert c["title"] == "Re: " + "a" * 990 + "小龙 and café end" and c["problems"] == []


def test_a_header_block_over_1_mib_is_one_line(cli, tmp_path: Path) -> None:
    page = mhtml(extra=b"X-Padding: " + b"a" * (1 << 20) + b"\r\n")
    r, _ = build(cli, tmp_path, {"page.mhtml": page})
    fails(r, "page.mhtml", "the header block is larger than 1048576 bytes")


# --- #6: a Date is kept as written and its zone never guessed -----------------------------------


@pytest.mark.parametrize(
    "date, why",
    [
        ("Wed, 11 Mar 2026 06:10:00", "states no zone; evidpack never guesses a zone"),
        ("11 Mar 2026 06:10:00 XYZ", "'XYZ' is not a zone RFC 5322 defines"),
        ("Mon, 11 Mar 26 06:10:00 +0800", "a 2-digit year (an obsolete form) is not read"),
        ("Mon, 11 Mar 2026 06:10:00 +0800", "the weekday 'Mon' contradicts the date (a Wednesday)"),
        ("2026-03-11 06:10:00", "states no zone; evidpack never guesses a zone"),
        ("yesterday-ish", "is not a time in a form evidpack reads"),
    ],
    ids=["no-zone", "unknown-zone", "two-digit-year", "wrong-weekday", "iso-no-zone", "garbage"],
)
def test_an_unreadable_date_is_a_problem_kept_as_written(cli, tmp_path: Path, date: str, why: str) -> None:
    page = mhtml(date=date.encode())
    r, _ = build(cli, tmp_path, {"p.mhtml": page})
    fails(r, "p.mhtml", "Date: ", why)
    rec, out = kept_going(cli, tmp_path / "k", {"p.mhtml": page})
    [c] = captures(rec, "mhtml")
    assert c["date"]["original"] == date and c["date"]["utc"] is None and why in c["date"]["problem"]
    assert c["problems"] == [f"Date: {c['date']['problem']}"]
    row = _web_capture(out)
    assert (row["captured_at_original"], row["captured_at_utc"]) == (date, None)


@pytest.mark.parametrize(
    "date, utc, zone",
    [
        ("Wed, 11 Mar 2026 06:10:00 -0000", "2026-03-11T06:10:00Z", "UTC"),
        ("Wed, 11 Mar 2026 14:10:00 +0800", "2026-03-11T06:10:00Z", "+08:00"),
        ("Wed, 11 Mar 2026 06:10:00 +0000 (UTC)", "2026-03-11T06:10:00Z", "UTC"),
        ("Wed, 11 Mar 2026 06:10:00 UT", "2026-03-11T06:10:00Z", "UTC"),
        ("Wed, 11 Mar 2026 01:10:00 EST", "2026-03-11T06:10:00Z", "-05:00"),
        ("2026-03-11T14:10:00+08:00", "2026-03-11T06:10:00Z", "+08:00"),
    ],
)
def test_a_date_with_a_zone_is_read_and_kept_exactly_as_written(cli, tmp_path: Path, date: str, utc: str, zone: str) -> None:
    rec, out = kept_going(cli, tmp_path, {"p.mhtml": mhtml(date=date.encode())})
    [c] = captures(rec, "mhtml")
    assert (c["date"]["original"], c["date"]["utc"], c["date"]["zone"], c["problems"]) == (date, utc, zone, [])
    assert _web_capture(out)["captured_at_original"] == date


def _web_capture(out: Path) -> dict[str, Any]:
    r = run_cli("query", out, "SELECT captured_at_original, captured_at_utc, url, title, problems FROM web_captures", "--json")
    assert r.exit_code == 0, r.output
    [row] = json.loads(r.stdout)
    return row


# --- #12: nesting cannot recurse ------------------------------------------------------------------


def test_nested_comments_in_the_content_type_do_not_recurse(cli, tmp_path: Path) -> None:
    ctype = f'multipart/related; boundary="{BOUNDARY}" '.encode() + b"(" * 5000 + b")" * 5000
    rec, _ = kept_going(cli, tmp_path, {"p.mhtml": mhtml(content_type=ctype)})
    [c] = captures(rec, "mhtml")
    assert (c["parts"], c["problems"], c["part_list"][1]) == (2, [], {"content_type": "image/png", "location": "http://x/a.png"})


def test_parts_nested_3000_deep_are_one_part_not_a_recursion(cli, tmp_path: Path) -> None:
    depth = 3000
    body = b"".join(b'--b%d\r\nContent-Type: multipart/related; boundary="b%d"\r\n\r\n' % (i, i + 1) for i in range(depth))
    body += b"--b%d\r\nContent-Type: text/html\r\n\r\nx\r\n--b%d--\r\n" % (depth, depth) + b"".join(b"--b%d--\r\n" % i for i in range(depth - 1, -1, -1))
    rec, _ = kept_going(cli, tmp_path, {"p.mhtml": mhtml(content_type=b'multipart/related; boundary="b0"', body=body)})
    [c] = captures(rec, "mhtml")
    assert (c["parts"], c["part_list"], c["problems"]) == (1, [{"content_type": "multipart/related", "location": None}], [])


def test_a_page_whose_closing_boundary_is_missing_is_a_problem(cli, tmp_path: Path) -> None:
    page = mhtml(body=f"--{BOUNDARY}\r\nContent-Type: text/html\r\n\r\n<p>cut".encode())
    r, _ = build(cli, tmp_path, {"p.mhtml": page})
    fails(r, "p.mhtml", "the closing boundary is missing")
    r, _ = build(cli, tmp_path / "none", {"p.mhtml": mhtml(body=b"no parts at all\r\n")})
    fails(r, "p.mhtml", "not MHTML: no part starts with the boundary")


# --- #13 (MHTML): header bytes that are not UTF-8 ---------------------------------------------------


def test_a_header_that_is_not_utf8_is_escaped_and_reported(cli, tmp_path: Path) -> None:
    page = mhtml(url=b"http://x/caf\xe9%41", extra=b"").replace(b"From: <Saved by Blink>", b"From: Jos\xe9 <j@x>")
    r, _ = build(cli, tmp_path, {"p.mhtml": page})
    fails(r, "p.mhtml", "header Snapshot-Content-Location is not valid UTF-8 (byte 0xE9)", "'http://x/caf%E9%2541'")
    rec, out = kept_going(cli, tmp_path / "k", {"p.mhtml": page})
    [c] = captures(rec, "mhtml")
    assert (c["url"], c["saved_by"]) == ("http://x/caf%E9%2541", "Jos%E9 <j@x>")
    assert len(c["problems"]) == 2 and all("written %XX" in p for p in c["problems"])
    assert _web_capture(out)["url"] == "http://x/caf%E9%2541"
    # UTF-8 in a header (RFC 6532) is text, not a problem
    rec, _ = kept_going(cli, tmp_path / "u", {"p.mhtml": mhtml(url="http://x/café".encode())})
    assert captures(rec, "mhtml")[0]["url"] == "http://x/café" and captures(rec, "mhtml")[0]["problems"] == []


# --- #11: malformed screenshots -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data, problem",
    [
        ("shot.png", png(chunk(b"iTXt", b"Title\x00")), "chunk iTXt at offset 33: the chunk ends before its compression flag and method"),
        ("shot.png", png(chunk(b"tIME", struct.pack(">HBBBBB", 2026, 13, 45, 99, 0, 0))), "chunk tIME at offset 33: '2026-13-45T99:00:00Z' is not a valid date"),
        ("shot.png", png(chunk(b"tIME", b"\x07"), chunk(b"pHYs", b"")), "chunk tIME at offset 33: the chunk holds 1 bytes, not 7"),
        ("shot.png", png(chunk(b"eXIf", b"XX garbage")), "chunk eXIf at offset 33: not a TIFF/EXIF structure"),
    ],
    ids=["itxt-short", "time-invalid", "time-short", "exif-garbage"],
)
def test_a_damaged_chunk_is_a_recorded_problem(cli, tmp_path: Path, name: str, data: bytes, problem: str) -> None:
    r, _ = build(cli, tmp_path, {name: data})
    fails(r, name, problem)
    rec, out = kept_going(cli, tmp_path / "k", {name: data})
    [c] = rec["captures"]
    assert problem in c["problems"][0] and (c["width"], c["height"]) == (10, 10)
    assert any(problem in d for d in failed_checks(out)["image"])


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("shot.jpg", b"\xff\xd8\xff\xc0\x00\x02\xff\xd9", "JPEG frame header (SOF0) at offset 2 is cut short: 0 bytes, not the 6 or more"),
        ("shot.jpg", b"\xff\xd8\xff\xc2\x00\x05abc\xff\xd9", "JPEG frame header (SOF2) at offset 2 is cut short: 3 bytes"),
        ("shot.png", png(ihdr=chunk(b"IHDR", b"\x00\x00")), "PNG chunk 'IHDR' at offset 8 holds 2 bytes, not 13"),
    ],
    ids=["sof0-empty", "sof2-short", "ihdr-short"],
)
def test_an_image_without_a_readable_size_is_one_line(cli, tmp_path: Path, name: str, data: bytes, message: str) -> None:
    r, _ = build(cli, tmp_path, {name: data})
    fails(r, name, message)
    _, out = kept_going(cli, tmp_path / "k", {name: data})
    assert any(message in d for d in failed_checks(out)["image"])


def test_compressed_text_chunks_take_flat_memory(tmp_path: Path) -> None:
    bomb = zlib.compress(b"a" * (1 << 20), 9)  # 1 KB that inflates to 1 MiB
    data = png(*(chunk(b"zTXt", b"k%d\x00\x00" % i + bomb) for i in range(1500)))
    assert len(data) < 2_000_000
    peak, code, stderr, out = measured_build(tmp_path, {"shot.png": data}, "--keep-going")
    assert code == 0, stderr
    assert peak < PEAK_MIB, f"build peaked at {peak:,} MiB (the old reader kept 1.5 GB of text)"
    verifies(out)
    [c] = json.loads((out / "evidpack/records/S01-osint.json").read_text("utf-8"))["captures"]
    assert len(c["text"]) == 4 and c["problems"] == ["1496 text chunk(s) not read: an image's text is read up to 1000 entries and 4194304 bytes"]


# --- #10: times at the edges of the calendar ---------------------------------------------------------


def _wacz(ts: str) -> bytes:
    pages = ('{"format":"json-pages-1.0","id":"pages"}\n{"id":"1","url":"http://x/","ts":"' + ts + '"}\n').encode()
    package = {"profile": "data-package", "wacz_version": "1.1.1", "resources": [
        {"name": "pages.jsonl", "path": "pages/pages.jsonl", "hash": "sha256:" + hashlib.sha256(pages).hexdigest(), "bytes": len(pages)}]}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("pages/pages.jsonl", pages)
        z.writestr("datapackage.json", json.dumps(package))
    return out.getvalue()


EDGE = ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00")


@pytest.mark.parametrize("when", EDGE, ids=["year-1-east", "year-9999-west"])
def test_a_capture_time_outside_the_years_1_to_9999_in_utc_is_a_problem(cli, tmp_path: Path, when: str) -> None:
    shot = png()
    files = {
        "c.warc": (f"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:1>\r\nWARC-Date: {when}\r\n"
                   "Content-Length: 5\r\n\r\nhello\r\n\r\n").encode(),
        "p.mhtml": mhtml(date=when.encode()),
        "s.png": shot,
        "s.png.json": json.dumps({"url": "http://x/", "captured_at": when}).encode(),
        "e.png": png(chunk(b"eXIf", exif(when[:19].replace("-", ":", 2).replace("T", " ").encode(), when[19:].encode()))),
        "c.wacz": _wacz(when),
    }
    reason = f"{when!r} is outside the years 1-9999 in UTC"
    for name in ("c.warc", "p.mhtml", "s.png.json", "c.wacz"):
        r, _ = build(cli, tmp_path / name, {name: files[name], **({"s.png": shot} if name == "s.png.json" else {})})
        fails(r, name, reason)
    r, _ = build(cli, tmp_path / "exif", {"e.png": files["e.png"]})
    fails(r, "e.png", "EXIF DateTimeOriginal", "is outside the years 1-9999 in UTC")
    rec, out = kept_going(cli, tmp_path / "k", files)
    by_file = {c["file"]: c for c in rec["captures"] if not c.get("member")}
    assert by_file["c.warc"]["warc_date"]["utc"] is None
    assert by_file["p.mhtml"]["date"] == {"original": when, "utc": None, "problem": reason + " (RFC 3339 cannot write it)"}
    assert by_file["s.png"]["sidecar"]["captured_at"]["utc"] is None
    original = when[:19].replace("-", ":", 2).replace("T", " ")
    assert by_file["e.png"]["exif"]["times"]["DateTimeOriginal"]["original"] == original
    assert by_file["e.png"]["exif"]["times"]["DateTimeOriginal"]["utc"] is None
    assert rec["pages"][0]["ts"]["utc"] is None
    assert {"warc-digests", "mhtml", "sidecar", "image"} <= set(failed_checks(out))


def test_a_year_below_1000_is_written_with_four_digits(cli, tmp_path: Path) -> None:
    rec, out = kept_going(cli, tmp_path, {"p.mhtml": mhtml(date=b"01 Jan 0999 00:00:00 +0000")})
    assert captures(rec, "mhtml")[0]["date"]["utc"] == "0999-01-01T00:00:00Z"
    assert _web_capture(out)["captured_at_utc"] == "0999-01-01T00:00:00Z"


def test_format_epoch_ns_and_format_utc_raise_one_catchable_error() -> None:
    from datetime import datetime, timedelta, timezone

    assert format_epoch_ns(-62135596800 * 10**9) == "0001-01-01T00:00:00Z"
    assert format_epoch_ns(253402300799 * 10**9 + 5) == "9999-12-31T23:59:59.000000005Z"
    assert format_epoch_ns(-50_000_000_000 * 10**9) == "0385-07-25T07:06:40Z"  # strftime wrote "385-…"
    for ns in (2**62 * 10**9, -(2**70), 253402300800 * 10**9):
        for catch in (TimeOutOfRange, OverflowError, ValueError):
            with pytest.raises(catch, match="outside the years 1-9999"):
                format_epoch_ns(ns)
    with pytest.raises(TimeOutOfRange):
        format_utc(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))
    assert format_utc(datetime(999, 1, 1, 0, 0, 0, 250000, tzinfo=timezone.utc)) == "0999-01-01T00:00:00.25Z"
    for text in ("9" * 30, "9" * 5000, "0001-01-01T00:00:00+05:00"):
        with pytest.raises(EvidpackError, match="--time: "):
            build_time(text)


def test_a_build_time_out_of_range_is_one_line(cli, tmp_path: Path) -> None:
    manifest = case(tmp_path, {"p.mhtml": mhtml()}, "", "osint")
    r = cli("build", manifest, "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS, "--out", tmp_path / "B", "--time", "99999999999999999999")
    assert_clean(r)
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == ["evidpack: error: --time: 99999999999999999999 seconds since the epoch is after the year 9999"]
