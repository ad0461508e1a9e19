"""Kind ``device``, bad input: every case the issue lists.

Without ``--keep-going``: exit 2, one line naming the file and the member, no
traceback, nothing written anywhere (not even a partial bundle). With it: the
build completes, the problem is a failed check in sources.jsonl (and on the
member record), and the bundle still verifies, members re-derived (--deep)."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pyzipper
from conftest import TRUSTED
from device_support import build, checks, device_case, gen, member, one_line_error, source, tar_entry, tar_of, verify_deep, zip_of
from test_bad_input import listing


def _zip(name: str, entries: dict[str, bytes]) -> Callable[[Path], str]:
    def make(root: Path) -> str:
        zip_of(root / name, entries)
        return name

    return make


def _symlink_zip(root: Path) -> str:
    info = zipfile.ZipInfo("sdcard/link")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    with zipfile.ZipFile(root / "ev.zip", "w") as zf:
        zf.writestr(info, "/etc/passwd")
        zf.writestr("ok.txt", "ok")
    return "ev.zip"


def _duplicate_zip(root: Path) -> str:
    with warnings.catch_warnings(), zipfile.ZipFile(root / "ev.zip", "w") as zf:
        warnings.simplefilter("ignore")
        zf.writestr("a.txt", "first")
        zf.writestr("a.txt", "second")
    return "ev.zip"


def _cp437_zip(root: Path) -> str:
    info = zipfile.ZipInfo("cafX.txt", (2024, 7, 28, 7, 27, 26))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, b"bytes")
    (root / "ev.zip").write_bytes(buf.getvalue().replace(b"cafX.txt", b"caf\x82.txt"))
    return "ev.zip"


def _tar(name: str, entries: list, mode: str = "w") -> Callable[[Path], str]:
    def make(root: Path) -> str:
        tar_of(root / name, entries, mode)
        return name

    return make


def _truncated(name: str, mode: str, keep: Callable[[int], int]) -> Callable[[Path], str]:
    def make(root: Path) -> str:
        tar_of(root / name, [("a.txt", b"a" * 3000), ("b.txt", bytes(range(256)) * 200)], mode)
        data = (root / name).read_bytes()
        (root / name).write_bytes(data[: keep(len(data))])
        return name

    return make


def _no_central_directory(root: Path) -> str:
    zip_of(root / "ev.zip", {"a.txt": b"a" * 100, "b.txt": b"b" * 100})
    data = (root / "ev.zip").read_bytes()
    (root / "ev.zip").write_bytes(data[: data.index(b"PK\x01\x02")])
    return "ev.zip"


def _bad_crc(root: Path) -> str:
    zip_of(root / "ev.zip", {"a.txt": b"genuine content"})
    data = bytearray((root / "ev.zip").read_bytes())
    at = bytes(data).index(b"genuine")
    data[at] ^= 0x20
    (root / "ev.zip").write_bytes(bytes(data))
    return "ev.zip"


def _encrypted(root: Path) -> str:
    with pyzipper.AESZipFile(root / "ev.zip", "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(b"synthetic")
        zf.writestr("secret.txt", b"hidden")
    return "ev.zip"


def _ratio_bomb(root: Path) -> str:
    with zipfile.ZipFile(root / "ev.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.img", "w") as fh:
        for _ in range(24):
            fh.write(bytes(1 << 20))
    return "ev.zip"


def _overlapping(root: Path) -> str:
    """Two directory entries pointing at the same data (the overlapping-file zip bomb)."""
    zip_of(root / "ev.zip", {"a.bin": b"x" * 1000})
    data = (root / "ev.zip").read_bytes()
    cd_at = data.index(b"PK\x01\x02")
    eocd_at = data.index(b"PK\x05\x06")
    entry = data[cd_at:eocd_at]
    second = entry.replace(b"a.bin", b"b.bin")
    eocd = bytearray(data[eocd_at:])
    struct.pack_into("<HHII", eocd, 8, 2, 2, len(entry) * 2, cd_at)
    (root / "ev.zip").write_bytes(data[:cd_at] + entry + second + bytes(eocd))
    return "ev.zip"


def _tgz_bomb(root: Path) -> str:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        ti = tarfile.TarInfo("zeros.img")
        ti.size = 24 << 20
        tf.addfile(ti, io.BytesIO(bytes(ti.size)))
    (root / "ev.tgz").write_bytes(gzip.compress(raw.getvalue(), 9))
    return "ev.tgz"


def _not_gzip(root: Path) -> str:
    (root / "logs.tar.gz").write_bytes(b"PK\x03\x04 this is a zip named .tar.gz")
    return "logs.tar.gz"


def _ufd(root: Path, sha256: str | None = None, dump: str = "EXTRACTION_FFS.zip", remove: bool = False) -> str:
    folder = root / "ev"
    gen.make_android(folder)
    text = gen.ufd_text(dump, sha256 or "00" * 32, "00" * 16)
    if sha256 is None:
        import hashlib

        data = (folder / "EXTRACTION_FFS.zip").read_bytes()
        text = gen.ufd_text(dump, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    (folder / "Pixel 7.ufd").write_text(text, "utf-8")
    if remove:
        (folder / "EXTRACTION_FFS.zip").unlink()
    return "ev"


def _ab_wrong_magic(root: Path) -> str:
    (root / "backup.ab").write_bytes(b"ANDROID BAKUP\n5\n1\nnone\n" + zlib.compress(b"\x00" * 1024))
    return "backup.ab"


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], str]
    check: str
    needles: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


CASES = {
    "dotdot": Case(_zip("ev.zip", {"../escape.txt": b"x", "ok.txt": b"ok"}), "member-path", ("ev.zip", "member '../escape.txt'", "path traversal")),
    "absolute": Case(_zip("ev.zip", {"/etc/cron.d/evil": b"x"}), "member-path", ("ev.zip", "'/etc/cron.d/evil'", "absolute path")),
    "drive": Case(_zip("ev.zip", {"C:/Windows/evil.dll": b"x"}), "member-path", ("ev.zip", "'C:/Windows/evil.dll'", "drive letter")),
    "backslash": Case(_zip("ev.zip", {"C:\\Windows\\evil.dll": b"x"}), "member-path", ("ev.zip", "evil.dll", "backslash")),
    "zip-symlink": Case(_symlink_zip, "member-link", ("ev.zip", "'sdcard/link'", "symbolic link to '/etc/passwd'", "never followed")),
    "tar-symlink": Case(_tar("ev.tar", [tar_entry("sdcard/link", tarfile.SYMTYPE, "/etc/passwd")]), "member-link", ("ev.tar", "'sdcard/link'", "symbolic link")),
    "tar-hardlink": Case(_tar("ev.tar", [("a.txt", b"a"), tar_entry("b.txt", tarfile.LNKTYPE, "a.txt")]), "member-link", ("ev.tar", "'b.txt'", "hard link to 'a.txt'")),
    "tar-device": Case(_tar("ev.tar", [tar_entry("dev/sda", tarfile.BLKTYPE), ("ok.txt", b"ok")]), "member-special", ("ev.tar", "'dev/sda'", "block device")),
    "tar-chardev": Case(_tar("ev.tar", [tar_entry("dev/null", tarfile.CHRTYPE)]), "member-special", ("ev.tar", "'dev/null'", "character device")),
    "tar-fifo": Case(_tar("ev.tar", [tar_entry("run/pipe", tarfile.FIFOTYPE)]), "member-special", ("ev.tar", "'run/pipe'", "FIFO")),
    "duplicate": Case(_duplicate_zip, "member-duplicate", ("ev.zip", "'a.txt'", "more than once")),
    "case-only": Case(_zip("ev.zip", {"DCIM/Photo.jpg": b"1", "DCIM/photo.jpg": b"2"}), "member-case-collision", ("ev.zip", "'DCIM/photo.jpg'", "only by case")),
    "cp437": Case(_cp437_zip, "member-name-encoding", ("ev.zip", "'café.txt'", "not marked UTF-8", "CP437")),
    "truncated-tar": Case(_truncated("ev.tar", "w", lambda n: 3584 + 512 + 700), "container-readable", ("ev.tar", "truncated", "'b.txt'")),
    "truncated-tar-header": Case(_truncated("ev.tar", "w", lambda n: 3584 + 200), "container-readable", ("ev.tar", "truncated", "header")),
    "tar-no-end-marker": Case(_truncated("ev.tar", "w", lambda n: 3584 + 51712), "container-readable", ("ev.tar", "truncated", "end-of-archive")),
    "truncated-gzip": Case(_truncated("ev.tgz", "w:gz", lambda n: n - 12), "container-readable", ("ev.tgz", "truncated")),
    "no-central-directory": Case(_no_central_directory, "container-readable", ("ev.zip", "central directory", "truncated")),
    "bad-crc": Case(_bad_crc, "member-crc", ("ev.zip", "'a.txt'", "bad CRC-32")),
    "encrypted-member": Case(_encrypted, "member-encrypted", ("ev.zip", "'secret.txt'", "encrypted", "not decrypted")),
    "ratio-bomb": Case(_ratio_bomb, "container-bomb", ("ev.zip", "'zeros.img'", "would expand", "cap 100:1"), {"max_expansion_ratio": 100}),
    "size-bomb": Case(_zip("ev.zip", {"a.bin": b"a" * 3000, "b.bin": b"b" * 3000}), "container-bomb", ("ev.zip", "'b.bin'", "more than the cap of 5000"), {"max_expanded_bytes": 5000}),
    "overlap-bomb": Case(_overlapping, "container-bomb", ("ev.zip", "'b.bin'", "overlaps")),
    "tgz-bomb": Case(_tgz_bomb, "container-bomb", ("ev.tgz", "expands more than 100:1"), {"max_expansion_ratio": 100}),
    "not-gzip": Case(_not_gzip, "container-readable", ("logs.tar.gz", "not gzip", "50 4b 03 04")),
    "ufd-mismatch": Case(lambda r: _ufd(r, sha256="ab" * 32), "ufd-sha256", ("Pixel 7.ufd", "[SHA256] EXTRACTION_FFS.zip", "hash mismatch", "abab")),
    "ufd-missing-dump": Case(lambda r: _ufd(r, remove=True), "ufd-dump-present", ("Pixel 7.ufd", "EXTRACTION_FFS.zip", "missing dump")),
    "ab-wrong-magic": Case(_ab_wrong_magic, "container-readable", ("backup.ab", "not an Android backup", "ANDROID BAKUP")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_stops_with_one_line_naming_file_and_member(cli, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    path = case.make(tmp_path)
    manifest = device_case(tmp_path, path, case.options)
    before = listing(tmp_path)
    r = build(cli, manifest, tmp_path / "out/B")
    one_line_error(r, *case.needles, "--keep-going")
    assert listing(tmp_path) - before <= {"out"}  # nothing written outside the bundle, and no partial bundle
    assert not (tmp_path / "out/B").exists()


@pytest.mark.parametrize("name", sorted(CASES))
def test_keep_going_records_a_failed_check_and_the_bundle_verifies(cli, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    manifest = device_case(tmp_path, case.make(tmp_path), case.options)
    out = tmp_path / "out/B"
    r = build(cli, manifest, out, "--keep-going")
    assert r.exit_code == 0, r.output
    assert "evidpack: warning:" in r.stderr and "Traceback" not in r.output
    failed = [c for c in checks(out, case.check) if c["verdict"] == "fail"]
    assert failed, source(out)["checks"]
    assert all(n in failed[0]["detail"] for n in case.needles if n != "--keep-going")
    r = verify_deep(cli, out)
    assert r.exit_code == 0, r.output


def test_a_member_with_a_problem_says_so_in_its_record(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "ev.zip", {"../escape.txt": b"x"})
    out = tmp_path / "out/B"
    assert build(cli, device_case(tmp_path, "ev.zip"), out, "--keep-going").exit_code == 0
    m = member(out, "../escape.txt")
    assert m["problems"] == ["member-path: climbs out of the folder with '..' (path traversal); recorded, never extracted"]
    failed = checks(out, "member-path")[0]
    assert failed["subject"] == m["id"]


def test_many_bad_members_are_counted_not_listed_one_by_one(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "ev.zip", {f"../m{i}.txt": b"x" for i in range(30)})
    out = tmp_path / "out/B"
    r = build(cli, device_case(tmp_path, "ev.zip"), out, "--keep-going")
    assert r.exit_code == 0
    found = checks(out, "member-path")
    assert len(found) == 21 and "10 more member(s) with the same problem" in found[-1]["detail"]
    assert r.stderr.count("evidpack: warning:") == 21


def test_deep_verify_reports_a_bomb_again_without_expanding_it(cli, tmp_path: Path) -> None:
    """The caps a build used are sealed with the container, so --deep re-reads it under the same caps."""
    manifest = device_case(tmp_path, _ratio_bomb(tmp_path), {"max_expansion_ratio": 100})
    out = tmp_path / "out/B"
    assert build(cli, manifest, out, "--keep-going").exit_code == 0
    m = member(out, "zeros.img")
    assert "sha256" not in m and m["size"] == 24 << 20
    assert cli("verify", out, "--trust", TRUSTED, "--deep").exit_code == 0


def test_encrypted_itunes_backup_is_not_an_error(cli, tmp_path: Path) -> None:
    gen.write_backup(tmp_path / "backup", gen.ios_files(), encrypted=True)
    out = tmp_path / "out/B"
    r = build(cli, device_case(tmp_path, "backup"), out)
    assert r.exit_code == 0 and "warning" not in r.stderr, r.output
    (check,) = checks(out, "itunes-manifest")
    assert check["verdict"] == "not-checkable" and "encrypted" in check["detail"] and "decrypts nothing" in check["detail"]
