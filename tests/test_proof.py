"""Single-item proofs: one exhibit checked on its own, every tampering named."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import TRUSTED, build_args
from test_disclose import PHONE_ZIP, by_name, mbundle, records  # noqa: F401  (mbundle is a fixture)

LEDGER = "data/S01-loose-files/ledger.csv"


def _ledger(bundle: Path) -> Path:
    return bundle / LEDGER


def check(cli, file: Path, proof: Path, *extra: str | Path):
    return cli("verify-item", file, "--proof", proof, *extra)


def edit(proof: Path, change) -> None:  # type: ignore[no-untyped-def]
    obj = json.loads(proof.read_text())
    change(obj)
    proof.write_text(json.dumps(obj))


def test_proof_names_its_exhibit_and_is_small_and_self_contained(cli, bundle: Path, proof: Path) -> None:
    assert json.loads((bundle / "evidpack/items.jsonl").read_text().splitlines()[1])["path"] == LEDGER
    obj = json.loads(proof.read_text())
    assert obj["format"] == "evidpack-proof/1" and obj["id"] == "E0002" and obj["case"] == "TC-0001"
    assert obj["record"] == (bundle / "evidpack/items.jsonl").read_text().splitlines()[1]
    assert set(obj["inclusion"]) == {"alg", "leaf_index", "tree_size", "leaf_hash", "audit_path"}
    assert set(obj["master"]) == {"tagmanifest-sha256.txt", "tagmanifest-sha256.txt.sig", "tagmanifest-sha256.txt.sshsig",
                                  "evidpack/seal.json", "evidpack/signer.pem"}
    assert obj["master"]["evidpack/seal.json"].encode() == (bundle / "evidpack/seal.json").read_bytes()
    assert base64.b64decode(obj["master"]["tagmanifest-sha256.txt.sig"]) == (bundle / "tagmanifest-sha256.txt.sig").read_bytes()
    assert proof.stat().st_size < 8192


def test_verify_item_with_trust_is_0(cli, bundle: Path, proof: Path) -> None:
    r = check(cli, _ledger(bundle), proof, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output
    for name in ("signature", "signer-trusted", "seal", "inclusion-proof", "file"):
        assert f"PASS      {name}" in r.output
    assert "VERIFIED" in r.output


def test_verify_item_without_trust_is_3(cli, bundle: Path, proof: Path) -> None:
    r = check(cli, _ledger(bundle), proof)
    assert r.exit_code == 3 and "VERIFIED" not in r.output.replace("NOT VERIFIED", "")


def test_verify_item_json(cli, bundle: Path, proof: Path) -> None:
    r = check(cli, _ledger(bundle), proof, "--trust", TRUSTED, "--json")
    report = json.loads(r.stdout)
    assert r.exit_code == 0 and report["result"] == "verified"


def _alter_record(obj: dict[str, Any]) -> None:
    rec = json.loads(obj["record"])
    rec["size"] += 1
    obj["record"] = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _alter_node(obj: dict[str, Any]) -> None:
    node = obj["inclusion"]["audit_path"][0]
    obj["inclusion"]["audit_path"][0] = ("0" if node[0] != "0" else "1") + node[1:]


def _alter_seal(obj: dict[str, Any]) -> None:
    seal = json.loads(obj["master"]["evidpack/seal.json"])
    seal["merkle"]["root"] = "ab" * 32
    obj["master"]["evidpack/seal.json"] = json.dumps(seal, sort_keys=True, separators=(",", ":")) + "\n"


def _alter_signature(obj: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(obj["master"]["tagmanifest-sha256.txt.sig"]))
    raw[0] ^= 1
    obj["master"]["tagmanifest-sha256.txt.sig"] = base64.b64encode(bytes(raw)).decode()


def _alter_tagmanifest(obj: dict[str, Any]) -> None:
    obj["master"]["tagmanifest-sha256.txt"] = obj["master"]["tagmanifest-sha256.txt"].replace("a", "b", 1)


@pytest.mark.parametrize(
    "tamper, check_name, words",
    [
        (_alter_record, "inclusion-proof", "record altered"),
        (_alter_node, "inclusion-proof", "audit-path node was altered"),
        (_alter_seal, "seal", "evidpack/seal.json: changed"),
        (_alter_signature, "signature", "signature does not match"),
        (_alter_tagmanifest, "signature", "signature does not match"),
    ],
    ids=["record", "proof-node", "seal", "signature", "tag-manifest"],
)
def test_each_tampering_of_the_proof_is_detected_and_named(cli, bundle: Path, proof: Path, tamper, check_name: str, words: str) -> None:
    edit(proof, tamper)
    r = check(cli, _ledger(bundle), proof, "--trust", TRUSTED)
    assert r.exit_code == 1, r.output
    line = next(x for x in r.output.splitlines() if x.strip().startswith("FAIL") and check_name in x)
    assert words in r.output, line


def test_a_changed_file_is_detected_and_named(cli, bundle: Path, proof: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ledger.csv"
    copy.write_bytes(_ledger(bundle).read_bytes() + b"x")
    r = check(cli, copy, proof, "--trust", TRUSTED)
    assert r.exit_code == 1
    assert "FAIL      file" in r.output and "is not the sealed exhibit E0002" in r.output


def test_the_wrong_file_is_a_clear_failure(cli, bundle: Path, proof: Path) -> None:
    other = bundle / "data/S01-loose-files/notes/field-notes.txt"
    r = check(cli, other, proof, "--trust", TRUSTED)
    assert r.exit_code == 1 and "field-notes.txt is not the sealed exhibit E0002" in r.output


def test_a_proof_from_another_bundle_is_a_clear_failure(cli, bundle: Path, mbundle: Path, proof: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.proof.json"
    assert cli("proof", mbundle, by_name(mbundle, "EnMicroMsg.db"), "--out", other).exit_code == 0
    r = check(cli, _ledger(bundle), other, "--trust", TRUSTED)
    assert r.exit_code == 1 and "FAIL      file" in r.output
    # the same bytes sealed in another case are that case's exhibit, and the report says whose
    same = tmp_path / "same.proof.json"
    assert cli("proof", mbundle, by_name(mbundle, "ledger.csv"), "--out", same).exit_code == 0
    r = check(cli, _ledger(bundle), same, "--trust", TRUSTED)
    assert r.exit_code == 0 and f"is exhibit {by_name(mbundle, 'ledger.csv')} of case TC-0002" in r.output
    # a record and audit path grafted onto this bundle's seal
    theirs = json.loads(other.read_text())
    edit(proof, lambda obj: obj.update(record=theirs["record"], inclusion=theirs["inclusion"]))
    r = check(cli, _ledger(bundle), proof, "--trust", TRUSTED)
    assert r.exit_code == 1 and "FAIL      inclusion-proof" in r.output


def test_a_member_is_provable_on_its_own(cli, mbundle: Path, tmp_path: Path) -> None:
    chat = by_name(mbundle, "EnMicroMsg.db")
    out = tmp_path / "EnMicroMsg.db.proof.json"
    r = cli("proof", mbundle, chat, "--out", out)
    assert r.exit_code == 0, r.output
    assert records(mbundle)[chat]["sha256"] in r.output
    extracted = tmp_path / "EnMicroMsg.db"
    extracted.write_bytes(PHONE_ZIP["Dump/data/com.tencent.mm/EnMicroMsg.db"])
    r = check(cli, extracted, out, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output


def test_a_zipped_bundle_gives_the_same_proof(cli, case: Path, tmp_path: Path) -> None:
    out = tmp_path / "b/TC-0001"
    assert cli(*build_args(case, out, "--zip")).exit_code == 0
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli("proof", out, "E0002", "--out", a).exit_code == 0
    assert cli("proof", out.with_name("TC-0001.zip"), "E0002", "--out", b).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda b, t: ["proof", b, "E0999", "--out", t / "x.json"], "no exhibit E0999"),
        (lambda b, t: ["proof", b, "E0001", "--out", (t / "x.json").write_text("{}") and t / "x.json"], "already exists"),
        (lambda b, t: ["proof", t / "nowhere", "E0001", "--out", t / "x.json"], "no such bundle"),
        (lambda b, t: ["verify-item", b / LEDGER, "--proof", (t / "g.json").write_text("garbage") and t / "g.json"], "not a JSON proof file"),
        (lambda b, t: ["verify-item", b / LEDGER, "--proof", (t / "o.json").write_text("{}") and t / "o.json"], "not an evidpack-proof/1 proof file"),
        (lambda b, t: ["verify-item", b / LEDGER, "--proof", t / "missing.json"], "no such proof file"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, bundle: Path, tmp_path: Path, setup, message: str) -> None:
    r = cli(*setup(bundle, tmp_path))
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_missing_file_to_check_is_one_line_exit_2(cli, proof: Path, tmp_path: Path) -> None:
    r = check(cli, tmp_path / "nope.csv", proof, "--trust", TRUSTED)
    assert r.exit_code == 2 and "no such file" in r.output


def test_no_proof_from_a_bundle_whose_seal_does_not_hold(cli, bundle: Path, tmp_path: Path) -> None:
    seal = bundle / "evidpack/seal.json"
    seal.chmod(0o644)
    seal.write_text(seal.read_text().replace('"leaves":5', '"leaves":6'))
    r = cli("proof", bundle, "E0001", "--out", tmp_path / "p.json")
    assert r.exit_code == 1 and "refusing to prove or disclose" in r.output
