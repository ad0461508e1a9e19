"""What a bundle or a disclosure package can hold that no digest covers: empty
folders (a bag lists files only), and in a zip a comment or bytes before the
first entry or after the end record. None of it changes a sealed byte, so
verify still passes; but evidpack writes none of it, so someone added it after
the build, and verify says so (WARN, named, exit 0)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, build_args, manifest_text


def _verify(cli, target: Path):
    return cli("verify", target, "--trust", TRUSTED)


def _warn_lines(output: str) -> list[str]:
    return [x for x in output.splitlines() if x.split()[:1] == ["WARN"]]


def test_an_untouched_bundle_warns_of_nothing(cli, bundle: Path, tmp_path: Path) -> None:
    r = _verify(cli, bundle)
    assert r.exit_code == 0 and not _warn_lines(r.output) and "warning" not in r.output, r.output


def test_empty_folders_added_to_a_bundle_are_named(cli, bundle: Path) -> None:
    (bundle / "data/S01-evidence/hidden/deeper").mkdir(parents=True)
    (bundle / "evidpack/extra").mkdir()
    r = _verify(cli, bundle)
    assert r.exit_code == 0, r.output
    assert "outside-seal" in _warn_lines(r.output)[0]
    assert "data/S01-evidence/hidden/deeper/: an empty folder" in r.output
    assert "evidpack/extra/: an empty folder" in r.output
    assert "data/S01-evidence/hidden/:" not in r.output  # (it holds a folder: not empty)
    assert r.output.rstrip().endswith("(1 warning(s) above)")
    j = json.loads(cli("verify", bundle, "--trust", TRUSTED, "--json").output)
    warned = [c for c in j["checks"] if c["verdict"] == "warn"]
    assert [c["check"] for c in warned] == ["outside-seal"] and len(warned[0]["problems"]) == 2


@pytest.fixture
def bundle_zip(cli, case: Path, tmp_path: Path) -> Path:
    out = tmp_path / "z/TC-0001"
    assert cli(*build_args(case, out, "--zip")).exit_code == 0
    return out.with_name("TC-0001.zip")


def _rewrite(z: Path, dst: Path, *, before: bytes = b"", after: bytes = b"", comment: bytes = b"") -> Path:
    shutil.copyfile(z, dst)
    if comment:
        with zipfile.ZipFile(dst, "a") as zf:
            zf.comment = comment
    dst.write_bytes(before + dst.read_bytes() + after)
    return dst


@pytest.mark.parametrize(
    "change, said",
    [
        ({"after": b"appended"}, "8 byte(s) after the zip's end record"),
        ({"comment": b"not from evidpack"}, "a zip comment of 17 byte(s)"),
    ],
)
def test_bytes_outside_a_bundle_zips_entries_are_named(cli, bundle_zip: Path, tmp_path: Path, change, said) -> None:
    assert not _warn_lines(_verify(cli, bundle_zip).output)
    doctored = _rewrite(bundle_zip, tmp_path / "doctored.zip", **change)
    r = _verify(cli, doctored)
    assert r.exit_code == 0, r.output
    (line,) = _warn_lines(r.output)
    assert "outside-seal" in line and f"doctored.zip: {said}, outside the bag" in line


def test_bytes_before_a_bundle_zips_first_entry_are_refused(cli, bundle_zip: Path, tmp_path: Path) -> None:
    doctored = _rewrite(bundle_zip, tmp_path / "doctored.zip", before=b"MZ" * 50)
    r = _verify(cli, doctored)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"evidpack: error: {doctored}: 100 byte(s) come before its first zip entry; a bundle zip as evidpack writes it")
    assert "VERIFIED" not in r.output


def test_a_bundle_zip_cut_off_after_an_earlier_bundle_it_holds_is_not_verified_as_that_bundle(cli, bundle_zip: Path, tmp_path: Path) -> None:
    # A later case holds an earlier case's bundle zip as evidence; cut off just
    # after that inner zip, the file read from its end is the earlier bundle.
    (tmp_path / "later").mkdir()
    shutil.copyfile(bundle_zip, tmp_path / "later/earlier.zip")
    m = tmp_path / "later.toml"
    m.write_text(manifest_text('"later"', case_id="TC-0002"))
    out = tmp_path / "z2/TC-0002"
    assert cli(*build_args(m, out, "--zip")).exit_code == 0
    outer = out.with_name("TC-0002.zip").read_bytes()
    inner = bundle_zip.read_bytes()
    end = outer.index(inner) + len(inner)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(outer[: end + 1000])
    r = _verify(cli, cut)
    assert r.exit_code == 2, r.output
    assert "come before its first zip entry" in r.stderr and "VERIFIED" not in r.output
    r = cli("verify", cut, "--trust", TRUSTED, "--json")
    assert r.exit_code == 2 and "VERIFIED" not in r.output


def test_an_empty_folder_entry_in_a_bundle_zip_is_named(cli, bundle_zip: Path, tmp_path: Path) -> None:
    doctored = tmp_path / "doctored.zip"
    shutil.copyfile(bundle_zip, doctored)
    with zipfile.ZipFile(doctored, "a") as zf:
        zf.writestr("TC-0001/data/S01-evidence/nothing/", b"")
    r = _verify(cli, doctored)
    assert r.exit_code == 0 and "data/S01-evidence/nothing/: an empty folder" in r.output, r.output


def test_bytes_outside_a_disclosure_packages_entries_are_named(cli, bundle: Path, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg.zip"
    r = cli("disclose", bundle, "--include", "S01", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS,
            "--to", "Defence", "--plain", "--out", pkg)
    assert r.exit_code == 0, r.output
    assert not _warn_lines(_verify(cli, pkg).output)
    doctored = _rewrite(pkg, tmp_path / "doctored-pkg.zip", after=b"\0" * 4096)
    r = _verify(cli, doctored)
    assert r.exit_code == 0, r.output
    (line,) = _warn_lines(r.output)
    assert "outside-package" in line and "4096 byte(s) after the zip's end record" in line
    assert r.output.rstrip().endswith("(1 warning(s) above)")


def test_bytes_before_a_disclosure_packages_first_entry_are_refused(cli, bundle: Path, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg.zip"
    r = cli("disclose", bundle, "--include", "S01", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS,
            "--to", "Defence", "--plain", "--out", pkg)
    assert r.exit_code == 0, r.output
    doctored = _rewrite(pkg, tmp_path / "doctored-pkg.zip", before=b"\0" * 64)
    r = _verify(cli, doctored)
    assert r.exit_code == 2 and "64 byte(s) come before its first zip entry; a disclosure package as evidpack writes it" in r.stderr, r.output
