"""Attacks on a disclosure package that `evidpack verify` must catch, through the real CLI:
unsigned discloser names, special zip entries and folder files, partial encryption,
edited item proofs, an undecodable seal.json and wrongly typed statement fields.

Each test also shows the untouched package verifying (exit 0), so a failure is the attack's."""

from __future__ import annotations

import copy
import json
import os
import shutil
import stat
import zipfile
from pathlib import Path
from typing import Any

import pyzipper
import pytest
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, assert_clean, extract_package

PASSWORD = "correct horse battery staple"
TRUSTED_NAME = "Det. Jane Roe (DEMO KEY)"
FORGED_NAME = "Hon. Judge A. Smith, Superior Court"


def _line(output: str, check: str) -> str:
    """The report line of one check (its verdict and reason)."""
    hits = [x for x in output.splitlines() if x.split()[1:2] == [check]]
    assert len(hits) == 1, output
    return hits[0]


def _exhibit(bundle: Path, name: str) -> str:
    for line in (bundle / "evidpack/items.jsonl").read_text("utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("path", "").endswith(name):
            return str(rec["id"])
    raise AssertionError(name)


def _disclose(cli, bundle: Path, out: Path, *, password: bool) -> Path:
    red = out.parent / "redacted-notes.txt"
    red.write_text("Seized handset at [REDACTED].\n")
    notes = _exhibit(bundle, "notes/field-notes.txt")
    pw = out.parent / "pw"
    pw.write_text(PASSWORD + "\n")
    r = cli("disclose", bundle, "--include", "S01", "--redact", f"{notes}={red}", "--reason", "time redacted",
            "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS, "--to", "Defence",
            *(["--password-file", pw] if password else ["--plain"]), "--out", out)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture
def plain(cli, bundle: Path, tmp_path: Path) -> Path:
    (tmp_path / "plain").mkdir()
    pkg = _disclose(cli, bundle, tmp_path / "plain/pkg.zip", password=False)
    r = cli("verify", pkg, "--trust", TRUSTED)
    assert r.exit_code == 0 and "(not encrypted)" in r.output, r.output
    return pkg


@pytest.fixture
def aes(cli, bundle: Path, tmp_path: Path) -> Path:
    (tmp_path / "aes").mkdir()
    pkg = _disclose(cli, bundle, tmp_path / "aes/pkg.zip", password=True)
    r = cli("verify", pkg, "--trust", TRUSTED, "--password-file", tmp_path / "aes/pw")
    assert r.exit_code == 0 and "(AES-256 encrypted)" in r.output, r.output
    return pkg


@pytest.fixture
def folder(cli, plain: Path, tmp_path: Path) -> Path:
    """The plain package extracted (regular files only), verifying with exit 0."""
    dest = extract_package(plain, tmp_path / "unpacked")
    r = cli("verify", dest, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output
    return dest


def _rewrite(src: Path, out: Path, mutate) -> Path:
    """Copy a plain zip member by member; ``mutate(info, data, zout)`` returns True when it wrote the member itself."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if not mutate(copy.copy(info), data, zout):
                zout.writestr(copy.copy(info), data)
    return out


# --- #4: the discloser is named by the trusted key, never by unsigned package text ----------


def test_discloser_name_and_role_in_discloser_pem_are_not_believed(cli, folder: Path) -> None:
    pem = folder / "discloser.pem"
    lines = pem.read_text().splitlines(keepends=True)
    assert lines[0].startswith("Evidpack-Name: ") and lines[1].startswith("Evidpack-Role: ")
    pem.write_text(f"Evidpack-Name: {FORGED_NAME}\nEvidpack-Role: court\n" + "".join(lines[2:]))
    r = cli("verify", folder, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1, r.output
    bad = _line(r.output, "discloser-trusted")
    assert bad.split()[0] == "FAIL" and FORGED_NAME in bad and f"trusted as {TRUSTED_NAME} (examiner)" in bad
    # the forged name appears nowhere else: not in the signature check, redaction or summary
    assert [x for x in r.output.splitlines() if FORGED_NAME in x and not x.strip().startswith("-")] == [bad]
    red = next(x for x in r.output.splitlines() if x.split()[1:2] == ["redaction"])
    assert f"attested by trusted key {TRUSTED_NAME}" in red
    # without --trust: intact but untrusted (3); the header is shown only as an unverified claim
    r = cli("verify", folder)
    assert_clean(r)
    assert r.exit_code == 3, r.output
    assert "unverified" in _line(r.output, "discloser-trusted")
    assert f"trusted key {FORGED_NAME}" not in r.output and f"by {FORGED_NAME}" not in r.output
    # the header removed entirely is no claim at all: verifies, named by the trusted key
    pem.write_text("".join(lines[2:]))
    r = cli("verify", folder, "--trust", TRUSTED)
    assert r.exit_code == 0 and f"disclosure signed by trusted key {TRUSTED_NAME}" in r.output, r.output


# --- #5: symlink / FIFO zip entries, folder entries carrying bytes ---------------------------


def _as_mode(suffix: str, mode: int):
    def mutate(info: zipfile.ZipInfo, data: bytes, z: zipfile.ZipFile) -> bool:
        if not info.filename.endswith(suffix):
            return False
        n = zipfile.ZipInfo(info.filename, info.date_time)
        n.create_system, n.external_attr = 3, mode << 16
        z.writestr(n, data)
        return True

    return mutate


def _dir_with_bytes(info: zipfile.ZipInfo, data: bytes, z: zipfile.ZipFile) -> bool:
    z.writestr(info, data)
    if info.filename.endswith("README.txt"):
        z.writestr(zipfile.ZipInfo(info.filename.split("/", 1)[0] + "/files/hidden/"), b"HIDDEN PAYLOAD BYTES")
    return True


@pytest.mark.parametrize(
    ("mutate", "entry", "why"),
    [
        ("symlink", "", "zip entry of type symbolic link"),  # (the entry: a disclosed file)
        ("fifo", "README.txt", "zip entry of type FIFO"),
        ("direntry", "files/hidden", "a folder entry carrying 20 byte(s)"),
    ],
)
def test_special_zip_entries_fail_naming_the_entry(cli, plain: Path, tmp_path: Path, mutate: str, entry: str, why: str) -> None:
    if mutate == "symlink":
        with zipfile.ZipFile(plain) as zf:
            entry = next(i.filename.split("/", 1)[1] for i in zf.infolist() if "/files/" in i.filename and not i.is_dir())
        how = _as_mode(entry, stat.S_IFLNK | 0o777)
    elif mutate == "fifo":
        how = _as_mode(entry, stat.S_IFIFO | 0o644)
    else:
        how = _dir_with_bytes
    bad = _rewrite(plain, tmp_path / f"{mutate}.zip", how)
    r = cli("verify", bad, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1, r.output
    line = _line(r.output, "package")
    assert line.split()[0] == "FAIL" and entry in r.output and why in r.output
    assert f"{entry}: " in line


# --- #6: partial encryption, and the zip against disclosure.json's "encrypted" -------------


def test_members_stored_unencrypted_in_an_aes_package_fail_by_name(cli, aes: Path, tmp_path: Path) -> None:
    pw = PASSWORD.encode()
    with pyzipper.AESZipFile(aes) as src:
        src.setpassword(pw)
        members = [(i.filename, src.read(i)) for i in src.infolist() if not i.is_dir()]
    mixed = tmp_path / "aes/mixed.zip"
    with pyzipper.AESZipFile(mixed, "w", compression=zipfile.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as z:
        z.setpassword(pw)
        for n, d in members:
            if "/files/" not in n:
                z.writestr(n, d)
    with zipfile.ZipFile(mixed, "a") as z:
        for n, d in members:
            if "/files/" in n:
                z.writestr(n, d)
    plain_files = sorted(n.split("/", 1)[1] for n, _ in members if "/files/" in n)
    assert plain_files
    r = cli("verify", mixed, "--trust", TRUSTED, "--password-file", tmp_path / "aes/pw")
    assert_clean(r)
    assert r.exit_code == 1, r.output
    line = _line(r.output, "package")
    assert line.split()[0] == "FAIL" and "AES-256 encrypted)" not in line
    for n in plain_files:
        assert f"{n}: not AES-256 encrypted" in r.output
    # every member decrypted into a plain zip: disclosure.json still says encrypted
    flat = tmp_path / "aes/flat.zip"
    with zipfile.ZipFile(flat, "w") as z:
        for n, d in members:
            z.writestr(n, d)
    r = cli("verify", flat, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and "disclosure.json says encrypted is true" in _line(r.output, "package"), r.output


# --- #8: special files in an extracted folder ------------------------------------------------


def test_a_fifo_or_symlink_in_an_extracted_folder_fails_by_name_and_is_not_opened(cli, folder: Path) -> None:
    fifo = next((folder / "files").iterdir()) / "extra"
    os.mkfifo(fifo)  # (opening it would block the verifier forever)
    rel = fifo.relative_to(folder).as_posix()
    r = cli("verify", folder, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1, r.output
    line = _line(r.output, "package")
    assert line.split()[0] == "FAIL" and f"{rel}: not a regular file (FIFO)" in line
    fifo.unlink()
    (folder / "files/linked").symlink_to(folder / "README.txt")
    r = cli("verify", folder, "--trust", TRUSTED)
    assert r.exit_code == 1 and "files/linked: not a regular file (symbolic link)" in _line(r.output, "package"), r.output


# --- #9: item proof members edited ------------------------------------------------------------


def _proof_edit(folder: Path, edit) -> str:
    proofs = sorted((folder / "items").glob("*.proof.json"))
    for p in proofs:
        proof = json.loads(p.read_text("utf-8"))
        if edit(proof):
            p.write_text(json.dumps(proof, indent=1, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")
            return p.relative_to(folder).as_posix()
    raise AssertionError("no proof to edit")


def _set_case(p: dict[str, Any]) -> bool:
    p["case"] = "XX-OTHER-CASE"
    return True


def _add_field(p: dict[str, Any]) -> bool:
    p["note"] = "forged"
    return True


def _drop_leaf_hash(p: dict[str, Any]) -> bool:
    p["inclusion"].pop("leaf_hash")
    return True


def _leaf_index_true(p: dict[str, Any]) -> bool:
    if p["inclusion"]["leaf_index"] != 1:
        return False
    p["inclusion"]["leaf_index"] = True
    return True


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set_case, "is for case 'XX-OTHER-CASE', the master is case 'TC-0001'"),
        (_add_field, "has field 'note', which no evidpack proof holds"),
        (_drop_leaf_hash, "inclusion: field leaf_hash is missing"),
        (_leaf_index_true, "inclusion leaf_index is a boolean, not an integer"),
    ],
)
def test_an_edited_proof_member_fails(cli, folder: Path, edit, message: str) -> None:
    where = _proof_edit(folder, edit)
    r = cli("verify", folder, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1, r.output
    assert _line(r.output, "inclusion-proofs").split()[0] == "FAIL"
    assert f"{where}: {message}" in r.output, r.output


# --- #10: seal.json nested too deeply ---------------------------------------------------------


def _each_check_once(output: str) -> None:
    names = [x.split()[1] for x in output.splitlines() if x[:2] == "  " and x.split()[0] in ("PASS", "FAIL", "WARN", "UNTRUSTED", "SKIP")]
    assert len(names) == len(set(names)), output


def test_a_deeply_nested_seal_json_is_one_failed_seal_check(cli, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "master/evidpack/seal.json").write_text("[" * 100_000 + "]" * 100_000)
    r = cli("verify", folder, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1, r.output
    _each_check_once(r.output)
    assert "seal.json: missing" not in r.output
    assert _line(r.output, "seal").split()[0] == "FAIL"
    assert _line(r.output, "disclosure").split()[0] == "FAIL" and "root None" not in r.output
    # the same when the decoder's RecursionError escapes check_master (verify_disclosure's own fallback)
    import evidpack.proof as proof

    real = proof._check_seal_json

    def deep(rep, master, out, extra):  # type: ignore[no-untyped-def]
        if (master.get("evidpack/seal.json") or b"").startswith(b"[[[["):
            raise RecursionError
        return real(rep, master, out, extra)

    monkeypatch.setattr(proof, "_check_seal_json", deep)
    r = cli("verify", folder, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1, r.output
    _each_check_once(r.output)
    assert "seal.json: missing" not in r.output and "root None" not in r.output
    seal = _line(r.output, "seal")
    assert seal.split()[0] == "FAIL" and "master/evidpack/seal.json: not JSON (nested too deeply)" in seal
    assert _line(r.output, "signature").split()[0] == "PASS" and _line(r.output, "signer-trusted").split()[0] == "PASS"


# --- #2 (first trigger): an item id that is a JSON object -----------------------------------


def test_an_item_id_that_is_an_object_is_a_failed_package_check(cli, folder: Path) -> None:
    p = folder / "disclosure.json"
    s = json.loads(p.read_text("utf-8"))
    s["items"][0]["id"] = {"a": 1}
    p.write_text(json.dumps(s), "utf-8")
    r = cli("verify", folder, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1, r.output
    line = _line(r.output, "package")
    assert line.split()[0] == "FAIL" and "disclosure.json: item 1 has an id that is" in line and "not a string" in line


def test_untouched_folder_still_verifies_after_copy(cli, folder: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    shutil.copytree(folder, again)
    r = cli("verify", again, "--trust", TRUSTED)
    assert r.exit_code == 0 and "VERIFIED" in r.output, r.output
