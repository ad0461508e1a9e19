"""WeChat productions: fixes of the review6a findings (1904 workbooks, zones in
headers that cannot be read, data rows taken as headers or titles, phones
without '+', tables not read, digit strings too long for int()). Each test goes
through the CLI build and fails without its fix."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904
from test_wechat_production import ZONE, build, built, checks, fails, logins_csv, xlsx

SG = ZONE + 'phone_region = "SG"\n'


def verdicts(out: Path, name: str) -> list[str]:
    return [c["verdict"] for c in checks(out) if c["check"] == name]


def book_1904(rows: list[list[Any]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    ws.title = "IP log"
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- 1: the 1904 date system --------------------------------------------------------------------------------------


def test_a_serial_number_in_a_1904_workbook_is_read_with_the_1904_epoch(cli, tmp_path: Path) -> None:
    serial = 44266.5  # 1904-01-01 + 44266.5 days = 2025-03-12 12:00 local
    assert datetime(1904, 1, 1) + timedelta(days=serial) == datetime(2025, 3, 12, 12)
    rec, _ = built(cli, tmp_path, {"ip.xlsx": book_1904([["WeChat ID", "Login Time", "IP Address"], ["wxid_a", serial, "203.0.113.7"]])})
    assert rec["files"][0]["tables"][0]["date_system"] == "1904"
    t = rec["logins"][0]["time"]
    assert (t["form"], t["utc"], t["zone_source"]) == ("excel-serial", "2025-03-12T04:00:00Z", "manifest")


def test_a_serial_number_in_a_1900_workbook_and_in_csv_keeps_the_1900_epoch(cli, tmp_path: Path) -> None:
    book = xlsx({"IP log": [["Login Time", "IP"], [46092.5, "192.0.2.8"]]})
    rec, _ = built(cli, tmp_path / "x", {"ip.xlsx": book})
    assert rec["logins"][0]["time"]["utc"] == "2026-03-11T04:00:00Z"
    rec, _ = built(cli, tmp_path / "c", {"ip.csv": logins_csv("46092.5")})
    assert rec["logins"][0]["time"]["utc"] == "2026-03-11T04:00:00Z"


# --- 2: a zone in a time column's header that cannot be read --------------------------------------------------------


@pytest.mark.parametrize("header", ["Login Time (CST)", "Login Time (HKT)", "Login Time (UTC+8 Beijing)", "Login Time (UTC+08:00 Beijing Time)", "时间(CST)"])
def test_an_unreadable_zone_in_a_time_header_is_a_row_problem_never_the_manifest_zone(cli, tmp_path: Path, header: str) -> None:
    data = f"WeChat ID,{header},IP Address\nwxid_a,2026-03-11 14:02:09,203.0.113.7\nwxid_a,2026-03-11 14:02:09Z,203.0.113.7\n"
    rec, out = built(cli, tmp_path, {"ip.csv": data}, '[sources.options]\nzone = "UTC"\n', "--keep-going")
    naive, stated = rec["logins"]
    assert naive["time"] == {"original": "2026-03-11 14:02:09", "utc": None}
    assert [p["field"] for p in naive["problems"]] == ["time"] and header in naive["problems"][0]["problem"]
    assert "not a zone evidpack reads without guessing" in naive["problems"][0]["problem"]
    # a time that states its own zone needs none from the header
    assert (stated["time"]["utc"], stated["time"]["zone_source"], stated["problems"]) == ("2026-03-11T14:02:09Z", "value", [])
    assert verdicts(out, "wechat-rows") == ["fail"]
    assert "zone_problem" in rec["files"][0]["tables"][0]["columns"][1]


def test_an_unreadable_header_zone_stops_the_build_naming_the_row(cli, tmp_path: Path) -> None:
    r, _ = build(cli, tmp_path, {"ip.csv": "Login Time (CST),IP\n2026-03-11 14:02:09,192.0.2.1\n"})
    fails(r, "ip.csv row 2", "time", "'CST'")


def test_a_date_layout_in_a_time_header_is_not_a_zone(cli, tmp_path: Path) -> None:
    data = "Login Time (YYYY-MM-DD HH:MM:SS),IP\n2026-03-11 14:02:09,192.0.2.1\n"
    rec, _ = built(cli, tmp_path, {"ip.csv": data})
    assert rec["logins"][0]["time"]["utc"] == "2026-03-11T06:02:09Z" and rec["logins"][0]["problems"] == []


# --- 3 and 9: data rows taken as a header or a title ----------------------------------------------------------------

SUBSCRIBERS = "WeChat ID,Nickname,Linked Mobile,Email\nwxid_alice,Alice,+61 491 570 157,a@example.com\n"


def test_a_data_row_holding_two_alias_words_is_not_a_header(cli, tmp_path: Path) -> None:
    data = SUBSCRIBERS + "username,Name,+8613123456789,u@example.com\nwxid_dragon,Dragon,+86 131 2345 6780,d@example.com\n"
    rec, out = built(cli, tmp_path, {"s.csv": data})
    assert [(a["wechat_id"], a["phone"]["e164"], a["weixin_likely"], a["other"]) for a in rec["accounts"]] == [
        ("wxid_alice", "+61491570157", False, {}),
        ("username", "+8613123456789", True, {}),
        ("wxid_dragon", "+8613123456780", True, {}),
    ]
    assert len(rec["files"][0]["tables"]) == 1 and verdicts(out, "wechat-rows") == ["pass"]


def test_a_row_of_only_alias_words_weaker_than_the_header_is_data_with_a_problem(cli, tmp_path: Path) -> None:
    data = SUBSCRIBERS + "username,Name,,\nwxid_dragon,Dragon,+86 131 2345 6780,d@example.com\n"
    rec, out = built(cli, tmp_path, {"s.csv": data}, ZONE, "--keep-going")
    assert [a["wechat_id"] for a in rec["accounts"]] == ["wxid_alice", "username", "wxid_dragon"]
    [problem] = rec["accounts"][1]["problems"]
    assert problem["field"] == "(row)" and "like a header row" in problem["problem"]
    assert rec["accounts"][2]["weixin_likely"] and verdicts(out, "wechat-rows") == ["fail"]


def test_a_later_header_of_the_other_kind_or_a_repeated_header_starts_a_section(cli, tmp_path: Path) -> None:
    data = (
        SUBSCRIBERS
        + "\nIP log\nWeChat ID,Login Time,IP Address\nwxid_alice,2026-03-11 14:02:09,203.0.113.7\n"
        + "WeChat ID,Login Time,IP Address\nwxid_alice,2026-03-11 15:02:09,203.0.113.8\n"
    )
    rec, out = built(cli, tmp_path, {"p.csv": data})
    tables = rec["files"][0]["tables"]
    assert [(t["kind"], t["header_row"], t["rows"], t.get("title"), t.get("title_row")) for t in tables] == [
        ("accounts", 1, 1, None, None),
        ("logins", 5, 1, "IP log", 4),
        ("logins", 7, 1, None, None),
    ]
    assert len(rec["logins"]) == 2 and verdicts(out, "wechat-rows") == ["pass"]


def test_the_header_repeated_word_for_word_starts_a_section_even_with_an_unknown_column(cli, tmp_path: Path) -> None:
    header = "WeChat ID,Login Time,IP Address,Remarks\n"
    data = header + "wxid_a,2026-03-11 14:02:09,203.0.113.7,\n" + header + "wxid_a,2026-03-11 15:02:09,203.0.113.8,x\n"
    rec, out = built(cli, tmp_path, {"p.csv": data})
    assert [t["header_row"] for t in rec["files"][0]["tables"]] == [1, 3] and len(rec["logins"]) == 2
    assert verdicts(out, "wechat-rows") == ["pass"]


def test_a_one_cell_data_row_just_before_a_later_header_is_never_dropped(cli, tmp_path: Path) -> None:
    data = SUBSCRIBERS + "wxid_deleted_suspect,,,\nWeChat ID,Login Time,IP Address\nwxid_alice,2026-03-11 14:02:09,203.0.113.7\n"
    rec, out = built(cli, tmp_path, {"p.csv": data}, ZONE, "--keep-going")
    assert [a["wechat_id"] for a in rec["accounts"]] == ["wxid_alice", "wxid_deleted_suspect"]
    [problem] = rec["accounts"][1]["problems"]
    assert problem["field"] == "(row)" and "it may be that section's title" in problem["problem"]
    assert rec["accounts"][1]["at"]["row"] == 3 and verdicts(out, "wechat-rows") == ["fail"]
    assert "title" not in rec["files"][0]["tables"][1]


# --- 6: phones without '+' ----------------------------------------------------------------------------------------------


def test_phones_with_the_international_prefix_or_a_country_code_but_no_plus(cli, tmp_path: Path) -> None:
    data = (
        "WeChat ID,Nickname,Linked Mobile\n"
        "wxid_sg,Local,9123 4567\n"
        "wxid_a,A,0086 131 2345 6789\n"
        "wxid_b,B,8613123456789\n"
        "wxid_c,C,0065 9123 4567\n"
    )
    rec, out = built(cli, tmp_path, {"s.csv": data}, SG)
    got = [(a["wechat_id"], a["phone"]["e164"], a["phone"]["region"], a["weixin_likely"]) for a in rec["accounts"]]
    assert got == [
        ("wxid_sg", "+6591234567", "SG", False),
        ("wxid_a", "+8613123456789", "CN", True),
        ("wxid_b", "+8613123456789", "CN", True),
        ("wxid_c", "+6591234567", "SG", False),
    ]
    assert "international prefix 00" in rec["accounts"][1]["phone"]["read_as"]
    assert [j["wechat_id"] for j in rec["jurisdiction"]] == ["wxid_a", "wxid_b"]
    assert verdicts(out, "wechat-jurisdiction") == ["warn", "warn"]


def test_a_phone_with_letters_is_a_problem_and_a_plus_86_one_keeps_the_jurisdiction_note(cli, tmp_path: Path) -> None:
    data = "WeChat ID,Linked Mobile\nwxid_d,+86 131 2345 6789 (old)\n"
    rec, out = built(cli, tmp_path, {"s.csv": data}, SG, "--keep-going")
    [d] = rec["accounts"]
    assert d["phone"] == {"as_given": "+86 131 2345 6789 (old)", "e164": None}
    assert d["problems"][0]["field"] == "phone" and "letters" in d["problems"][0]["problem"]
    assert d["weixin_likely"] is True and "may be a mainland-China (+86) number" in d["jurisdiction_note"]
    assert verdicts(out, "wechat-jurisdiction") == ["warn"] and verdicts(out, "wechat-rows") == ["fail"]


def test_a_number_that_is_not_valid_is_a_row_problem(cli, tmp_path: Path) -> None:
    data = "WeChat ID,Linked Mobile\nwxid_e,+972 52 123 4567\nwxid_f,+61 491 570 157\n"
    rec, out = built(cli, tmp_path, {"s.csv": data}, ZONE, "--keep-going")
    e, f = rec["accounts"]
    assert e["phone"]["e164"] == "+972521234567" and e["phone"]["valid"] is False  # kept as read
    assert [p["field"] for p in e["problems"]] == ["phone"] and "not a valid number" in e["problems"][0]["problem"]
    assert f["problems"] == [] and verdicts(out, "wechat-rows") == ["fail"]


def test_a_valid_national_number_stays_national_and_a_plus_86_reading_of_its_digits_is_flagged(cli, tmp_path: Path) -> None:
    data = "WeChat ID,Linked Mobile\nwxid_g,8613123456789\n"
    rec, out = built(cli, tmp_path, {"s.csv": data}, ZONE + 'phone_region = "DE"\n', "--keep-going")
    [g] = rec["accounts"]
    assert g["phone"]["e164"] == "+498613123456789" and g["phone"]["also_reads_as"] == "+8613123456789"
    assert g["problems"] == [] and verdicts(out, "wechat-rows") == ["pass"]
    assert g["weixin_likely"] is True and rec["jurisdiction"][0]["phone"] == "+8613123456789"


def test_a_chinese_national_mobile_with_region_cn_is_not_ambiguous(cli, tmp_path: Path) -> None:
    """Its digits also make a valid US number (+1 312 ...): read as what the region says."""
    data = "WeChat ID,Linked Mobile\nwxid_h,13123456789\n"
    rec, out = built(cli, tmp_path, {"s.csv": data}, ZONE + 'phone_region = "CN"\n')
    [h] = rec["accounts"]
    assert h["phone"]["e164"] == "+8613123456789" and h["phone"]["also_reads_as"].startswith("+1")
    assert h["problems"] == [] and h["weixin_likely"] is True


# --- 10 (part): digit strings too long for int() ---------------------------------------------------------------------


def test_a_port_of_thousands_of_digits_is_a_row_problem_not_a_crash(cli, tmp_path: Path) -> None:
    digits = "1" * 5000
    data = f"WeChat ID,Login Time,IP Address,Port\nwxid_a,2026-03-11 14:02:09,203.0.113.7,{digits}\nwxid_a,2026-03-11 14:02:09,203.0.113.7:{digits},\n"
    rec, _ = built(cli, tmp_path, {"ip.csv": data}, ZONE, "--keep-going")
    assert [[p["field"] for p in e["problems"]] for e in rec["logins"]] == [["port"], ["ip"]]
    assert all("not a port number" in e["problems"][0]["problem"] for e in rec["logins"])


# --- 12: tables not read -----------------------------------------------------------------------------------------------


def test_a_key_value_subscriber_sheet_is_read_as_an_account(cli, tmp_path: Path) -> None:
    book = xlsx({
        "Subscriber": [["Subscriber information"], ["WeChat ID", "wxid_dragon"], ["Nickname", "Dragon"], ["Linked Mobile", "+86 131 2345 6789"],
                       ["Registration Time", "2019-05-01 10:00:00"], ["Remark", "none"]],
        "IP log": [["WeChat ID", "Login Time", "IP Address"], ["wxid_dragon", "2026-03-11 14:02:09", "203.0.113.7"]],
    })
    rec, out = built(cli, tmp_path, {"p.xlsx": book})
    [a] = rec["accounts"]
    assert (a["wechat_id"], a["nickname"], a["phone"]["e164"], a["weixin_likely"], a["registration_time"]["utc"], a["other"]) == (
        "wxid_dragon", "Dragon", "+8613123456789", True, "2019-05-01T02:00:00Z", {"Remark": "none"},
    )
    assert a["at"]["row"] == 2 and a["logins"] == 1
    table = rec["files"][0]["tables"][0]
    assert (table["layout"], table["kind"], table["rows"], table["preamble"]) == ("key/value", "accounts", 1, [{"row": 1, "text": "Subscriber information"}])
    assert rec["files"][0]["unrecognised"] == [] and verdicts(out, "wechat-jurisdiction") == ["warn"]


def test_a_sheet_of_values_without_a_header_beside_a_read_one_is_a_failed_check(cli, tmp_path: Path) -> None:
    book = xlsx({
        "IP log": [["WeChat ID", "Login Time", "IP Address"], ["wxid_a", "2026-03-11 14:02:09", "203.0.113.7"]],
        "Extra": [["Acct", "When", "Where"], ["wxid_b", "2026-03-11 15:00:00", "203.0.113.8"]],
        "Notes": [["All times are UTC+8."]],
    })
    rec, out = built(cli, tmp_path, {"p.xlsx": book}, ZONE, "--keep-going")
    unrecognised = {u["table"]: u for u in rec["files"][0]["unrecognised"]}
    assert "no recognised header row" in unrecognised["Extra"]["note"] and "note" not in unrecognised["Notes"]
    failed = [c["detail"] for c in checks(out) if c["check"] == "wechat-file" and c["verdict"] == "fail"]
    assert len(failed) == 1 and "sheet 'Extra'" in failed[0] and "2 row(s)" in failed[0]
    r, _ = build(cli, tmp_path / "strict", {"p.xlsx": book})
    fails(r, "p.xlsx", "sheet 'Extra'", "no recognised header row")


def test_the_account_columns_of_a_login_table_are_read_as_an_account(cli, tmp_path: Path) -> None:
    data = (
        "WeChat ID,Nickname,Linked Mobile,Login Time,IP Address\n"
        "wxid_dragon,Dragon,+86 131 2345 6789,2026-03-11 14:02:09,203.0.113.7\n"
        "wxid_dragon,Dragon,+86 131 2345 6789,2026-03-11 15:02:09,203.0.113.8\n"
    )
    rec, out = built(cli, tmp_path, {"p.csv": data})
    [a] = rec["accounts"]
    assert (a["wechat_id"], a["nickname"], a["phone"]["e164"], a["weixin_likely"], a["at"]["row"], a["logins"]) == (
        "wxid_dragon", "Dragon", "+8613123456789", True, 2, 2,
    )
    assert "login table" in a["read_from"] and a["other"] == {} and a["problems"] == []
    assert len(rec["logins"]) == 2 and rec["logins"][0]["other"] == {"Nickname": "Dragon", "Linked Mobile": "+86 131 2345 6789"}
    assert verdicts(out, "wechat-jurisdiction") == ["warn"] and verdicts(out, "wechat-rows") == ["pass"]


def test_a_json_object_in_a_field_is_kept_as_json_text_with_a_problem(cli, tmp_path: Path) -> None:
    doc = {"subscriber": {"WeChat ID": "wxid_a", "Nickname": {"text": "Dragon"}, "Linked Mobile": "+65 9123 4567"}}
    rec, _ = built(cli, tmp_path, {"p.json": json.dumps(doc)}, ZONE, "--keep-going")
    [a] = rec["accounts"]
    assert a["nickname"] == '{"text": "Dragon"}'
    assert [p["field"] for p in a["problems"]] == ["nickname"] and "JSON object" in a["problems"][0]["problem"]
