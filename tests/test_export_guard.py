"""What is checked before something is written from or onto a sealed bundle:
`export case` writes nothing inside the bundle, overwrites nothing, exports only a
bundle whose seal and tag files hold, and survives hostile text in the custody log;
`custody add` signs no receipt onto a bundle that no longer matches its seal, and
says in the event what it checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, run_cli, run_proc, tool

from evidpack import custody

DEMO = ["--key", DEMO_KEY, "--passphrase-file", DEMO_PASS]
LOG = "evidpack/custody.jsonl"


def one_line(r, code: int) -> str:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def flip_signature(bundle: Path) -> None:
    """One bit of the raw signature over the tag manifest changed."""
    sig = writable(bundle / "tagmanifest-sha256.txt.sig")
    sig.write_bytes(bytes([sig.read_bytes()[0] ^ 1]) + sig.read_bytes()[1:])


# --- export case: where it writes -----------------------------------------------------


@pytest.mark.parametrize("inside", [LOG, "evidpack/new.jsonld", "x.jsonld", "data/x.jsonld"])
def test_export_refuses_to_write_inside_the_bundle(bundle: Path, tmp_path: Path, inside: str) -> None:
    assert run_cli("custody", "add", bundle, "--action", "transferred", "--to", "ADA Park", *DEMO).exit_code == 0
    log = (bundle / LOG).read_bytes()
    target = bundle / inside
    err = one_line(run_cli("export", "case", bundle, "--out", target), 2)
    assert "inside the bundle" in err
    assert (bundle / LOG).read_bytes() == log
    assert not (bundle / inside).exists() or inside == LOG
    assert not [p for p in bundle.rglob("*") if ".partial-" in p.name]
    # the same folder reached another way (a relative path with '..') is the same bundle
    sneaky = tmp_path / "elsewhere" / ".." / bundle.relative_to(tmp_path) / "evidpack" / "x.jsonld"
    (tmp_path / "elsewhere").mkdir(exist_ok=True)
    assert "inside the bundle" in one_line(run_cli("export", "case", bundle, "--out", sneaky), 2)
    assert run_cli("verify", bundle, "--trust", TRUSTED).exit_code == 0


def test_export_refuses_to_overwrite_an_existing_file(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "case.jsonld"
    out.write_text("someone's work\n")
    err = one_line(run_cli("export", "case", bundle, "--out", out), 2)
    assert "already exists" in err
    assert out.read_text() == "someone's work\n"
    link = tmp_path / "link.jsonld"
    link.symlink_to(tmp_path / "nowhere.jsonld")
    assert "already exists" in one_line(run_cli("export", "case", bundle, "--out", link), 2)
    assert not (tmp_path / "nowhere.jsonld").exists()
    # a new file, and standard output, still work
    fresh = tmp_path / "fresh.jsonld"
    assert run_cli("export", "case", bundle, "--out", fresh).exit_code == 0
    assert json.loads(fresh.read_text("utf-8"))["@graph"]
    r = run_cli("export", "case", bundle, "--out", "-")
    assert r.exit_code == 0 and json.loads(r.stdout)["@graph"]


# --- export case: what it vouches for -------------------------------------------------


def test_export_refuses_a_bundle_whose_items_were_altered(bundle: Path, tmp_path: Path) -> None:
    items = writable(bundle / "evidpack/items.jsonl")
    rec = json.loads(items.read_text("utf-8").splitlines()[0])
    items.write_text(items.read_text("utf-8").replace(rec["sha256"], "0" * 64), "utf-8")
    out = tmp_path / "x.jsonld"
    for target in (out, "-"):
        r = run_cli("export", "case", bundle, "--out", target)
        err = one_line(r, 1)
        assert "evidpack/items.jsonl: changed since sealing" in err and "evidpack verify" in err
        assert "0" * 64 not in r.stdout
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize("change", ["signature", "seal", "bag-info"])
def test_export_refuses_a_bundle_whose_seal_does_not_hold(bundle: Path, tmp_path: Path, change: str) -> None:
    if change == "signature":
        flip_signature(bundle)
        said = "signature does not match"
    elif change == "seal":
        seal = writable(bundle / "evidpack/seal.json")
        seal.write_text(seal.read_text("utf-8").replace("TC-0001", "TC-0002"), "utf-8")
        said = "evidpack/seal.json: changed"
    else:
        info = writable(bundle / "bag-info.txt")
        info.write_text(info.read_text("utf-8") + "Note: added later\n", "utf-8")
        said = "bag-info.txt: changed since sealing"
    err = one_line(run_cli("export", "case", bundle, "--out", tmp_path / "x.jsonld"), 1)
    assert said in err and "refusing to export" in err
    assert not (tmp_path / "x.jsonld").exists()


def test_export_of_a_zipped_bundle_is_checked_too(case: Path, tmp_path: Path) -> None:
    from conftest import build_args

    out = tmp_path / "b/TC-0001"
    assert run_cli(*build_args(case, out, "--zip")).exit_code == 0
    assert run_cli("export", "case", out.with_name("TC-0001.zip"), "--out", tmp_path / "ok.jsonld").exit_code == 0


# --- export case: hostile text in the custody log ----------------------------------------


def _add_surrogate_event(bundle: Path) -> None:
    """An event (the log is not sealed; anyone can append) whose details hold the JSON
    escape of a lone surrogate: legal JSON text, but no Unicode character."""
    log = writable(bundle / LOG)
    lines = log.read_bytes().split(b"\n")[:-1]
    last = json.loads(lines[-1])
    forged = lines[-1].replace(b'"details":{', b'"details":{"zz":"\\ud800 and \\udfff",', 1)
    forged = forged.replace(b'"seq":%d' % last["seq"], b'"seq":%d' % (last["seq"] + 1), 1)
    log.write_bytes(b"\n".join([*lines, forged]) + b"\n")


def test_a_custody_log_with_an_event_that_is_not_signed_is_refused(bundle: Path, tmp_path: Path) -> None:
    # The export presents the custody events as the bundle's history: a forged event
    # (here one whose details hold a lone surrogate, which no signature can cover) is not.
    _add_surrogate_event(bundle)
    out = tmp_path / "x.jsonld"
    for target in (out, "-"):
        r = run_cli("export", "case", bundle, "--out", target)
        err = one_line(r, 1)
        assert "refusing to export" in err and "evidpack/custody.jsonl" in err and "ud800" not in r.stdout
    assert not out.exists()
    assert run_cli("verify", bundle, "--trust", TRUSTED).exit_code == 1


def _append_signed(bundle: Path, details: dict) -> None:
    """An event with ``details`` signed by a key nobody trusts, chained properly (the
    log is not sealed: anyone with any key can append)."""
    from datetime import datetime, timezone

    from evidpack.keys import generate

    log = writable(bundle / LOG)
    lines = log.read_bytes().split(b"\n")[:-1]
    last = json.loads(lines[-1])
    key = generate("Mallory", "examiner")
    line = custody.make_event(
        seq=last["seq"] + 1, at=datetime.now(timezone.utc), action="note", key=key,
        subject=last["subject"], details=details, prev=custody.line_hash(lines[-1]),
    )
    log.write_bytes(b"\n".join([*lines, line]) + b"\n")


def test_hostile_text_in_a_signed_custody_event_is_exported_escaped(bundle: Path, tmp_path: Path) -> None:
    _append_signed(bundle, {"zz": "\x1b[2J\x1b[32mVERIFIED\u202e gpj.exe", "nested": {"a": [1, {"b": "\x00"}]}})
    assert run_cli("verify", bundle, "--trust", TRUSTED).exit_code == 3  # intact; Mallory is not trusted
    out = tmp_path / "x.jsonld"
    r = run_cli("export", "case", bundle, "--out", out)
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert b"\x1b" not in data and b"\\u001b[2J" in data  # JSON escapes, as text
    doc = json.loads(data)
    assert any("VERIFIED" in d for n in doc["@graph"] for d in n.get("uco-core:description", []) if isinstance(d, str))
    p = run_proc(tool("case_validate"), out)
    assert p.returncode == 0 and "Conforms: True" in p.stdout.decode(), p.stdout.decode()[:4000]


def test_export_refuses_a_bundle_whose_custody_log_or_index_was_altered(bundle: Path, tmp_path: Path) -> None:
    log = writable(bundle / LOG)
    good = log.read_bytes()
    tampered = good.replace(b"Det. Jane Roe", b"Det. John Doe", 1)
    assert tampered != good
    log.write_bytes(tampered)
    err = one_line(run_cli("export", "case", bundle, "--out", tmp_path / "x.jsonld"), 1)
    assert "refusing to export" in err and "evidpack/custody.jsonl" in err
    log.write_bytes(good)
    pdf = writable(bundle / "evidpack/index.pdf")
    pdf.write_bytes(pdf.read_bytes() + b"\n% appended\n")
    err = one_line(run_cli("export", "case", bundle, "--out", tmp_path / "x.jsonld"), 1)
    assert "refusing to export" in err and "evidpack/index.pdf" in err
    assert not (tmp_path / "x.jsonld").exists()


# --- custody add: checked before it signs ----------------------------------------------


def test_custody_add_records_what_it_checked(bundle: Path) -> None:
    r = run_cli("custody", "add", bundle, "--action", "transferred", "--to", "Court clerk", *DEMO)
    assert r.exit_code == 0, r.output
    ev = json.loads((bundle / LOG).read_bytes().splitlines()[-1])
    assert ev["details"] == {"to": "Court clerk", "checked": custody.CHECKED}
    assert "payload files not re-hashed" in ev["details"]["checked"] and "evidpack verify" in ev["details"]["checked"]
    # shown by custody show, and the bundle still verifies
    assert "checked=seal and tag files only" in run_cli("custody", "show", bundle).stdout
    assert run_cli("verify", bundle, "--trust", TRUSTED).exit_code == 0


def test_custody_add_will_not_let_a_detail_claim_the_check(bundle: Path) -> None:
    before = (bundle / LOG).read_bytes()
    err = one_line(run_cli("custody", "add", bundle, "--action", "note", "--detail", "checked=everything, deeply", *DEMO), 2)
    assert "'checked'" in err
    assert (bundle / LOG).read_bytes() == before


@pytest.mark.parametrize("change", ["payload-appended", "payload-added", "payload-removed", "items", "signature", "index"])
def test_custody_add_refuses_a_bundle_that_no_longer_matches_its_seal(bundle: Path, change: str) -> None:
    ledger = bundle / "data/S01-loose-files/ledger.csv"
    if change == "payload-appended":
        writable(ledger).write_bytes(ledger.read_bytes() + b"tampered\n")
        said = "Payload-Oxum"
    elif change == "payload-added":
        (bundle / "data/S01-loose-files/planted.txt").write_text("planted\n")
        said = "Payload-Oxum"
    elif change == "payload-removed":
        writable(ledger.parent)
        ledger.unlink()
        said = "Payload-Oxum"
    elif change == "items":
        items = writable(bundle / "evidpack/items.jsonl")
        items.write_text(items.read_text("utf-8").replace("ledger.csv", "ledger.CSV"), "utf-8")
        said = "evidpack/items.jsonl: changed since sealing"
    elif change == "index":
        pdf = writable(bundle / "evidpack/index.pdf")
        pdf.write_bytes(pdf.read_bytes().replace(b"%%EOF", b"%%EOF\n% appended", 1))
        said = "evidpack/index.pdf: changed"
    else:
        flip_signature(bundle)
        said = "signature does not match"
    before = (bundle / LOG).read_bytes()
    err = one_line(run_cli("custody", "add", bundle, "--action", "transferred", "--to", "Court clerk", *DEMO), 1)
    assert said in err and "refusing to add a 'transferred' event" in err and "evidpack verify" in err
    assert (bundle / LOG).read_bytes() == before


def test_verify_record_still_records_a_failed_verification(bundle: Path) -> None:
    # the 'verified' event records its own result: a failure is worth recording, and
    # custody adds no claim of its own to it
    ledger = writable(bundle / "data/S01-loose-files/ledger.csv")
    ledger.write_bytes(ledger.read_bytes() + b"tampered\n")
    r = run_cli("verify", bundle, "--trust", TRUSTED, "--record", *DEMO)
    assert r.exit_code == 1
    ev = json.loads((bundle / LOG).read_bytes().splitlines()[-1])
    assert ev["action"] == "verified" and ev["details"]["result"] == "integrity-failure"
    assert "checked" not in ev["details"]
