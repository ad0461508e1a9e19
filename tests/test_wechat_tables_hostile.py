"""Kind ``wechat-production`` against hostile or awkward tables (after review6a):
no row silently merged, dropped or shifted into another column; a zone the
cell states is never replaced by the manifest's; a hostile file is one line
naming it (or a failed check), never an internal error or gigabytes of memory."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl
import conftest
from test_wechat_production import ZONE, build, built, case, checks, fails

# --- helpers ------------------------------------------------------------------------------------------------


def wechat_checks(out: Path, name: str, verdict: str | None = None) -> list[str]:
    return [c["detail"] for c in checks(out) if c["check"] == name and (verdict is None or c["verdict"] == verdict)]


def istr(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'


def workbook(sheet_data: str | None = None, styles: bytes | None = None, stored: bool = False) -> bytes:
    """A one-sheet workbook ('IP log'): its <sheetData> and styles.xml given raw if wanted."""
    wb = openpyxl.Workbook()
    wb.active.title = "IP log"
    wb.active["A1"] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml" and sheet_data is not None:
                data = (
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    f"<sheetData>{sheet_data}</sheetData></worksheet>"
                ).encode()
            if info.filename == "xl/styles.xml" and styles is not None:
                data = styles
            z.writestr(info.filename, data)
    return out.getvalue()


def saved(wb: openpyxl.Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- CSV: an unescaped quote ------------------------------------------------------------------------------------

QUOTED = (
    "WeChat ID,Nickname,Linked Mobile\n"
    'wxid_example_alice,"Alice,+61 491 570 157\n'  # a nickname that starts with a quote, written without escaping
    "wxid_example_dragon,Dragon,+86 131 2345 6789\n"
    "wxid_example_cat,Cat,+65 9123 4567\n"
    'wxid_example_tiger,Tiger",+61 491 570 158\n'
    "wxid_example_last,Last,+61 491 570 159\n"
)


def test_an_unescaped_quote_does_not_merge_rows_or_move_a_phone(cli, tmp_path: Path) -> None:
    """Before: the reader ran on to the next quote, 5 accounts became 2, wxid_alice
    was given Tiger's phone, and the +86 account vanished, with no problem."""
    rec, out = built(cli, tmp_path, {"s.csv": QUOTED}, ZONE, "--keep-going")
    got = [(a["wechat_id"], a["nickname"], a["phone"]["e164"], a["at"]["row"]) for a in rec["accounts"]]
    assert got == [
        ("wxid_example_alice", '"Alice', "+61491570157", 2),
        ("wxid_example_dragon", "Dragon", "+8613123456789", 3),
        ("wxid_example_cat", "Cat", "+6591234567", 4),
        ("wxid_example_tiger", 'Tiger"', "+61491570158", 5),
        ("wxid_example_last", "Last", "+61491570159", 6),
    ]
    assert [j["wechat_id"] for j in rec["jurisdiction"]] == ["wxid_example_dragon"]
    [problem] = wechat_checks(out, "wechat-file", "fail")
    assert problem.startswith("source/s.csv: lines 2-5: a quote opens a value that runs on across 4 lines")


def test_an_unescaped_quote_stops_the_build_without_keep_going(cli, tmp_path: Path) -> None:
    r, _ = build(cli, tmp_path, {"s.csv": QUOTED})
    fails(r, "s.csv", "lines 2-5")


def test_a_quoted_value_over_several_lines_is_still_one_value(cli, tmp_path: Path) -> None:
    data = 'WeChat ID,Nickname,Linked Mobile\nwxid_example_a,"Line one\nLine two, and more\nLine three",+61 491 570 157\nwxid_example_b,B,\n'
    rec, out = built(cli, tmp_path, {"s.csv": data})
    assert [(a["wechat_id"], a["nickname"], a["at"]["row"]) for a in rec["accounts"]] == [
        ("wxid_example_a", "Line one\nLine two, and more\nLine three", 2),
        ("wxid_example_b", "B", 5),
    ]
    assert not wechat_checks(out, "wechat-file", "fail")


# --- HTML: optional end tags, spans, nested tables -----------------------------------------------------------------


def test_html_cells_and_rows_without_their_end_tags_are_kept(cli, tmp_path: Path) -> None:
    """``</td>``, ``</th>`` and ``</tr>`` are optional in HTML: before, such a table gave 0 rows and passed."""
    a = (
        "<table><tr><th>WeChat ID<th>Login Time<th>IP Address"
        "<tr><td>wxid_example_a<td>2026-03-11 14:02:09<td>203.0.113.7"
        "<tr><td>wxid_example_a<td>2026-03-12 09:00:00<td>203.0.113.8</table>"
    )
    b = (
        "<table><tr><th>WeChat ID</th><th>Login Time</th><th>IP Address</th><th>Location</th></tr>"
        "<tr><td>wxid_example_b</td><td>2026-03-11 14:02:09</td><td>203.0.113.9</td><td>Johor Bahru</tr></table>"
    )
    rec, _ = built(cli, tmp_path, {"a.html": a, "b.html": b})
    got = [(e["wechat_id"], e["time"]["utc"], e["ip"], e["location"]) for e in rec["logins"]]
    assert got == [
        ("wxid_example_a", "2026-03-11T06:02:09Z", "203.0.113.7", None),
        ("wxid_example_a", "2026-03-12T01:00:00Z", "203.0.113.8", None),
        ("wxid_example_b", "2026-03-11T06:02:09Z", "203.0.113.9", "Johor Bahru"),
    ]


def test_html_column_and_row_spans_keep_every_value_in_its_column(cli, tmp_path: Path) -> None:
    html = (
        '<table><tr><th colspan="5">WeChat login records</th></tr>'
        "<tr><th>WeChat ID</th><th>Login Time</th><th>Device</th><th>Event</th><th>Location</th></tr>"
        '<tr><td rowspan="2">wxid_example_d</td><td>2026-03-11 14:02:09</td><td>iPhone 14</td><td>login</td><td>Singapore</td></tr>'
        '<tr><td>2026-03-12 14:02:09</td><td colspan="2">unknown</td><td>Johor Bahru</td></tr>'
        "</table>"
    )
    rec, out = built(cli, tmp_path, {"ip.html": html})
    got = [(e["wechat_id"], e["device"], e["event"], e["location"]) for e in rec["logins"]]
    assert got == [
        ("wxid_example_d", "iPhone 14", "login", "Singapore"),
        ("wxid_example_d", "unknown", "unknown", "Johor Bahru"),
    ]
    assert rec["files"][0]["tables"][0]["preamble"] == [{"row": 1, "text": "WeChat login records"}]
    [warning] = wechat_checks(out, "wechat-merged-cells", "warn")
    assert warning.startswith("source/ip.html: merged cells") and "'table 1' (colspan/rowspan): values filled into 1 row(s): 4; column(s) 1, 4" in warning


def test_a_table_inside_an_unclosed_cell_is_no_internal_error(cli, tmp_path: Path) -> None:
    html = "<table><tr><th>WeChat ID</th><th>Nickname</th></tr><tr><td>wxid_example_n<table></td><td>N</td></tr></table>"
    r, out = build(cli, tmp_path, {"p.html": html}, ZONE, "--keep-going")
    assert r.exit_code == 0, r.output
    assert "internal error" not in r.output


# --- XLSX: merged cells and stated zones --------------------------------------------------------------------------


def test_a_merged_wechat_id_is_given_to_every_row_it_spans(cli, tmp_path: Path) -> None:
    """openpyxl's read-only mode gives a merged range's value to its first cell
    only: before, logins 2-3 had no WeChat ID and no problem."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "IP log"
    ws.append(["WeChat login records"])  # a title merged across the table: left as it is
    ws.append(["WeChat ID", "Login Time", "IP Address"])
    ws.append(["wxid_example_m", "2026-03-11 14:02:09", "203.0.113.7"])
    ws.append([None, "2026-03-12 09:00:00", "203.0.113.8"])
    ws.append([None, "2026-03-13 10:00:00", "203.0.113.9"])
    ws.merge_cells("A1:C1")
    ws.merge_cells("A3:A5")
    subscriber = wb.create_sheet("Subscriber")
    subscriber.append(["WeChat ID", "Nickname"])
    subscriber.append(["wxid_example_m", "M"])
    rec, out = built(cli, tmp_path, {"p.xlsx": saved(wb)})
    assert [(e["wechat_id"], e["ip"]) for e in rec["logins"]] == [
        ("wxid_example_m", "203.0.113.7"), ("wxid_example_m", "203.0.113.8"), ("wxid_example_m", "203.0.113.9"),
    ]
    assert rec["accounts"][0]["logins"] == 3
    table = rec["files"][0]["tables"][0]
    assert table["preamble"] == [{"row": 1, "text": "WeChat login records"}] and table["merged_cells"] == ["A3:A5"]
    [warning] = wechat_checks(out, "wechat-merged-cells", "warn")
    assert "'IP log' A3:A5" in warning


def test_an_iso_date_cell_keeps_the_zone_it_states(cli, tmp_path: Path) -> None:
    """openpyxl drops the zone of a ``t="d"`` cell: before, the manifest's +08:00 was applied (8 and 13 hours off)."""
    rows = (
        '<row r="1">' + istr("A1", "WeChat ID") + istr("B1", "Login Time") + istr("C1", "IP Address") + "</row>"
        '<row r="2">' + istr("A2", "wxid_example_z") + '<c r="B2" t="d"><v>2026-03-11T14:02:09Z</v></c>' + istr("C2", "203.0.113.7") + "</row>"
        '<row r="3">' + istr("A3", "wxid_example_z") + '<c r="B3" t="d"><v>2026-03-11T14:02:09-05:00</v></c>' + istr("C3", "203.0.113.7") + "</row>"
        '<row r="4">' + istr("A4", "wxid_example_z") + '<c r="B4" t="d"><v>2026-03-11T14:02:09</v></c>' + istr("C4", "203.0.113.7") + "</row>"
    )
    rec, _ = built(cli, tmp_path, {"ip.xlsx": workbook(rows)})
    got = [(e["time"]["original"], e["time"]["utc"], e["time"]["zone_source"]) for e in rec["logins"]]
    assert got == [
        ("2026-03-11T14:02:09Z", "2026-03-11T14:02:09Z", "value"),
        ("2026-03-11T14:02:09-05:00", "2026-03-11T19:02:09Z", "value"),
        ("2026-03-11 14:02:09", "2026-03-11T06:02:09Z", "manifest"),  # (it states none)
    ]


def test_a_date_format_stating_a_zone_is_read_in_that_zone_or_is_a_problem(cli, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "IP log"
    ws.append(["WeChat ID", "Login Time", "IP Address"])
    for fmt in ('yyyy-mm-dd hh:mm:ss "UTC"', 'yyyy-mm-dd hh:mm:ss "GMT-5"', 'yyyy"年"mm"月"dd"日" hh:mm:ss', 'yyyy-mm-dd hh:mm:ss "CST"'):
        ws.append(["wxid_example_f", datetime(2026, 3, 11, 14, 2, 9), "203.0.113.7"])
        ws.cell(ws.max_row, 2).number_format = fmt
    rec, _ = built(cli, tmp_path, {"ip.xlsx": saved(wb)}, ZONE, "--keep-going")
    got = [(e["time"]["utc"], e["time"].get("zone_source"), [p["field"] for p in e["problems"]]) for e in rec["logins"]]
    assert got == [
        ("2026-03-11T14:02:09Z", "value", []),
        ("2026-03-11T19:02:09Z", "value", []),
        ("2026-03-11T06:02:09Z", "manifest", []),  # (no zone in its literals)
        (None, None, ["time"]),  # CST: not read without guessing, never the manifest's zone instead
    ]
    assert rec["logins"][3]["time"]["original"] == "2026-03-11 14:02:09 CST"


# --- JSON: nesting and long numbers ---------------------------------------------------------------------------------


def test_deeply_nested_json_is_one_line_naming_the_file(cli, tmp_path: Path) -> None:
    """Before: a RecursionError (internal error) in json.loads, or in evidpack's own walk for a 3.6 KB file."""
    for name, doc in (("a.json", "[" * 100_000 + "]" * 100_000), ("b.json", '{"x":' * 600 + "1" + "}" * 600)):
        r, _ = build(cli, tmp_path / name, {name: doc})
        fails(r, name, "nested more than 64 levels deep")


def test_a_json_number_of_thousands_of_digits_is_one_line_naming_the_file(cli, tmp_path: Path) -> None:
    r, _ = build(cli, tmp_path, {"p.json": '[{"wechat_id": "wxid_example_j", "nickname": ' + "1" * 5000 + "}]"})
    fails(r, "p.json", "a number too long to convert")


# --- text encodings ------------------------------------------------------------------------------------------------

TEXT = "WeChat ID,Nickname,Linked Mobile\nwxid_example_u,Alice,+61 491 570 157\nwxid_example_v,Bob,+61 491 570 158\n"


def test_truncated_utf16_without_a_mark_is_not_read_as_utf8(cli, tmp_path: Path) -> None:
    """Before: read as UTF-8, every value with NULs between its characters, and a stray account of one NUL."""
    r, _ = build(cli, tmp_path, {"s.csv": TEXT.encode("utf-16-le") + b"\n"})
    fails(r, "s.csv", "looks like UTF-16-LE text", "not a whole number of 2-byte units")


def test_utf32_without_a_mark_is_recognised(cli, tmp_path: Path) -> None:
    rec, _ = built(cli, tmp_path, {"s.csv": TEXT.encode("utf-32-le")})
    assert [(a["wechat_id"], a["nickname"]) for a in rec["accounts"]] == [("wxid_example_u", "Alice"), ("wxid_example_v", "Bob")]
    assert rec["files"][0]["encoding"] == "utf-32-le (no byte-order mark)"


# --- XLSX: a styles memory bomb ---------------------------------------------------------------------------------------

def measured_build(tmp_path: Path, files: dict[str, Any], *extra: str) -> tuple[int, int, str, Path]:
    """``evidpack build`` in a process of its own (see conftest): peak MiB, exit code, stderr, bundle."""
    out = tmp_path / "out/B"
    return (*conftest.measured_build(case(tmp_path, files), out, *extra), out)


def styles(n: int) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<cellXfs count="{n}">' + "<xf/>" * n + "</cellXfs></styleSheet>"
    ).encode()


def test_a_workbook_whose_styles_would_take_gigabytes_is_not_read(tmp_path: Path) -> None:
    """Before: a 48 KB workbook (30 MB of ``<xf/>``) took 3.3 GB and a minute.
    Compressed, the part's expansion ratio refuses it; stored, its element count."""
    rows = '<row r="1">' + istr("A1", "WeChat ID") + istr("B1", "Nickname") + '</row><row r="2">' + istr("A2", "wxid_example_s") + istr("B2", "S") + "</row>"
    files = {"a.xlsx": workbook(rows, styles(6_000_000)), "b.xlsx": workbook(rows, styles(1_000_000), stored=True), "ok.xlsx": workbook(rows)}
    assert len(files["a.xlsx"]) < 100_000
    peak, code, stderr, out = measured_build(tmp_path, files, "--keep-going")
    assert code == 0, stderr
    assert peak < 400, f"peak RSS {peak} MiB"
    failed = wechat_checks(out, "wechat-file", "fail")
    assert any(d.startswith("source/a.xlsx: its part 'xl/styles.xml' would expand") and "cap 250:1" in d for d in failed), failed
    assert any(d.startswith("source/b.xlsx: its part 'xl/styles.xml' holds more than 400,000 elements") for d in failed), failed
    rec = json.loads((out / "evidpack/records/S01-wechat.json").read_text("utf-8"))
    assert [a["wechat_id"] for a in rec["accounts"]] == ["wxid_example_s"]
