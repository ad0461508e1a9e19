"""Session 12, the CLI and the case manifest: what the terminal shows of a name is
unambiguous (a file named with the six characters ``\\x1b`` never looks like one holding
an ESC); a one-line manifest field refuses every line break, a final one too; every
time field of the manifest takes an unquoted zoned TOML date-time as ``acquisition.at``
does; a UFED offset outside -12:00 ... +14:00 is not read, as in every other importer."""

from __future__ import annotations

import hashlib
import json
import os
import random
import string
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import VENV_BIN, assert_clean, build_args, manifest_text, run_cli, write_tree
from device_support import built, checks, gen, source
from test_bad_input import one_line_error

from evidpack import casefile
from evidpack.cli import terminal_safe
from evidpack.importers import ufed

EVIDPACK = str(VENV_BIN / "evidpack")


def one_line(r, *needles: str) -> str:
    """The command failed with exit 2 and one line on standard error holding every
    needle (and no traceback)."""
    assert_clean(r)
    return one_line_error(r, *needles)


# --- 1: the terminal shows every text unambiguously ----------------------------------------------


def _escape_at(shown: str, i: int) -> tuple[str, int] | None:
    """The character the escape text at ``shown[i:]`` (after its backslash) names, and its length."""
    nxt = shown[i: i + 1]
    if nxt in ("n", "r", "t"):
        return {"n": "\n", "r": "\r", "t": "\t"}[nxt], 1
    for letter, digits in (("x", 2), ("u", 4), ("U", 8)):
        hexes = shown[i + 1: i + 1 + digits]
        if nxt == letter and len(hexes) == digits and all(c in string.hexdigits for c in hexes):
            return chr(int(hexes, 16)), 1 + digits
    return None


def read_shown(shown: str) -> str:
    """The text a terminal_safe line shows, read back by the documented rule: a run of
    backslashes followed by a character that is not printable ASCII, or by the text of
    an escape, stands for half as many backslashes, and if the run is odd its last
    backslash begins the escape; any other backslash is itself."""
    out, i = [], 0
    while i < len(shown):
        if shown[i] != "\\":
            out.append(shown[i])
            i += 1
            continue
        j = i
        while j < len(shown) and shown[j] == "\\":
            j += 1
        run = j - i
        escape = _escape_at(shown, j) if run % 2 else None
        if escape is not None:
            out.append("\\" * (run // 2) + escape[0])
            i = j + escape[1]
        elif j < len(shown) and (not " " <= shown[j] <= "~" or _escape_at(shown, j)):
            out.append("\\" * (run // 2))
            i = j
        else:
            out.append("\\" * run)
            i = j
    return "".join(out)


def terminal_bad(text: str) -> list[str]:
    return [c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029\u202e\u200f"
            or 0xD800 <= ord(c) <= 0xDFFF]


@pytest.mark.parametrize(("text", "shown"), [
    ("a\\x1bb", "a\\\\x1bb"),          # the six characters \x1b: not an ESC
    ("a\x1bb", "a\\x1bb"),             # an ESC
    ("\\n", "\\\\n"), ("\\r\\t", "\\\\r\\\\t"),
    ("\\u202e", "\\\\u202e"), ("\\U0001f409", "\\\\U0001f409"), ("\\xFF", "\\\\xFF"),
    ("\\\\x1b", "\\\\\\\\x1b"),          # two backslashes, then x1b: the run is doubled
    ("\\\\\x1b", "\\\\\\\\\\x1b"),      # two backslashes, then an ESC
    ("\\\x1b", "\\\\\\x1b"),           # a backslash, then an ESC
    ("\\é", "\\\\é"),                  # before a letter a terminal may show as \xe9
    ("C:\\new\\temp", "C:\\\\new\\\\temp"),
])
def test_a_backslash_that_could_be_misread_is_doubled(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown
    assert read_shown(shown) == text


@pytest.mark.parametrize("text", [
    "C:\\Users\\Jane", "\\\\server\\share", "'C:\\\\Users\\\\Jane'", "a \\ b", "\\", "end\\", "\\x", "\\x1", "\\u12", "\\U1234567", "\\xg0", "\\d+\\.txt",
    "محمد علي.txt", "שלום", "小龙🐉 transcript.txt", "café — naïve",
])
def test_ordinary_text_and_harmless_backslashes_are_unchanged(text: str) -> None:
    assert terminal_safe(text) == text


def test_every_text_is_shown_so_that_it_reads_back_as_itself() -> None:
    """Two different texts never look the same: what is shown reads back as the text,
    on a UTF-8 terminal and on one whose encoding shows the rest as escapes."""
    alphabet = ["\\", "x", "u", "U", "n", "r", "t", "0", "1", "b", "f", "F", "g", " ", "é", "ש", "🐉",
                "\x1b", "\n", "\r", "\t", "\x7f", "\x85", "\x9b", "\u202e", "\u2028", "\udc80"]
    rnd = random.Random(12)
    seen: dict[str, str] = {}
    for _ in range(20000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
        shown = terminal_safe(text)
        assert not terminal_bad(shown), (text, shown)
        assert read_shown(shown) == text, (text, shown)
        ascii_shown = shown.encode("ascii", "backslashreplace").decode("ascii")  # as echo_safe prints it there
        assert read_shown(ascii_shown) == text, (text, ascii_shown)
        assert seen.setdefault(shown, text) == text, (text, seen[shown], shown)


LITERAL = "lit\\x1b[2J.txt"  # a backslash, x, 1, b: harmless characters
ESCAPED = "lit\x1b[2J.txt"   # an ESC


def test_query_shows_a_name_holding_an_esc_and_one_holding_its_text_differently(tmp_path: Path) -> None:
    write_tree(tmp_path / "ev", {LITERAL: "a", ESCAPED: "b"})
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"ev"'), "utf-8")
    out = tmp_path / "B"
    r = run_cli(*build_args(m, out))
    assert r.exit_code == 0, r.output
    r = run_cli("query", out, "SELECT name FROM items ORDER BY name")
    assert_clean(r)
    assert r.exit_code == 0, r.output
    assert not terminal_bad(r.stdout.replace("\n", ""))
    rows = [line.strip() for line in r.stdout.splitlines()[2:4]]
    assert sorted(rows) == sorted(["lit\\\\x1b[2J.txt", "lit\\x1b[2J.txt"]), r.stdout
    assert sorted(read_shown(row) for row in rows) == sorted([LITERAL, ESCAPED])
    r = run_cli("disclose", out, "--include", "S01", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "lit\\\\x1b[2J.txt" in r.output and "lit\\x1b[2J.txt" in r.output.replace("lit\\\\x1b", "")


def test_an_error_line_names_each_path_so_it_reads_back(tmp_path: Path) -> None:
    """Through the installed command with an ASCII standard error (echo_safe writes é as
    ``\\xe9`` there): a path holding the text ``\\xe9``, one holding ``é``, one holding a
    backslash then ``é``, one holding an ESC, one holding the text ``\\x1b``: five
    different lines, each read back as the path."""
    names = ["no\\xe9such", "no\u00e9such", "no\\\u00e9such", "no\x1bsuch", "no\\x1bsuch"]
    shown = []
    for name in names:
        p = subprocess.run([EVIDPACK, "verify", str(tmp_path / name), "--trust", str(tmp_path)], capture_output=True,
                           env={**os.environ, "PYTHONIOENCODING": "ascii"}, cwd=tmp_path)
        assert p.returncode == 2, p.stderr
        line = p.stderr.decode("ascii").strip()
        assert len(line.splitlines()) == 1 and "Traceback" not in line, line
        shown.append(line)
        prefix = "evidpack: error: "
        assert line.startswith(prefix) and ": no such bundle" in line, line
        assert read_shown(line[len(prefix): line.rindex(": no such bundle")]) == str(tmp_path / name), line
    assert len(set(shown)) == len(names), shown


# --- 2: a one-line field of the manifest holds no line break -------------------------------------


ONE_LINE_FIELDS = [
    ("[case]", "title", "case.title"),
    ("[case]", "agency", "case.agency"),
    ("[case]", "authority", "case.authority"),
    ("[case]", "examiner", "case.examiner"),
    ("[case]", "contact", "case.contact"),
    ("[[sources]]", "label", "sources[0].label"),
    ("[sources.acquisition]", "tool", "sources[0].acquisition.tool"),
    ("[sources.acquisition]", "by", "sources[0].acquisition.by"),
    ("[sources.acquisition]", "location", "sources[0].acquisition.location"),
    ("[sources.acquisition]", "reference", "sources[0].acquisition.reference"),
]


def manifest_with(tmp_path: Path, table: str, key: str, toml_value: str) -> tuple[Path, int]:
    """The test manifest with ``key = toml_value`` in ``table`` (replacing the key if
    there); and the line the key is on."""
    write_tree(tmp_path / "ev", {"a.txt": "a"})
    text = manifest_text('"ev"')
    lines = text.split("\n")
    start = lines.index(table)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    for i in range(start + 1, end):
        if lines[i].startswith(f"{key} ="):
            lines[i] = f"{key} = {toml_value}"
            at = i
            break
    else:
        lines.insert(start + 1, f"{key} = {toml_value}")
        at = start + 1
    m = tmp_path / "case.toml"
    m.write_text("\n".join(lines), "utf-8")
    return m, at + 1


@pytest.mark.parametrize(("table", "key", "where"), ONE_LINE_FIELDS)
def test_a_multi_line_string_ending_in_a_newline_is_refused(tmp_path: Path, table: str, key: str, where: str) -> None:
    m, line = manifest_with(tmp_path, table, key, '"""Theft of a vehicle\n"""')
    r = run_cli(*build_args(m, tmp_path / "B"))
    one_line(r, f"case.toml: line {line}: {where}: must be one line", "(LF, at its end)")
    assert not (tmp_path / "B").exists()


@pytest.mark.parametrize(("escape", "name"), [
    ("\\n", "LF"), ("\\r", "CR"), ("\\r\\n", "CR"), ("\\u000B", "VT"), ("\\f", "FF"), ("\\u001E", "RS"),
    ("\\u0085", "NEL"), ("\\u2028", "U+2028"), ("\\u2029", "U+2029"),
])
@pytest.mark.parametrize("at_end", [True, False])
def test_every_line_break_is_refused_in_a_one_line_field(tmp_path: Path, escape: str, name: str, at_end: bool) -> None:
    value = f'"Theft{escape}"' if at_end else f'"Theft{escape}of a vehicle"'
    m, line = manifest_with(tmp_path, "[case]", "title", value)
    r = run_cli(*build_args(m, tmp_path / "B"))
    one_line(r, f"case.toml: line {line}: case.title: must be one line", f"({name}, {'at its end' if at_end else 'after 5 characters'})")


@pytest.mark.parametrize(("table", "key", "value"), [
    ("[case]", "id", '"TC-0001\n"'), ("[[sources]]", "slug", '"loose-files\n"'),
])
def test_an_id_or_slug_ending_in_a_newline_is_refused(tmp_path: Path, table: str, key: str, value: str) -> None:
    m, line = manifest_with(tmp_path, table, key, value.replace("\n", "\\n"))
    one_line(run_cli(*build_args(m, tmp_path / "B")), f"case.toml: line {line}: ", "does not match")


def test_free_text_may_hold_lines_and_a_one_line_field_a_tab(tmp_path: Path) -> None:
    m, _ = manifest_with(tmp_path, "[case]", "description", '"""Two\nlines\n"""')
    text = m.read_text("utf-8").replace('title = "Test case (synthetic)"', 'title = "Test\\tcase — محمد"')
    m.write_text(text, "utf-8")
    r = run_cli(*build_args(m, tmp_path / "B"))
    assert r.exit_code == 0, r.output
    case = json.loads((tmp_path / "B/evidpack/case.json").read_text("utf-8"))
    assert case["description"] == "Two\nlines\n" and case["title"] == "Test\tcase — محمد"


# --- 3: every time field takes an unquoted zoned TOML date-time --------------------------------------


def test_the_schema_names_every_time_field() -> None:
    fields = {(path, when[1] if when else None) for path, when in casefile.time_fields()}
    assert fields == {
        (("sources", "*", "acquisition", "at"), None),
        (("sources", "*", "options", "request", "sent_at"), "wechat-production"),
        (("sources", "*", "options", "request", "received_at"), "wechat-production"),
    }


WECHAT_CSV = ("WeChat ID,Nickname,Linked Mobile,Email,Registration Country,Registration Time\n"
              "wxid_example_alice,Alice,+61 491 570 157,alice@example.com,AU,2020-01-02 03:04:05\n")


def wechat_case(tmp_path: Path, sent: str, received: str, at: str = '"2026-03-12T10:00:00Z"') -> Path:
    write_tree(tmp_path / "source", {"s.csv": WECHAT_CSV})
    options = ('[sources.options]\nzone = "+08:00"\n[sources.options.request]\ntype = "emergency"\n'
               f"sent_at = {sent}\nreceived_at = {received}\n")
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"source"', kind="wechat-production", extra_source=options).replace(
        'at = "2026-03-02T10:00:00Z"', f"at = {at}"), "utf-8")
    return m


def request_of(tmp_path: Path, sent: str, received: str, at: str = '"2026-03-12T10:00:00Z"') -> dict:
    m = wechat_case(tmp_path, sent, received, at)
    r = run_cli(*build_args(m, tmp_path / "B"))
    assert r.exit_code == 0, r.output
    return json.loads((tmp_path / "B/evidpack/records/S01-wechat.json").read_text("utf-8"))["request"]


def test_request_times_unquoted_are_read_as_the_same_times_quoted(tmp_path: Path) -> None:
    quoted = request_of(tmp_path / "q", '"2026-03-10T09:00:00+08:00"', '"2026-03-11T17:30:00Z"', '"2026-03-12T10:00:00Z"')
    bare = request_of(tmp_path / "b", "2026-03-10T09:00:00+08:00", "2026-03-11T17:30:00Z", "2026-03-12T10:00:00Z")
    assert bare == quoted
    assert bare["sent_at"] == "2026-03-10T01:00:00Z" and bare["sent_at_original"] == "2026-03-10T09:00:00+08:00"
    assert bare["received_at"] == "2026-03-11T17:30:00Z"


@pytest.mark.parametrize(("value", "kind"), [
    ("2026-03-10T09:00:00", "local date-time (no zone)"), ("2026-03-10", "date"), ("09:00:00", "time"),
])
@pytest.mark.parametrize("key", ["sent_at", "received_at"])
def test_a_request_time_without_a_zone_is_refused_naming_file_line_and_field(tmp_path: Path, key: str, value: str, kind: str) -> None:
    sent, received = (value, '"2026-03-11T17:30:00Z"') if key == "sent_at" else ('"2026-03-10T09:00:00Z"', value)
    m = wechat_case(tmp_path, sent, received)
    line = next(n for n, text in enumerate(m.read_text("utf-8").splitlines(), 1) if text.startswith(f"{key} ="))
    r = run_cli(*build_args(m, tmp_path / "B"))
    one_line(r, f"case.toml: line {line}: sources[0].options.request.{key}: ", f"is a TOML {kind}",
             "give the time with Z or an offset", "never guesses a zone")


def test_a_date_time_elsewhere_in_options_is_still_refused(tmp_path: Path) -> None:
    """Only time fields take a TOML date-time: one given for another option (or for
    request.sent_at under a kind that has no such option) is refused as before."""
    write_tree(tmp_path / "ev", {"a.txt": "a"})
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"ev"', extra_source="[sources.options.request]\nsent_at = 2026-03-10T09:00:00Z\n"), "utf-8")
    one_line(run_cli(*build_args(m, tmp_path / "B")), "sources[0].options.request.sent_at", "quoted strings")


# --- 4: a UFED offset outside -12:00 ... +14:00 is not read ------------------------------------------


@pytest.mark.parametrize(("text", "label"), [
    ("28/07/2024 07:27:27 (+15)", "+15:00"), ("28/07/2024 07:27:27 (-13)", "-13:00"),
    ("28/07/2024 07:27:27 (+14:30)", "+14:30"), ("28/07/2024 07:27:27 (-12.5)", "-12:30"),
    ("28/07/2024 07:27:27(UTC+23)", "+23:00"), ("28/07/2024 07:27:27 (+99)", "+99:00"),
])
def test_a_ufd_offset_not_in_use_is_kept_as_written_not_converted(text: str, label: str) -> None:
    why = f"UTC offset {label} is outside the offsets in use (-12:00 to +14:00)"
    assert ufed.parse_ufd_date(text) == {
        "text": text, "utc": None, "offset": label, "order": "day/month/year",
        "zone": f"{why}: not converted to UTC", "problem": f"{text!r}: its {why}",
    }


@pytest.mark.parametrize(("text", "utc"), [
    ("28/07/2024 07:27:27 (+14)", "2024-07-27T17:27:27Z"), ("28/07/2024 07:27:27 (-12)", "2024-07-28T19:27:27Z"),
    ("28/07/2024 07:27:27 (-12:00)", "2024-07-28T19:27:27Z"), ("28/07/2024 07:27:27 (+0)", "2024-07-28T07:27:27Z"),
])
def test_the_offsets_at_the_ends_of_the_range_are_read(text: str, utc: str) -> None:
    assert ufed.parse_ufd_date(text)["utc"] == utc


def test_ufd_offset_minutes_over_59_are_not_read() -> None:
    got = ufed.parse_ufd_date("28/07/2024 07:27:27 (+5:75)")
    assert got is not None and got["utc"] is None and "out of range" in got["problem"]
    assert ufed.parse_ufd_date("31/02/2024 07:27:27 (+15)") is None  # no such date: not a date at all


def test_a_report_xml_iso_time_with_an_offset_not_in_use_is_not_converted() -> None:
    got = ufed.parse_report_date("2024-07-28T07:27:27+15:00")
    assert got is not None and got["utc"] is None and got["offset"] == "+15:00" and "outside the offsets in use" in got["problem"]
    assert ufed.parse_report_date("2024-07-28T07:27:27+14:00")["utc"] == "2024-07-27T17:27:27Z"


def test_a_ufd_in_a_build_records_the_offset_not_in_use(cli, tmp_path: Path) -> None:
    gen.make_android(tmp_path / "ev")
    data = (tmp_path / "ev/EXTRACTION_FFS.zip").read_bytes()
    (tmp_path / "ev/Pixel 7.ufd").write_text("\n".join([
        "[General]", "Date=28/07/2024 07:27:27 (+15)", "EndTime=28/07/2024 07:59:10 (+14)",
        "[SHA256]", f"EXTRACTION_FFS.zip={hashlib.sha256(data).hexdigest()}", "",
    ]), "utf-8")
    bundle = built(cli, tmp_path, "ev")
    (facts,) = source(bundle)["facts"]["ufd"]
    date = facts["dates"]["General.Date"]
    assert date["text"] == "28/07/2024 07:27:27 (+15)" and date["utc"] is None and date["offset"] == "+15:00"
    assert "UTC offset +15:00 is outside the offsets in use (-12:00 to +14:00)" in date["problem"]
    assert facts["dates"]["General.EndTime"]["utc"] == "2024-07-27T17:59:10Z"
    assert [c["verdict"] for c in checks(bundle, "ufd-sha256")] == ["pass"]
    (warned,) = checks(bundle, "ufd-date")  # shown as a warning, as other importers show theirs
    assert warned["verdict"] == "warn" and "1 date(s) not converted to UTC" in warned["detail"] and "+15:00" in warned["detail"]
    assert cli("verify", bundle, "--trust", Path(__file__).resolve().parents[1] / "keys/trusted").exit_code == 0


def test_a_ufdr_report_xml_records_the_offset_not_in_use(cli, tmp_path: Path) -> None:
    member = b"synthetic member"
    report = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<project id="00000000-0000-4000-8000-000000000012" name="Pixel 7 (SYNTHETIC)" '
        'xmlns="http://pa.cellebrite.com/report/2.0">'
        '<metadata section="Extraction Data">'
        '<item name="DeviceInfoExtractionStartDateTime">28/07/2024 07:27:27(UTC+15)</item>'
        '<item name="DeviceInfoExtractionEndDateTime">2024-07-28T07:59:10+15:00</item>'
        '<item name="ExtractionTime">28/07/2024 07:27:27(UTC-4)</item></metadata>'
        '<taggedFiles><file fs="Data" path="/sdcard/a.txt" size="16" id="f0">'
        '<metadata section="File"><item name="Local Path"><![CDATA[files\\Text\\a.txt]]></item>'
        f'<item name="SHA256"><![CDATA[{hashlib.sha256(member).hexdigest()}]]></item></metadata></file></taggedFiles>'
        '</project>\n'
    )
    with zipfile.ZipFile(tmp_path / "Pixel 7.ufdr", "w") as zf:
        zf.writestr("files/Text/a.txt", member)
        zf.writestr("report.xml", report)
    bundle = built(cli, tmp_path, "Pixel 7.ufdr")
    (facts,) = source(bundle)["facts"]["ufdr"]
    start, end, ok = facts["metadata"]["Extraction Data"]
    assert start["date"]["utc"] is None and start["date"]["offset"] == "+15:00" and "outside the offsets in use" in start["date"]["problem"]
    assert end["date"]["utc"] is None and end["date"]["offset"] == "+15:00" and "outside the offsets in use" in end["date"]["problem"]
    (warned,) = checks(bundle, "ufdr-date")
    assert warned["verdict"] == "warn" and "report.xml: 2 date(s) not converted to UTC" in warned["detail"]
    assert ok["date"]["utc"] == "2024-07-28T11:27:27Z"


@pytest.mark.parametrize(("value", "refused"), [
    ('"2026-03-02T10:00:00+15:00"', True), ('"2026-03-02T10:00:00-12:30"', True), ("2026-03-02T10:00:00+14:01", True),
    ('"2026-03-02T10:00:00+14:00"', False), ('"2026-03-02T10:00:00-12:00"', False), ('"2026-03-02T10:00:00+05:45"', False),
])
def test_an_acquisition_time_with_an_offset_not_in_use_is_refused(tmp_path: Path, value: str, refused: bool) -> None:
    # The same -12:00 ... +14:00 rule every importer applies to the times it reads.
    m, _ = manifest_with(tmp_path, "[sources.acquisition]", "at", value)
    r = run_cli(*build_args(m, tmp_path / "B"))
    if refused:
        one_line(r, "sources[0].acquisition.at", "outside the offsets in use (-12:00 to +14:00)")
        assert not (tmp_path / "B").exists()
    else:
        assert r.exit_code == 0, r.output
