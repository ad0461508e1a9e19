"""A later disclosure package says nothing about what it does not disclose — not even
through the custody log's record of an earlier disclosure (who received which exhibit,
a redaction's reason and its derivative's digest), nor through later events that name
an undisclosed exhibit by its id."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, run_cli, run_proc, tool

DEMO = ["--key", DEMO_KEY, "--passphrase-file", DEMO_PASS]
REASON = "names confidential informant CI-7 at 22 Elm St"
OTHER = "Counsel for co-defendant B"
REDACTED = b"Field notes, names removed.\n"


def ids(bundle: Path) -> dict[str, str]:
    """File name -> exhibit id."""
    recs = [json.loads(x) for x in (bundle / "evidpack/items.jsonl").read_text("utf-8").splitlines()]
    return {r["path"].rsplit("/", 1)[-1]: r["id"] for r in recs}


def disclose(bundle: Path, out: Path, *args: str | Path):
    return run_cli("disclose", bundle, *args, *DEMO, "--plain", "--out", out)


def members(pkg: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pkg) as zf:
        return {i.filename.split("/", 1)[1]: zf.read(i) for i in zf.infolist() if not i.is_dir()}


def everything(pkg: Path, tmp_path: Path) -> dict[str, bytes]:
    """Every member decompressed, the schedule's text, and the raw zip."""
    m = members(pkg)
    pdf = tmp_path / f"{pkg.stem}-schedule.pdf"
    pdf.write_bytes(m["schedule.pdf"])
    text = run_proc(tool("pdftotext"), "-layout", pdf, "-")
    assert text.returncode == 0
    return {**m, "schedule.pdf (text)": text.stdout, "(zip file)": pkg.read_bytes()}


def log_of(pkg: Path) -> list[dict]:
    return [json.loads(x) for x in members(pkg)["custody.jsonl"].splitlines()]


def bundle_log(bundle: Path) -> list[dict]:
    return [json.loads(x) for x in (bundle / "evidpack/custody.jsonl").read_bytes().splitlines()]


def verify(pkg: Path):
    return run_cli("verify", pkg, "--trust", TRUSTED)


@pytest.fixture
def first(bundle: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """The reviewer's first disclosure: the ledger, and a redaction of the field notes,
    with a reason, to the other defendant's counsel. Returns (package, ledger id, notes id)."""
    n = ids(bundle)
    ledger, notes = n["ledger.csv"], n["field-notes.txt"]
    red = tmp_path / "notes-redacted.txt"
    red.write_bytes(REDACTED)
    pkg = tmp_path / "pkg1.zip"
    r = disclose(bundle, pkg, "--include", ledger, "--include", notes, "--redact", f"{notes}={red}",
                 "--reason", REASON, "--to", OTHER)
    assert r.exit_code == 0, r.output
    return pkg, ledger, notes


def test_a_later_package_says_nothing_of_an_earlier_disclosure_of_a_withheld_item(bundle: Path, first, tmp_path: Path) -> None:
    pkg1, ledger, notes = first
    pkg2 = tmp_path / "pkg2.zip"
    r = disclose(bundle, pkg2, "--include", ledger, "--to", "Defence A")
    assert r.exit_code == 0, r.output

    needles = [notes, "CI-7", "Elm St", "co-defendant", "informant", "notes-redacted", "field-notes",
               hashlib.sha256(REDACTED).hexdigest(), hashlib.md5(REDACTED).hexdigest()]
    for member, data in everything(pkg2, tmp_path).items():
        for needle in needles:
            assert needle.encode() not in data, f"{needle!r} appears in package 2's {member}"

    # the earlier 'disclosed' event is carried as its line hash only, and the chain still checks
    earlier = next(e for e in bundle_log(bundle) if e["action"] == "disclosed")
    carried = {e["seq"]: e for e in log_of(pkg2)}
    assert set(carried[earlier["seq"]]) == {"seq", "withheld", "why"}
    assert "earlier disclosure" in carried[earlier["seq"]]["why"]
    statement = json.loads(members(pkg2)["disclosure.json"])
    assert earlier["seq"] in [w["seq"] for w in statement["custody"]["withheld"]]
    # the master keeps the event in full: nothing was lost, only not shown
    assert earlier["details"]["to"] == OTHER and earlier["details"]["redactions"][0]["reason"] == REASON

    for pkg in (pkg1, pkg2):
        v = verify(pkg)
        assert v.exit_code == 0, v.output
    assert "withheld by the discloser as line hashes only" in verify(pkg2).output


def test_the_same_recipient_again_and_a_third_package_still_verify(bundle: Path, first, tmp_path: Path) -> None:
    _, ledger, notes = first
    pkg2 = tmp_path / "again.zip"
    # the same counsel again: their own name is no secret from them; the earlier event is still withheld
    assert disclose(bundle, pkg2, "--include", ledger, "--to", OTHER).exit_code == 0
    pkg3 = tmp_path / "third.zip"
    assert disclose(bundle, pkg3, "--include", ledger, "--to", "Defence A").exit_code == 0
    log = log_of(pkg3)
    disclosed = [e for e in bundle_log(bundle) if e["action"] == "disclosed"]
    assert len(disclosed) == 3
    shown = {e["seq"] for e in log if "action" in e}
    assert disclosed[0]["seq"] not in shown and disclosed[1]["seq"] not in shown and disclosed[2]["seq"] in shown
    assert b"co-defendant" not in b"".join(everything(pkg3, tmp_path).values())
    for pkg in (pkg2, pkg3):
        v = verify(pkg)
        assert v.exit_code == 0, v.output


def test_later_events_naming_a_withheld_exhibit_or_an_earlier_disclosure_are_withheld(bundle: Path, first, tmp_path: Path) -> None:
    _, ledger, notes = first
    adds = [
        ("accessed", "--note", f"examined {notes} for the informant's name"),  # an undisclosed exhibit id
        ("transferred", "--to", OTHER),  # the earlier disclosure's recipient
        ("accessed", "--note", f"{ledger} printed for the hearing"),  # a disclosed exhibit: in full
        ("redacted", "--note", "a copy with the address blacked out"),  # a redaction of what?
        ("transferred", "--to", "ADA M. Park"),  # about the bundle: in full
    ]
    for action, opt, text in adds:
        r = run_cli("custody", "add", bundle, "--action", action, opt, text, *DEMO)
        assert r.exit_code == 0, r.output
    pkg = tmp_path / "p.zip"
    r = disclose(bundle, pkg, "--include", ledger, "--to", "Defence A")
    assert r.exit_code == 0, r.output
    log = bundle_log(bundle)[-6:-1]  # the five events just added (then 'disclosed')
    carried = {e["seq"]: e for e in log_of(pkg)}
    why = [carried[e["seq"]].get("why") for e in log]
    assert why == [
        "names or identifies an undisclosed item",
        "could describe an earlier disclosure",
        None,
        "a redaction naming no disclosed item",
        None,
    ]
    text = b"".join(everything(pkg, tmp_path).values())
    assert notes.encode() not in text and b"co-defendant" not in text and b"blacked out" not in text
    assert b"printed for the hearing" in text and b"ADA M. Park" in text
    v = verify(pkg)
    assert v.exit_code == 0, v.output


def test_the_discloser_may_not_name_a_withheld_exhibit_or_an_earlier_disclosure(bundle: Path, first, tmp_path: Path) -> None:
    _, ledger, notes = first
    before = (bundle / "evidpack/custody.jsonl").read_bytes()
    for opt, text, said in [
        ("--note", f"{notes} is withheld", f"names or identifies undisclosed item {notes}"),
        ("--note", f"as sent to {OTHER}", "an earlier disclosure (custody event seq"),
        ("--note", REASON, "an earlier disclosure"),
    ]:
        out = tmp_path / "p.zip"
        r = disclose(bundle, out, "--include", ledger, "--to", "Defence A", opt, text)
        assert r.exit_code == 2, r.output
        assert said in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not out.exists()
    assert (bundle / "evidpack/custody.jsonl").read_bytes() == before


def test_the_disclosed_event_is_not_marked_as_seal_checked_by_custody(bundle: Path, first) -> None:
    # disclose verifies the master itself (seal, Merkle root, every disclosed file re-hashed)
    # and predicts its event exactly: custody adds nothing to it
    e = next(e for e in bundle_log(bundle) if e["action"] == "disclosed")
    assert "checked" not in e["details"]
