"""Hostile input to `evidpack verify`: every one gives failed checks naming the
file and the problem (exit 1), never a traceback or "internal error"; and
custody-signers never passes over signatures that were not checked.

custody.jsonl is outside the seal, so anyone holding a copy of a bundle can
write any of the custody cases below."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import DEEP_JSON, TRUSTED, read_events, unknown_algorithm_pem, write_events


LOG = "evidpack/custody.jsonl"
DEEP = DEEP_JSON


def _events(bundle: Path) -> list[dict[str, Any]]:
    return read_events(bundle / LOG)


def _write_events(bundle: Path, events: list[dict[str, Any]]) -> None:
    write_events(bundle / LOG, events)


def _edit_sealed(field: str, value: Any) -> Callable[[Path], None]:
    def edit(bundle: Path) -> None:
        events = _events(bundle)
        sealed = next(e for e in events if e["action"] == "sealed")
        sealed[field] = value
        _write_events(bundle, events)

    return edit


def _edit_last(field: str, value: Any) -> Callable[[Path], None]:
    def edit(bundle: Path) -> None:
        events = _events(bundle)
        events[-1][field] = value
        _write_events(bundle, events)

    return edit


def _append_line(text: str) -> Callable[[Path], None]:
    def edit(bundle: Path) -> None:
        with open(bundle / LOG, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")

    return edit


def _unsupported_key_event(bundle: Path) -> None:
    """An event whose actor public_key is a PEM SubjectPublicKeyInfo of an algorithm
    (OID 1.2.3.4) the cryptography library does not know."""
    pem = unknown_algorithm_pem()
    events = _events(bundle)
    event = {
        "seq": len(events) + 1, "at": "2030-01-01T00:00:00Z", "action": "note",
        "actor": {"name": "x", "role": "other", "key": "x", "public_key": pem},
        "subject": {}, "details": {}, "prev": "0" * 64, "sig": "",
    }
    _append_line(json.dumps(event, sort_keys=True, separators=(",", ":")))(bundle)


def _nan_in_signed_event(bundle: Path) -> None:
    """A correctly-keyed event (the actor copied from a real one) holding NaN, which
    json.loads accepts but canonical JSON cannot encode."""
    data = (bundle / LOG).read_bytes()
    (bundle / LOG).write_bytes(data.replace(b'"seq":1,', b'"seq":NaN,', 1))


def _json_file(rel: str, text: str) -> Callable[[Path], None]:
    def edit(bundle: Path) -> None:
        (bundle / rel).write_text(text, "utf-8")

    return edit


def _seal_field(field: str, value: Any) -> Callable[[Path], None]:
    def edit(bundle: Path) -> None:
        seal = json.loads((bundle / "evidpack/seal.json").read_text("utf-8"))
        seal[field] = value
        (bundle / "evidpack/seal.json").write_text(json.dumps(seal), "utf-8")

    return edit


# (tampering, the check that must fail, what its reason or problems must say)
HOSTILE = {
    "custody line nested 100,000 deep": (_append_line(DEEP), "custody", f"{LOG} line "),
    "sealed event details a list": (_edit_sealed("details", [1]), "custody", "details is a list"),
    "sealed event details a string": (_edit_sealed("details", "x"), "custody", "details is a string"),
    "sealed event subject a list": (_edit_sealed("subject", [1]), "custody", "subject is a list"),
    "sealed event subject a string": (_edit_sealed("subject", "x"), "custody", "subject is a string"),
    "sealed event actor a string": (_edit_sealed("actor", "x"), "custody", "actor is a string"),
    "last event actor a string": (_edit_last("actor", "x"), "custody", "actor is a string"),
    "actor public_key of an unknown algorithm": (_unsupported_key_event, "custody", "signature cannot be checked"),
    "NaN in a signed event": (_nan_in_signed_event, "custody", "not canonical JSON"),
    "seal.json is []": (_json_file("evidpack/seal.json", "[]"), "seal", "evidpack/seal.json: a list, not a JSON object"),
    "seal.json nested 100,000 deep": (_json_file("evidpack/seal.json", DEEP), "seal", "evidpack/seal.json: not JSON"),
    "case.json is []": (_json_file("evidpack/case.json", "[]"), "seal", "evidpack/case.json: a list, not a JSON object"),
    "seal.json merkle is []": (_seal_field("merkle", []), "merkle-root", "evidpack/seal.json: merkle is a list"),
    "seal.json merkle is a string": (_seal_field("merkle", "x"), "merkle-root", "evidpack/seal.json: merkle is a string"),
    "seal.json signer is a list": (_seal_field("signer", [1]), "seal", "evidpack/seal.json: signer is a list"),
    "items.jsonl line nested 100,000 deep": (
        lambda b: open(b / "evidpack/items.jsonl", "a").write(DEEP + "\n"), "items", "items.jsonl line "),
    "items.jsonl id and path not strings": (
        lambda b: open(b / "evidpack/items.jsonl", "a").write('{"id":[1],"kind":"file","path":[2]}\n'),
        "items", "items.jsonl line "),
}

CUSTODY_SIGNERS_NOT_PROVEN = {
    "empty custody log": lambda b: (b / LOG).write_bytes(b""),
    "unsigned event without actor appended": _append_line(
        '{"action":"note","at":"2030-01-01T00:00:00Z","prev":"x","seq":999}'),
    "event without sig": _edit_last("sig", None),
    "event without actor": _edit_last("actor", None),
    "event with a wrong signature": _edit_last("sig", base64.b64encode(b"\x00" * 64).decode()),
    "unreadable line": _append_line("not json"),
}


def _verify_json(cli, bundle: Path) -> tuple[Any, dict[str, dict[str, Any]]]:
    r = cli("verify", bundle, "--trust", TRUSTED, "--json")
    for bad in ("Traceback", "internal error"):
        assert bad not in r.output, r.output
    report = json.loads(r.stdout)
    return r, {c["check"]: c for c in report["checks"]}


def _text(check: dict[str, Any]) -> str:
    return "\n".join([check["reason"], *check["problems"]])


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_a_named_failure_not_an_internal_error(cli, bundle: Path, name: str) -> None:
    tamper, check, says = HOSTILE[name]
    tamper(bundle)
    r, checks = _verify_json(cli, bundle)
    assert r.exit_code == 1, r.output
    assert checks[check]["verdict"] == "fail", checks[check]
    assert says in _text(checks[check]), _text(checks[check])
    # the text report prints too, naming the failed check
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert r.exit_code == 1
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    assert f"FAIL      {check}" in r.output and "NOT INTACT" in r.output


@pytest.mark.parametrize("name", [c for c in HOSTILE if HOSTILE[c][1] == "custody"])
def test_hostile_custody_event_names_the_log(cli, bundle: Path, name: str) -> None:
    HOSTILE[name][0](bundle)
    _r, checks = _verify_json(cli, bundle)
    assert LOG in _text(checks["custody"])
    # a signature not checked is never counted as a trusted signer
    assert checks["custody-signers"]["verdict"] == "fail"


def test_sealed_details_not_an_object_is_named_by_index_pdf_too(cli, bundle: Path) -> None:
    _edit_sealed("details", [1])(bundle)
    _r, checks = _verify_json(cli, bundle)
    assert checks["index-pdf"]["verdict"] == "fail"
    assert LOG in checks["index-pdf"]["reason"] and "not a JSON object" in checks["index-pdf"]["reason"]


@pytest.mark.parametrize("name", list(CUSTODY_SIGNERS_NOT_PROVEN))
def test_custody_signers_never_passes_over_unchecked_signatures(cli, bundle: Path, name: str) -> None:
    CUSTODY_SIGNERS_NOT_PROVEN[name](bundle)
    r, checks = _verify_json(cli, bundle)
    assert r.exit_code == 1, r.output
    assert checks["custody-signers"]["verdict"] != "pass", checks["custody-signers"]
    assert checks["custody-signers"]["verdict"] in ("fail", "skipped")
    assert LOG in _text(checks["custody-signers"])


def test_custody_signers_passes_when_every_signature_is_checked(cli, bundle: Path) -> None:
    r, checks = _verify_json(cli, bundle)
    assert r.exit_code == 0, r.output
    assert checks["custody-signers"]["verdict"] == "pass"


def test_missing_custody_log_is_not_a_custody_signers_pass(cli, bundle: Path) -> None:
    (bundle / LOG).unlink()
    r, checks = _verify_json(cli, bundle)
    assert r.exit_code == 1
    assert checks["custody"]["verdict"] == "fail" and LOG in checks["custody"]["reason"]
    assert checks["custody-signers"]["verdict"] != "pass"


def test_zip_bundle_with_hostile_custody_is_a_named_failure(cli, case: Path, tmp_path: Path) -> None:
    """The same parsing serves zip bundles: a deep-nested custody line inside the zip."""
    import zipfile

    from conftest import build_args

    out = tmp_path / "bundles/TC-0001"
    r = cli(*build_args(case, out, "--zip"))
    assert r.exit_code == 0, r.output
    src = out.with_suffix(".zip")
    dst = tmp_path / "hostile.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(LOG):
                data += (DEEP + "\n").encode()
            zout.writestr(info, data)
    r, checks = _verify_json(cli, dst)
    assert r.exit_code == 1, r.output
    assert checks["custody"]["verdict"] == "fail" and "nested too deeply" in _text(checks["custody"])
    assert checks["custody-signers"]["verdict"] == "fail"
