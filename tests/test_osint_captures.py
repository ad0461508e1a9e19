"""Kind ``osint``: WARC/WARC.gz, WACZ, MHTML and screenshots (with sidecars) —
one record per capture with every declared digest checked; bad captures are one
line naming the file and record, or a failed check with --keep-going, and are
always kept byte for byte."""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import io
import json
import sqlite3
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
import test_wechat_production as wechat_tests
from conftest import REPO
from test_wechat_production import fails

_spec = importlib.util.spec_from_file_location("examples_gen", REPO / "examples/make_wechat_osint_examples.py")
gen = importlib.util.module_from_spec(_spec)  # the example generator: WARC, WACZ, MHTML and PNG makers
assert _spec.loader is not None
_spec.loader.exec_module(gen)

WARC_GZ = gen.warc_gz("capture.warc.gz")
WARC = gzip.decompress(WARC_GZ)


def build(cli, tmp_path: Path, files: dict[str, Any], options: str = "", *extra: str) -> tuple[Any, Path]:
    return wechat_tests.build(cli, tmp_path, files, options, *extra, kind="osint")


def built(cli, tmp_path: Path, files: dict[str, Any], options: str = "", *extra: str) -> tuple[dict[str, Any], Path]:
    return wechat_tests.built(cli, tmp_path, files, options, *extra, kind="osint")


def failed_checks(out: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for c in json.loads((out / "evidpack/sources.jsonl").read_text("utf-8").splitlines()[0])["checks"]:
        if c["verdict"] == "fail":
            found.setdefault(c["check"], []).append(c["detail"])
    return found


def record(n: int, rtype: str, block: bytes, **headers: str) -> bytes:
    """One WARC record written by hand, so its digests can be anything."""
    head = f"WARC/1.1\r\nWARC-Type: {rtype}\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{n:012d}>\r\nWARC-Date: 2026-03-11T06:02:09Z\r\n"
    head += "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (head + f"Content-Length: {len(block)}\r\n\r\n").encode() + block + b"\r\n\r\n"


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


# --- the example captures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wechat_tests.build_example(tmp_path_factory.mktemp("osint"), "osint", "osint")


def example_record(example: Path) -> dict[str, Any]:
    return json.loads((example / "evidpack/records/S01-osint.json").read_text("utf-8"))


def test_one_record_per_warc_record_with_its_digests_checked(example: Path) -> None:
    caps = [c for c in example_record(example)["captures"] if c["file"] == "profile-capture.warc.gz"]
    assert [(c["record"], c["record_type"], c["block_digest"]["verdict"], c["payload_digest"]["verdict"]) for c in caps] == [
        (1, "warcinfo", "pass", "not-checkable"),
        (2, "request", "pass", "pass"),
        (3, "response", "pass", "pass"),
        (4, "response", "pass", "pass"),
        (5, "revisit", "pass", "not-checkable"),
        (6, "metadata", "pass", "pass"),
    ]
    response = caps[2]
    assert response["record_id"] == "<urn:uuid:00000000-0000-4000-8000-000000000003>"
    assert response["target_uri"] == "https://example.org/profile/wxid_example_dragon"
    assert response["warc_date"]["utc"] == "2026-03-11T06:02:09Z" and response["ip_address"] == "192.0.2.80"
    assert response["http_status"] == 200 and response["payload_type"] == "text/html; charset=utf-8"
    assert response["payload_digest"]["declared"] == sha1_b32(gen.PROFILE_HTML)
    assert caps[4]["payload_digest"]["reason"].startswith("revisit record")
    assert caps[0]["payload_digest"]["reason"] == "no digest declared"
    assert [c["offset"] for c in caps][:2] == [0, 296]


def test_wacz_resources_pages_and_signature(example: Path) -> None:
    rec = example_record(example)
    wacz = next(f for f in rec["files"] if f["file"] == "profile-capture.wacz")["wacz"]
    assert [(r["path"], r["verdict"]) for r in wacz["resources"]] == [
        ("archive/data.warc.gz", "pass"), ("indexes/index.cdxj", "pass"), ("pages/pages.jsonl", "pass"),
    ]
    assert wacz["datapackage_digest"]["verdict"] == "pass" and wacz["datapackage_digest"]["signed"] is False
    assert [(p["url"], p["ts"]["utc"], p["title"]) for p in rec["pages"]] == [
        ("https://example.org/profile/wxid_example_dragon", "2026-03-11T06:02:09Z", "小龙🐉 — profile (synthetic)")
    ]
    members = [json.loads(x) for x in (example / "evidpack/items.jsonl").read_text().splitlines() if '"member"' in x]
    assert [m["member_path"] for m in members] == [
        "archive/data.warc.gz", "indexes/index.cdxj", "pages/pages.jsonl", "datapackage.json", "datapackage-digest.json",
    ]
    inner = [c for c in rec["captures"] if c.get("member_path") == "archive/data.warc.gz"]
    assert len(inner) == 6 and inner[0]["member"] == members[0]["id"]


def test_mhtml_url_title_and_date(example: Path) -> None:
    [page] = [c for c in example_record(example)["captures"] if c["format"] == "mhtml"]
    assert page["url"] == "https://example.org/profile/wxid_example_dragon" and page["url_from"] == "Snapshot-Content-Location"
    assert page["title"] == "小龙🐉 — profile (synthetic)"
    assert page["date"]["original"] == "Wed, 11 Mar 2026 06:08:00 -0000" and page["date"]["utc"] == "2026-03-11T06:08:00Z"
    assert page["parts"] == 2 and page["part_list"][1] == {"content_type": "image/png", "location": "https://example.org/avatar.png"}


def test_screenshot_dimensions_text_and_sidecar(example: Path) -> None:
    [shot] = [c for c in example_record(example)["captures"] if c["format"] == "png"]
    assert (shot["width"], shot["height"], shot["colour"]) == (160, 90, "RGB")
    assert shot["text"] == {"Software": "ExampleCapture 1.0 (fictional)", "Source": gen.PROFILE_URL, "Title": "小龙🐉 — profile (synthetic)"}
    assert shot["png_time"]["utc"] == "2026-03-11T06:10:00Z"
    side = shot["sidecar"]
    assert (side["url"], side["tool"], side["operator"]) == (gen.PROFILE_URL, "ExampleCapture 1.0 (fictional)", "Det. Jane Roe")
    assert side["captured_at"]["utc"] == "2026-03-11T06:10:00Z" and side["captured_at"]["original"] == "2026-03-11T14:10:00+08:00"
    assert side["sha256_check"]["verdict"] == "pass"


def test_web_captures_table(example: Path) -> None:
    db = sqlite3.connect(example / "evidpack/catalogue.sqlite")
    assert db.execute("select count(*) from web_captures").fetchone() == (14,)
    assert db.execute(
        "select format, url, captured_at_utc, tool from web_captures where format = 'png'"
    ).fetchall() == [("png", gen.PROFILE_URL, "2026-03-11T06:10:00Z", "ExampleCapture 1.0 (fictional)")]
    assert db.execute("select url, ts_utc from wacz_pages").fetchall() == [(gen.PROFILE_URL, "2026-03-11T06:02:09Z")]


# --- WARC problems ---------------------------------------------------------------------------------------------


def test_a_digest_failure_stops_the_build_naming_file_record_and_offset(cli, tmp_path: Path) -> None:
    bad = WARC.replace(b"Public profile", b"Pubic profile!")
    r, out = build(cli, tmp_path, {"c.warc": bad})
    fails(r, "c.warc", "record 3", "<urn:uuid:00000000-0000-4000-8000-000000000003>", "block digest", "does not match")
    assert not out.exists()


def test_with_keep_going_a_failing_warc_is_kept_with_failed_checks(cli, tmp_path: Path) -> None:
    bad = WARC.replace(b"Public profile", b"Pubic profile!")
    rec, out = built(cli, tmp_path, {"c.warc": bad}, "", "--keep-going")
    assert (out / "data/S01-loose-files/c.warc").read_bytes() == bad
    third = rec["captures"][2]
    assert third["block_digest"]["verdict"] == "fail" and third["payload_digest"]["verdict"] == "fail"
    assert third["payload_digest"]["computed"] == sha1_b32(gen.PROFILE_HTML.replace(b"Public profile", b"Pubic profile!"))
    assert "warc-digests" in failed_checks(out)


def test_a_truncated_warc_is_a_failed_check(cli, tmp_path: Path) -> None:
    cut = WARC[: WARC.index(b"Captured for case") + 5]
    r, _ = build(cli, tmp_path, {"c.warc": cut})
    fails(r, "c.warc", "record 6", "truncated: Content-Length is 44 but only 5 bytes remain")


def test_a_truncated_warc_gz_is_a_failed_check(cli, tmp_path: Path) -> None:
    r, _ = build(cli, tmp_path, {"c.warc.gz": WARC_GZ[:-30]})
    fails(r, "c.warc.gz", "gzip member 6 is cut short")


def test_a_warc_gz_that_is_one_gzip_member_is_reported_and_still_read(cli, tmp_path: Path) -> None:
    whole = gzip.compress(WARC, mtime=0)
    r, _ = build(cli, tmp_path, {"c.warc.gz": whole})
    fails(r, "c.warc.gz", "one gzip member", "not one member per record")
    rec, out = built(cli, tmp_path / "k", {"c.warc.gz": whole}, "", "--keep-going")
    assert len(rec["captures"]) == 6 and rec["files"][0]["whole_file_gzip"] is True
    assert rec["captures"][1]["offset_in"] == "decompressed stream" and rec["captures"][1]["offset"] == WARC.rindex(b"WARC/1.1", 0, WARC.index(b"000000000002>"))
    assert list(failed_checks(out)) == ["warc-gzip-members"]


def test_not_a_warc(cli, tmp_path: Path) -> None:
    r, _ = build(cli, tmp_path, {"c.warc": b"hello, this is not a WARC\n"})
    fails(r, "c.warc", "not a WARC file", "68 65 6c 6c 6f")


def test_digest_encodings_chunked_payloads_and_unknown_algorithms(cli, tmp_path: Path) -> None:
    body = b"hello world"
    chunked = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    resource = b"plain resource"
    warc = (
        record(1, "response", chunked, WARC_Target_URI="https://example.com/c", Content_Type="application/http; msgtype=response",
               WARC_Block_Digest="sha256:" + hashlib.sha256(chunked).hexdigest(), WARC_Payload_Digest=sha1_b32(body))
        + record(2, "resource", resource, WARC_Target_URI="https://example.com/r", Content_Type="text/plain",
                 WARC_Block_Digest="sha256:" + base64.b64encode(hashlib.sha256(resource).digest()).decode(),
                 WARC_Payload_Digest="blake3:AAAA")
    )
    rec, _ = built(cli, tmp_path, {"c.warc": warc})
    first, second = rec["captures"]
    assert first["block_digest"]["verdict"] == "pass"
    assert first["payload_digest"] == {
        "declared": sha1_b32(body), "computed": sha1_b32(body), "verdict": "pass", "over": "payload with chunked transfer coding removed",
    }
    assert second["block_digest"]["verdict"] == "pass"
    assert second["payload_digest"]["verdict"] == "not-checkable" and "blake3" in second["payload_digest"]["reason"]


# --- WACZ problems ------------------------------------------------------------------------------------------------


def wacz(mutate: Any = None, extra: dict[str, bytes] | None = None) -> bytes:
    """The example WACZ rebuilt with changes: ``mutate(files, package, digest)``."""
    with zipfile.ZipFile(io.BytesIO(gen.wacz())) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    package = json.loads(files.pop("datapackage.json"))
    digest = json.loads(files.pop("datapackage-digest.json"))
    if mutate:
        mutate(files, package, digest)
    files["datapackage.json"] = json.dumps(package).encode()
    if digest.get("hash") == "recompute":
        digest["hash"] = "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest()
    files["datapackage-digest.json"] = json.dumps(digest).encode()
    files.update(extra or {})
    return _zip(files)


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def _drop_pages(files: dict, package: dict, digest: dict) -> None:
    del files["pages/pages.jsonl"]
    digest["hash"] = "recompute"


def _change_index(files: dict, package: dict, digest: dict) -> None:
    files["indexes/index.cdxj"] += b"extra\n"
    digest["hash"] = "recompute"


def _sign(files: dict, package: dict, digest: dict) -> None:
    digest["hash"] = "recompute"
    digest["signedData"] = {"hash": "x", "signature": "MEUCIQ==", "domain": "signer.example.org", "software": "authsigner (example)", "created": "2026-03-11T06:07:00Z"}


@pytest.mark.parametrize(
    "data, needles",
    [
        (wacz(_drop_pages), ("c.wacz", "resource 'pages/pages.jsonl' listed in datapackage.json is missing from the zip")),
        (wacz(_change_index), ("c.wacz", "resource 'indexes/index.cdxj': sha256 differs")),
        (wacz(extra={"../../etc/cron.d/evil": b"x"}), ("c.wacz", "'../../etc/cron.d/evil'", "path traversal", "never extracted")),
        (wacz(extra={"/abs/evil": b"x"}), ("c.wacz", "'/abs/evil'", "absolute path")),
        (wacz(lambda f, p, d: d.update(hash="sha256:" + "0" * 64)), ("c.wacz", "datapackage-digest.json", "differs")),
        (_zip({"readme.txt": b"not a WACZ"}), ("c.wacz", "no datapackage.json")),
        (gen.wacz()[:-40], ("c.wacz", "central directory cannot be read")),
    ],
    ids=["missing-resource", "hash-mismatch", "traversal", "absolute", "digest-file", "no-datapackage", "truncated"],
)
def test_bad_wacz_is_one_line_naming_file_and_member(cli, tmp_path: Path, data: bytes, needles: tuple[str, ...]) -> None:
    r, _ = build(cli, tmp_path, {"c.wacz": data})
    fails(r, *needles)


def test_a_signed_wacz_is_recorded_as_signed(cli, tmp_path: Path) -> None:
    rec, out = built(cli, tmp_path, {"c.wacz": wacz(_sign)})
    sig = rec["files"][0]["wacz"]["datapackage_digest"]
    assert sig["verdict"] == "pass" and sig["signed"] is True
    assert sig["signature"] == {"software": "authsigner (example)", "created": "2026-03-11T06:07:00Z", "domain": "signer.example.org", "kind": "domain certificate"}
    checks = json.loads((out / "evidpack/sources.jsonl").read_text().splitlines()[0])["checks"]
    assert [c["detail"].split(": ", 1)[1] for c in checks if c["check"] == "wacz-signature"] == [
        "signed (signer.example.org); evidpack records the signature but does not verify WACZ signatures"
    ]


def test_with_keep_going_a_traversal_entry_is_catalogued_not_extracted(cli, tmp_path: Path) -> None:
    rec, out = built(cli, tmp_path, {"c.wacz": wacz(extra={"../evil": b"x"})}, "", "--keep-going")
    evil = [json.loads(x) for x in (out / "evidpack/items.jsonl").read_text().splitlines() if "../evil" in x]
    assert evil[0]["member_path"] == "../evil" and "path traversal" in evil[0]["problems"][0]
    assert not (tmp_path / "out/evil").exists() and not (out / "data/evil").exists()
    assert "member-path" in failed_checks(out)


# --- MHTML and screenshots ------------------------------------------------------------------------------------------


def jpeg(width: int = 160, height: int = 90) -> bytes:
    """A JPEG's header segments (SOI, APP1 EXIF, SOF0, SOS, EOI) with EXIF Make,
    Model and DateTimeOriginal plus its OffsetTimeOriginal."""

    def entry(tag: int, typ: int, count: int, value: bytes) -> bytes:
        return struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\x00")

    strings = {0x010F: b"ExampleCam\x00", 0x9003: b"2026:03:11 14:10:00\x00", 0x9011: b"+08:00\x00"}
    ifd0_at, exif_at = 8, 8 + 2 + 2 * 12 + 4
    data_at = exif_at + 2 + 2 * 12 + 4
    make_at, date_at = data_at, data_at + len(strings[0x010F])
    ifd0 = struct.pack("<H", 2) + entry(0x010F, 2, 11, struct.pack("<I", make_at)) + entry(0x8769, 4, 1, struct.pack("<I", exif_at)) + b"\0\0\0\0"
    exif = struct.pack("<H", 2) + entry(0x9003, 2, 20, struct.pack("<I", date_at)) + entry(0x9011, 2, 7, b"+08:00\x00"[:4]) + b"\0\0\0\0"
    # OffsetTimeOriginal is 7 bytes: store it out of line too
    exif = struct.pack("<H", 2) + entry(0x9003, 2, 20, struct.pack("<I", date_at)) + entry(0x9011, 2, 7, struct.pack("<I", date_at + 20)) + b"\0\0\0\0"
    tiff = b"II*\x00" + struct.pack("<I", ifd0_at) + ifd0 + exif + strings[0x010F] + strings[0x9003] + strings[0x9011]
    app1 = b"Exif\x00\x00" + tiff
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xda\x00\x02" + b"\x00" * 16 + b"\xff\xd9"


def test_jpeg_dimensions_and_exif(cli, tmp_path: Path) -> None:
    rec, _ = built(cli, tmp_path, {"shot.jpg": jpeg()})
    [shot] = rec["captures"]
    assert (shot["format"], shot["width"], shot["height"]) == ("jpeg", 160, 90)
    assert shot["exif"]["Make"] == "ExampleCam" and shot["exif"]["DateTimeOriginal"] == "2026:03:11 14:10:00"
    assert shot["exif"]["times"]["DateTimeOriginal"]["utc"] == "2026-03-11T06:10:00Z"


def test_exif_time_without_offset_is_not_converted(cli, tmp_path: Path) -> None:
    data = jpeg().replace(b"+08:00\x00", b"\x00" * 7)
    rec, _ = built(cli, tmp_path, {"shot.jpg": data})
    t = rec["captures"][0]["exif"]["times"]["DateTimeOriginal"]
    assert t["utc"] is None and t["original"] == "2026:03:11 14:10:00" and "not converted" in t["note"]


def sidecar(image: bytes, **fields: Any) -> bytes:
    base = {"url": "https://example.org/x", "captured_at": "2026-03-11T14:10:00+08:00", "tool": "ExampleCapture", "operator": "Det. Test", "sha256": hashlib.sha256(image).hexdigest()}
    return json.dumps({**base, **fields}).encode()


def test_a_sidecar_whose_hash_does_not_match_is_a_failed_check(cli, tmp_path: Path) -> None:
    shot = gen.png(4, 4, {})
    r, _ = build(cli, tmp_path, {"s.png": shot, "s.png.json": sidecar(shot, sha256="ab" * 32)})
    fails(r, "s.png.json", "declares sha256 " + "ab" * 32, "for s.png", hashlib.sha256(shot).hexdigest())


def test_sidecar_named_by_stem_and_naive_capture_time_in_the_stated_zone(cli, tmp_path: Path) -> None:
    shot = gen.png(4, 4, {})
    files = {"s.png": shot, "s.json": sidecar(shot, captured_at="2026-03-11 14:10:00")}
    rec, _ = built(cli, tmp_path, files, '[sources.options]\nzone = "Asia/Singapore"\n')
    side = rec["captures"][0]["sidecar"]
    assert side["captured_at"]["utc"] == "2026-03-11T06:10:00Z" and side["captured_at"]["zone"] == "Asia/Singapore"
    assert side["fields"]["operator"] == "Det. Test"
    r, _ = build(cli, tmp_path / "nozone", files)
    fails(r, "s.json", "captured_at", "never guesses a zone")


@pytest.mark.parametrize(
    "files, needles",
    [
        ({"shot.png": b"this is a text file, not a PNG\n"}, ("shot.png", "not a PNG or JPEG image")),
        ({"shot.jpg": b""}, ("shot.jpg", "the file is empty")),
        ({"shot.png": gen.png(4, 4, {})[:-7]}, ("shot.png", "cut short")),
        ({"shot.png": gen.png(4, 4, {}).replace(b"IHDR\x00\x00\x00\x04", b"IHDR\x00\x00\x00\x05")}, ("shot.png", "fails its CRC check")),
        ({"page.mhtml": b"Subject: hello\r\nContent-Type: text/plain\r\n\r\nhi\r\n"}, ("page.mhtml", "not MHTML")),
        ({"s.png": gen.png(4, 4, {}), "s.png.json": b"{not json"}, ("s.png.json", "not a JSON object")),
    ],
    ids=["text-as-png", "empty-jpeg", "truncated-png", "bad-crc", "not-mhtml", "bad-sidecar"],
)
def test_bad_captures_are_one_line_and_kept_with_keep_going(cli, tmp_path: Path, files: dict[str, bytes], needles: tuple[str, ...]) -> None:
    r, _ = build(cli, tmp_path, files)
    fails(r, *needles)
    _, out = built(cli, tmp_path / "k", files, "", "--keep-going")
    for name, data in files.items():
        assert (out / "data/S01-loose-files" / name).read_bytes() == data
    assert failed_checks(out)


def test_files_of_other_kinds_are_kept_and_listed(cli, tmp_path: Path) -> None:
    rec, out = built(cli, tmp_path, {"notes.txt": "analyst notes\n", "s.png": gen.png(4, 4, {})})
    checks = json.loads((out / "evidpack/sources.jsonl").read_text().splitlines()[0])["checks"]
    assert [c["detail"] for c in checks if c["check"] == "osint-other-files"] == ["kept as evidence, not a capture format evidpack reads: notes.txt"]
    assert rec["counts"] == {"files": 2, "captures": 1, "pages": 0, "captures_with_problems": 0}


def test_sources_are_unchanged(cli, tmp_path: Path) -> None:
    files = {"c.warc.gz": WARC_GZ, "c.wacz": gen.wacz(), "p.mhtml": gen.mhtml()}
    before = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    built(cli, tmp_path, files)
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "source").iterdir()} == before


def test_the_example_generator_is_deterministic(tmp_path: Path, monkeypatch) -> None:
    runs = []
    for n in (1, 2):
        monkeypatch.setattr(gen, "HERE", tmp_path / str(n))
        monkeypatch.setattr(gen, "WECHAT", tmp_path / str(n) / "wechat-production")
        monkeypatch.setattr(gen, "OSINT", tmp_path / str(n) / "osint")
        gen.main()
        runs.append({p.relative_to(tmp_path / str(n)).as_posix(): p.read_bytes() for p in (tmp_path / str(n)).rglob("*") if p.is_file()})
    assert runs[0] == runs[1] and len(runs[0]) == 8
    # The formats written by hand here (not by a library whose output may change between versions) match the committed examples.
    for rel in ("wechat-production/subscriber-information.csv", "osint/profile-page.mhtml", "osint/profile-screenshot.png", "osint/profile-screenshot.png.json"):
        assert runs[0][rel] == (REPO / "examples" / rel).read_bytes(), rel
