"""WeChat productions: loose ends — a JSON key given twice, arrays of row arrays
and JSON values not read, the PDF index's phone marks, merged cells named by
row and column (bounded), the wechat-empty message's path, and UTC offsets
beyond those in use. Each test goes through the CLI build with synthetic data."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import openpyxl
from test_wechat_production import ZONE, build, built, checks, fails
from test_wechat_tables_hostile import saved, wechat_checks

ACCOUNTS_HEADER = ["WeChat ID", "Nickname", "Linked Mobile"]


def pdf_text(out: Path) -> str:
    run = subprocess.run(["pdftotext", str(out / "evidpack/index.pdf"), "-"], capture_output=True, text=True, check=True)
    return " ".join(run.stdout.split())


# --- 1: a JSON key given twice in one object ------------------------------------------------------------------


def test_a_json_key_given_two_different_values_is_a_row_problem_naming_file_record_and_key(cli, tmp_path: Path) -> None:
    data = (
        '{"accounts": ['
        '{"WeChat ID": "wxid_a", "Linked Mobile": "+65 9123 4567", "Nickname": "A", "Linked Mobile": "+86 131 2345 6789"},'
        '{"WeChat ID": "wxid_b", "Nickname": "B", "Nickname": "B", "Remark": "x", "Remark": "y"}'
        "]}"
    )
    rec, out = built(cli, tmp_path / "k", {"p.json": data}, ZONE, "--keep-going")
    a, b = rec["accounts"]
    assert a["phone"] is None and a["nickname"] == "A"  # neither value read in place of the other
    [problem] = a["problems"]
    assert problem["field"] == "phone" and "the key 'Linked Mobile' appears more than once" in problem["problem"]
    assert json.loads(problem["value"]) == ["+65 9123 4567", "+86 131 2345 6789"]  # both values kept
    # an identical repeat is read once; a key that names no field keeps both values, with a problem
    assert b["nickname"] == "B" and b["other"] == {"Remark": ["x", "y"]}
    assert [p["field"] for p in b["problems"]] == ["Remark"]
    [error] = [e for e in rec["parse_errors"] if e["field"] == "phone"]
    assert (error["file"], error["sheet"], error["row"]) == ("p.json", "$.accounts", 1)
    r, _ = build(cli, tmp_path / "s", {"p.json": data})
    fails(r, "p.json $.accounts row 1", "phone", "'Linked Mobile' appears more than once")


def test_a_json_key_given_twice_outside_a_row_is_a_file_problem_and_every_value_is_read(cli, tmp_path: Path) -> None:
    data = (
        '{"ip_log": [{"WeChat ID": "wxid_a", "Login Time": "2026-03-11 14:02:09", "IP Address": "203.0.113.7"}],'
        ' "ip_log": [{"WeChat ID": "wxid_a", "Login Time": "2026-03-12 14:02:09", "IP Address": "203.0.113.8"}]}'
    )
    rec, out = built(cli, tmp_path, {"p.json": data}, ZONE, "--keep-going")
    assert [(e["ip"], e["at"]["sheet"]) for e in rec["logins"]] == [("203.0.113.7", "$.ip_log"), ("203.0.113.8", "$.ip_log (value 2)")]
    [failed] = wechat_checks(out, "wechat-file", "fail")
    assert failed.startswith("source/p.json: $.ip_log: the key 'ip_log' appears 2 times in one object, with different values")


# --- 2: arrays of row arrays; JSON values not read are listed -----------------------------------------------------------


def test_a_json_array_of_row_arrays_is_a_table_with_its_header_row(cli, tmp_path: Path) -> None:
    data = {"title": "WeChat International", "subscribers": [ACCOUNTS_HEADER, ["wxid_a", "A", "+61 491 570 157"], [], ["wxid_b", "B", None]]}
    rec, out = built(cli, tmp_path, {"p.json": json.dumps(data)})
    assert [(a["wechat_id"], a["nickname"], a["at"]["sheet"], a["at"]["row"]) for a in rec["accounts"]] == [
        ("wxid_a", "A", "$.subscribers", 2), ("wxid_b", "B", "$.subscribers", 4),
    ]
    f = rec["files"][0]
    assert [(t["table"], t["header_row"], t["rows"]) for t in f["tables"]] == [("$.subscribers", 1, 2)]
    # the single value outside any table is listed, not skipped
    assert [(u["table"], u["rows"]) for u in f["unrecognised"]] == [("$", 1)]


def test_a_json_array_not_read_as_a_table_is_listed_and_one_of_values_is_a_failed_check(cli, tmp_path: Path) -> None:
    data = {
        "accounts": [{"WeChat ID": "wxid_a", "Nickname": "A"}],
        "codes": ["x", "y"],
        "extra": [["Acct", "When", "Where"], ["wxid_b", "2026-03-11 15:00:00", "203.0.113.8"]],
    }
    rec, out = built(cli, tmp_path, {"p.json": json.dumps(data)}, ZONE, "--keep-going")
    unrecognised = {u["table"]: u for u in rec["files"][0]["unrecognised"]}
    assert set(unrecognised) == {"$.codes", "$.extra"} and "note" not in unrecognised["$.codes"]
    assert "no recognised header row" in unrecognised["$.extra"]["note"]
    [failed] = wechat_checks(out, "wechat-file", "fail")
    assert failed.startswith("source/p.json: $.extra: 2 row(s) with values in two or more columns, but no recognised header row")


def test_a_json_lines_file_of_row_arrays_is_read(cli, tmp_path: Path) -> None:
    data = "\n".join(json.dumps(r) for r in (["WeChat ID", "Login Time", "IP Address"], ["wxid_a", "2026-03-11 14:02:09", "203.0.113.7"])) + "\n"
    rec, _ = built(cli, tmp_path, {"ip.jsonl": data})
    assert [(e["wechat_id"], e["time"]["utc"], e["at"]["row"]) for e in rec["logins"]] == [("wxid_a", "2026-03-11T06:02:09Z", 2)]


# --- 3: the PDF index marks phones ---------------------------------------------------------------------------------------


def test_the_pdf_index_marks_invalid_ambiguous_and_other_readings_of_phones(cli, tmp_path: Path) -> None:
    data = (
        "WeChat ID,Nickname,Linked Mobile\n"
        "wxid_invalid,I,+65 1234\n"
        "wxid_ambiguous,M,0033 6 12 34 56 78\n"
        "wxid_local,L,8613123456789\n"
        "wxid_plain,P,+61 491 570 157\n"
    )
    rec, out = built(cli, tmp_path, {"s.csv": data}, ZONE + 'phone_region = "TH"\n', "--keep-going")
    phones = {a["wechat_id"]: a["phone"] for a in rec["accounts"]}
    assert phones["wxid_invalid"]["valid"] is False and phones["wxid_ambiguous"]["readings"]
    text = pdf_text(out)
    assert "NOT A VALID NUMBER" in text and "AMBIGUOUS: not read" in text
    assert "+3612345678 a TH number" in text and "+33612345678 a number with its country code first" in text
    assert phones["wxid_local"]["read_as"] == "a number with its country code first"
    assert "read as a number with its country code first" in text and "+86: likely Weixin" in text
    assert text.count("NOT A VALID NUMBER") == 1 and text.count("AMBIGUOUS") == 1


def test_the_pdf_index_shows_a_possibly_plus_86_account_apart_from_the_likely_ones(cli, tmp_path: Path) -> None:
    data = "WeChat ID,Linked Mobile\nwxid_g,8613123456789\nwxid_cn,+86 131 2345 6780\n"
    rec, out = built(cli, tmp_path, {"s.csv": data}, ZONE + 'phone_region = "DE"\n')
    assert [a["weixin_likely"] for a in rec["accounts"]] == [True, True]
    text = pdf_text(out)
    assert "possibly +86: may be Weixin" in text and "+86: likely Weixin" in text
    assert "also reads as (country code first), possibly +86: +8613123456789" in text
    assert "Accounts linked to a mainland-China (+86) number: wxid_cn (+8613123456780)" in text
    assert "wxid_g (+8613123456789): possibly +86, its digits also make the +86 number" in text


# --- 4: merged cells named by row and column, bounded ---------------------------------------------------------------------


def test_merged_cells_are_named_by_row_and_column_and_the_message_is_bounded(cli, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "IP log"
    ws.append(["WeChat ID", "Login Time", "IP Address"])
    for i in range(90):  # 30 accounts, each merged over three rows
        ws.append([f"wxid_{i // 3}" if i % 3 == 0 else None, f"2026-03-11 14:{i // 60:02d}:{i % 60:02d}", "203.0.113.7"])
    for k in range(30):
        ws.merge_cells(f"A{2 + 3 * k}:A{4 + 3 * k}")
    rec, out = built(cli, tmp_path, {"p.xlsx": saved(wb)})
    assert [e["wechat_id"] for e in rec["logins"]][:4] == ["wxid_0", "wxid_0", "wxid_0", "wxid_1"]
    table = rec["files"][0]["tables"][0]
    assert table["merged_filled"]["rows"] == 60 and table["merged_filled"]["columns"] == "A"
    assert table["merged_filled"]["row_numbers"].startswith("3-4, 6-7, 9-10") and "and 10 more run(s)" in table["merged_filled"]["row_numbers"]
    [warning] = wechat_checks(out, "wechat-merged-cells", "warn")
    assert "'IP log' A2:A4, A5:A7" in warning and "and 10 more (30 range(s))" in warning
    assert "values filled into 60 row(s): 3-4, 6-7" in warning and "; column(s) A)" in warning
    assert len(warning) < 900


def test_html_spans_name_the_filled_rows_and_columns(cli, tmp_path: Path) -> None:
    html = (
        "<table><tr><th>WeChat ID</th><th>Login Time</th><th>Device</th><th>Event</th></tr>"
        '<tr><td rowspan="3">wxid_d</td><td>2026-03-11 14:02:09</td><td colspan="2">unknown</td></tr>'
        "<tr><td>2026-03-12 14:02:09</td><td>iPhone</td><td>login</td></tr>"
        "<tr><td>2026-03-13 14:02:09</td><td>iPad</td><td>login</td></tr></table>"
    )
    rec, out = built(cli, tmp_path, {"ip.html": html})
    assert [e["wechat_id"] for e in rec["logins"]] == ["wxid_d"] * 3
    assert rec["files"][0]["tables"][0]["merged_filled"] == {"rows": 3, "row_numbers": "2-4", "columns": "1, 4"}
    [warning] = wechat_checks(out, "wechat-merged-cells", "warn")
    assert "'table 1' (colspan/rowspan): values filled into 3 row(s): 2-4; column(s) 1, 4" in warning


# --- 5: wechat-empty names the source as the manifest gives it ---------------------------------------------------------


def test_the_empty_production_message_names_the_source_as_the_manifest_does(cli, tmp_path: Path) -> None:
    r, out = build(cli, tmp_path, {"cover.pdf": b"%PDF-1.4 synthetic"}, ZONE, "--keep-going")
    assert r.exit_code == 0, r.output
    [empty] = [c["detail"] for c in checks(out) if c["check"] == "wechat-empty"]
    assert empty.startswith("source: the production holds no account or login rows in any of its 1 file(s)")
    assert str(tmp_path) not in (out / "evidpack/sources.jsonl").read_text("utf-8")
    r, _ = build(cli, tmp_path / "again", {"cover.pdf": b"%PDF-1.4 synthetic"})
    fails(r, "source: the production holds no account or login rows")
    assert str(tmp_path) not in r.stderr


# --- 6: UTC offsets beyond those in use ---------------------------------------------------------------------------------


def test_a_time_stating_an_offset_beyond_minus_12_to_plus_14_is_a_row_problem(cli, tmp_path: Path) -> None:
    data = (
        "WeChat ID,Login Time,IP Address\n"
        "wxid_a,2026-03-11 14:02:09+15:00,203.0.113.7\n"
        "wxid_a,2026-03-11 14:02:09 GMT-13,203.0.113.7\n"
        "wxid_a,2026-03-11 14:02:09+14:00,203.0.113.7\n"
        "wxid_a,2026-03-11 14:02:09-12:00,203.0.113.7\n"
    )
    rec, out = built(cli, tmp_path / "k", {"ip.csv": data}, ZONE, "--keep-going")
    got = [(e["time"]["utc"], [p["field"] for p in e["problems"]]) for e in rec["logins"]]
    assert got == [(None, ["time"]), (None, ["time"]), ("2026-03-11T00:02:09Z", []), ("2026-03-12T02:02:09Z", [])]
    assert "UTC offset +15:00 is outside the offsets in use (-12:00 to +14:00)" in rec["logins"][0]["problems"][0]["problem"]
    assert "UTC offset -13:00 is outside" in rec["logins"][1]["problems"][0]["problem"]
    r, _ = build(cli, tmp_path / "s", {"ip.csv": data})
    fails(r, "ip.csv row 2", "time", "+15:00 is outside the offsets in use")


def test_a_header_stating_an_offset_beyond_those_in_use_makes_its_naive_times_row_problems(cli, tmp_path: Path) -> None:
    data = "WeChat ID,Login Time (UTC+15),IP Address\nwxid_a,2026-03-11 14:02:09,203.0.113.7\nwxid_a,2026-03-11 14:02:09Z,203.0.113.7\n"
    rec, out = built(cli, tmp_path, {"ip.csv": data}, ZONE, "--keep-going")
    naive, stated = rec["logins"]
    assert naive["time"]["utc"] is None and "UTC offset +15:00 is outside the offsets in use" in naive["problems"][0]["problem"]
    assert stated["time"]["utc"] == "2026-03-11T14:02:09Z" and stated["problems"] == []
    column = rec["files"][0]["tables"][0]["columns"][1]
    assert "zone" not in column and "+15:00 is outside" in column["zone_problem"]
    assert not wechat_checks(out, "wechat-zone")  # (no zone read from it to differ from the manifest's)


def test_a_manifest_zone_beyond_those_in_use_is_refused(cli, tmp_path: Path) -> None:
    r, _ = build(cli, tmp_path, {"ip.csv": "Login Time,IP\n2026-03-11 14:02:09,192.0.2.1\n"}, '[sources.options]\nzone = "+14:30"\n')
    fails(r, "options.zone", "'+14:30'", "UTC offset +14:30 is outside the offsets in use (-12:00 to +14:00)")
