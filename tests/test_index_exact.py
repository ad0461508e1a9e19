"""Names that pdftotext cannot give back as they are drawn — a right-to-left
name followed by digits or Latin text, spaces that do not come back as they
are (two together, or between single letters) — are followed in the index by
their exact form, ``exact: "…"`` (a JSON string), and names that come back
exactly are not (docs/index-pdf.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import write_tree
from test_index_pdf import MANIFEST, build, pdftotext

from evidpack.build import INDEX_PDF
from evidpack.report import fonts, layout, rtl
from evidpack.report.styles import EXACT

# Names that do not come back out of pdftotext as they are: the index must print their exact form.
REORDERED = ["محادثة 7.txt", "שיחה 12 final.txt", "abc محادثة 3.txt", "محمد  علي.txt", "محمد (علي).txt"]
# Names that do (no extra line): right-to-left text alone, or followed by a dot or a slash, CJK and emoji with digits.
EXACT_ALREADY = ["محمد علي.txt", "abc محادثة.txt", "שרה כהן.txt", "小龙 7🐉.txt"]
NICKNAMES = {"wxid_reordered": "علي 12", "wxid_letters": "A B", "wxid_plain": "شادي حسن", "wxid_words": "I am"}
NEEDS_EXACT = ("wxid_reordered", "wxid_letters")  # pdftotext gives "12 علي" and "AB"
EXACT_FORM = re.compile(r'exact: ("(?:[^"\\]|\\.)*")')


# --- poppler's reordering, simulated ------------------------------------------------------------


@pytest.mark.parametrize(
    ("visual", "extracted"),
    [  # what pdftotext 22.12 gave for these lines, drawn left to right as written here
        ("a7אב", "a7בא"),
        ("אב7גד", "בא7דג"),
        ("אב_גד", "דג_בא"),  # a neutral stays inside the right-to-left stretch
        ("אב.גד", "בא.דג"),  # a number separator ends it
        ("a_אב", "a_בא"),
        ("aـאב", "aבאـ"),  # tatweel is right to left
        ("\u202e🐉:", "🐉\u202e:"),  # poppler reads an override as right to left
        ("小龙 abc", "小龙 abc"),
    ],
)
def test_poppler_reordering_is_simulated(visual: str, extracted: str) -> None:
    assert rtl.pdftotext_order(visual) == extracted


@pytest.mark.parametrize("name", [*(f"data/S01/{n}" for n in REORDERED), "محادثة 7.txt", "محمد علي.txt", "علي 12", "محمد (علي)", "A B", "ب ج"])
def test_a_name_pdftotext_reorders_or_respaces_is_detected(name: str) -> None:
    assert fonts.extracted(name) != name
    assert layout.exact(name, [name], "sans", 280)


@pytest.mark.parametrize("name", [*(f"data/S01/{n}" for n in EXACT_ALREADY), "a/b/محمد علي/c.txt", "invoice\u202etxt.exe", "شادي حسن", "I am", "Ab c"])
def test_a_name_that_comes_back_gets_no_exact_form(name: str) -> None:
    assert fonts.extracted(name) == name
    assert layout.exact(name, [name], "sans", 280) == []


@pytest.mark.parametrize("name", ["محادثة 7.txt", 'a "quoted" \\ name\x7f', "🐉" * 40 + " 7", "ا - ب" * 30, "x" * 200])
def test_the_exact_form_is_printable_ascii_that_json_decodes_to_the_name(name: str) -> None:
    width = 150
    lines = layout.exact_lines(name, width)
    assert all(fonts.plain(line) and fonts.plain_width(line, EXACT.role, EXACT.size) <= width for line in lines)
    joined = "".join(lines)
    assert joined.startswith("exact: ") and json.loads(joined.removeprefix("exact: ")) == name
    for before, after in zip(lines, lines[1:]):  # never broken inside an escape, beside a space or after a hyphen
        assert not re.search(r"\\u?[0-9a-f]{0,3}$", before) or before.endswith("\\\\")
        assert before[-1] not in " -" and after[0] != " "


# --- in the index -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("exactcase")
    write_tree(root / "evidence", {name: "x\n" for name in REORDERED + EXACT_ALREADY})
    production = "WeChat ID,Nickname,Linked Mobile,Email,Registration Country,Registration Time (UTC+8)\n" + "".join(
        f"{wxid},{nick},+971 50 123 4567,,AE,2020-01-02 03:04:05\n" for wxid, nick in NICKNAMES.items()
    )
    write_tree(root / "production", {"subscribers.csv": production, "ip-log.csv": "Time (UTC+8),WeChat ID,IP Address,Event\n"})
    manifest = root / "case.toml"
    manifest.write_text(MANIFEST, "utf-8")
    return pdftotext(build(manifest, root / "bundle") / INDEX_PDF)


def exact_forms(text: str) -> list[str]:
    """Every exact form in the text (one that takes several lines is joined: it never breaks beside a space)."""
    return [json.loads(m.group(1).replace("\n", "")) for m in EXACT_FORM.finditer(text)]


def test_every_name_comes_back_exactly_or_has_an_exact_form(text: str) -> None:
    forms = exact_forms(text)
    for name in REORDERED + EXACT_ALREADY:
        assert name in text or any(form.endswith("/" + name) for form in forms), name
    for name in NICKNAMES.values():
        assert name in text or name in forms, name


def test_names_pdftotext_gets_wrong_have_an_exact_form_and_no_other_does(text: str) -> None:
    forms = exact_forms(text)
    for name in REORDERED:
        assert sum(form.endswith("/" + name) for form in forms) == 1, name
    for wxid in NEEDS_EXACT:
        assert NICKNAMES[wxid] in forms, wxid
    for name in [*EXACT_ALREADY, *(nick for wxid, nick in NICKNAMES.items() if wxid not in NEEDS_EXACT)]:
        assert name in text and not any(name in form for form in forms), name
    assert len(forms) == len(REORDERED) + len(NEEDS_EXACT)


def test_names_made_of_the_class_letters_are_classed() -> None:
    # The classes are the letters r, l and n: a name made of them alone, the first seen by a
    # fresh process (nothing classed yet), must still read left to right.
    code = "from evidpack.report import rtl; print(*(rtl.pdftotext_order(n) for n in ('rn', 'nl', 'lrn r')), sep='|')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "rn|nl|lrn r"
