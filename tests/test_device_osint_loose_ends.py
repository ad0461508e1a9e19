"""Loose ends of the device and osint kinds: a .ufdr Local Path given by more
than one tagged file keeps every claim (and the index shows them), an encrypted
Android backup's members are recorded as not known (never as none), and the
osint index shows what the capture records hold."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

from conftest import run_proc, tool
from device_support import build, built, checks, device_case, items, member, one_line_error, source, verify_deep
from test_device_itunes import ab
from test_device_ufed import report_xml

INDEX_PDF = "evidpack/index.pdf"


def pdf_text(bundle: Path) -> str:
    return run_proc(tool("pdftotext"), "-layout", "-enc", "UTF-8", bundle / INDEX_PDF, "-").stdout.decode("utf-8")


def squeezed(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text)


# --- .ufdr: one Local Path, several tagged files ----------------------------------------------------


def _ufdr(tmp_path: Path, files: list[tuple[str, str, bytes, str | None, str | None]]) -> str:
    """A .ufdr holding each Local Path once, with a report.xml listing every tagged file given."""
    with zipfile.ZipFile(tmp_path / "P.ufdr", "w") as zf:
        for local, data in {local: data for _d, local, data, _s, _m in files}.items():
            zf.writestr(local, data)
        zf.writestr("report.xml", report_xml(files))
    return "P.ufdr"


def test_every_tagged_file_giving_one_local_path_is_kept_and_shown(cli, tmp_path: Path) -> None:
    files = [("/sdcard/DCIM/a.jpg", "files/Image/a.jpg", b"same", None, None),
             ("/data/media/0/DCIM/a.jpg", "files/Image/a.jpg", b"same", None, None),
             ("/sdcard/b.txt", "files/Text/b.txt", b"b", None, None)]
    out = tmp_path / "out/B"
    r = build(cli, device_case(tmp_path, _ufdr(tmp_path, files)), out)
    assert r.exit_code == 0, r.output
    sha, md5 = hashlib.sha256(b"same").hexdigest(), hashlib.md5(b"same").hexdigest()
    m = member(out, "files/Image/a.jpg")
    assert m["device_path"] == "/sdcard/DCIM/a.jpg"  # the first, in report order
    assert m["ufdr_tagged_files"] == [
        {"device_path": "/sdcard/DCIM/a.jpg", "sha256": sha, "md5": md5, "size": "4"},
        {"device_path": "/data/media/0/DCIM/a.jpg", "sha256": sha, "md5": md5, "size": "4"},
    ]
    assert "problems" not in m and "ufdr_tagged_files" not in member(out, "files/Text/b.txt")
    (warn,) = checks(out, "ufdr-local-paths")
    assert warn["verdict"] == "warn" and "'files/Image/a.jpg' by /sdcard/DCIM/a.jpg" in warn["detail"]
    assert "/data/media/0/DCIM/a.jpg" in warn["detail"] and warn["subject"] == m["id"]
    (c,) = checks(out, "ufdr-reported-hashes")
    assert c["verdict"] == "pass" and "3 matched, 0 mismatched" in c["detail"]  # each tagged file compared
    (facts,) = source(out)["facts"]["ufdr"]
    assert facts["tagged_files"] == 3 and facts["tagged_files_in_ufdr"] == 3
    (rep,) = facts["repeated_local_paths"]
    assert rep["local_path"] == "files/Image/a.jpg" and rep["member"] == m["id"] and rep["tagged_files"] == 2 and rep["hashes_agree"] is True
    compared = [(h["device_path"], h["algorithm"], h["match"]) for h in source(out)["facts"]["tool_hashes"] if h["file"] == "files/Image/a.jpg"]
    assert sorted(compared) == [(d, a, True) for d in ("/data/media/0/DCIM/a.jpg", "/sdcard/DCIM/a.jpg") for a in ("md5", "sha256")]
    flat = squeezed(pdf_text(out))
    assert "Local Paths given by more than one tagged file" in flat
    assert "1. /sdcard/DCIM/a.jpg (4 bytes)" in flat and "2. /data/media/0/DCIM/a.jpg (4 bytes)" in flat
    assert "2 tagged files; the hashes given agree" in flat
    schedule = flat[flat.index("Item schedule\n"):]
    assert "on the device: /sdcard/DCIM/a.jpg" in schedule and "also on the device: /data/media/0/DCIM/a.jpg" in schedule
    assert verify_deep(cli, out).exit_code == 0


def test_tagged_files_giving_one_local_path_with_different_hashes_are_a_problem(cli, tmp_path: Path) -> None:
    other = hashlib.sha256(b"other").hexdigest()
    files = [("/sdcard/a.txt", "files/Text/a.txt", b"a", None, None),
             ("/sdcard/copy/a.txt", "files/Text/a.txt", b"a", other, "")]
    name = _ufdr(tmp_path, files)
    one_line_error(build(cli, device_case(tmp_path, name), tmp_path / "out/A"),
                   "P.ufdr", "1 Local Path(s) for more than one tagged file with different hashes", "'files/Text/a.txt'",
                   "/sdcard/copy/a.txt (sha256 " + other)
    out = tmp_path / "out/B"
    assert build(cli, device_case(tmp_path, name), out, "--keep-going").exit_code == 0
    m = member(out, "files/Text/a.txt")
    assert [t["device_path"] for t in m["ufdr_tagged_files"]] == ["/sdcard/a.txt", "/sdcard/copy/a.txt"]
    assert m["ufdr_tagged_files"][1] == {"device_path": "/sdcard/copy/a.txt", "sha256": other, "size": "1"}
    assert any(p.startswith("ufdr-local-paths: report.xml gives this Local Path for 2 tagged files whose hashes differ") for p in m["problems"])
    assert [c["verdict"] for c in checks(out, "ufdr-local-paths")] == ["fail"]
    (c,) = checks(out, "ufdr-reported-hashes")
    assert c["verdict"] == "fail" and "1 matched, 1 mismatched" in c["detail"] and "(/sdcard/copy/a.txt)" in c["detail"]
    (rep,) = source(out)["facts"]["ufdr"][0]["repeated_local_paths"]
    assert rep["hashes_agree"] is False
    flat = squeezed(pdf_text(out))
    assert "2 tagged files; the hashes given DIFFER" in flat and f"SHA256 {other}" in flat
    schedule = flat[flat.index("Item schedule\n"):]
    assert "ufdr-local-paths:" in schedule and "hashes differ" in schedule  # the member's row in the item schedule says so


def test_a_local_path_given_by_many_tagged_files_keeps_a_bounded_number(cli, tmp_path: Path) -> None:
    from evidpack.importers import ufed

    files = [(f"/sdcard/copy{i}/a.txt", "files/Text/a.txt", b"a", None, None) for i in range(ufed.CLAIMS_KEPT + 5)]
    out = built(cli, tmp_path, _ufdr(tmp_path, files))
    m = member(out, "files/Text/a.txt")
    assert len(m["ufdr_tagged_files"]) == ufed.CLAIMS_KEPT and m["ufdr_tagged_files_not_listed"] == 5
    assert source(out)["facts"]["ufdr"][0]["tagged_files"] == ufed.CLAIMS_KEPT + 5
    flat = squeezed(pdf_text(out))
    assert "and 5 more tagged file(s), not listed" in flat
    schedule = flat[flat.index("Item schedule\n"):]
    from evidpack.report.schedule import DEVICE_PATHS_SHOWN

    assert schedule.count("also on the device: /sdcard/copy") == DEVICE_PATHS_SHOWN
    assert f"and {ufed.CLAIMS_KEPT - 1 - DEVICE_PATHS_SHOWN + 5:,} more device path(s)" in schedule


# --- Android .ab: encrypted, so its members are not known ------------------------------------------


def test_an_encrypted_ab_records_its_members_as_not_known(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, ab(tmp_path, "AES-256"))
    (rec,) = items(bundle)
    assert "members" not in rec  # never "members": 0, an empty backup
    assert rec["members_not_known"].startswith("encrypted (AES-256): only its header was read")
    assert "encrypted" in rec["tags"] and rec["container_format"] == "android-backup"
    facts = source(bundle)["facts"]
    (container,) = facts["containers"]
    assert container["members"] is None and container["member_bytes"] is None and container["readable"] is None
    assert facts["members_not_known_in"] == [rec["id"]]
    flat = squeezed(pdf_text(bundle))
    assert "(android-backup): 0" not in flat and "Other facts" not in flat  # the schedule says nothing of "0 members"
    row = next(line for line in flat[flat.index("Containers and their members"):].splitlines() if line.startswith("E0001"))
    assert row.count("not known") == 2 and row.endswith("NOT CHECKABLE"), row  # members and member bytes
    assert verify_deep(cli, bundle).exit_code == 0
    r = cli("query", bundle, "SELECT id, members_not_known FROM items")
    assert r.exit_code == 0 and "only its header was read" in r.output, r.output


def test_an_unencrypted_ab_still_counts_its_members(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, ab(tmp_path))
    rec = items(bundle)[0]
    assert rec["members"] == 2 and "members_not_known" not in rec and "encrypted" not in rec.get("tags", ())
    assert source(bundle)["facts"]["containers"][0]["members"] == 2 and "members_not_known_in" not in source(bundle)["facts"]


# --- osint: the index shows what the capture record holds -----------------------------------------


def _osint():
    import test_osint_captures as oc

    return oc


def test_a_screenshot_stored_under_another_name_still_gets_its_thumbnail(cli, tmp_path: Path) -> None:
    oc = _osint()
    shot = oc.gen.png(40, 20, {})
    rec, out = oc.built(cli, tmp_path, {"shot%1.png": shot})
    assert rec["captures"][0]["file"] == "shot%1.png"
    assert any(i["path"].endswith("shot％1.png") for i in items(out))  # (stored with a fullwidth percent sign)
    flat = squeezed(pdf_text(out))
    assert "Screenshots (1)" in flat and "no thumbnail" not in flat


def test_warc_offsets_truncation_and_revisits_are_shown_as_recorded(cli, tmp_path: Path) -> None:
    import gzip

    oc = _osint()
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello"
    warc = oc.record(1, "response", http, WARC_Target_URI="https://example.org/cut", Content_Type="application/http; msgtype=response",
                     WARC_Truncated="length")
    rec, out = oc.built(cli, tmp_path, {"c.warc": warc, "w.warc.gz": gzip.compress(oc.WARC, mtime=0)}, "", "--keep-going")
    cut = next(c for c in rec["captures"] if c["file"] == "c.warc")
    assert cut["warc_truncated"] == "length"
    flat = squeezed(pdf_text(out))
    assert "truncated by the capturing tool (WARC-Truncated: length)" in flat
    whole = next(c for c in rec["captures"] if c["file"] == "w.warc.gz" and c["record"] == 2)
    assert f"record 2 at offset {whole['offset']:,} of the decompressed stream" in flat  # not an offset in the file
    row = next(line for line in flat[flat.index("Files read ("):].splitlines() if "w.warc.gz" in line)
    assert row.lstrip().startswith("FAIL") and "not one gzip member per record as WARC.gz" in flat, row  # the file's failure


def test_a_sidecar_that_cannot_be_read_and_a_file_that_gave_no_capture_are_shown(cli, tmp_path: Path) -> None:
    oc = _osint()
    shot = oc.gen.png(4, 4, {})
    files = {"s.png": shot, "s.png.json": b"{not json", "p.mhtml": b"not an mhtml file at all\r\n", "c.wacz": oc.gen.wacz()}
    rec, out = oc.built(cli, tmp_path, files, "", "--keep-going")
    assert next(c for c in rec["captures"] if c["file"] == "s.png")["sidecar"]["problem"].startswith("not a JSON object")
    problem = next(f for f in rec["files"] if f["file"] == "p.mhtml")["problem"]
    flat = squeezed(pdf_text(out))
    captures = flat[flat.index("Captures ("):flat.index("Files read (")]
    assert "sidecar s.png.json: not a JSON object" in captures and "FAIL" in captures and "the sidecar cannot be" in captures
    files_read = flat[flat.index("Files read ("):]
    row = next(line for line in files_read.splitlines() if "p.mhtml" in line)
    assert row.lstrip().startswith("FAIL"), row
    assert problem.split(" ")[0] in files_read
    created = next(f for f in rec["files"] if f["file"] == "c.wacz")["wacz"]["created"]
    assert "created: 2026-03-11T06:06:00Z" in files_read and "datapackage-digest.json: pass; not signed" in files_read, created


def test_tagged_files_not_kept_are_counted_in_the_schedule_even_when_few_are_shown(cli, tmp_path: Path, monkeypatch) -> None:
    from evidpack.importers import ufed

    monkeypatch.setattr(ufed, "CLAIMS_KEPT", 3)
    files = [(f"/sdcard/copy{i}/a.txt", "files/Text/a.txt", b"a", None, None) for i in range(5)]
    out = built(cli, tmp_path, _ufdr(tmp_path, files))
    m = member(out, "files/Text/a.txt")
    assert len(m["ufdr_tagged_files"]) == 3 and m["ufdr_tagged_files_not_listed"] == 2
    flat = squeezed(pdf_text(out))
    schedule = flat[flat.index("Item schedule\n"):]
    assert schedule.count("also on the device: /sdcard/copy") == 2
    assert "and 2 more device path(s)" in schedule
