"""verify names which sealed bundle it checked, lists what the build itself
recorded as failed or warned, and tells a naming disagreement from tampering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import TRUSTED, build_args, manifest_text, write_tree


def test_the_verdict_names_the_case_and_the_tag_manifest(cli, bundle: Path) -> None:
    tm = hashlib.sha256((bundle / "tagmanifest-sha256.txt").read_bytes()).hexdigest()
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output
    last = r.output.rstrip().splitlines()[-1]
    assert last.startswith("VERIFIED: intact, sealed by trusted key ")
    assert f"; case TC-0001, tag manifest sha256 {tm}" in last
    j = json.loads(cli("verify", bundle, "--trust", TRUSTED, "--json").output)
    assert j["case"] == "TC-0001" and j["tagmanifest_sha256"] == tm
    r = cli("verify", bundle)  # no --trust: the claim is the key's own, said as a claim
    assert r.exit_code == 3
    assert "INTACT BUT NOT VERIFIED: signer key SHA256:" in r.output and "(claiming to be " in r.output
    assert f"case TC-0001, tag manifest sha256 {tm}" in r.output


def test_failed_checks_sealed_with_keep_going_are_listed_by_verify(cli, tmp_path: Path) -> None:
    import os

    write_tree(tmp_path / "ev", {"ok.txt": b"ok"})
    (tmp_path / "ev" / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 name")
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"ev"'))
    out = tmp_path / "B"
    assert cli(*build_args(m, out, "--keep-going")).exit_code == 0
    r = cli("verify", out, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output  # facts of the evidence, not a failure of the bundle
    (line,) = [x for x in r.output.splitlines() if "sealed-checks" in x]
    assert line.split()[0] == "WARN" and "the build recorded 1 failed and 1 warning check(s)" in line
    assert "S01 utf8-name: " in line and "not valid UTF-8" in line
    assert "(1 warning(s) above)" in r.output.splitlines()[-1]
    j = json.loads(cli("verify", out, "--trust", TRUSTED, "--json").output)
    (c,) = [c for c in j["checks"] if c["check"] == "sealed-checks"]
    assert c["verdict"] == "warn" and len(c["problems"]) == 2


def test_warnings_alone_are_a_note_and_a_clean_build_shows_none(cli, bundle: Path, tmp_path: Path) -> None:
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert "sealed-checks" not in r.output
    write_tree(tmp_path / "ev", {"a/x.txt": b"x"})
    (tmp_path / "ev/empty").mkdir()
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"ev"'))
    out = tmp_path / "B"
    assert cli(*build_args(m, out)).exit_code == 0
    r = cli("verify", out, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output
    (line,) = [x for x in r.output.splitlines() if "sealed-checks" in x]
    assert line.split()[0] == "NOTE" and "the build recorded 1 warning check(s)" in line and "empty-folders" in line
    assert "warning(s) above" not in r.output.splitlines()[-1]


def test_a_trusted_key_labelled_differently_is_not_an_integrity_failure(cli, bundle: Path, tmp_path: Path) -> None:
    pub = (TRUSTED / "demo-examiner.pub").read_text()
    name = next(line for line in pub.splitlines() if line.startswith("Evidpack-Name:"))
    trust = tmp_path / "relabelled.pub"
    trust.write_text(pub.replace(name, "Evidpack-Name: Det. Jane Roe"))
    r = cli("verify", bundle, "--trust", trust)
    assert r.exit_code == 3, r.output
    assert "NOT INTACT" not in r.output
    (line,) = [x for x in r.output.splitlines() if "custody-identity" in x]
    assert line.split()[0] == "UNTRUSTED" and "is trusted as Det. Jane Roe (examiner) but its events name its holder" in line


def test_custody_times_are_labelled_as_when_recorded(cli, bundle: Path) -> None:
    import subprocess

    r = cli("custody", "show", bundle)
    assert r.exit_code == 0 and r.output.splitlines()[0].split()[:3] == ["seq", "recorded", "(UTC)"], r.output
    text = subprocess.run(["pdftotext", "-layout", str(bundle / "evidpack/index.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "Recorded (UTC)" in text and "Each time is when the event was recorded" in " ".join(text.split())
