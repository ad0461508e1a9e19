"""The PDF index lists at most CAPTURE_ROWS captures of an osint source (a WARC
may hold millions of records), every one with a problem first; the record and
the catalogue keep them all."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import tool
from test_osint_captures import WARC, built

from evidpack.report.kinds import osint as osint_kind


def pdf_text(out: Path) -> str:
    return subprocess.run([tool("pdftotext"), "-layout", str(out / "evidpack/index.pdf"), "-"], capture_output=True, check=True).stdout.decode()


def test_captures_over_the_cap_list_problems_first_and_say_where_the_rest_are(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osint_kind, "CAPTURE_ROWS", 2)
    bad = WARC.replace(b"Public profile", b"Pubic profile!")  # record 3's digests fail
    rec, out = built(cli, tmp_path, {"c.warc": bad}, "", "--keep-going")
    assert len(rec["captures"]) == 6 and [c["record"] for c in rec["captures"] if c["problems"]] == [3]
    text = " ".join(pdf_text(out).split())
    assert "2 of the 6 captures are listed here" in text
    assert "records/S01-osint.json and the web_captures table" in text
    assert "record 3 at offset" in text and "record 1 at offset" in text  # the bad one, then the first good one
    assert "record 2 at offset" not in text and "record 6 at offset" not in text


def test_captures_under_the_cap_are_all_listed_without_a_note(cli, tmp_path: Path) -> None:
    rec, out = built(cli, tmp_path, {"c.warc": WARC})
    text = " ".join(pdf_text(out).split())
    assert "captures are listed here" not in text
    assert all(f"record {n} at offset" in text for n in range(1, 7))
