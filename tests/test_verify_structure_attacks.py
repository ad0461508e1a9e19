"""Changes to a bundle's structure that a hostile copy could make and verify
must catch: an extra "tagmanifest-*" file, data/ swapped for a symlink, a FIFO
in place of a payload file, and a zip whose entries unzip as something else
than what verify read (a symlink, a folder entry carrying bytes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import TRUSTED, build_args


def verify(cli, target: Path):
    return cli("verify", target, "--trust", TRUSTED)


def test_an_extra_tagmanifest_file_is_not_covered_by_the_seal(cli, bundle: Path) -> None:
    (bundle / "tagmanifest-md5.txt").write_text("d41d8cd98f00b204e9800998ecf8427e  bagit.txt\n")
    r = verify(cli, bundle)
    assert r.exit_code == 1 and "tagmanifest-md5.txt: tag file not covered by the seal" in r.output


def test_data_replaced_by_a_symlink_to_the_same_files_elsewhere_fails(cli, bundle: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.move(bundle / "data", elsewhere)
    (bundle / "data").symlink_to(elsewhere, target_is_directory=True)
    r = verify(cli, bundle)
    assert r.exit_code == 1, r.output
    assert "FAIL      structure" in r.output and "data: not a regular file" in r.output and "VERIFIED" not in r.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_in_place_of_a_payload_file_fails_without_blocking(bundle: Path) -> None:
    target = next(p for p in (bundle / "data").rglob("ledger.csv"))
    target.unlink()
    os.mkfifo(target)
    # A real process with a time limit: opening a FIFO for reading would block until a writer came.
    cmd = [sys.executable, "-m", "evidpack", "verify", str(bundle), "--trust", str(TRUSTED)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "ledger.csv: not a regular file" in r.stdout and "Traceback" not in r.stderr


def test_a_device_given_as_the_bundle_is_one_line_not_a_hang(cli) -> None:
    r = cli("verify", "/dev/zero", "--trust", TRUSTED)
    assert r.exit_code == 2 and r.stderr.strip() == "evidpack: error: /dev/zero: not a bundle folder or a zip file"


def _rezip(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(change(info), zin.read(info))


@pytest.fixture
def bundle_zip(cli, case: Path, tmp_path: Path) -> Path:
    out = tmp_path / "z/TC-0001"
    assert cli(*build_args(case, out, "--zip")).exit_code == 0
    z = out.with_name("TC-0001.zip")
    assert verify(cli, z).exit_code == 0
    return z


def test_a_zip_entry_marked_as_a_symlink_fails(cli, bundle_zip: Path, tmp_path: Path) -> None:
    def as_symlink(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
        if info.filename.endswith("ledger.csv"):  # same bytes, but unzip would make a symlink of it
            info.create_system = 3
            info.external_attr = 0o120777 << 16
        return info

    bad = tmp_path / "symlinked.zip"
    _rezip(bundle_zip, bad, as_symlink)
    r = verify(cli, bad)
    assert r.exit_code == 1 and "ledger.csv: not a regular file" in r.output


def test_a_zip_folder_entry_carrying_bytes_fails(cli, bundle_zip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "hidden.zip"
    shutil.copy(bundle_zip, bad)
    with zipfile.ZipFile(bad, "a") as z:
        folder = zipfile.ZipInfo("TC-0001/evidpack/hidden/")
        folder.external_attr = (0o40755 << 16) | 0x10
        z.writestr(folder, b"bytes no listing shows")
    r = verify(cli, bad)
    assert r.exit_code == 1 and "evidpack/hidden: not a regular file" in r.output


def test_the_zips_evidpack_writes_have_only_regular_files(bundle_zip: Path) -> None:
    with zipfile.ZipFile(bundle_zip) as z:
        kinds = {(i.external_attr >> 16) & 0o170000 for i in z.infolist() if not i.is_dir()}
    assert kinds == {0o100000}


@pytest.mark.parametrize("change", ["method-99", "encrypted-flag"])
def test_a_zip_member_evidpack_cannot_read_is_one_line_not_an_internal_error(cli, bundle_zip: Path, tmp_path: Path, change: str) -> None:
    import struct

    data = bytearray(bundle_zip.read_bytes())
    with zipfile.ZipFile(bundle_zip) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("ledger.csv"))
    central = data.index(b"PK\x01\x02")  # the central directory entry: found by its name
    while data[central + 46 : central + 46 + len(info.filename)] != info.filename.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    for header, field in ((info.header_offset, 6), (central, 8)):  # local header, central directory entry
        flags, method = struct.unpack_from("<HH", data, header + field)
        if change == "method-99":
            method = 99
        else:
            flags |= 0x1
        struct.pack_into("<HH", data, header + field, flags, method)
    bad = tmp_path / f"{change}.zip"
    bad.write_bytes(bytes(data))
    r = cli("verify", bad, "--trust", TRUSTED)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert "ledger.csv" in r.stderr and "internal error" not in r.stderr


def test_a_zip_needing_a_later_zip_version_is_one_line(cli, bundle_zip: Path, tmp_path: Path) -> None:
    import struct

    data = bytearray(bundle_zip.read_bytes())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 6, 95)  # "version needed to extract": 9.5, which zipfile refuses
    bad = tmp_path / "version.zip"
    bad.write_bytes(bytes(data))
    r = cli("verify", bad, "--trust", TRUSTED)
    assert r.exit_code == 2 and r.stderr.strip() == f"evidpack: error: {bad}: not a bundle folder or a readable zip (zip file version 9.5)"


def test_a_manifest_line_naming_a_file_outside_the_bag_is_refused(cli, bundle: Path, tmp_path: Path) -> None:
    """(Not opened: a hostile bag's manifest could otherwise have verify hash any file of the verifier's machine.)"""
    import hashlib

    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not evidence\n")
    manifest = bundle / "manifest-sha256.txt"
    manifest.chmod(0o644)
    line = f"{hashlib.sha256(outside.read_bytes()).hexdigest()}  data/../../outside.txt\n"
    manifest.write_text(manifest.read_text("utf-8") + line, "utf-8")
    r = verify(cli, bundle)
    assert r.exit_code == 1
    assert "'data/../../outside.txt' is not a path inside the bag (absolute, '..', '.' or empty parts); not opened" in r.output
