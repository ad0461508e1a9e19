"""Hostile input to `evidpack verify` of a disclosure package, `evidpack custody show`
and `--trust` key files: failed checks naming the file (exit 1), or for what the user
names on the command line one clear line (exit 2); never a traceback or "internal error".

A disclosure package's custody.jsonl is covered only by disclosure.json's hash, which
its holder can re-sign with any key, so every case below is open to a forger."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import DEEP_JSON, DEMO_KEY, DEMO_PASS, TRUSTED, assert_clean, extract_package, read_events, unknown_algorithm_pem, write_events

from evidpack import canonical

LOG = "custody.jsonl"
BUNDLE_LOG = "evidpack/custody.jsonl"
DEEP = DEEP_JSON


@pytest.fixture
def unpacked(cli, bundle: Path, tmp_path: Path) -> Path:
    """A plain disclosure package of S01 (event 2 withheld), extracted to a folder."""
    pkg = tmp_path / "out/TC-0001-disclosure.zip"
    pkg.parent.mkdir()
    r = cli("disclose", bundle, "--include", "S01", "--withhold-event", "2", "--key", DEMO_KEY,
            "--passphrase-file", DEMO_PASS, "--plain", "--to", "Defence", "--out", pkg)
    assert r.exit_code == 0, r.output
    dest = extract_package(pkg, tmp_path / "unpacked")
    r = cli("verify", dest, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output
    return dest


def _lines(d: Path) -> list[dict[str, Any]]:
    return read_events(d / LOG)


def _write(d: Path, events: list[dict[str, Any]]) -> None:
    write_events(d / LOG, events)


def _edit(action: str, field: str, value: Any) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        events = _lines(d)
        next(e for e in events if e.get("action") == action)[field] = value
        _write(d, events)

    return edit


def _append(text: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        with open(d / LOG, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")

    return edit


def _unknown_key_event(d: Path) -> None:
    events = _lines(d)
    events[-1]["actor"]["public_key"] = unknown_algorithm_pem()
    _write(d, events)


def _nan_event(d: Path) -> None:
    data = (d / LOG).read_bytes()
    (d / LOG).write_bytes(data.replace(b'"seq":1,', b'"seq":NaN,', 1))


def _bad_sig_on_one_event(d: Path) -> None:
    events = _lines(d)
    events[0]["sig"] = base64.b64encode(b"\x00" * 64).decode()
    _write(d, events)


HOSTILE = {
    "custody line nested 100,000 deep": _append(DEEP),
    "disclosed event details a list": _edit("disclosed", "details", [1]),
    "disclosed event actor a string": _edit("disclosed", "actor", "x"),
    "sealed event subject a string": _edit("sealed", "subject", "x"),
    "sealed event actor a string": _edit("sealed", "actor", "x"),
    "sealed event seq a string": _edit("sealed", "seq", "x"),
    "actor public_key of an unknown algorithm": _unknown_key_event,
    "NaN in an event": _nan_event,
    "one event with a wrong signature": _bad_sig_on_one_event,
}


def _verify_json(cli, d: Path) -> tuple[Any, dict[str, dict[str, Any]]]:
    r = cli("verify", d, "--trust", TRUSTED, "--json")
    assert_clean(r)
    report = json.loads(r.stdout)
    return r, {c["check"]: c for c in report["checks"]}


def _text(check: dict[str, Any]) -> str:
    return "\n".join([check["reason"], *check["problems"]])


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_disclosure_custody_is_a_named_failure(cli, unpacked: Path, name: str) -> None:
    HOSTILE[name](unpacked)
    r, checks = _verify_json(cli, unpacked)
    assert r.exit_code == 1, r.output
    assert checks["custody"]["verdict"] == "fail", checks["custody"]
    assert LOG in _text(checks["custody"]) or "event seq" in _text(checks["custody"]), _text(checks["custody"])
    # a signature not checked is never counted as a trusted signer
    assert checks["custody-signers"]["verdict"] == "fail", checks["custody-signers"]
    r = cli("verify", unpacked, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and "FAIL      custody" in r.output and "NOT INTACT" in r.output, r.output


def test_deep_custody_line_names_file_and_line(cli, unpacked: Path) -> None:
    _append(DEEP)(unpacked)
    n = len((unpacked / LOG).read_bytes().splitlines())
    _r, checks = _verify_json(cli, unpacked)
    assert f"{LOG} line {n}" in _text(checks["custody"]), _text(checks["custody"])


def test_one_unchecked_signature_fails_custody_signers_naming_the_event(cli, unpacked: Path) -> None:
    _bad_sig_on_one_event(unpacked)
    _r, checks = _verify_json(cli, unpacked)
    assert "line 1" in _text(checks["custody-signers"]), checks["custody-signers"]


@pytest.mark.parametrize("field, value", [("statement custody a list", [1]), ("statement master a string", "x")])
def test_hostile_statement_fields_are_a_named_failure(cli, unpacked: Path, field: str, value: Any) -> None:
    stmt = json.loads((unpacked / "disclosure.json").read_bytes())
    stmt[field.split()[1]] = value
    (unpacked / "disclosure.json").write_text(json.dumps(stmt))
    r, checks = _verify_json(cli, unpacked)
    assert r.exit_code == 1, r.output
    assert checks["disclosure-signature"]["verdict"] == "fail"


def test_deep_statement_is_a_named_failure(cli, unpacked: Path) -> None:
    (unpacked / "disclosure.json").write_text(DEEP)
    r = cli("verify", unpacked, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and "disclosure.json" in r.output, r.output


# --- custody show ----------------------------------------------------------------------


def _edit_bundle_last(bundle: Path, field: str, value: Any) -> None:
    events = read_events(bundle / BUNDLE_LOG)
    events[-1][field] = value
    write_events(bundle / BUNDLE_LOG, events)


@pytest.mark.parametrize("field, value", [("details", [1, 2]), ("actor", "x"), ("subject", "x"), ("details", "text")])
def test_custody_show_of_hostile_event_is_a_named_failure(cli, bundle: Path, field: str, value: Any) -> None:
    _edit_bundle_last(bundle, field, value)
    for args in ((), ("--json",)):
        r = cli("custody", "show", bundle, *args)
        assert_clean(r)
        assert r.exit_code == 1, r.output
        assert "BROKEN" in r.output and BUNDLE_LOG in r.output, r.output


# --- --trust key files -----------------------------------------------------------------


def test_trust_key_of_unknown_algorithm_is_one_line_naming_the_file(cli, bundle: Path, tmp_path: Path) -> None:
    key = tmp_path / "odd.pem"
    key.write_text(unknown_algorithm_pem())
    r = cli("verify", bundle, "--trust", key)
    assert_clean(r)
    assert r.exit_code == 2, r.output
    assert str(key) in r.output and len(r.output.strip().splitlines()) == 1, r.output


# --- canonical.is_canonical ------------------------------------------------------------


def test_is_canonical_of_deep_nesting_is_false() -> None:
    assert canonical.is_canonical(DEEP.encode()) is False
    assert canonical.is_canonical(b"[" * 5000 + b"]" * 5000) is False  # past the decoder's depth limit
    assert canonical.is_canonical(b"[" * 50 + b"]" * 50) is True  # nesting as such is fine
