"""Kind ``osint`` in flat memory, and what its record tells on its own.

* A WARC's captures are spooled to a temporary file as they are read and the
  record is written from it, one capture at a time, byte for byte as
  ``json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True)`` wrote it;
  the PDF index reads them back from the record as it draws them. A build does
  not grow with the records of a WARC (before: about 9 KB a record).
* A sidecar beside a WARC or WACZ describes the file, not each record: it is on
  the file in the record, marked so, named by a check and shown on the file's row.
* WACZ ``created`` and ``WARC-Refers-To-Date`` are time objects (UTC), their text kept.
* What stopped or spoilt the reading of a WARC (a gzip member cut short, not a
  WARC at all) is in the file's summary in the record, and on its row in the PDF.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import VENV_BIN, build_args, manifest_text, run_proc, tool, write_tree
from test_osint_captures import WARC, WARC_GZ, gen, record, sha1_b32
from test_osint_hostile_archives import built, details, fails, wacz, warc_rec

from evidpack.osint.spool import CaptureSpool, Streamed, write_record

RECORD = "evidpack/records/S01-osint.json"


def pdf_text(out: Path) -> str:
    return re.sub(r"[ \t]+", " ", run_proc(tool("pdftotext"), "-layout", "-enc", "UTF-8", out / "evidpack/index.pdf", "-").stdout.decode("utf-8"))


def files_read(out: Path) -> str:
    text = pdf_text(out)
    return text[text.index("Files read ("):]


def file_row(out: Path, name: str) -> str:
    """The PDF's 'Files read' row of ``name``, from its verdict to the next row."""
    text = files_read(out)
    start = text.index(name)
    start = text.rindex("\n", 0, start) + 1
    nxt = re.search(r"\n\s*(PASS|FAIL|WARN|NOT CHECKABLE)\b", text[start + 1 :])
    return " ".join(text[start : start + 1 + nxt.start() if nxt else None].split())


def summary(rec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in rec["files"] if (f.get("member_path") or f["file"]) == name)


# --- memory does not grow with the records of a WARC ----------------------------------------------------


def synthetic_warc(n: int, bad: int | None = None) -> bytes:
    """``n`` tiny resource records written by warcio (digests declared); record ``bad``'s block changed after."""
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=False)
    for i in range(1, n + 1):
        rec = w.create_warc_record(
            f"https://example.org/p/{i}", "resource", payload=io.BytesIO(b"x%d" % i), warc_content_type="text/plain",
            warc_headers_dict={"WARC-Date": "2026-03-11T06:02:09Z", "WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{i:012d}>"},
        )
        w.write_record(rec)
    data = buf.getvalue()
    if bad is not None:
        old = b"\r\n\r\nx%d\r\n\r\n" % bad
        assert data.count(old) == 1
        data = data.replace(old, b"\r\n\r\nz%d\r\n\r\n" % bad)
    return data


# The build runs as the child of a small interpreter started for it: a child's peak resident memory
# (ru_maxrss) starts at its parent's at the fork, so it is not measured from the test's own process.
_MEASURE = """
import os, subprocess, sys
with open(sys.argv[1], "wb") as err:
    proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err)
    _, status, usage = os.wait4(proc.pid, 0)
print(usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status))
"""


def measured(tmp_path: Path, files: dict[str, bytes], *extra: str) -> tuple[int, Path]:
    """``evidpack build`` in a process of its own: its peak resident bytes (with the processes it waited for) and the bundle."""
    write_tree(tmp_path / "source", files)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"source"', kind="osint"), "utf-8")
    out = tmp_path / "out/B"
    exe = VENV_BIN / "evidpack"
    cmd = [str(exe)] if exe.exists() else [str(VENV_BIN / "python"), "-m", "evidpack"]
    args = [*cmd, *(str(a) for a in build_args(m, out, *extra))]
    p = subprocess.run([sys.executable, "-c", _MEASURE, str(tmp_path / "stderr"), *args], capture_output=True, text=True, timeout=300)
    peak, code = map(int, p.stdout.split())
    assert code == 0, (tmp_path / "stderr").read_text()
    return peak, out


def test_a_build_does_not_grow_with_the_records_of_a_warc(tmp_path: Path) -> None:
    """Before, every capture was held until the record was written (and the PDF
    index parsed the whole record): about 9 KB a record. Now a build grows by
    under 20 bytes a record (the index notes where each capture starts in the
    record, eight bytes, to read it back as drawn)."""
    small, big = 2_000, 20_000
    started = time.monotonic()
    peak_small, _ = measured(tmp_path / "small", {"c.warc": synthetic_warc(small)})
    peak_big, out = measured(tmp_path / "big", {"c.warc": synthetic_warc(big, bad=15_000)}, "--keep-going")
    growth = (peak_big - peak_small) / (big - small)
    assert growth < 300, f"peak grew by {growth:.0f} bytes a record ({peak_small:,} -> {peak_big:,})"
    # every capture is still in the record and the table, and the index lists the bad one first
    rec = json.loads((out / RECORD).read_bytes())
    assert rec["counts"] == {"files": 1, "captures": big, "pages": 0, "captures_with_problems": 1}
    assert [c["record"] for c in rec["captures"]] == list(range(1, big + 1))
    assert summary(rec, "c.warc")["records"] == big
    assert (out / RECORD).read_bytes() == json.dumps(rec, ensure_ascii=False, indent=1, sort_keys=True).encode() + b"\n"
    db = sqlite3.connect(out / "evidpack/catalogue.sqlite")
    assert db.execute("select count(*), count(distinct record), sum(block_digest = 'fail') from web_captures").fetchone() == (big, big, 1)
    text = " ".join(pdf_text(out).split())
    assert f"2,000 of the {big:,} captures are listed here" in text
    assert "record 15,000 at offset" in text and "record 1,999 at offset" in text and "record 2,000 at offset" not in text
    assert time.monotonic() - started < 60


# --- the record's bytes are those json.dumps wrote ----------------------------------------------------------


def test_the_record_written_from_the_spool_is_byte_for_byte_what_json_dumps_writes(tmp_path: Path) -> None:
    bad = WARC.replace(b"Public profile", b"Pubic profile!")
    files = {
        "profile-capture.warc.gz": WARC_GZ,
        "小龙🐉/c.warc": bad,
        "whole.warc.gz": gzip.compress(WARC, mtime=0),  # read twice: warcio refuses it, then the decompressed stream
        "profile-capture.wacz": gen.wacz(),
        "profile.mhtml": gen.mhtml(),
        "shot.png": (shot := gen.png(16, 9, {"Title": "t"})),
        "shot.png.json": json.dumps({"url": "https://example.org/x", "tool": "T 1", "sha256": hashlib.sha256(shot).hexdigest()}).encode(),
        "notes.txt": b"kept\n",
    }
    rec, _, out = built(tmp_path, files, "--keep-going")
    data = (out / RECORD).read_bytes()
    assert data == json.dumps(rec, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8") + b"\n"
    assert "小龙🐉/c.warc".encode() in data  # (UTF-8, not escaped)
    whole = [c["record"] for c in rec["captures"] if c["file"] == "whole.warc.gz"]
    assert whole == [1, 2, 3, 4, 5, 6]  # the records read before warcio refused the file are not kept twice
    assert rec["counts"]["captures"] == len(rec["captures"]) == 6 * 4 + 2
    assert rec["counts"]["captures_with_problems"] == 1


@pytest.mark.parametrize(
    "entries",
    [[], [{}], [{"a": [], "b": {}, "c": [1, {"d": None}]}], [{"t": "line\nbreak \"q\" \\ 小龙🐉 \u2028", "n": 1.5, "z": True}, {"k": [[]]}]],
    ids=["none", "empty-entry", "nested-empties", "text-and-numbers"],
)
def test_write_record_matches_json_dumps(entries: list[Any]) -> None:
    head = {"format": "f", "zz": {"é": ["x"]}, "files": [], "counts": {"n": len(entries)}}
    spool = CaptureSpool(None)
    try:
        for e in entries:
            spool.add(e)
        buf = io.BytesIO()
        write_record(buf, {**head, "captures": Streamed(spool)})
    finally:
        spool.close()
    assert buf.getvalue() == json.dumps({**head, "captures": entries}, ensure_ascii=False, indent=1, sort_keys=True).encode() + b"\n"


def test_a_spool_forgets_what_was_added_after_a_mark() -> None:
    spool = CaptureSpool(None)
    try:
        spool.add({"n": 1, "problems": []})
        mark = spool.mark()
        spool.add({"n": 2, "problems": ["bad"]})
        spool.rewind(mark)
        spool.add({"n": 3, "problems": ["bad"]})
        assert list(spool) == [{"n": 1, "problems": []}, {"n": 3, "problems": ["bad"]}] == list(spool)
        assert (spool.count, spool.with_problems) == (2, 1)
    finally:
        spool.close()


# --- a sidecar beside a WARC or WACZ describes the file ------------------------------------------------------


def sidecar_of(data: bytes, **fields: Any) -> bytes:
    base = {"url": "https://example.org/profile", "tool": "ExampleCapture 2", "operator": "Det. Test",
            "captured_at": "2026-03-11T14:10:00+08:00", "sha256": hashlib.sha256(data).hexdigest()}
    return json.dumps({**base, **fields}).encode()


def test_a_sidecar_beside_a_warc_or_wacz_is_on_the_file_said_so_and_shown(tmp_path: Path) -> None:
    package = wacz()
    files = {"c.warc": WARC, "c.warc.json": sidecar_of(WARC), "p.wacz": package, "p.wacz.json": sidecar_of(package, tool="Other")}
    rec, checks, out = built(tmp_path, files)
    side = summary(rec, "c.warc")["sidecar"]
    assert side["applies_to"] == "file" and side["sha256_check"]["verdict"] == "pass"
    assert (side["url"], side["tool"], side["captured_at"]["utc"]) == ("https://example.org/profile", "ExampleCapture 2", "2026-03-11T06:10:00Z")
    assert summary(rec, "p.wacz")["sidecar"]["applies_to"] == "file"
    assert not any("sidecar" in c for c in rec["captures"])  # not given to each record
    said = details(checks, "sidecar", "not-checkable")
    assert len(said) == 2
    assert any("c.warc.json: describes c.warc as a whole (6 WARC record(s)), not each record: url 'https://example.org/profile'" in d for d in said), said
    assert any("p.wacz.json: describes p.wacz as a whole (1 WARC record(s))" in d and "tool 'Other'" in d for d in said), said
    row = file_row(out, "c.warc")
    assert row.startswith("PASS") and "the sidecar describes the whole file, not each record" in row, row
    assert "https://example.org/profile" in row and "ExampleCapture 2" in row and "2026-03-11T06:10:00Z UTC" in row, row
    assert "the SHA-256 the sidecar declares matches the file" in row, row
    # a screenshot's sidecar is still its capture's, and marked so
    shot = gen.png(4, 4, {})
    rec, checks, _ = built(tmp_path / "shot", {"s.png": shot, "s.png.json": sidecar_of(shot)})
    assert rec["captures"][0]["sidecar"]["applies_to"] == "capture" and not details(checks, "sidecar", "not-checkable")


def test_a_warc_sidecar_whose_hash_differs_fails_on_the_file(tmp_path: Path) -> None:
    fails(tmp_path, {"c.warc": WARC, "c.warc.json": sidecar_of(WARC, sha256="ab" * 32)}, "c.warc.json", "declares sha256 " + "ab" * 32, "for c.warc")
    rec, _, out = built(tmp_path / "kept", {"c.warc": WARC, "c.warc.json": sidecar_of(WARC, sha256="ab" * 32)}, "--keep-going")
    assert summary(rec, "c.warc")["sidecar"]["sha256_check"]["verdict"] == "fail"
    row = file_row(out, "c.warc")
    assert row.startswith("FAIL") and "does not match the file" in row, row


# --- WACZ created and WARC-Refers-To-Date are times ------------------------------------------------------------


def test_wacz_created_and_warc_refers_to_date_are_time_objects_in_utc(tmp_path: Path) -> None:
    revisit = record(
        2, "revisit", b"", WARC_Refers_To_Date="2026-03-11T14:02:09+08:00", WARC_Refers_To_Target_URI="https://example.org/a",
        WARC_Profile="http://netpreserve.org/warc/1.1/revisit/identical-payload-digest", WARC_Block_Digest=sha1_b32(b""),
    )
    files = {"c.wacz": wacz(dp_extra={"created": "2026-03-11T14:06:00+08:00"}), "r.warc": revisit}
    rec, _, out = built(tmp_path, files)
    created = summary(rec, "c.wacz")["wacz"]["created"]
    assert created["original"] == "2026-03-11T14:06:00+08:00" and created["utc"] == "2026-03-11T06:06:00Z" and created["zone"] == "+08:00"
    [cap] = [c for c in rec["captures"] if c["file"] == "r.warc"]
    assert cap["refers_to_date"]["original"] == "2026-03-11T14:02:09+08:00" and cap["refers_to_date"]["utc"] == "2026-03-11T06:02:09Z"
    assert cap["problems"] == []
    text = " ".join(pdf_text(out).split())
    assert "created: 2026-03-11T06:06:00Z UTC (as written: 2026-03-11T14:06:00+08:00)" in text
    assert "revisit of https://example.org/a, captured 2026-03-11T06:02:09Z UTC (as written: 2026-03-11T14:02:09+08:00)" in text


def test_times_that_cannot_be_read_are_kept_as_written_and_fail(tmp_path: Path) -> None:
    no_zone = wacz(dp_extra={"created": "2026-03-11 14:06:00"})
    fails(tmp_path, {"c.wacz": no_zone}, "c.wacz", "datapackage.json: created '2026-03-11 14:06:00'", "zone")
    revisit = record(2, "revisit", b"", WARC_Refers_To_Date="yesterday")
    fails(tmp_path / "r", {"r.warc": revisit}, "r.warc", "record 1", "WARC-Refers-To-Date: ")
    rec, checks, out = built(tmp_path / "kept", {"c.wacz": no_zone, "r.warc": revisit}, "--keep-going")
    created = summary(rec, "c.wacz")["wacz"]["created"]
    assert created["original"] == "2026-03-11 14:06:00" and created["utc"] is None and "zone" in created["problem"]
    assert any("created '2026-03-11 14:06:00'" in d for d in details(checks, "wacz", "fail"))
    [cap] = [c for c in rec["captures"] if c["file"] == "r.warc"]
    assert cap["refers_to_date"] == {"original": "yesterday", "utc": None}
    assert cap["problems"][0].startswith("WARC-Refers-To-Date: ")
    assert "created: 2026-03-11 14:06:00 (as written; not read as a time:" in " ".join(pdf_text(out).split())


# --- what spoilt the reading of a WARC is in the record ---------------------------------------------------------


def test_warc_scan_problems_are_in_the_file_summary_and_on_its_row(tmp_path: Path) -> None:
    inner = wacz({"archive/data.warc": b"hello, not a WARC\r\n", "pages/pages.jsonl": b""})
    files = {"c.warc.gz": WARC_GZ[:-30], "n.warc": b"hello, not a WARC\r\n", "ok.warc": warc_rec(), "p.wacz": inner}
    rec, checks, out = built(tmp_path, files, "--keep-going")
    assert summary(rec, "c.warc.gz")["problems"] == ["gzip member 6 is cut short (the file ends inside it)"]
    assert summary(rec, "n.warc")["problems"] == ["not a WARC file (it starts with 68 65 6c 6c 6f 2c 20 6e)"]
    assert summary(rec, "archive/data.warc")["problems"] == ["not a WARC file (it starts with 68 65 6c 6c 6f 2c 20 6e)"]
    assert "problems" not in summary(rec, "ok.warc")
    assert len(details(checks, "warc-readable", "fail")) == 3  # (still failed checks, as before)
    row = file_row(out, "c.warc.gz")
    assert row.startswith("FAIL") and "gzip member 6 is cut short (the file ends inside it)" in row, row
    row = file_row(out, "n.warc")
    assert row.startswith("FAIL") and "not a WARC file" in row, row
    assert file_row(out, "ok.warc").startswith("PASS")
