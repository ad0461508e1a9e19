"""Kind ``osint`` against hostile WARC, WACZ and sidecar input (review 5): each is
one line naming the file, or with --keep-going a recorded check, never a
traceback; memory stays flat (peak RSS measured in a process of its own); what
is checked is what is used; the bundles that seal verify."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
import conftest
from conftest import TRUSTED, assert_clean, build_args, manifest_text, run_cli, run_proc, tool, write_tree
from test_bad_input import one_line_error

from evidpack.importers.containers import Limits
from evidpack.osint import wacz as waczmod
from evidpack.osint.warc import gzip_members, scan_warc

FOLDER = "data/S01-loose-files"

# --- building cases --------------------------------------------------------------------------------


def case(tmp_path: Path, files: dict[str, Any]) -> Path:
    write_tree(tmp_path / "source", files)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"source"', kind="osint"), "utf-8")
    return m


def build(tmp_path: Path, files: dict[str, Any], *extra: str) -> tuple[Any, Path]:
    out = tmp_path / "out/B"
    r = run_cli(*build_args(case(tmp_path, files), out, *extra))
    assert_clean(r)
    return r, out


def fails(tmp_path: Path, files: dict[str, Any], *needles: str) -> str:
    """Without --keep-going: exit 2 and one line naming the file and the problem."""
    r, _ = build(tmp_path, files)
    return one_line_error(r, *needles)


def built(tmp_path: Path, files: dict[str, Any], *extra: str) -> tuple[dict[str, Any], list[dict[str, Any]], Path]:
    """A build that seals (and verifies): its osint record, strict JSON, and its checks."""
    r, out = build(tmp_path, files, *extra)
    assert r.exit_code == 0, r.output
    v = run_cli("verify", out, "--trust", TRUSTED)
    assert v.exit_code == 0, v.output

    def refuse(name: str) -> Any:
        raise AssertionError(f"the record holds {name}: not JSON")

    rec = json.loads((out / "evidpack/records/S01-osint.json").read_bytes().decode("utf-8"), parse_constant=refuse)
    checks = json.loads((out / "evidpack/sources.jsonl").read_text("utf-8").splitlines()[0])["checks"]
    return rec, checks, out


def details(checks: list[dict[str, Any]], name: str, verdict: str) -> list[str]:
    return [c["detail"] for c in checks if c["check"] == name and c["verdict"] == verdict]


def wacz_summary(rec: dict[str, Any]) -> dict[str, Any]:
    return next(f["wacz"] for f in rec["files"] if f.get("wacz"))


def measured_build(tmp_path: Path, files: dict[str, Any], *extra: str) -> tuple[int, int, str, Path]:
    """``evidpack build`` in a process of its own (see conftest): peak MiB, exit code, stderr, bundle."""
    out = tmp_path / "out/B"
    return (*conftest.measured_build(case(tmp_path, files), out, *extra), out)


# --- WARC and WACZ makers (after /tmp/review5/repro/wacz_lib.py) ------------------------------------------


def warc_rec(n: int = 1, date: str = "2026-03-11T06:02:09Z") -> bytes:
    return (
        f"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:{n}>\r\nWARC-Date: {date}\r\n"
        f"WARC-Target-URI: http://x/{n}\r\nContent-Length: 5\r\n\r\n"
    ).encode() + b"hello\r\n\r\n"


HEADER = b'{"format":"json-pages-1.0","id":"pages"}\n'
PAGES = HEADER + b'{"id":"1","url":"http://x/1","ts":"2026-03-11T06:02:09Z","title":"t"}\n'


def wacz(members: dict[str, bytes] | None = None, dp_extra: dict[str, Any] | None = None, digest: Any = None, raw_dp: bytes | None = None) -> bytes:
    """A WACZ whose datapackage.json lists every member with its hash and size."""
    members = dict(members or {"archive/data.warc": warc_rec(), "pages/pages.jsonl": PAGES})
    res = [{"name": n.rsplit("/", 1)[-1], "path": n, "hash": "sha256:" + hashlib.sha256(b).hexdigest(), "bytes": len(b)} for n, b in members.items()]
    dp = {"profile": "data-package", "wacz_version": "1.1.1", "resources": res, **(dp_extra or {})}
    dpb = raw_dp if raw_dp is not None else json.dumps(dp).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
        z.writestr("datapackage.json", dpb)
        if digest is not False:
            dg = digest if digest is not None else {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(dpb).hexdigest()}
            z.writestr("datapackage-digest.json", dg if isinstance(dg, bytes) else json.dumps(dg))
    return out.getvalue()


def _patch_headers(data: bytes, name: str, patch: Any) -> bytes:
    """``patch(buf, header_offset, is_central)`` on every local and central header of ``name``."""
    buf, nb = bytearray(data), name.encode()
    for sig, noff, hl in ((b"PK\x03\x04", 26, 30), (b"PK\x01\x02", 28, 46)):
        i = 0
        while (i := buf.find(sig, i)) >= 0:
            ln = struct.unpack_from("<H", buf, i + noff)[0]
            if buf[i + hl : i + hl + ln] == nb:
                patch(buf, i, sig == b"PK\x01\x02")
            i += 4
    return bytes(buf)


def set_method(data: bytes, name: str, method: int) -> bytes:
    return _patch_headers(data, name, lambda b, i, central: struct.pack_into("<H", b, i + (10 if central else 8), method))


def set_encrypted(data: bytes, name: str) -> bytes:
    def patch(b: bytearray, i: int, central: bool) -> None:
        off = i + (8 if central else 6)
        struct.pack_into("<H", b, off, struct.unpack_from("<H", b, off)[0] | 1)

    return _patch_headers(data, name, patch)


def raw_zip(entries: list[tuple[str, bytes, int, int, int, int]]) -> bytes:
    """A zip written by hand: (name, stored bytes, method, crc, compressed size, declared size) each."""
    out, cd = bytearray(), bytearray()
    for name, comp, method, crc, csize, usize in entries:
        nb, off = name.encode(), len(out)
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, csize, usize, len(nb), 0) + nb + comp
        cd += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, csize, usize, len(nb), 0, 0, 0, 0, 0o100644 << 16, off) + nb
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(cd), len(out), 0)
    return bytes(out + cd + eocd)


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int, int]:
    return (name, data, 0, zlib.crc32(data), len(data), len(data))


def resources_for(*members: tuple[str, bytes]) -> list[dict[str, Any]]:
    return [{"path": n, "hash": "sha256:" + hashlib.sha256(b).hexdigest(), "bytes": len(b)} for n, b in members]


def png(width: int, height: int, chunks: list[tuple[bytes, bytes]] = (), depth: int = 8, colour: int = 2) -> bytes:
    def chunk(t: bytes, b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))

    bits = {0: 1, 2: 3}[colour] * depth
    c = zlib.compressobj(9)
    row = b"\x00" * (1 + (width * bits + 7) // 8)
    idat = b"".join(c.compress(row) for _ in range(height)) + c.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + b"".join(chunk(t, b) for t, b in chunks) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- #2: a pages list of a million empty lines -------------------------------------------------------------


def flood(lines: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        warc = warc_rec()
        pages = HEADER + b"{}\n" * lines
        z.writestr("archive/data.warc", warc)
        z.writestr("pages/pages.jsonl", pages)
        z.writestr("datapackage.json", json.dumps({"resources": resources_for(("archive/data.warc", warc), ("pages/pages.jsonl", pages))}))
    return out.getvalue()


def test_a_flood_of_non_page_lines_is_refused_capped_and_counted_in_flat_memory(tmp_path: Path) -> None:
    data = flood(600_000)
    assert len(data) < 16_000
    fails(tmp_path / "a", {"c.wacz": data}, "c.wacz", "pages/pages.jsonl line 2", 'no "url"')
    peak, code, stderr, out = measured_build(tmp_path / "b", {"c.wacz": data}, "--keep-going")
    assert code == 0, stderr
    assert peak < 300, f"peak RSS {peak} MiB"  # before: every line a page entry, a table row and a PDF row (1.5 GB)
    rec = json.loads((out / "evidpack/records/S01-osint.json").read_text("utf-8"))
    w = wacz_summary(rec)
    assert rec["pages"] == [] and w["pages_not_listed"] == 600_001 - waczmod.PAGE_ROWS
    assert len(w["page_problems"]) == waczmod.KEPT + 1 and w["page_problems"][-1].startswith("… and ")
    checks = json.loads((out / "evidpack/sources.jsonl").read_text("utf-8").splitlines()[0])["checks"]
    assert details(checks, "wacz-pages", "fail")[0].endswith('line 2: not a page: no "url" (and 9,998 more problem(s) in the pages lists)')
    assert "590,001 more line(s) of its pages lists not read" in details(checks, "wacz-pages", "warn")[0]
    assert run_cli("verify", out, "--trust", TRUSTED).exit_code == 0


def test_pages_beyond_the_cap_are_counted_and_the_index_lists_the_first_ones(tmp_path: Path) -> None:
    n = waczmod.PAGE_ROWS + 5
    pages = HEADER + b"".join(b'{"id":"%d","url":"http://x/%d","ts":"2026-03-11T06:02:09Z"}\n' % (i, i) for i in range(n))
    rec, checks, out = built(tmp_path, {"c.wacz": wacz({"archive/data.warc": warc_rec(), "pages/pages.jsonl": pages})})
    assert len(rec["pages"]) == waczmod.PAGE_ROWS - 1  # (the header line is one of the lines read)
    assert rec["pages"][-1]["line"] == waczmod.PAGE_ROWS and wacz_summary(rec)["pages_not_listed"] == 6
    assert details(checks, "wacz-pages", "warn") and not details(checks, "wacz-pages", "fail")
    text = run_proc(tool("pdftotext"), "-enc", "UTF-8", out / "evidpack/index.pdf", "-").stdout.decode()
    assert "The first 500 are listed here" in " ".join(text.split())
    assert "http://x/499" in text and "http://x/500" not in text


def test_a_page_without_a_url_or_with_an_unreadable_ts_fails(tmp_path: Path) -> None:
    pages = HEADER + b'{"id":"1","url":"http://x/1","ts":"20260311060209"}\n{"title":"no url"}\n\n'
    rec, checks, _ = built(tmp_path, {"c.wacz": wacz({"archive/data.warc": warc_rec(), "pages/pages.jsonl": pages})}, "--keep-going")
    fail = details(checks, "wacz-pages", "fail")
    assert fail and "pages/pages.jsonl line 2: ts '20260311060209'" in fail[0] and "(and 1 more problem(s)" in fail[0]
    assert rec["pages"][0]["ts"]["utc"] is None and rec["pages"][0]["ts"]["original"] == "20260311060209"
    assert wacz_summary(rec)["page_problems"][1] == 'pages/pages.jsonl line 3: not a page: no "url"'


# --- #4: datapackage.json whose zip entry lies about its size ----------------------------------------------


def test_a_datapackage_that_inflates_far_beyond_its_declared_size_is_never_inflated(tmp_path: Path) -> None:
    head = json.dumps({"profile": "data-package", "resources": []}).encode()
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp, crc, blk = bytearray(c.compress(head)), zlib.crc32(head), b" " * (1 << 20)
    for _ in range(600):
        comp += c.compress(blk)
        crc = zlib.crc32(blk, crc)
    comp += c.flush()
    data = raw_zip([stored("archive/data.warc", warc_rec()), ("datapackage.json", bytes(comp), 8, crc, len(comp), len(head))])
    assert len(data) < 1 << 20
    peak, code, stderr, out = measured_build(tmp_path, {"c.wacz": data}, "--keep-going")
    assert code == 0, stderr
    assert peak < 250, f"peak RSS {peak} MiB"  # before: zipfile.read inflated all 600 MiB at once
    assert "c.wacz: datapackage.json cannot be read (not read: the catalogue found it bad: member-readable" in stderr


def test_a_datapackage_larger_than_evidpack_reads_is_a_failed_check(tmp_path: Path) -> None:
    big = json.dumps({"resources": [], "title": "x" * (waczmod.JSON_LIMIT + 10)}).encode()
    fails(tmp_path, {"c.wacz": wacz(raw_dp=big)}, "c.wacz", "datapackage.json cannot be read", "more than evidpack reads")


# --- #8: control files present twice; what is checked is what is used -----------------------------------------


def test_two_datapackages_fail_and_neither_is_used(tmp_path: Path) -> None:
    warc = warc_rec()
    honest = json.dumps({"title": "HONEST capture", "resources": resources_for(("archive/data.warc", warc))}).encode()
    forged = json.dumps({"title": "FORGED capture", "mainPageURL": "http://evil/", "resources": []}).encode()
    digest = json.dumps({"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(honest).hexdigest()}).encode()
    data = raw_zip([stored("archive/data.warc", warc), stored("datapackage.json", honest), stored("datapackage-digest.json", digest), stored("datapackage.json", forged)])
    rec, checks, _ = built(tmp_path, {"c.wacz": data}, "--keep-going")
    w = wacz_summary(rec)
    assert w["title"] is None and w["main_page"] is None and w["datapackage_digest"]["verdict"] != "pass"
    assert any("datapackage.json appears 2 times in the zip (members #2, #4)" in d for d in details(checks, "wacz", "fail"))
    assert not details(checks, "wacz-resources", "pass")


@pytest.mark.parametrize("name", ["datapackage-digest.json", "pages/pages.jsonl"])
def test_a_control_file_present_twice_fails(tmp_path: Path, name: str) -> None:
    base = wacz()
    with zipfile.ZipFile(io.BytesIO(base)) as zf:
        entries = [stored(i.filename, zf.read(i)) for i in zf.infolist()]
    entries.append(stored(name, next(e[1] for e in entries if e[0] == name)))
    rec, checks, _ = built(tmp_path, {"c.wacz": raw_zip(entries)}, "--keep-going")
    assert any(f"{name} appears 2 times in the zip" in d for d in details(checks, "wacz", "fail"))
    if name == "pages/pages.jsonl":
        assert rec["pages"] == []
    else:
        assert wacz_summary(rec)["datapackage_digest"]["verdict"] == "fail"


def test_a_digest_file_naming_another_member_vouches_for_nothing(tmp_path: Path) -> None:
    warc = warc_rec()
    data = wacz(digest={"path": "archive/data.warc", "hash": "sha256:" + hashlib.sha256(warc).hexdigest()})
    fails(tmp_path, {"c.wacz": data}, "c.wacz", "datapackage-digest.json: its path is 'archive/data.warc', not 'datapackage.json'")


def test_an_unlisted_warc_fails_and_no_resources_is_not_a_pass(tmp_path: Path) -> None:
    data = wacz(raw_dp=b'{"resources": []}')
    fails(tmp_path / "a", {"c.wacz": data}, "c.wacz", "member 'archive/data.warc' is not listed among the resources of datapackage.json")
    no_warc = wacz({"pages/pages.jsonl": PAGES}, raw_dp=b'{"resources": []}')
    _, checks, _ = built(tmp_path / "b", {"c.wacz": no_warc})
    assert details(checks, "wacz-resources", "not-checkable") and not details(checks, "wacz-resources", "pass")


# --- #14 and #13: JSON of the wrong shape, NaN, Infinity, deep nesting, lone surrogates ----------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


def _png_with(sidecar: bytes) -> dict[str, bytes]:
    return {"shot.png": png(2, 2), "shot.png.json": sidecar}


@pytest.mark.parametrize(
    "files, needles",
    [
        ({"c.wacz": wacz(digest={"path": ["datapackage.json"], "hash": "sha256:00"})}, ("c.wacz", "datapackage-digest.json: its path is an array")),
        ({"c.wacz": wacz(raw_dp=DEEP)}, ("c.wacz", "datapackage.json cannot be read (nested too deeply)")),
        ({"c.wacz": wacz(raw_dp=b'{"resources": [], "x": NaN}')}, ("c.wacz", "datapackage.json cannot be read (NaN is not a JSON number)")),
        ({"c.wacz": wacz(raw_dp=b'{"resources": [], "title": ["t"]}')}, ("c.wacz", "datapackage.json: 'title' is an array, not text")),
        ({"c.wacz": wacz(digest=b'{"path": "datapackage.json", "hash": "sha256:00", "n": 1e999}')}, ("c.wacz", "datapackage-digest.json cannot be read (1e999 is too large")),
        ({"c.wacz": wacz({"archive/data.warc": warc_rec(), "pages/pages.jsonl": HEADER + DEEP + b"\n"})}, ("c.wacz", "pages/pages.jsonl line 2: not JSON (nested too deeply)")),
        ({"c.wacz": wacz({"archive/data.warc": warc_rec(), "pages/pages.jsonl": HEADER + b'{"url":{"a":1},"ts":[1]}\n'})}, ("c.wacz", "line 2: not a page: its url is an object, not text")),
        ({"c.wacz": wacz({"archive/data.warc": warc_rec(), "pages/pages.jsonl": HEADER + b'{"url":"http://x/","title":["t"]}\n'})}, ("c.wacz", "line 2: its title is an array, not text")),
        (_png_with(b'{"tool": {"name": "x"}}'), ("shot.png.json", "'tool' is an object, not text")),
        (_png_with(DEEP), ("shot.png.json", "not a JSON object (nested too deeply)")),
        (_png_with(b'{"x": ' + b"[" * 200 + b"]" * 200 + b"}"), ("shot.png.json", "nested too deeply (more than 64 levels)")),
        (_png_with(b'{"url": "http://x/", "captured_at": NaN}'), ("shot.png.json", "NaN is not a JSON number")),
        (_png_with(b'{"url": "http://x/", "operator": 1e999}'), ("shot.png.json", "1e999 is too large for a number")),
        (_png_with(b'{"captured_at": [2026]}'), ("shot.png.json", "captured_at is an array, not a time")),
    ],
    ids=["digest-path-list", "deep-datapackage", "nan-datapackage", "title-list", "inf-digest", "deep-page", "url-object", "title-type",
         "sidecar-tool-object", "deep-sidecar", "deep-but-parsable-sidecar", "nan-sidecar", "inf-sidecar", "captured-at-list"],
)
def test_hostile_json_is_one_line_or_a_failed_check(tmp_path: Path, files: dict[str, bytes], needles: tuple[str, ...]) -> None:
    fails(tmp_path / "a", files, *needles)
    _, checks, _ = built(tmp_path / "b", files, "--keep-going")
    assert any(all(n in c["detail"] for n in needles) for c in checks if c["verdict"] == "fail")


def test_lone_surrogates_are_written_as_escapes_and_noted(tmp_path: Path) -> None:
    pages = HEADER + b'{"id":"1","url":"http://x/\\ud800","ts":"2026-03-11T06:02:09Z"}\n'
    files = {
        "c.wacz": wacz({"archive/data.warc": warc_rec(), "pages/pages.jsonl": pages}, dp_extra={"title": "t\\udfff".encode().decode("unicode_escape")}),
        **_png_with(b'{"url": "http://x/\\ud800", "tool": "t\\udc80"}'),
    }
    rec, checks, out = built(tmp_path, files)
    assert rec["pages"][0]["url"] == "http://x/\\ud800"
    assert wacz_summary(rec)["title"] == "t\\udfff"
    side = next(f["sidecar"] for f in rec["files"] if "sidecar" in f)
    assert side["url"] == "http://x/\\ud800" and side["tool"] == "t\\udc80" and side["fields"]["url"] == "http://x/\\ud800"
    assert "2 string(s) held a lone surrogate" in details(checks, "sidecar", "warn")[0]
    assert any("lone surrogate" in d for d in details(checks, "wacz", "warn"))
    rows = run_cli("query", out, "SELECT url FROM wacz_pages")
    assert rows.exit_code == 0 and "http://x/\\\\ud800" in rows.output  # the six characters, told apart from a lone surrogate


# --- #15: members zipfile refuses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate, needles",
    [
        (lambda d: set_method(d, "datapackage.json", 9), ("c.wacz", "datapackage.json cannot be read", "deflate64")),
        (lambda d: set_method(d, "datapackage-digest.json", 9), ("c.wacz", "datapackage-digest.json cannot be read", "deflate64")),
        (lambda d: set_encrypted(d, "datapackage.json"), ("c.wacz", "'datapackage.json'", "encrypted")),
    ],
    ids=["deflate64-datapackage", "deflate64-digest", "encrypted-datapackage"],
)
def test_control_files_zipfile_cannot_read_are_one_line(tmp_path: Path, mutate: Any, needles: tuple[str, ...]) -> None:
    data = mutate(wacz())
    fails(tmp_path / "a", {"c.wacz": data}, *needles)
    built(tmp_path / "b", {"c.wacz": data}, "--keep-going")


def test_a_warc_member_with_a_bad_crc_or_another_local_name_is_not_read(tmp_path: Path) -> None:
    w = warc_rec()
    dp = json.dumps({"resources": resources_for(("archive/data.warc", w))}).encode()
    bad_crc = raw_zip([("archive/data.warc", w, 0, zlib.crc32(w) ^ 1, len(w), len(w)), stored("datapackage.json", dp)])
    fails(tmp_path / "a", {"c.wacz": bad_crc}, "c.wacz", "'archive/data.warc'", "bad CRC-32")
    rec, checks, _ = built(tmp_path / "b", {"c.wacz": bad_crc}, "--keep-going")
    assert rec["captures"] == [] and "member-crc" in next(f for f in rec["files"] if f.get("member_path"))["not_read"]
    assert any("its records were not read" in d for d in details(checks, "warc-readable", "not-checkable"))
    renamed = bytearray(wacz())
    at = renamed.find(b"archive/data.warc")  # the first: the local header's name
    renamed[at : at + 17] = b"archive/DATA.warc"
    rec, checks, _ = built(tmp_path / "c", {"c.wacz": bytes(renamed)}, "--keep-going")
    assert rec["captures"] == [] and details(checks, "member-header-mismatch", "fail")
    pages_crc = raw_zip([stored("archive/data.warc", w), ("pages/pages.jsonl", PAGES, 0, zlib.crc32(PAGES) ^ 1, len(PAGES), len(PAGES)), stored("datapackage.json", dp)])
    rec, _, _ = built(tmp_path / "d", {"c.wacz": pages_crc}, "--keep-going")
    assert rec["pages"] == [] and "not read" in wacz_summary(rec)["page_notes"][0]


def test_a_member_stream_zipfile_refuses_is_a_problem_of_the_scan(tmp_path: Path) -> None:
    path = tmp_path / "c.zip"
    path.write_bytes(set_method(wacz(), "archive/data.warc", 9))

    def opener() -> Any:
        return waczmod.open_member(path, 1, "archive/data.warc")

    scan = scan_warc(opener, gzipped=False)
    assert scan.captures == [] and "member 'archive/data.warc' cannot be read" in scan.problems[0]


# --- #20: problems inside a page or an image fail its check ---------------------------------------------------


def test_problems_found_inside_a_screenshot_or_mhtml_page_fail_its_check(tmp_path: Path) -> None:
    shot = png(2, 2, [(b"eXIf", b"XX garbage"), (b"tEXt", b"k\x00v")])
    fails(tmp_path / "a", {"shot.png": shot}, "shot.png", "eXIf")
    mhtml = (
        b'Snapshot-Content-Location: http://x/\r\nSubject: t\r\nDate: yesterday-ish\r\nMIME-Version: 1.0\r\n'
        b'Content-Type: multipart/related; type="text/html"; boundary="B"\r\n\r\n--B\r\nContent-Type: text/html\r\n\r\nx\r\n--B--\r\n'
    )
    fails(tmp_path / "b", {"page.mhtml": mhtml}, "page.mhtml", "yesterday-ish")
    rec, checks, _ = built(tmp_path / "c", {"shot.png": shot, "page.mhtml": mhtml}, "--keep-going")
    assert {c["file"] for c in rec["captures"]} == {"shot.png", "page.mhtml"}
    assert details(checks, "image", "fail") and details(checks, "mhtml", "fail")
    assert not details(checks, "image", "pass") and not details(checks, "mhtml", "pass")


# --- #21: chunked bodies of tiny chunks; expansion caps on WARC.gz --------------------------------------------------


def _chunked_record(body: bytes, digest_of: bytes) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    pd = "sha1:" + base64.b32encode(hashlib.sha1(digest_of).digest()).decode()
    head = (
        "WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:1>\r\nWARC-Date: 2026-03-11T06:02:09Z\r\nWARC-Target-URI: http://x/\r\n"
        f"Content-Type: application/http; msgtype=response\r\nWARC-Payload-Digest: {pd}\r\nContent-Length: {len(http)}\r\n\r\n"
    )
    return head.encode() + http + b"\r\n\r\n"


def test_a_body_of_very_many_tiny_chunks_is_not_dechunked(tmp_path: Path) -> None:
    n = 150_000
    body = b"1\r\nX\r\n" * n + b"0\r\n\r\n"
    rec, _, _ = built(tmp_path / "a", {"c.warc.gz": gzip.compress(_chunked_record(body, b"X" * n))})
    d = rec["captures"][0]["payload_digest"]
    assert d["verdict"] == "not-checkable" and "more than 100,000 chunks" in d["reason"]
    rec, _, _ = built(tmp_path / "b", {"c.warc.gz": gzip.compress(_chunked_record(body, body))})
    assert rec["captures"][0]["payload_digest"]["verdict"] == "pass"  # the payload as stored is still checked
    few = b"".join(b"%x\r\n" % 300 + b"Y" * 300 + b"\r\n" for _ in range(50)) + b"0\r\n\r\n"
    rec, _, _ = built(tmp_path / "c", {"c.warc.gz": gzip.compress(_chunked_record(few, b"Y" * 15000))})
    assert rec["captures"][0]["payload_digest"]["over"] == "payload with chunked transfer coding removed"


def test_warc_gz_inflation_is_held_to_the_device_importers_caps() -> None:
    data = gzip.compress(warc_rec() + b" " * (4 << 20), 9)
    tight = Limits(max_ratio=10.0, ratio_floor=1 << 20)
    assert gzip_members(io.BytesIO(data), tight)[1].startswith("expands more than 10:1")
    assert gzip_members(io.BytesIO(data), Limits(max_expanded=2 << 20))[1].startswith("expands beyond the cap")
    assert gzip_members(io.BytesIO(data)) == (1, None)
    scan = scan_warc(lambda: io.BytesIO(data), gzipped=True, limits=tight)
    assert scan.captures == [] and scan.problems[0].endswith("its records were not read")


# --- #22: a .warc.gz of several members, one holding two records -------------------------------------------------


@pytest.mark.parametrize("split, member", [((2, 1), 1), ((1, 2), 2)])
def test_the_member_holding_two_records_is_named(tmp_path: Path, split: tuple[int, int], member: int) -> None:
    first = b"".join(warc_rec(i) for i in range(1, split[0] + 1))
    second = b"".join(warc_rec(i) for i in range(split[0] + 1, 4))
    data = gzip.compress(first) + gzip.compress(second)
    fails(tmp_path / "a", {"c.warc.gz": data}, "c.warc.gz", f"gzip member {member} of 2 holds more than one record")
    rec, _, _ = built(tmp_path / "b", {"c.warc.gz": data}, "--keep-going")
    f = rec["files"][0]
    assert f["gzip_members"] == 2 and f["multi_record_member"] == member and f["records"] == 3


# --- #5: a screenshot too large to decode for its thumbnail ------------------------------------------------------


def test_a_huge_screenshot_gets_no_thumbnail_and_is_never_decoded(tmp_path: Path) -> None:
    shot = png(13000, 13000, depth=1, colour=0)  # 169 megapixels in 25 KB; decoded as RGB 507 MB
    assert len(shot) < 100_000
    peak, code, stderr, out = measured_build(tmp_path, {"shot.png": shot})
    assert code == 0, stderr
    assert peak < 300, f"peak RSS {peak} MiB"
    assert "DecompressionBomb" not in stderr and "Warning" not in stderr, stderr
    text = run_proc(tool("pdftotext"), "-enc", "UTF-8", out / "evidpack/index.pdf", "-").stdout.decode()
    assert "no thumbnail: too large (13,000×13,000 px, over 40 megapixels)" in " ".join(text.split())


# --- a title or URL of a megabyte: shown in part in the index, whole in the record -----------------------------


def test_a_huge_page_title_is_cut_in_the_index_and_kept_whole_in_the_record(tmp_path: Path) -> None:
    title = "T" * 600_000 + "END"
    url = "http://x/" + "u" * 300_000
    pages = HEADER + b"".join(
        json.dumps({"id": str(i), "url": url, "ts": "2026-03-11T06:02:09Z", "title": title}).encode() + b"\n" for i in range(5)
    )
    rec, _, out = built(tmp_path, {"c.wacz": wacz({"archive/data.warc": warc_rec(), "pages/pages.jsonl": pages})})
    assert [p["title"] for p in rec["pages"]] == [title] * 5 and rec["pages"][0]["url"] == url  # nothing lost
    pdf = out / "evidpack/index.pdf"
    pages_in_pdf = int(next(line.split()[1] for line in run_proc(tool("pdfinfo"), pdf).stdout.decode().splitlines() if line.startswith("Pages:")))
    assert pages_in_pdf < 30  # was hundreds: every character laid out
    text = " ".join(run_proc(tool("pdftotext"), "-enc", "UTF-8", pdf, "-").stdout.decode().split())
    assert text.count(f"… {len(title) - 2000:,} more characters not shown; the whole value is in the bundle's records") == 5
    assert text.count(f"… {len(url) - 2000:,} more characters not shown") == 5
    assert "END" not in text
