"""Kind ``wechat-production``: every file kept byte for byte; CSV, XLSX, JSON and
HTML read into accounts and logins with exact values; no row ever dropped; bad
input is one line naming file and row, or a failed check with --keep-going."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import REPO, build_args, manifest_text, run_cli, write_tree
from test_bad_input import one_line_error

ZONE = '[sources.options]\nzone = "+08:00"\n'
HEADER = "WeChat ID,Nickname,Linked Mobile,Email,Registration Country,Registration Time\n"
ALICE = "wxid_example_alice,Alice,+61 491 570 157,alice@example.com,AU,2020-01-02 03:04:05\n"


def case(tmp_path: Path, files: dict[str, Any], options: str = ZONE, kind: str = "wechat-production") -> Path:
    write_tree(tmp_path / "source", files)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"source"', kind=kind, extra_source=options), "utf-8")
    return m


def build(cli, tmp_path: Path, files: dict[str, Any], options: str = ZONE, *extra: str, kind: str = "wechat-production") -> tuple[Any, Path]:
    out = tmp_path / "out/B"
    return cli(*build_args(case(tmp_path, files, options, kind), out, *extra)), out


def built(cli, tmp_path: Path, files: dict[str, Any], options: str = ZONE, *extra: str, kind: str = "wechat-production") -> tuple[dict[str, Any], Path]:
    """Build a one-source case and return the source's derived record."""
    r, out = build(cli, tmp_path, files, options, *extra, kind=kind)
    assert r.exit_code == 0, r.output
    name = "wechat" if kind == "wechat-production" else kind
    return json.loads((out / f"evidpack/records/S01-{name}.json").read_text("utf-8")), out


def fails(r: Any, *needles: str) -> str:
    one_line_error(r, *needles)
    return r.stderr.strip()


def checks(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "evidpack/sources.jsonl").read_text("utf-8").splitlines()[0])["checks"]


def xlsx(sheets: dict[str, list[list[Any]]], hidden: tuple[str, ...] = ()) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = "hidden"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def logins_csv(*times: str) -> str:
    return "Login Time,IP Address\n" + "".join(f"{t},192.0.2.1\n" for t in times)


# --- the example production ----------------------------------------------------------------------------------

EXAMPLE_OPTIONS = """[sources.options]
zone = "+08:00"
date_order = "DMY"
[sources.options.request]
type = "preservation"
reference = "WCI-LE-2026-000123 (fictional)"
sent_at = "2026-03-10T09:00:00+08:00"
received_at = "2026-03-11T17:30:00+08:00"
"""


def build_example(tmp: Path, folder: str, kind: str, options: str = "") -> Path:
    """Build ``examples/<folder>`` as the one source of a case; returns the bundle."""
    m = tmp / "case.toml"
    m.write_text(manifest_text(f'"{REPO}/examples/{folder}"', kind=kind, extra_source=options))
    r = run_cli(*build_args(m, tmp / "B"))
    assert r.exit_code == 0, r.output
    return tmp / "B"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_example(tmp_path_factory.mktemp("example"), "wechat-production", "wechat-production", EXAMPLE_OPTIONS)


def example_record(example: Path) -> dict[str, Any]:
    return json.loads((example / "evidpack/records/S01-wechat.json").read_text("utf-8"))


def test_every_production_file_is_kept_byte_for_byte(example: Path) -> None:
    items = [json.loads(x) for x in (example / "evidpack/items.jsonl").read_text().splitlines()]
    names = sorted(Path(i["path"]).name for i in items)
    assert names == ["WCI-LE-2026-000123-cover-letter.pdf", "ip-log.xlsx", "subscriber-information.csv"]
    for i in items:
        src = REPO / "examples/wechat-production" / Path(i["path"]).name
        assert hashlib.sha256(src.read_bytes()).hexdigest() == i["sha256"] == hashlib.sha256((example / i["path"]).read_bytes()).hexdigest()


def test_subscriber_fields_are_exact(example: Path) -> None:
    accounts = {a["wechat_id"]: a for a in example_record(example)["accounts"]}
    dragon = accounts["wxid_example_dragon"]
    assert dragon["nickname"].encode("utf-8") == "小龙\u200b🐉".encode("utf-8")
    assert dragon["nickname_invisible_characters"] == ["U+200B ZERO WIDTH SPACE"]
    assert dragon["phone"] == {"as_given": "+86 131 2345 6789", "e164": "+8613123456789", "country_code": 86, "region": "CN", "valid": True}
    assert dragon["registration_country"] == "CN"
    assert dragon["registration_time"] == {
        "original": "2019-05-01 10:00:00", "form": "ymd", "zone": "+08:00", "zone_source": "header", "utc": "2019-05-01T02:00:00Z",
    }
    assert dragon["at"] == {"item": "E0003", "file": "subscriber-information.csv", "member": None, "sheet": None, "row": 6}
    plum = accounts["wxid_example_plum"]
    assert plum["nickname"] == "Mei 梅花🌸" and plum["email"] == "plum@example.com"
    assert plum["phone"]["e164"] == "+61491570156" and plum["phone"]["region"] == "AU"
    assert accounts["wxid_example_kestrel"]["phone"]["e164"] == "+12025550143"


def test_login_rows_are_read_in_the_stated_zone(example: Path) -> None:
    logins = example_record(example)["logins"]
    got = [(entry["time"]["original"], entry["time"]["utc"], entry["time"]["zone_source"], entry["ip"], entry["port"], entry["ip_version"]) for entry in logins]
    assert got == [
        ("2026-03-11 14:02:09", "2026-03-11T06:02:09Z", "manifest", "203.0.113.7", 52311, 4),
        ("2026-03-10 18:45:00", "2026-03-10T10:45:00Z", "manifest", "2001:db8:85a3::8a2e:370:7334", 443, 6),
        ("03/02/2026 10:15:00", "2026-02-03T02:15:00Z", "manifest", "198.51.100.23", None, 4),
        ("2026-03-11 09:00:00", "2026-03-11T01:00:00Z", "manifest", "192.0.2.55", None, 4),
    ]
    assert logins[1]["ip_as_given"] == "[2001:db8:85a3::8a2e:370:7334]:443"
    assert logins[0]["at"] == {"item": "E0002", "file": "ip-log.xlsx", "member": None, "sheet": "IP log", "row": 2}
    assert [e["device"] for e in logins][:1] == ["iPhone 14 (iOS 17.3)"] and logins[3]["event"] == "logout"


def test_plus_86_account_carries_the_jurisdiction_note_everywhere(example: Path) -> None:
    rec = example_record(example)
    assert [j["wechat_id"] for j in rec["jurisdiction"]] == ["wxid_example_dragon"]
    note = rec["jurisdiction"][0]["note"]
    assert "Weixin" in note and "mutual legal assistance" in note and "central authority" in note
    warn = [c for c in checks(example) if c["check"] == "wechat-jurisdiction"]
    assert len(warn) == 1 and warn[0]["verdict"] == "warn" and "+8613123456789" in warn[0]["detail"]
    db = sqlite3.connect(example / "evidpack/catalogue.sqlite")
    assert db.execute("select wechat_id, phone_e164, weixin_likely from wechat_accounts where weixin_likely").fetchall() == [
        ("wxid_example_dragon", "+8613123456789", 1)
    ]


def test_the_example_has_no_time_after_it_was_received(example: Path) -> None:
    assert not [c for c in checks(example) if c["check"] == "wechat-after-received"]


def test_a_time_after_the_production_was_received_is_a_warning(cli, tmp_path: Path) -> None:
    # 03/04/2026 read day first is 3 April: after a production received in March,
    # so the date order (or the zone, or received_at) is wrong.
    request = '[sources.options.request]\ntype = "preservation"\nsent_at = "2026-03-01T00:00:00Z"\nreceived_at = "2026-03-11T09:30:00Z"\n'
    data = logins_csv("2026-03-11 14:02:09", "03/04/2026 10:15:00", "2026-03-11 18:45:00")
    rec, out = built(cli, tmp_path, {"ip.csv": data}, ZONE + 'date_order = "DMY"\n' + request)
    (late,) = [c for c in checks(out) if c["check"] == "wechat-after-received"]
    assert late["verdict"] == "warn"
    assert late["detail"].startswith("2 time(s) are later than the production was received (2026-03-11T09:30:00Z), which cannot be: ")
    assert "ip.csv row 3: login time 2026-04-03T02:15:00Z (read as '03/04/2026 10:15:00')" in late["detail"]
    assert "ip.csv row 4: login time 2026-03-11T10:45:00Z" in late["detail"]
    assert [e["time"]["utc"] for e in rec["logins"]] == ["2026-03-11T06:02:09Z", "2026-04-03T02:15:00Z", "2026-03-11T10:45:00Z"]  # kept as read
    # Read month first, the same rows are all before the production was received.
    rec, out = built(cli, tmp_path / "mdy", {"ip.csv": logins_csv("03/04/2026 10:15:00")}, ZONE + 'date_order = "MDY"\n' + request)
    assert not [c for c in checks(out) if c["check"] == "wechat-after-received"]


def test_request_timeline_and_received_custody_event(example: Path) -> None:
    req = example_record(example)["request"]
    assert req["sent_at"] == "2026-03-10T01:00:00Z" and req["received_at"] == "2026-03-11T09:30:00Z"
    assert (req["response_hours"], req["response_time"], req["commitment_hours"], req["commitment"]) == (32.5, "1 d 8 h 30 min", 48, "met")
    events = [json.loads(line) for line in (example / "evidpack/custody.jsonl").read_text().splitlines()]
    received = [e for e in events if e["action"] == "received"]
    assert len(received) == 1 and received[0]["details"]["request"]["reference"] == "WCI-LE-2026-000123 (fictional)"
    facts = json.loads((example / "evidpack/sources.jsonl").read_text().splitlines()[0])["facts"]["wechat"]
    assert facts["request"]["commitment"] == "met" and facts["accounts"] == 3 and facts["logins"] == 4


def test_catalogue_tables_and_preamble(example: Path) -> None:
    db = sqlite3.connect(example / "evidpack/catalogue.sqlite")
    assert db.execute("select count(*) from wechat_logins").fetchone() == (4,)
    assert db.execute("select nickname from wechat_accounts where wechat_id = 'wxid_example_dragon'").fetchone() == ("小龙\u200b🐉",)
    files = {f["file"]: f for f in example_record(example)["files"]}
    csv_table = files["subscriber-information.csv"]["tables"][0]
    assert csv_table["header_row"] == 5 and csv_table["preamble"][1] == {"row": 2, "text": "Request reference: WCI-LE-2026-000123"}
    assert files["subscriber-information.csv"]["encoding"] == "utf-8-sig"
    assert files["ip-log.xlsx"]["unrecognised"] == [{"table": "Notes", "rows": 1, "state": "visible", "date_system": "1900"}]
    assert files["WCI-LE-2026-000123-cover-letter.pdf"]["read_as"] == "not read"


def test_the_example_build_is_reproducible(example: Path, tmp_path: Path) -> None:
    again = build_example(tmp_path, "wechat-production", "wechat-production", EXAMPLE_OPTIONS)
    for rel in ("evidpack/records/S01-wechat.json", "evidpack/items.jsonl", "tagmanifest-sha256.txt.sig"):
        assert (again / rel).read_bytes() == (example / rel).read_bytes()


# --- CSV in its many shapes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        (HEADER + ALICE).encode(),
        ("\ufeff" + HEADER + ALICE).encode(),
        (HEADER + ALICE).replace(",", ";").encode(),
        (HEADER + ALICE).replace(",", "\t").encode(),
        (HEADER + ALICE).replace(",", "|").encode(),
        ("\ufeff" + HEADER + ALICE).encode("utf-16-le"),
        (HEADER + ALICE).encode("utf-16"),
        (HEADER + ALICE).encode("utf-16-le"),
        ("Law enforcement response\nLegend: * = linked\n\n" + HEADER + ALICE).replace("\n", "\r\n").encode(),
    ],
    ids=["utf8", "bom", "semicolon", "tab", "bar", "utf16le-bom", "utf16", "utf16le-no-bom", "preamble-crlf"],
)
def test_csv_delimiters_encodings_and_preambles(cli, tmp_path: Path, data: bytes) -> None:
    rec, _ = built(cli, tmp_path, {"subscriber.csv": data})
    [alice] = rec["accounts"]
    assert (alice["wechat_id"], alice["nickname"], alice["phone"]["e164"], alice["registration_time"]["utc"]) == (
        "wxid_example_alice", "Alice", "+61491570157", "2020-01-01T19:04:05Z",
    )
    text = data.decode(rec["files"][0]["encoding"].split(" ")[0])
    assert alice["at"]["row"] == text[: text.index("wxid_example_alice")].count("\n") + 1


def test_headers_are_matched_by_name_not_position(cli, tmp_path: Path) -> None:
    data = "Registration Country,e-mail,WEIXIN_ID,手机号,昵称\nAU,a@example.com,wxid_example_a,+61491570158,阿\n"
    rec, _ = built(cli, tmp_path, {"s.csv": data})
    [a] = rec["accounts"]
    assert (a["wechat_id"], a["email"], a["phone"]["e164"], a["nickname"], a["registration_country"]) == (
        "wxid_example_a", "a@example.com", "+61491570158", "阿", "AU",
    )


def test_explicit_column_mapping_from_the_manifest(cli, tmp_path: Path) -> None:
    options = ZONE + '[sources.options.columns]\nwechat_id = "Acct No."\nnickname = ["Handle", "Alias shown"]\ntime = "When (local)"\n'
    data = "Acct No.,Alias shown,When (local),IP\nwxid_example_b,Bee,2026-03-11 14:02:09,192.0.2.9\n"
    rec, _ = built(cli, tmp_path, {"s.csv": data}, options)
    [login] = rec["logins"]
    assert (login["wechat_id"], login["time"]["utc"], login["other"]) == ("wxid_example_b", "2026-03-11T06:02:09Z", {"Alias shown": "Bee"})
    cols = rec["files"][0]["tables"][0]["columns"]
    assert cols[0] == {"column": 1, "header": "Acct No.", "field": "wechat_id", "matched_by": "manifest"}


def test_unknown_columns_and_extra_cells_are_kept(cli, tmp_path: Path) -> None:
    data = "WeChat ID,Nickname,Status\nwxid_example_c,Cee,active,surplus\n"
    r, out = build(cli, tmp_path, {"s.csv": data}, ZONE, "--keep-going")
    assert r.exit_code == 0
    [c] = json.loads((out / "evidpack/records/S01-wechat.json").read_text())["accounts"]
    assert c["other"] == {"Status": "active", "(cells beyond the header)": ["surplus"]}
    assert c["problems"][0]["field"] == "(row)"


# --- times, phones and IPs through the whole pipeline -------------------------------------------------------------


def test_time_forms_in_one_column(cli, tmp_path: Path) -> None:
    data = logins_csv(
        "2026-03-11 14:02:09 UTC", "2026-03-11T14:02:09Z", "2026-03-11 14:02:09+08:00",
        "2026-03-11 14:02:09", "1773208929", "1773208929123", "46092.58482638889",
    )
    rec, _ = built(cli, tmp_path, {"ip.csv": data})
    assert [(e["time"]["utc"], e["time"]["zone"], e["time"]["zone_source"]) for e in rec["logins"]] == [
        ("2026-03-11T14:02:09Z", "UTC", "value"),
        ("2026-03-11T14:02:09Z", "UTC", "value"),
        ("2026-03-11T06:02:09Z", "+08:00", "value"),
        ("2026-03-11T06:02:09Z", "+08:00", "manifest"),
        ("2026-03-11T06:02:09Z", "UTC", "epoch"),
        ("2026-03-11T06:02:09.123Z", "UTC", "epoch"),
        ("2026-03-11T06:02:09Z", "+08:00", "manifest"),
    ]


def test_zone_in_the_header_is_used_and_a_conflict_with_the_manifest_is_a_warning(cli, tmp_path: Path) -> None:
    data = "Login Time (UTC),IP\n2026-03-11 14:02:09,192.0.2.1\n"
    rec, out = built(cli, tmp_path, {"ip.csv": data})
    assert rec["logins"][0]["time"]["utc"] == "2026-03-11T14:02:09Z" and rec["logins"][0]["time"]["zone_source"] == "header"
    assert [c["verdict"] for c in checks(out) if c["check"] == "wechat-zone"] == ["warn"]


def test_a_naive_time_without_a_stated_zone_stops_the_build_naming_file_and_row(cli, tmp_path: Path) -> None:
    r, out = build(cli, tmp_path, {"ip.csv": logins_csv("2026-03-11 14:02:09")}, "")
    text = fails(r, "ip.csv row 2", "time", "never guesses a zone", "--keep-going")
    assert not out.exists()
    assert "evidpack/records" not in text  # (no record was written: the build stopped)


def test_with_keep_going_a_bad_row_is_kept_and_counted(cli, tmp_path: Path) -> None:
    data = logins_csv("2026-03-11 14:02:09", "2026-03-11 15:00:00 UTC")
    rec, out = built(cli, tmp_path, {"ip.csv": data}, "", "--keep-going")
    first, second = rec["logins"]
    assert first["time"] == {"original": "2026-03-11 14:02:09", "utc": None}
    assert first["problems"][0]["field"] == "time" and second["problems"] == []
    assert rec["parse_errors"] == [
        {"item": "E0001", "file": "ip.csv", "member": None, "sheet": None, "row": 2, "field": "time",
         "value": "2026-03-11 14:02:09", "problem": first["problems"][0]["problem"]}
    ]
    assert rec["counts"] == {"accounts": 0, "logins": 2, "rows": 2, "rows_with_problems": 1, "parse_errors": 1, "weixin_likely": 0}
    failed = [c for c in checks(out) if c["verdict"] == "fail"]
    assert [c["check"] for c in failed] == ["wechat-rows"] and "1 of 2 rows" in failed[0]["detail"]
    assert "see evidpack/records/S01-wechat.json" in failed[0]["detail"]
    db = sqlite3.connect(out / "evidpack/catalogue.sqlite")
    assert db.execute("select row, field from wechat_parse_errors").fetchall() == [(2, "time")]


@pytest.mark.parametrize("order, utc", [("DMY", "2026-04-03T02:00:00Z"), ("MDY", "2026-03-04T02:00:00Z")])
def test_day_month_order_comes_from_the_manifest(cli, tmp_path: Path, order: str, utc: str) -> None:
    rec, _ = built(cli, tmp_path, {"ip.csv": logins_csv("03/04/2026 10:00")}, ZONE + f'date_order = "{order}"\n')
    assert rec["logins"][0]["time"]["utc"] == utc


def test_ambiguous_day_month_without_order_is_a_row_problem(cli, tmp_path: Path) -> None:
    r, _ = build(cli, tmp_path, {"ip.csv": logins_csv("03/04/2026 10:00")})
    fails(r, "ip.csv row 2", "day/month order is ambiguous", "options.date_order")


def test_no_row_is_ever_dropped(cli, tmp_path: Path) -> None:
    data = (
        HEADER
        + "wxid_example_d,Dee,+61 491 570 159,,AU,2020-01-02 03:04:05\n"
        + "wxid_example_e,Eee,13800138000,,,\n"
        + ",No id,,,,\n"
        + "End of report,,,,,\n"
        + "\n"
        + "wxid_example_f,Eff,+61 491 570 156,,AU,not a time\n"
    )
    rec, _ = built(cli, tmp_path, {"s.csv": data}, ZONE, "--keep-going")
    assert [(a["wechat_id"], a["at"]["row"], [p["field"] for p in a["problems"]]) for a in rec["accounts"]] == [
        ("wxid_example_d", 2, []),
        ("wxid_example_e", 3, ["phone"]),
        (None, 4, ["wechat_id"]),
        ("End of report", 5, ["wechat_id"]),
        ("wxid_example_f", 7, ["registration_time"]),
    ]
    assert rec["accounts"][1]["phone"] == {"as_given": "13800138000", "e164": None}
    assert rec["counts"]["rows_with_problems"] == 4 and len(rec["parse_errors"]) == 4


@pytest.mark.parametrize(
    "option, given, e164, region",
    [
        ('phone_region = "SG"', "8123 4567", "+6581234567", "SG"),
        ("phones_have_country_code = true", "86-13123456789", "+8613123456789", "CN"),
        ("phones_have_country_code = true", "0086 13123456789", "+8613123456789", "CN"),
    ],
)
def test_phones_without_plus_follow_the_manifest(cli, tmp_path: Path, option: str, given: str, e164: str, region: str) -> None:
    rec, _ = built(cli, tmp_path, {"s.csv": f"WeChat ID,Phone\nwxid_example_g,{given}\n"}, ZONE + option + "\n")
    assert rec["accounts"][0]["phone"]["e164"] == e164 and rec["accounts"][0]["phone"]["region"] == region
    assert rec["accounts"][0]["weixin_likely"] is (region == "CN")


def test_ip_forms_and_ports(cli, tmp_path: Path) -> None:
    data = (
        "Login Time,IP Address,Port\n"
        "2026-03-11 14:02:09,203.0.113.9,\n"
        "2026-03-11 14:02:09,203.0.113.9:8080,\n"
        "2026-03-11 14:02:09,2001:db8::9,\n"
        "2026-03-11 14:02:09,[2001:db8::9]:443,\n"
        "2026-03-11 14:02:09,2001:db8::9,5222\n"
        "2026-03-11 14:02:09,::ffff:203.0.113.9,\n"
        "2026-03-11 14:02:09,203.0.113.9:8080,9090\n"
        "2026-03-11 14:02:09,203.0.113.999,\n"
    )
    rec, _ = built(cli, tmp_path, {"ip.csv": data}, ZONE, "--keep-going")
    got = [(e["ip"], e["ip_version"], e["port"], [p["field"] for p in e["problems"]]) for e in rec["logins"]]
    assert got == [
        ("203.0.113.9", 4, None, []),
        ("203.0.113.9", 4, 8080, []),
        ("2001:db8::9", 6, None, []),
        ("2001:db8::9", 6, 443, []),
        ("2001:db8::9", 6, 5222, []),
        ("::ffff:cb00:7109", 6, None, []),
        ("203.0.113.9", 4, 8080, ["port"]),
        (None, None, None, ["ip"]),
    ]
    assert rec["logins"][5]["ipv4_mapped"] == "203.0.113.9"


# --- XLSX, JSON, HTML, zips -----------------------------------------------------------------------------------------


def test_every_sheet_is_read_including_hidden_ones(cli, tmp_path: Path) -> None:
    book = xlsx(
        {
            "Subscriber": [["Subscriber information (synthetic)"], [], ["WeChat ID", "Nickname", "Phone"], ["wxid_example_h", "Aitch", 61491570156]],
            "Logins": [["Login Time", "IP"], [datetime(2026, 3, 11, 14, 2, 9), "192.0.2.7"], [46092.5, "192.0.2.8"]],
            "Extra": [["WeChat ID", "Login Time", "IP"], ["wxid_example_h", "2026-03-11 14:02:09 UTC", "192.0.2.9"]],
        },
        hidden=("Extra",),
    )
    rec, _ = built(cli, tmp_path, {"book.xlsx": book}, ZONE + "phones_have_country_code = true\n")
    [h] = rec["accounts"]
    assert h["phone"]["as_given"] == "61491570156" and h["phone"]["e164"] == "+61491570156" and h["at"]["row"] == 4
    assert [(e["time"]["utc"], e["time"]["form"], e["at"]["sheet"]) for e in rec["logins"]] == [
        ("2026-03-11T06:02:09Z", "date-cell", "Logins"),
        ("2026-03-11T04:00:00Z", "excel-serial", "Logins"),
        ("2026-03-11T14:02:09Z", "ymd", "Extra"),
    ]
    assert [t["state"] for t in rec["files"][0]["tables"]] == ["visible", "visible", "hidden"]


def test_json_production(cli, tmp_path: Path) -> None:
    doc = {
        "subscriber": {"wechat_id": "wxid_example_j", "nickname": "Jay 🎷", "phone": "+61491570156"},
        "ip_log": [
            {"login_time": "2026-03-11T14:02:09+08:00", "ip_address": "192.0.2.10", "device": "iPad"},
            {"login_time": 1773208929, "ip_address": "[2001:db8::10]:443", "device": "iPad"},
        ],
    }
    rec, _ = built(cli, tmp_path, {"production.json": json.dumps(doc, ensure_ascii=False)})
    assert rec["accounts"][0]["nickname"] == "Jay 🎷" and rec["accounts"][0]["at"]["sheet"] == "$.subscriber"
    assert [(e["time"]["utc"], e["ip"], e["at"]["row"]) for e in rec["logins"]] == [
        ("2026-03-11T06:02:09Z", "192.0.2.10", 1),
        ("2026-03-11T06:02:09Z", "2001:db8::10", 2),
    ]


def test_html_table(cli, tmp_path: Path) -> None:
    page = "<html><body><p>Response</p><table><tr><th>WeChat ID</th><th>Nickname</th></tr>\n<tr><td>wxid_example_k</td><td>K&amp;K</td></tr></table></body></html>"
    rec, _ = built(cli, tmp_path, {"page.html": page, "notes.txt": 'Free text, "no" table.\n"Unbalanced quote\n'})
    assert [(a["wechat_id"], a["nickname"]) for a in rec["accounts"]] == [("wxid_example_k", "K&K")]
    assert {f["file"]: f["read_as"] for f in rec["files"]} == {"notes.txt": "not read", "page.html": "html"}


def test_the_documented_alias_table_is_the_one_used() -> None:
    from evidpack.wechat.columns import ALIASES

    doc = (REPO / "docs/wechat-production.md").read_text("utf-8")
    rows = dict(re.findall(r"^\| `(\w+)`(?: \(login\))? \| (`.+`) \|$", doc, re.M))
    assert {field: tuple(re.findall(r"`([^`]+)`", aliases)) for field, aliases in rows.items()} == ALIASES


def test_a_production_zip_is_kept_whole_and_its_members_read(cli, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("cover.pdf", b"%PDF-1.4 synthetic\n")
        zf.writestr("data/subscriber.csv", HEADER + ALICE)
        zf.writestr("data/ip.xlsx", xlsx({"IP": [["Login Time", "IP"], [datetime(2026, 3, 11, 14, 2, 9), "192.0.2.7"]]}))
    rec, out = built(cli, tmp_path, {"WCI-production.zip": buf.getvalue()})
    items = [json.loads(x) for x in (out / "evidpack/items.jsonl").read_text().splitlines()]
    assert [(i["id"], i["kind"], i.get("member_path")) for i in items] == [
        ("E0001", "file", None),
        ("E0001/M000001", "member", "cover.pdf"),
        ("E0001/M000002", "member", "data/subscriber.csv"),
        ("E0001/M000003", "member", "data/ip.xlsx"),
    ]
    assert items[2]["sha256"] == hashlib.sha256((HEADER + ALICE).encode()).hexdigest()
    assert rec["accounts"][0]["at"] == {"item": "E0001/M000002", "file": "WCI-production.zip", "member": "data/subscriber.csv", "sheet": None, "row": 2}
    assert rec["logins"][0]["at"]["item"] == "E0001/M000003"


def test_spools_go_beside_the_bundle_never_to_the_system_temporary_folder(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows of a production (and a zipped workbook's copy) are spooled to
    anonymous files in the folder the bundle is built in: the system's temporary
    folder may be memory, or too small, and is never used (here it does not exist)."""
    import tempfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("data/subscriber.csv", HEADER + ALICE)
        zf.writestr("data/ip.xlsx", xlsx({"IP": [["Login Time", "IP"], [datetime(2026, 3, 11, 14, 2, 9), "192.0.2.7"]]}))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    made: list[str | None] = []
    real = tempfile.TemporaryFile

    def spy(*args: Any, **kwargs: Any) -> Any:
        made.append(kwargs.get("dir"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", spy)
    rec, out = built(cli, tmp_path, {"WCI-production.zip": buf.getvalue()})
    assert len(rec["accounts"]) == 1 and len(rec["logins"]) == 1
    assert len(made) >= 3 and set(made) == {str(out.parent)}  # accounts, logins and the workbook's copy
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # anonymous: nothing left beside the bundle


# --- bad input ---------------------------------------------------------------------------------------------------


def encrypted_xlsx() -> bytes:
    """What Excel writes for a password-protected workbook: an OLE compound file
    holding EncryptionInfo and EncryptedPackage streams (here only its outline)."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 64 + "EncryptedPackage".encode("utf-16-le")


@pytest.mark.parametrize(
    "files, needles",
    [
        ({"ip-log.xlsx": encrypted_xlsx()}, ("ip-log.xlsx", "password-protected spreadsheet")),
        ({"old.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600}, ("old.xls", "Excel 97-2003")),
        ({"broken.xlsx": b"PK\x03\x04 not really a workbook"}, ("broken.xlsx", "not a readable XLSX workbook")),
        ({"s.csv": HEADER + 'wxid_example_m,"Em"x,,,,\n' + ALICE}, ("s.csv", "line 2", "malformed CSV")),
        ({"s.csv": "Name of file,contents\nabc,def\n"}, ("s.csv", "no table with a recognised header row", "options.columns")),
        ({"s.csv": b"WeChat ID,Nickname\nwxid_example_n,\xc4\xe3\xba\xc3\n"}, ("s.csv", "not UTF-8 or UTF-16", "options.encoding")),
        ({"s.csv": HEADER}, ("holds no account or login rows",)),
        ({"p.json": '{"accounts": [1, 2'}, ("p.json", "not valid JSON", "line 1")),
    ],
    ids=["password-xlsx", "legacy-xls", "malformed-xlsx", "malformed-csv", "no-header", "not-utf8", "empty", "malformed-json"],
)
def test_bad_input_is_one_line_naming_the_file(cli, tmp_path: Path, files: dict[str, Any], needles: tuple[str, ...]) -> None:
    r, out = build(cli, tmp_path, files)
    fails(r, *needles)
    assert not out.exists()


def test_with_keep_going_bad_files_are_kept_with_a_failed_check(cli, tmp_path: Path) -> None:
    files = {"ip-log.xlsx": encrypted_xlsx(), "s.csv": HEADER + 'wxid_example_m,"Em"x,,,,\n' + ALICE}
    rec, out = built(cli, tmp_path, files, ZONE, "--keep-going")
    kept = {Path(json.loads(x)["path"]).name for x in (out / "evidpack/items.jsonl").read_text().splitlines()}
    assert kept == {"ip-log.xlsx", "s.csv"}
    assert (out / "data/S01-loose-files/ip-log.xlsx").read_bytes() == encrypted_xlsx()
    failed = [c["detail"] for c in checks(out) if c["verdict"] == "fail"]
    assert any("password-protected" in d for d in failed) and any("malformed CSV" in d for d in failed)
    assert [a["wechat_id"] for a in rec["accounts"]] == ["wxid_example_alice"]  # the row after the bad line is read


def test_gb18030_production_with_the_encoding_stated(cli, tmp_path: Path) -> None:
    data = "微信号,昵称\nwxid_example_o,你好\n".encode("gb18030")
    rec, _ = built(cli, tmp_path, {"s.csv": data}, ZONE + 'encoding = "gb18030"\n')
    assert rec["accounts"][0]["nickname"] == "你好"


def test_path_traversal_member_in_a_production_zip(cli, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("s.csv", HEADER + ALICE)
        zf.writestr("../../evil.csv", "x")
    r, _ = build(cli, tmp_path, {"p.zip": buf.getvalue()})
    fails(r, "p.zip", "'../../evil.csv'", "path traversal")


@pytest.mark.parametrize(
    "options, needles",
    [
        ('[sources.options]\nzone = "CST"\n', ("sources[0].options.zone", "CST")),
        ('[sources.options]\ndate_order = "YDM"\n', ("sources[0].options.date_order", "'YDM'")),
        ('[sources.options]\ntimezone = "+08:00"\n', ("sources[0].options", "unknown option(s) timezone")),
        ('[sources.options.columns]\nwechatid = "X"\n', ("sources[0].options.columns", "unknown field 'wechatid'")),
        ('[sources.options.request]\ntype = "urgent"\n', ("sources[0].options.request.type",)),
        ('[sources.options.request]\ntype = "emergency"\nsent_at = "2026-03-10 09:00"\n', ("sources[0].options.request.sent_at", "RFC 3339")),
        ('[sources.options]\nphone_region = "XX"\n', ("sources[0].options.phone_region",)),
        ('[sources.options.request]\ntype = "emergency"\nsent_at = 2026-03-10T09:00:00\n', ("sources[0].options.request.sent_at", "never guesses a zone")),
    ],
)
def test_bad_options_are_one_line_naming_the_option(cli, tmp_path: Path, options: str, needles: tuple[str, ...]) -> None:
    r, _ = build(cli, tmp_path, {"s.csv": HEADER + ALICE}, options)
    fails(r, "case.toml", *needles)


@pytest.mark.parametrize(
    "kind, received, commitment, verdict",
    [
        ("emergency", "2026-03-12T11:00:00Z", "not met", "warn"),
        ("preservation", "2026-03-11T09:00:00Z", "met", "pass"),
        ("legal-process", "2026-04-01T09:00:00Z", "no published response-time commitment for this request type", "not-checkable"),
    ],
)
def test_response_time_against_the_48_hour_commitment(cli, tmp_path: Path, kind: str, received: str, commitment: str, verdict: str) -> None:
    options = ZONE + f'[sources.options.request]\ntype = "{kind}"\nsent_at = "2026-03-10T09:00:00Z"\nreceived_at = "{received}"\n'
    rec, out = built(cli, tmp_path, {"s.csv": HEADER + ALICE}, options)
    assert rec["request"]["commitment"] == commitment
    assert [c["verdict"] for c in checks(out) if c["check"] == "wechat-response-time"] == [verdict]


def test_csv_exports_are_safe_against_formula_injection(cli, tmp_path: Path) -> None:
    data = HEADER + 'wxid_example_p,"=HYPERLINK(""http://example.com"",""x"")",+61 491 570 156,@x.example.com,AU,\n'
    rec, out = built(cli, tmp_path, {"s.csv": data})
    assert rec["accounts"][0]["nickname"] == '=HYPERLINK("http://example.com","x")'  # the record keeps the value exactly
    rows = list(csv.DictReader(io.StringIO((out / "evidpack/records/S01-wechat-accounts.csv").read_text("utf-8-sig"))))
    assert rows[0]["nickname"] == "'=HYPERLINK(\"http://example.com\",\"x\")"
    assert rows[0]["phone_e164"] == "'+61491570156" and rows[0]["email"] == "'@x.example.com"
    for line in (out / "evidpack/records/S01-wechat-accounts.csv").read_text("utf-8-sig").splitlines()[1:]:
        for cell in next(csv.reader([line])):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_sources_are_unchanged(cli, tmp_path: Path) -> None:
    files = {"s.csv": HEADER + ALICE, "ip.xlsx": xlsx({"IP": [["Login Time", "IP"], ["2026-03-11 14:02:09", "192.0.2.1"]]})}
    m = case(tmp_path, files)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "source").iterdir()}
    assert cli(*build_args(m, tmp_path / "out/B")).exit_code == 0
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "source").iterdir()} == before


def test_a_registration_date_without_a_time_is_shown_as_a_date_not_as_unread(cli, tmp_path: Path) -> None:
    import subprocess

    rec, out = built(cli, tmp_path, {"s.csv": HEADER + "wxid_example_d,Dee,+61 491 570 157,,AU,2019-05-01\n"})
    reg = rec["accounts"][0]["registration_time"]
    assert reg["date"] == "2019-05-01" and reg["utc"] is None
    text = " ".join(subprocess.run(["pdftotext", str(out / "evidpack/index.pdf"), "-"], capture_output=True, text=True, check=True).stdout.split())
    assert "2019-05-01" in text and "date only (no time of day, so no UTC)" in text and "not read" not in text
