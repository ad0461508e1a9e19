"""Hostile proof files for `evidpack verify-item`, and hostile text in reports of
`evidpack verify`: failed checks naming the file or field (exit 1), or for an unusable
proof file named on the command line one clear line (exit 2); never a traceback,
"internal error" or a hang, and `--json` output always valid JSON."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import DEEP_JSON, DEMO_KEY, DEMO_PASS, TRUSTED, VENV_BIN, assert_clean, extract_package

DEEP = DEEP_JSON
LEDGER = "data/S01-loose-files/ledger.csv"
SEAL = "evidpack/seal.json"
PEM = "evidpack/signer.pem"


def _edit(proof: Path, change: Callable[[dict[str, Any]], None]) -> None:
    obj = json.loads(proof.read_text("utf-8"))
    change(obj)
    proof.write_text(json.dumps(obj), "utf-8")  # ensure_ascii: a lone surrogate is written as \ud800


def _seal_signer_str(obj: dict[str, Any]) -> None:
    seal = json.loads(obj["master"][SEAL])
    seal["signer"] = "x"
    obj["master"][SEAL] = json.dumps(seal)


def _verify_item(cli, bundle: Path, proof: Path, *extra: str) -> Any:
    r = cli("verify-item", bundle / LEDGER, "--proof", proof, "--trust", TRUSTED, *extra)
    assert_clean(r)
    return r


def test_untouched_proof_still_verifies(cli, bundle: Path, proof: Path) -> None:
    r = _verify_item(cli, bundle, proof)
    assert r.exit_code == 0 and "VERIFIED" in r.output, r.output
    r = _verify_item(cli, bundle, proof, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["result"] == "verified"


def test_deeply_nested_proof_file_is_one_line(cli, bundle: Path, proof: Path) -> None:
    proof.write_text(DEEP)
    r = _verify_item(cli, bundle, proof)
    assert r.exit_code == 2 and str(proof) in r.output and "nested too deeply" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize(("name", "change", "check", "text"), [
    ("nested-seal", lambda o: o["master"].__setitem__(SEAL, DEEP), "seal", f"{SEAL}: not a JSON object"),
    ("nested-record", lambda o: o.__setitem__("record", DEEP), "inclusion-proof", "exhibit E0002: the record is not a JSON object"),
    ("seal-signer-str", _seal_signer_str, "seal", f'{SEAL}: "signer" is not an object'),
    ("record-surrogate", lambda o: o.__setitem__("record", "\ud800"), "inclusion-proof", "exhibit E0002: the record is not valid Unicode"),
    ("pem-surrogate", lambda o: o["master"].__setitem__(PEM, "\ud800"), "proof-file", f"master['{PEM}'] is not valid Unicode"),
])
def test_hostile_proof_is_a_named_failure(cli, bundle: Path, proof: Path, name: str, change: Any, check: str, text: str) -> None:
    _edit(proof, change)
    r = _verify_item(cli, bundle, proof)
    assert r.exit_code == 1, r.output
    line = next((ln for ln in r.output.splitlines() if f"FAIL      {check} " in ln), None)
    assert line is not None, r.output
    assert text in r.output, r.output
    if check == "proof-file":
        assert str(proof) in r.output
    r = _verify_item(cli, bundle, proof, "--json")
    report = json.loads(r.stdout)
    assert r.exit_code == 1 and report["result"] == "integrity-failure"
    assert check in [c["check"] for c in report["checks"] if c["verdict"] == "fail"]


def test_surrogate_in_record_id_is_printed_escaped(cli, bundle: Path, proof: Path) -> None:
    """A record that parses but holds a lone surrogate: the report shows it escaped, text and JSON."""
    _edit(proof, lambda o: o.__setitem__("record", o["record"].replace('"id":"E0002"', '"id":"\ud800"')))
    r = _verify_item(cli, bundle, proof)
    assert r.exit_code == 1 and "\\ud800" in r.output, r.output
    r = _verify_item(cli, bundle, proof, "--json")
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert "\ud800" in json.dumps(report, ensure_ascii=False)


def test_proof_fifo_is_refused_at_once(bundle: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "proof.fifo"
    os.mkfifo(fifo)
    p = subprocess.run([str(VENV_BIN / "evidpack"), "verify-item", str(bundle / LEDGER), "--proof", str(fifo), "--trust", str(TRUSTED)],
                       capture_output=True, timeout=60)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert str(fifo) in err and "not a regular file" in err and "Traceback" not in err and "internal error" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_file_that_is_not_regular_is_refused_at_once(bundle: Path, proof: Path, tmp_path: Path, kind: str) -> None:
    """FILE a FIFO (open would block) or /dev/zero (never ends): one line, exit 2, at once."""
    if kind == "fifo":
        target = tmp_path / "ledger.fifo"
        os.mkfifo(target)
    else:
        target = Path("/dev/zero")
    p = subprocess.run([str(VENV_BIN / "evidpack"), "verify-item", str(target), "--proof", str(proof), "--trust", str(TRUSTED)],
                       capture_output=True, timeout=60)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert f"{target}: not a regular file" in err and "Traceback" not in err and "internal error" not in err
    assert len(err.strip().splitlines()) == 1 and not p.stdout


def test_a_larger_file_fails_without_being_read_whole(cli, bundle: Path, proof: Path, tmp_path: Path) -> None:
    big = tmp_path / "ledger.csv"
    big.write_bytes((bundle / LEDGER).read_bytes() + b"x" * 100_000)
    r = cli("verify-item", big, "--proof", proof, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and "FAIL      file" in r.output and f"{big}: larger than the " in r.output, r.output


@pytest.mark.parametrize(("field", "value"), [("leaf_index", False), ("leaf_index", True), ("tree_size", True), ("tree_size", False)])
def test_bool_in_place_of_an_integer_is_refused(cli, bundle: Path, proof: Path, field: str, value: bool) -> None:
    _edit(proof, lambda o: o["inclusion"].__setitem__(field, value))
    r = _verify_item(cli, bundle, proof)
    assert r.exit_code == 1 and "FAIL      inclusion-proof" in r.output, r.output
    assert f"inclusion proof's {field} is {value}, not an integer" in r.output and "VERIFIED" not in r.output.replace("NOT INTACT", "")
    report = json.loads(_verify_item(cli, bundle, proof, "--json").stdout)
    assert report["exit_code"] == 1 and "inclusion-proof" in [c["check"] for c in report["checks"] if c["verdict"] == "fail"]


@pytest.mark.parametrize("field", ["leaf_index", "tree_size"])
def test_huge_proof_numbers_are_shown_shortened(cli, bundle: Path, proof: Path, field: str) -> None:
    _edit(proof, lambda o: o["inclusion"].__setitem__(field, 10**4000))
    r = _verify_item(cli, bundle, proof)
    assert r.exit_code == 1 and "FAIL      inclusion-proof" in r.output, r.output
    assert "0" * 200 not in r.output and max(len(ln) for ln in r.output.splitlines()) < 500, r.output


# --- members sealed in part or with a bad CRC: the proof verifies, and says what the record says ---------


@pytest.fixture
def partial(cli, tmp_path: Path) -> Path:
    from test_disclose_member_types import _partial_bundle

    return _partial_bundle(cli, tmp_path)


@pytest.mark.parametrize(("path", "data", "said"), [
    ("cut", b"C" * 1000, ["member-readable: truncated", "declared size: its container declares 3000 bytes"]),
    ("crc.txt", b"bad crc\n", ["member-crc: bad CRC-32"]),
])
def test_a_member_sealed_with_problems_verifies_and_its_report_says_so(cli, partial: Path, tmp_path: Path, path: str,
                                                                      data: bytes, said: list[str]) -> None:
    from device_support import members

    rec = next(m for m in members(partial) if m["member_path"] == path)
    proof = tmp_path / f"{path}.proof.json"
    r = cli("proof", partial, rec["id"], "--out", proof)
    assert r.exit_code == 0, r.output
    assert "record says:" in r.output and all(s in r.output for s in said), r.output
    file = tmp_path / path.replace(".", "-copy.")
    file.write_bytes(data)
    r = cli("verify-item", file, "--proof", proof, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 0, r.output  # the bytes are exactly those sealed ...
    assert "PASS      file" in r.output and "WARN      record" in r.output and "(1 warning(s) above)" in r.output
    assert r.output.strip().splitlines()[-1].startswith(f"VERIFIED: {file.name} is exhibit {rec['id']}")
    assert all(s in r.output for s in said), r.output  # ... and the report says what the sealed record says of them
    r = cli("verify-item", file, "--proof", proof, "--trust", TRUSTED, "--json")
    report = json.loads(r.stdout)
    assert r.exit_code == 0 and report["result"] == "verified"
    warned = [c for c in report["checks"] if c["check"] == "record"]
    assert len(warned) == 1 and warned[0]["verdict"] == "warn"
    assert all(any(s in p for p in warned[0]["problems"]) for s in said), warned
    assert rec["problems"][0] in warned[0]["problems"]


def test_a_sound_record_gives_no_record_warning(cli, bundle: Path, proof: Path) -> None:
    r = _verify_item(cli, bundle, proof)
    assert r.exit_code == 0 and "WARN" not in r.output and "warning" not in r.output, r.output


# --- disclosure packages -------------------------------------------------------------


@pytest.fixture
def unpacked(cli, bundle: Path, tmp_path: Path) -> Path:
    """A plain disclosure package of S01, extracted to a folder."""
    pkg = tmp_path / "out/TC-0001-disclosure.zip"
    pkg.parent.mkdir()
    r = cli("disclose", bundle, "--include", "S01", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS,
            "--plain", "--to", "Defence", "--out", pkg)
    assert r.exit_code == 0, r.output
    return extract_package(pkg, tmp_path / "unpacked")


def test_disclosure_seal_signer_string_is_a_named_failure(cli, unpacked: Path) -> None:
    p = unpacked / "master" / SEAL
    seal = json.loads(p.read_text("utf-8"))
    seal["signer"] = "x"
    p.write_text(json.dumps(seal), "utf-8")
    r = cli("verify", unpacked, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and f'{SEAL}: "signer" is not an object' in r.output, r.output


def _surrogate_id(d: Path) -> None:
    p = d / "disclosure.json"
    statement = json.loads(p.read_text("utf-8"))
    statement["items"][0]["id"] = "\ud800"
    p.write_text(json.dumps(statement), "utf-8")


def test_disclosure_surrogate_is_printed_escaped(cli, unpacked: Path) -> None:
    _surrogate_id(unpacked)
    r = cli("verify", unpacked, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and "\\ud800" in r.output, r.output


def test_disclosure_surrogate_json_stays_valid(cli, unpacked: Path) -> None:
    _surrogate_id(unpacked)
    r = cli("verify", unpacked, "--trust", TRUSTED, "--json")
    assert_clean(r)
    report = json.loads(r.stdout)  # still valid JSON
    assert r.exit_code == 1 and report["result"] == "integrity-failure"
