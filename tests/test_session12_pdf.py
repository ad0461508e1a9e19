"""Session 12 fixes to the PDF index: a joiner (U+200D ZWJ, U+200C ZWNJ) that
joins nothing is shown as a [U+XXXX] marker like any other invisible
character, while joiners inside emoji sequences and Persian/Indic text stay
text; and the WeChat production's accounts table gives its notes room."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO, assert_clean, build_args, manifest_text, run_proc, tool, write_tree
from test_index_hostile import content_streams

from evidpack.report import fonts, layout, rtl
from evidpack.report.styles import CELL, CELL_PATH

BIDI_MARKS = dict.fromkeys(map(ord, "\u202a\u202b\u202c"))  # LRE, RLE, PDF: pdftotext adds them around RTL runs
ZWJ, ZWNJ = "\u200d", "\u200c"


def pdftotext(pdf: Path, *args: str) -> str:
    r = run_proc(tool("pdftotext"), "-enc", "UTF-8", *args, pdf, "-")
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8")


def markers(ops: bytes, code: str) -> int:
    """How many [U+code] markers are drawn, each standing for its character (/ActualText)."""
    return len(re.findall(rb"/ActualText <FEFF%s>>> BDC [^\n]*\(\[U\+%s\]\) Tj" % (code.encode(), code.encode()), ops))


# --- 1. joiners -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stray"),
    [
        ("ab.txt", []),
        (f"a{ZWJ}b.txt", [1]),  # between Latin letters: invisible, so shown
        (f"a{ZWNJ}b.txt", [1]),
        (f"{ZWJ}lead.txt", [0]),  # at either end of a name
        (f"tail{ZWJ}", [4]),
        (f"👩{ZWJ}💻.txt", []),  # an emoji ZWJ sequence
        (f"👩🏽{ZWJ}💻", []),  # with a skin tone
        (f"🏳\ufe0f{ZWJ}🌈", []),  # with a variation selector
        (f"👨{ZWJ}👩{ZWJ}👧", []),
        (f"👩{ZWJ}{ZWJ}💻", [1, 2]),  # two together join nothing
        (f"a{ZWJ}💻", [1]),  # between a letter and an emoji
        (f"💻{ZWJ}.txt", [1]),
        (f"نامه{ZWNJ}ها.txt", []),  # Persian: ZWNJ between Arabic-script letters
        (f"می{ZWNJ}خواهم", []),
        (f"ب{ZWJ} ", [1]),  # beside a space
        (f"ب{ZWNJ}b", [1]),  # between two scripts
        (f"क्{ZWJ}ष", []),  # Devanagari: after a virama
        (f"क्{ZWNJ}ष", []),
        (f"क{ZWJ}ক", [1]),  # Devanagari and Bengali: two scripts
        (f"{ZWJ}لا علي", [0]),
    ],
)
def test_a_joiner_is_text_only_between_two_characters_that_use_it(text: str, stray: list[int]) -> None:
    assert sorted(fonts.stray_joiners(text)) == stray
    fonts.register()
    drawn = [r.text for r in fonts.runs(text) if r.marker]
    assert [m for m in drawn if m in ("[U+200D]", "[U+200C]")] == [f"[U+{ord(text[i]):04X}]" for i in stray]
    if not rtl.is_rtl(text):  # measured as drawn (line breaking adds up the characters' widths; shaped Arabic is never wider)
        assert sum(fonts.char_widths(text, "sans", 10)) == pytest.approx(fonts.width(text, "sans", 10), abs=0.01)


@pytest.mark.parametrize("style", [CELL_PATH, CELL], ids=["path", "words"])
def test_a_line_never_breaks_beside_a_joiner_that_joins(style) -> None:
    text = "/".join([f"a{ZWJ}b", "👩" + ZWJ + "💻" * 2, f"نامه{ZWNJ}ها", "x" + ZWNJ]) * 6 + ("👩" + ZWJ + "💻") * 12
    assert layout.wrap(f"x{ZWNJ}a{ZWJ}b/", style, 40)[0] != "x"  # a stray one is a marker: a line may break beside it
    for width in (40, 55, 70, 90):
        lines = layout.wrap(text, style, width)
        assert "".join(lines) == text
        at = 0
        for line in lines:  # each joiner is judged the same on its line as in the whole text: never split from what it joins
            assert {i + at for i in fonts.stray_joiners(line)} == {i for i in fonts.stray_joiners(text) if at <= i < at + len(line)}
            assert fonts.width(line, style.role, style.size) <= width + 0.01 or len(line) <= 3
            at += len(line)


NAMES = ["ab.txt", f"a{ZWJ}b.txt", f"{ZWJ}lead.txt", f"tail{ZWNJ}.txt", f"👩{ZWJ}💻.txt", f"نامه{ZWNJ}ها.txt"]


def test_names_that_differ_by_a_joiner_are_told_apart_in_a_built_schedule(cli, tmp_path: Path) -> None:
    write_tree(tmp_path / "evidence", {name: f"{n}\n" for n, name in enumerate(NAMES)})
    manifest = tmp_path / "case.toml"
    manifest.write_text(manifest_text('"evidence"'), "utf-8")
    r = cli(*build_args(manifest, tmp_path / "out/TC-0001"))
    assert_clean(r)
    assert r.exit_code == 0, r.output
    pdf = tmp_path / "out/TC-0001/evidpack/index.pdf"
    lines = pdftotext(pdf).translate(BIDI_MARKS).splitlines()
    # Every name comes back exactly, each on its own line of the schedule: "ab.txt" and "a\u200db.txt" are two lines.
    paths = [line for line in lines if line.startswith("data/S01-loose-files/")]
    assert sorted(paths) == sorted(f"data/S01-loose-files/{name}" for name in NAMES)
    assert not any(line.startswith("exact: ") for line in lines)  # each reads back as it is
    # What the reader sees: a stray joiner drawn as a red [U+XXXX] marker (read back as itself);
    # the emoji sequence's and the Persian name's joiners drawn as text.
    ops = content_streams(pdf)
    assert markers(ops, "200D") == 2  # a‍b.txt, ‍lead.txt
    assert markers(ops, "200C") == 1  # tail‌.txt
    assert b"[U+200D]b.txt" not in ops and b"(b.txt) Tj" in ops


# --- 2. the WeChat accounts table ------------------------------------------------------------


def test_the_wechat_accounts_table_gives_its_notes_room(cli, tmp_path: Path) -> None:
    """The example case's accounts table: the source row, an email, a phone as
    given and a 20-character WeChat ID each come out on one line (in a narrow
    notes column, "subscriber-information.csv, row 6" took three)."""
    out = tmp_path / "NC-2026-0142"
    r = cli(*build_args(REPO / "manifests/example-case.toml", out))
    assert_clean(r)
    assert r.exit_code == 0, r.output
    text = pdftotext(out / "evidpack/index.pdf")
    page = next(p for p in text.split("\f") if "Accounts (3)" in p)
    lines = page.splitlines()
    for whole in (
        "subscriber-information.csv, row 6",
        "subscriber-information.csv, row 7",
        "subscriber-information.csv, row 8",
        "wxid_example_dragon",
        "wxid_example_kestrel",
        "plum@example.com",
        "kestrel@example.org",
        "as given: +61 491 570 156",
        "2019-05-01T02:00:00Z",
        "2 login rows",
    ):
        assert whole in lines, whole
    assert any(line.startswith("as given: +1 202-555-0143") for line in lines)  # (pdftotext may run the next column on)
    flat = " ".join(page.split())
    for value in ("+86: likely Weixin (see the note below)", "country: CN", "country: AU", "country: US", "holds invisible characters: U+200B ZERO WIDTH SPACE"):
        assert value in flat, value
    for header in ("WeChat ID", "Nickname (exactly as produced)", "Phone (E.164); email", "Registered (UTC); country", "Notes; source row"):
        assert header in flat, header
