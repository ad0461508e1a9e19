"""Kind ``wechat-production`` at scale and against decompression bombs: memory
does not grow with the rows of a production (files are read as streams, rows
spooled to disk, the record written an entry at a time); a zip member that
inflates too far, or a production with more rows than the cap, is a failed
check naming the file, the member and the cap — the files are still kept byte
for byte; and the streamed record and CSV exports are exactly what encoding
them whole gives."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import build_args, manifest_text, write_tree
from test_bad_input import one_line_error

from evidpack.csvsafe import csv_bytes
from evidpack.importers import wechat_production
from evidpack.wechat import tables
from evidpack.wechat.production import ACCOUNT_COLUMNS, ERROR_COLUMNS, LOGIN_COLUMNS, account_row, login_row

ZONE = '[sources.options]\nzone = "+08:00"\n'
LOGIN_HEADER = "Login Time (UTC+8),WeChat ID,IP Address,Device,Event\r\n"
HEADER = "WeChat ID,Nickname,Linked Mobile,Email,Registration Country,Registration Time\n"
ALICE = "wxid_example_alice,Alice,+61 491 570 157,alice@example.com,AU,2020-01-02 03:04:05\n"


def login_lines(n: int) -> str:
    """``n`` distinct login rows, as a real IP log has them (times, IDs and IPs vary)."""
    return "".join(
        f"2026-03-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d},wxid_example_{i % 50},"
        f"203.0.113.{i % 250}:{1024 + i % 60000},iPhone 14 (iOS 17.3),login\r\n"
        for i in range(n)
    )


def zipped(members: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def case(tmp_path: Path, files: dict[str, Any], options: str = ZONE) -> Path:
    write_tree(tmp_path / "source", files)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"source"', kind="wechat-production", extra_source=options), "utf-8")
    return m


def build(cli, tmp_path: Path, files: dict[str, Any], *extra: str, options: str = ZONE) -> tuple[Any, Path]:
    out = tmp_path / "out/B"
    return cli(*build_args(case(tmp_path, files, options), out, *extra)), out


def record(out: Path) -> dict[str, Any]:
    return json.loads((out / "evidpack/records/S01-wechat.json").read_text("utf-8"))


def checks(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "evidpack/sources.jsonl").read_text("utf-8").splitlines()[0])["checks"]


def failed(out: Path) -> list[dict[str, Any]]:
    return [c for c in checks(out) if c["verdict"] == "fail"]


# --- memory ------------------------------------------------------------------------------------------------------

# Runs a build in a child process and measures how far the wechat importer raises
# the process's peak resident memory (ru_maxrss, from the importer's start to its
# end), then stops the process: the catalogue and the PDF index, written later
# by the build, are not the importer's.
MEASURE = """
import json, os, resource, sys
from evidpack.importers import wechat_production as wp
from evidpack.cli import main

run = wp.WechatProductionImporter.run

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def measured(self, source, ctx):
    start = rss()
    run(self, source, ctx)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak": peak - start, "logins": ctx.facts["wechat"]["logins"]}), flush=True)
    os._exit(0)

wp.WechatProductionImporter.run = measured
main(sys.argv[1:])
"""


def importer_memory(tmp_path: Path, rows: int) -> dict[str, int]:
    zip_bytes = zipped({"ip-log.csv": LOGIN_HEADER + login_lines(rows), "subscriber.csv": HEADER + ALICE})
    m = case(tmp_path, {"production.zip": zip_bytes})
    args = [str(a) for a in build_args(m, tmp_path / "out/B")]
    r = subprocess.run([sys.executable, "-c", MEASURE, *args], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["logins"] == rows
    return out


def test_importer_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    """Before streaming, the importer's peak grew by about 6.6 KB per row (the
    member's bytes, its text, every row's cells, every entry, the whole record
    as one string); then by about 1.5 KB per row, the catalogue rows the build
    held until it wrote the catalogue. Rows are now spooled to a file as they
    are handed over: about 220 bytes per row here."""
    small, large = importer_memory(tmp_path / "small", 20_000), importer_memory(tmp_path / "large", 80_000)
    per_row = (large["peak"] - small["peak"]) / 60_000
    assert per_row < 700, f"the importer's peak grows by {per_row:.0f} bytes per row"


# --- bombs and caps ----------------------------------------------------------------------------------------------


def bomb_zip() -> bytes:
    """A production zip of a few kilobytes whose CSV member inflates to 300,000 rows (3 MB, about 500:1)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("accounts.csv", "w") as fh:
            fh.write(b"WeChat ID,Nickname\r\n")
            for _ in range(3):
                fh.write(b"wxid_a,n\r\n" * 100_000)
        zf.writestr("subscriber.csv", HEADER + ALICE)
    return buf.getvalue()


def test_a_zip_member_that_inflates_too_far_stops_the_build_naming_file_member_and_cap(cli, tmp_path: Path) -> None:
    r, out = build(cli, tmp_path, {"production.zip": bomb_zip()})
    one_line_error(r, "production.zip", "member 'accounts.csv'", "would expand", "cap 250:1", "--keep-going")
    assert not out.exists()


def test_with_keep_going_the_bomb_is_a_failed_check_and_the_zip_is_kept_byte_for_byte(cli, tmp_path: Path) -> None:
    data = bomb_zip()
    assert len(data) < 10_000
    r, out = build(cli, tmp_path, {"production.zip": data}, "--keep-going")
    assert r.exit_code == 0, r.output
    [bomb] = failed(out)
    assert bomb["check"] == "container-bomb" and bomb["subject"] == "E0001/M000001"
    assert "production.zip: member 'accounts.csv' would expand 5" in bomb["detail"] and "to 3,000,020 bytes (cap 250:1" in bomb["detail"]
    assert (out / "data/S01-loose-files/production.zip").read_bytes() == data
    items = [json.loads(x) for x in (out / "evidpack/items.jsonl").read_text().splitlines()]
    assert items[1]["member_path"] == "accounts.csv" and items[1]["size"] == 3_000_020 and "sha256" in items[1]  # catalogued and hashed
    rec = record(out)
    [member] = [f for f in rec["files"] if f.get("member") == "accounts.csv"]
    assert member["read_as"] == "not read" and "cap 250:1" in member["note"]
    assert [a["wechat_id"] for a in rec["accounts"]] == ["wxid_example_alice"]  # the other member is read


def test_the_row_cap_stops_reading_naming_file_line_and_cap(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wechat_production, "MAX_ROWS", 50)
    files = {"a-ip.csv": LOGIN_HEADER + login_lines(80), "b-subscriber.csv": HEADER + ALICE}
    r, out = build(cli, tmp_path, files)
    one_line_error(r, "a-ip.csv", "line 51", "more than 50 rows", "--keep-going")

    r, out = build(cli, tmp_path / "kept", files, "--keep-going")
    assert r.exit_code == 0, r.output
    stopped = [c for c in failed(out) if c["check"] == "wechat-file"]
    assert [c["detail"].split(": the production")[0] for c in stopped] == ["source/a-ip.csv: line 51", "source/b-subscriber.csv: line 1"]
    assert "more than 50 rows" in stopped[0]["detail"] and "the rows before it were read" in stopped[0]["detail"]
    rec = record(out)
    assert rec["counts"]["logins"] == 49 and rec["logins"][-1]["at"]["row"] == 50  # the header is a row too
    assert [f.get("note", "")[:7] for f in rec["files"]] == ["line 51", "line 1:"]
    assert (out / "data/S01-loose-files/a-ip.csv").read_bytes() == files["a-ip.csv"].encode()


def test_the_row_cap_in_a_workbook_names_the_sheet_and_row(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wechat_production, "MAX_ROWS", 30)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "IP log"
    ws.append(["Login Time", "IP Address"])
    for i in range(1200):  # more than one batch of rows read from openpyxl
        ws.append([f"2026-03-11 14:{i % 60:02d}:09", f"192.0.2.{i % 250}"])
    buf = io.BytesIO()
    wb.save(buf)
    r, out = build(cli, tmp_path, {"ip.xlsx": buf.getvalue()}, "--keep-going")
    assert r.exit_code == 0, r.output
    [stop] = failed(out)
    assert stop["detail"].startswith("source/ip.xlsx: sheet 'IP log' row 31: the production has more than 30 rows")
    assert record(out)["counts"]["logins"] == 29


def rezipped(wb: openpyxl.Workbook, edit=lambda name, data: data, extra: dict[str, bytes] | None = None) -> bytes:
    """The workbook saved, each part passed through ``edit(name, data)``, and ``extra`` parts added after."""
    buf = io.BytesIO()
    wb.save(buf)
    book = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, edit(info.filename, src.read(info)))
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return book.getvalue()


def test_a_workbook_declaring_a_vast_sheet_is_read_as_stored(cli, tmp_path: Path) -> None:
    """A few kilobytes declaring A1:XFD1048576 around three cells: openpyxl would
    pad every row to 16,384 cells and fill the million rows between (hours of
    CPU); gaps are passed over and the width is not padded to."""
    wb = openpyxl.Workbook()
    wb.active.title = "IP"
    wb.active.append(["WeChat ID", "Nickname"])
    wb.active.append(["wxid_example_v", "V"])

    def vast(name: str, data: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return data
        data = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', data)
        return data.replace(b"</sheetData>", b'<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>wxid_example_z</t></is></c></row></sheetData>')

    book = rezipped(wb, vast)
    assert len(book) < 10_000
    r, out = build(cli, tmp_path, {"vast.xlsx": book})
    assert r.exit_code == 0, r.output
    rec = record(out)
    assert [(a["wechat_id"], a["at"]["row"]) for a in rec["accounts"]] == [("wxid_example_v", 2), ("wxid_example_z", 1048576)]
    assert rec["files"][0]["reader_notes"] == ["sheet 'IP' declares 16,384 columns; its rows were read as stored, not padded to that width"]


def test_the_cell_cap_stops_reading_wide_rows(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wechat_production, "MAX_CELLS", 1000)
    data = HEADER + "".join(f"wxid_example_{i},N" + ",x" * 98 + "\n" for i in range(20))
    r, out = build(cli, tmp_path, {"wide.csv": data}, "--keep-going")
    assert r.exit_code == 0, r.output
    assert any(c["detail"].startswith("source/wide.csv: line 11: the production has more than 1,000 cells") for c in failed(out))
    assert record(out)["counts"]["accounts"] == 9


def test_a_workbook_part_that_inflates_too_far_is_not_read(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """openpyxl reads a workbook's shared strings whole: a part that would inflate
    beyond the cap is refused before openpyxl opens the workbook."""
    monkeypatch.setattr(tables, "MAX_PART", 1 << 20)
    wb = openpyxl.Workbook()
    wb.active.append(["WeChat ID", "Nickname"])
    wb.active.append(["wxid_example_w", "W"])
    book = rezipped(wb, extra={"xl/sharedStrings.xml": b"<sst>" + b"<si><t>a</t></si>" * 100_000 + b"</sst>"})
    r, out = build(cli, tmp_path, {"ip.xlsx": book}, "--keep-going")
    assert r.exit_code == 0, r.output
    assert any(
        c["check"] == "wechat-file" and "ip.xlsx: its part 'xl/sharedStrings.xml' would expand to 1,700,011 bytes, more than the 1,048,576" in c["detail"]
        for c in failed(out)
    )


def test_a_json_file_denser_than_the_cap_is_not_parsed(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON is parsed whole, and its parsed form can take 80 times its size."""
    monkeypatch.setattr(tables, "MAX_JSON_ITEMS", 1000)
    data = json.dumps([{"wechat_id": f"wxid_{i}", "nickname": "n"} for i in range(400)])
    r, out = build(cli, tmp_path, {"p.json": data}, "--keep-going")
    assert r.exit_code == 0, r.output
    items = sum(data.count(c) for c in "{[,")
    assert any(f"p.json: not read: {items:,} brackets and commas, more than the 1,000" in c["detail"] for c in failed(out))
    assert record(out)["counts"]["rows"] == 0


# --- streamed, yet exactly as before --------------------------------------------------------------------------------


def test_the_streamed_record_and_exports_are_what_encoding_them_whole_gives(cli, tmp_path: Path) -> None:
    """The record is written an entry at a time, the CSV exports a batch at a
    time: byte for byte what json.dumps and csvsafe.csv_bytes give for the whole."""
    logins = LOGIN_HEADER + login_lines(3000) + "2026-03-11 14:02:09,wxid_example_1,not an ip,iPad,login\r\n"
    subscribers = HEADER + ALICE + "wxid_example_1,=cmd(),+86 131 2345 6789,,CN,2019-05-01\n" + "wxid_example_2,Two,,,,yesterday\n"
    r, out = build(cli, tmp_path, {"p.zip": zipped({"ip.csv": logins}), "s.csv": subscribers}, "--keep-going")
    assert r.exit_code == 0, r.output
    data = (out / "evidpack/records/S01-wechat.json").read_bytes()
    rec = json.loads(data)
    assert data == (json.dumps(rec, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
    assert rec["counts"] == {"accounts": 3, "logins": 3001, "rows": 3004, "rows_with_problems": 2, "parse_errors": 2, "weixin_likely": 1}
    assert [a["logins"] for a in rec["accounts"]] == [0, 61, 60]
    records = out / "evidpack/records"
    assert (records / "S01-wechat-accounts.csv").read_bytes() == csv_bytes(ACCOUNT_COLUMNS, [account_row(a) for a in rec["accounts"]])
    assert (records / "S01-wechat-logins.csv").read_bytes() == csv_bytes(LOGIN_COLUMNS, [login_row(e) for e in rec["logins"]])
    assert (records / "S01-wechat-parse-errors.csv").read_bytes() == csv_bytes(ERROR_COLUMNS, rec["parse_errors"])
    with (records / "S01-wechat-logins.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) == 3002


def test_line_numbers_hold_across_the_chunks_a_file_is_read_in(cli, tmp_path: Path) -> None:
    """Text is decoded a chunk (1 MiB) at a time: a \\r\\n split between two chunks
    is one line end, and a character split between them is one character."""
    head = (LOGIN_HEADER + login_lines(20_000)).encode()[: tables.CHUNK - 300]
    head = head[: head.rindex(b"\r\n") + 2]
    filler = b"2026-03-11 14:02:09,wxid_example_x,203.0.113.9,"
    split = filler + b"y" * (tables.CHUNK - 1 - len(head) - len(filler)) + b"\r"  # its \r ends the first chunk
    assert len(head + split) == tables.CHUNK
    tail = "2026-03-11 14:02:10,wxid_示例_🐉,203.0.113.10,iPad,login\r\n".encode() * 20_000
    data = head + split + b"\n" + tail
    r, out = build(cli, tmp_path, {"ip.csv": data})
    assert r.exit_code == 0, r.output
    rec = record(out)
    text = data.decode()
    lines = io.StringIO(text, newline="").readlines()
    assert rec["counts"]["logins"] == len([line for line in lines[1:] if line.strip()])
    rows = [e["at"]["row"] for e in rec["logins"] if e["wechat_id"] == "wxid_示例_🐉"]
    assert rows[0] == len(lines) - 20_000 + 1 and rows[-1] == len(lines)
    assert all(e["device"] == "iPad" for e in rec["logins"] if e["wechat_id"] == "wxid_示例_🐉")


@pytest.mark.parametrize(
    "encoding, bad",
    [(None, b"\xc4"), ("gb18030", b"\xff\xff"), ("utf-16", b"\x00\xd8a\x00")],
    ids=["utf-8", "gb18030", "utf-16-bom"],
)
def test_a_byte_that_does_not_decode_late_in_a_file_leaves_nothing_of_it(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str | None, bad: bytes
) -> None:
    """Found after rows were read (beyond the first chunk): the file is unreadable
    as a whole, as when it was decoded at once, with the same offset — and what
    its rows made (accounts, parse errors, zone warnings, +86 notes) is undone."""
    monkeypatch.setattr(tables, "CHUNK", 4096)
    text = "WeChat ID,Nickname,Linked Mobile,Registration Time (UTC)\n" + "wxid_example_q,你好,+86 131 2345 6789,not a time\n" * 400
    body = text.encode(encoding or "utf-8")
    at = 5 * 4096 + 1000
    data = body[:at] + bad + body[at:]
    with pytest.raises(UnicodeDecodeError) as whole:
        data.decode(encoding or "utf-8")
    options = ZONE + (f'encoding = "{encoding}"\n' if encoding == "gb18030" else "")
    r, out = build(cli, tmp_path, {"bad.csv": data, "ok.csv": HEADER + ALICE}, "--keep-going", options=options)
    assert r.exit_code == 0, r.output
    assert [(c["check"], c["verdict"]) for c in checks(out) if c["check"].startswith("wechat")] == [
        ("wechat-file", "fail"), ("wechat-file", "pass"), ("wechat-rows", "pass"),
    ]
    [check] = failed(out)
    assert check["detail"].startswith("source/bad.csv: not ") and f"offset {whole.value.start}" in check["detail"]
    rec = record(out)
    assert [a["wechat_id"] for a in rec["accounts"]] == ["wxid_example_alice"]
    assert rec["parse_errors"] == [] and rec["jurisdiction"] == [] and rec["counts"]["rows_with_problems"] == 0
    assert [f["read_as"] for f in rec["files"]] == ["unreadable", "csv"]
    assert hashlib.sha256((out / "data/S01-loose-files/bad.csv").read_bytes()).digest() == hashlib.sha256(data).digest()


def test_a_utf16_text_without_its_mark_is_still_recognised(cli, tmp_path: Path) -> None:
    data = (HEADER + ALICE * 40_000).encode("utf-16-le")
    assert not data.startswith(codecs.BOM_UTF16_LE)
    r, out = build(cli, tmp_path, {"s.csv": data})
    assert r.exit_code == 0, r.output
    [summary] = record(out)["files"]
    assert summary["encoding"] == "utf-16-le (no byte-order mark)" and summary["tables"][0]["rows"] == 40_000
