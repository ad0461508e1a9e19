"""keys -> build -> verify through the CLI, and every kind of tampering named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEMO_KEY, DEMO_PASS, DEMO_PUB, TRUSTED, build_args

from evidpack import bag, canonical, keys
from evidpack.build import INDEX_PDF, INDEX_SIG, SIG_FILE, SSHSIG_FILE, TAGMANIFEST, tag_files
from evidpack.custody import ChainWriter


def flip(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def verify(cli, target: Path, *extra: str | Path):
    return cli("verify", target, "--trust", TRUSTED, *extra)


def payload_file(bundle: Path, name: str) -> Path:
    return next(p for p in (bundle / "data").rglob("*") if p.name == name)


def test_build_then_verify_passes_with_trusted_key(cli, bundle: Path) -> None:
    r = verify(cli, bundle)
    assert r.exit_code == 0, r.output
    assert "VERIFIED: intact, sealed by trusted key Det. Jane Roe (DEMO KEY)" in r.output
    for check in ("structure", "signature", "signer-trusted", "tag-manifest", "payload-manifest-sha256",
                  "payload-oxum", "items", "merkle-root", "seal", "custody"):
        assert f"PASS      {check}" in r.output
    # MD5 is recomputed only on request; its manifest is still checked to list the payload
    assert "SKIP      payload-manifest-md5" in r.output and "give --md5" in r.output
    r = verify(cli, bundle, "--md5")
    assert r.exit_code == 0, r.output
    assert "PASS      payload-manifest-md5" in r.output


def test_md5_recomputed_on_request_catches_a_changed_file(cli, bundle: Path) -> None:
    target = payload_file(bundle, "field-notes.txt")
    target.chmod(0o644)
    target.write_bytes(b"altered")
    r = verify(cli, bundle, "--md5")
    assert r.exit_code == 1
    for alg in ("sha256", "md5"):
        assert f"FAIL      payload-manifest-{alg}" in r.output


def test_layout_matches_the_format(bundle: Path) -> None:
    for rel in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-md5.txt", TAGMANIFEST, SIG_FILE,
                SSHSIG_FILE, "evidpack/case.json", "evidpack/sources.jsonl", "evidpack/items.jsonl",
                "evidpack/seal.json", "evidpack/signer.pem", "evidpack/allowed_signers", "evidpack/custody.jsonl"):
        assert (bundle / rel).is_file(), rel
    assert not (bundle / "evidpack/.incomplete").exists()
    assert (bundle / "data/S01-loose-files/notes/field-notes.txt").is_file()
    assert (bundle / "data/S01-loose-files/小龙🐉 transcript.txt").is_file()
    assert len((bundle / SIG_FILE).read_bytes()) == 64
    listed = bag.parse_manifest((bundle / TAGMANIFEST).read_bytes(), TAGMANIFEST)[0]
    assert "evidpack/custody.jsonl" not in listed and SIG_FILE not in listed
    assert sorted(listed) == tag_files(bundle)


def test_item_records_are_canonical_and_complete(bundle: Path) -> None:
    lines = (bundle / "evidpack/items.jsonl").read_bytes().splitlines()
    assert len(lines) == 5
    for n, line in enumerate(lines, 1):
        assert canonical.is_canonical(line)
        rec = json.loads(line)
        assert rec["id"] == f"E{n:04d}"
        assert set(rec) >= {"id", "kind", "path", "size", "sha256", "md5", "mtime", "source", "media_type", "salt"}
        assert len(rec["salt"]) == 32 and rec["mtime"].endswith("Z")
    seal = json.loads((bundle / "evidpack/seal.json").read_bytes())
    assert seal["format"] == "evidpack/1" and seal["merkle"]["leaves"] == 5
    assert seal["signer"]["fingerprint"] == keys.load_public_key(DEMO_PUB).fingerprint


def test_no_trust_gives_3_and_never_says_verified(cli, bundle: Path) -> None:
    r = cli("verify", bundle)
    assert r.exit_code == 3
    assert "VERIFIED" not in r.output.replace("NOT VERIFIED", "")
    assert "proves nothing by itself" in r.output


def test_json_report(cli, bundle: Path) -> None:
    r = cli("verify", bundle, "--trust", DEMO_PUB, "--json")
    report = json.loads(r.stdout)
    assert r.exit_code == 0 and report["result"] == "verified"
    assert {c["check"] for c in report["checks"]} >= {"signature", "merkle-root", "custody"}


@pytest.mark.parametrize(
    "target, check, culprit",
    [
        ("payload", "payload-manifest-sha256", "field-notes.txt: changed"),
        ("evidpack/items.jsonl", "tag-manifest", "evidpack/items.jsonl: changed"),
        ("evidpack/seal.json", "tag-manifest", "evidpack/seal.json: changed"),
        ("manifest-sha256.txt", "tag-manifest", "manifest-sha256.txt: changed"),
        ("manifest-md5.txt", "tag-manifest", "manifest-md5.txt: changed"),
        (TAGMANIFEST, "signature", "does not match"),
        (SIG_FILE, "signature", f"{SIG_FILE}: Ed25519 signature does not match"),
        ("evidpack/signer.pem", "signature", ""),
    ],
)
def test_one_flipped_byte_fails_naming_the_culprit(cli, bundle: Path, target: str, check: str, culprit: str) -> None:
    if target == "payload":
        flip(payload_file(bundle, "field-notes.txt"), 3)
    elif target == "evidpack/signer.pem":
        text = (bundle / target).read_text()
        (bundle / target).write_text(text.replace("MCowBQYDK2VwAyEA", "MCowBQYDK2VwAyEB"))
    else:
        flip(bundle / target, 10)
    r = verify(cli, bundle)
    assert r.exit_code == 1, r.output
    assert f"FAIL      {check}" in r.output
    assert culprit in r.output
    assert "NOT INTACT" in r.output


def test_tampered_sshsig_fails(cli, bundle: Path) -> None:
    text = (bundle / SSHSIG_FILE).read_text().splitlines()
    line = text[3]
    text[3] = line[:-2] + ("A" if line[-2] != "A" else "B") + line[-1]
    (bundle / SSHSIG_FILE).write_text("\n".join(text) + "\n")
    r = verify(cli, bundle)
    assert r.exit_code == 1 and SSHSIG_FILE in r.output


def test_added_payload_file_fails(cli, bundle: Path) -> None:
    (bundle / "data/S01-loose-files/planted.txt").write_text("planted")
    r = verify(cli, bundle)
    assert r.exit_code == 1
    assert "data/S01-loose-files/planted.txt: extra file, not in manifest-sha256.txt" in r.output


def test_deleted_payload_file_fails(cli, bundle: Path) -> None:
    payload_file(bundle, "ledger.csv").unlink()
    r = verify(cli, bundle)
    assert r.exit_code == 1
    assert "data/S01-loose-files/ledger.csv: missing" in r.output


def test_added_tag_file_fails(cli, bundle: Path) -> None:
    (bundle / "evidpack/extra.json").write_text("{}")
    r = verify(cli, bundle)
    assert r.exit_code == 1 and "evidpack/extra.json: tag file not covered by the seal" in r.output


def test_symlink_planted_in_payload_fails(cli, bundle: Path, tmp_path: Path) -> None:
    target = payload_file(bundle, "ledger.csv")
    target.unlink()
    target.symlink_to(tmp_path / "case.toml")
    r = verify(cli, bundle)
    assert r.exit_code == 1 and "not a regular file" in r.output


def test_incomplete_marker_fails(cli, bundle: Path) -> None:
    (bundle / "evidpack/.incomplete").write_text("x")
    r = verify(cli, bundle)
    assert r.exit_code == 1 and "did not finish" in r.output


def resign(bundle: Path, key: keys.SigningKey, replace_signer: bool = True) -> None:
    """What a forger with their own key would do: rewrite every signed thing."""
    if replace_signer:
        (bundle / "evidpack/signer.pem").write_bytes(key.public.pem())
        (bundle / "evidpack/allowed_signers").write_text(
            f'{key.public.principal} namespaces="evidpack" {key.public.openssh()}\n')
        seal = json.loads((bundle / "evidpack/seal.json").read_bytes())
        seal["signer"] = {"name": key.public.name, "role": key.public.role,
                          "fingerprint": key.public.fingerprint, "principal": key.public.principal}
        (bundle / "evidpack/seal.json").write_bytes(canonical.dumps(seal) + b"\n")
    import hashlib

    tm = b"".join(bag.manifest_line(hashlib.sha256((bundle / r).read_bytes()).hexdigest(), r) for r in tag_files(bundle))
    (bundle / TAGMANIFEST).write_bytes(tm)
    (bundle / SIG_FILE).write_bytes(key.sign(tm))
    (bundle / SSHSIG_FILE).write_bytes(key.sshsig(tm))
    (bundle / INDEX_SIG).write_bytes(key.sign((bundle / INDEX_PDF).read_bytes()))
    from evidpack.timeutil import parse_rfc3339

    chain = ChainWriter()
    for line in (bundle / "evidpack/custody.jsonl").read_bytes().splitlines():
        ev = json.loads(line)
        subject = ev["subject"]
        if ev["action"] == "sealed":
            subject = {**subject, "tagmanifest_sha256": hashlib.sha256(tm).hexdigest()}
        chain.append(parse_rfc3339(ev["at"]), ev["action"], key, subject, ev["details"])
    (bundle / "evidpack/custody.jsonl").write_bytes(chain.data())


def test_resigned_with_another_key_is_intact_but_untrusted(cli, bundle: Path, other_key) -> None:
    key_path, _, passphrase = other_key
    resign(bundle, keys.load_signing_key(key_path, passphrase))
    r = verify(cli, bundle)
    assert r.exit_code == 3, r.output
    assert "UNTRUSTED signer-trusted" in r.output and "is not among the" in r.output
    assert "UNTRUSTED custody-signers" in r.output
    assert "INTACT BUT NOT VERIFIED" in r.output


def test_resigned_without_replacing_signer_pem_is_integrity_failure(cli, bundle: Path, other_key) -> None:
    key_path, _, passphrase = other_key
    resign(bundle, keys.load_signing_key(key_path, passphrase), replace_signer=False)
    r = verify(cli, bundle)
    assert r.exit_code == 1
    assert "FAIL      signature" in r.output


def test_trusting_the_other_key_only_is_untrusted(cli, bundle: Path, other_key) -> None:
    _, pub_path, _ = other_key
    r = cli("verify", bundle, "--trust", pub_path)
    assert r.exit_code == 3 and "is not among the 1 trusted key(s)" in r.output


def test_zip_bundle_verifies_and_detects_tampering(cli, case: Path, tmp_path: Path) -> None:
    out = tmp_path / "z/TC-0001"
    assert cli(*build_args(case, out, "--zip")).exit_code == 0
    z = out.with_name("TC-0001.zip")
    r = verify(cli, z)
    assert r.exit_code == 0, r.output
    import zipfile

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(z) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("ledger.csv"):
                data = data.replace(b"4500", b"4600")
            dst.writestr(info, data)
    r = verify(cli, bad)
    assert r.exit_code == 1 and "ledger.csv: changed" in r.output


def test_verify_of_something_that_is_not_a_bundle_is_2(cli, tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"PK not really")
    for target in (tmp_path, tmp_path / "x.zip", tmp_path / "missing"):
        r = cli("verify", target, "--trust", TRUSTED)
        assert r.exit_code == 2 and r.stderr.startswith("evidpack: error:") and len(r.stderr.strip().splitlines()) == 1


def test_build_with_the_demo_key_through_a_real_process(tmp_path: Path, case: Path) -> None:
    from conftest import BUILD_TIME, run_proc
    import sys

    out = tmp_path / "p"
    r = run_proc(sys.executable, "-m", "evidpack", "build", case, "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS,
                 "--out", out, "--time", BUILD_TIME)
    assert r.returncode == 0, r.stderr
    r = run_proc(sys.executable, "-m", "evidpack", "verify", out, "--trust", DEMO_PUB)
    assert r.returncode == 0 and b"VERIFIED" in r.stdout


@pytest.mark.parametrize("bad", [b"[1, 2]", b'{"id": "E0001"}', b"not json"])
def test_a_malformed_item_line_is_named_not_a_crash(cli, bundle: Path, bad: bytes) -> None:
    path = bundle / "evidpack/items.jsonl"
    lines = path.read_bytes().splitlines()
    lines[1] = bad
    path.write_bytes(b"\n".join(lines) + b"\n")
    r = verify(cli, bundle)
    assert r.exit_code == 1
    assert "items.jsonl line 2: not" in r.output
