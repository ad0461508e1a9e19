"""Names in a Cellebrite .ufd/.ufdx stay inside the source.

A .ufd ([Dumps] values, hash-section names) or a .ufdx (extraction paths) that
names a file by an absolute path, with '..' climbing out of the source folder,
with a NUL, or through a symbolic link, must never make a build read that file
nor write anything outside --out: the name is a problem (``ufd-dump-path`` /
``ufdx-extraction-path``) naming the .ufd/.ufdx, the entry and the name — one
line without --keep-going, a failed check with it. Every build here goes
through the real CLI, and the whole temporary tree is compared before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import TRUSTED, assert_clean
from device_support import build, checks, device_case, items, one_line_error, source

from evidpack.errors import EvidpackError
from evidpack.importers import ufed
from evidpack.importers.base import ImportContext

SECRET = b"secret from outside the source\n"
UP = "../../../../"  # from <tmp>/a/b/case/src up to <tmp>


def tree(root: Path, skip: Path) -> dict[str, tuple[str, bytes]]:
    """Everything below ``root`` except ``skip`` (the bundle): kind and bytes (a link's target), never following links."""
    out: dict[str, tuple[str, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d != skip]
        for name in dirnames + filenames:
            p = here / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.fsencode(os.readlink(p)))
            elif p.is_dir():
                out[rel] = ("dir", b"")
            else:
                out[rel] = ("file", p.read_bytes())
    return out


class Layout:
    """``<tmp>/a/b/case/src`` holds the .ufd/.ufdx (the manifest is ``<tmp>/a/b/case/case.toml``),
    ``<tmp>/victim`` is outside the source, the bundle goes to ``<tmp>/o/out/B`` (so a payload path
    ``data/S01-loose-files/../../../../victim/...`` would land in ``<tmp>/o/victim``)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.case = tmp / "a/b/case"
        self.src = self.case / "src"
        self.src.mkdir(parents=True)
        self.victim = tmp / "victim"
        self.victim.mkdir()
        (self.victim / "outside.txt").write_bytes(SECRET)
        self.out = tmp / "o/out/B"
        self.out.parent.mkdir(parents=True)

    def ufd(self, lines: list[str], name: str = "x.ufd", folder: Path | None = None) -> Path:
        p = (folder or self.src) / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(("\r\n".join(["[General]", "AcquisitionTool=UFED (SYNTHETIC)", *lines]) + "\r\n").encode("utf-8"))
        return p

    def build(self, path: str, *extra: str):
        manifest = device_case(self.case, path)
        before = tree(self.tmp, self.out)
        r = build(self.cli, manifest, self.out, *extra)
        assert_clean(r)
        after = tree(self.tmp, self.out)
        assert after == before, f"written outside --out: {sorted(set(after) ^ set(before))}"
        assert not (self.tmp / "o/victim").exists()
        return r

    def bundle_holds_no_secret(self) -> None:
        for p in self.out.rglob("*"):
            if p.is_file():
                assert SECRET not in p.read_bytes(), p
        for rec in items(self.out):
            for key in ("path", "original_path"):
                value = rec.get(key, "")
                assert ".." not in value.split("/") and "//" not in value and "outside" not in value, rec
                assert not value.startswith("/") and "victim" not in value, rec


@pytest.fixture
def lay(tmp_path: Path, cli) -> Layout:
    layout = Layout(tmp_path)
    layout.cli = cli  # type: ignore[attr-defined]
    return layout


def refused(lay: Layout, check: str, *needles: str) -> dict:
    (c,) = [c for c in checks(lay.out, check) if all(n in c["detail"] for n in needles)]
    assert c["verdict"] == "fail" and c["detail"].endswith("; not read"), c
    return c


def verifies(lay: Layout) -> None:
    r = lay.cli("verify", lay.out, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output


# --- '..' climbing out --------------------------------------------------------------------


def test_dumps_name_climbing_out_is_one_line_error_and_nothing_is_read_or_written(lay: Layout) -> None:
    lay.ufd(["[Dumps]", f"FileDump={UP}victim/outside.txt"])
    r = lay.build("src/x.ufd")
    one_line_error(r, "src/x.ufd", "[Dumps] FileDump (line 4)", f"'{UP}victim/outside.txt'", "outside the source folder", "not read")
    assert not lay.out.exists() and not list(lay.out.parent.iterdir())  # no bundle, no partial folder left


def test_dumps_name_climbing_out_with_keep_going_is_a_failed_check(lay: Layout) -> None:
    lay.ufd(["[Dumps]", f"FileDump={UP}victim/outside.txt"])
    r = lay.build("src/x.ufd", "--keep-going")
    assert r.exit_code == 0, r.output
    c = refused(lay, "ufd-dump-path", "src/x.ufd: [Dumps] FileDump (line 4)", f"names '{UP}victim/outside.txt' outside the source folder")
    assert c["subject"] == "x.ufd"
    assert [i["original_path"] for i in items(lay.out) if i["kind"] == "file"] == ["x.ufd"]
    assert not checks(lay.out, "ufd-dump-present")  # refused, not also reported missing
    lay.bundle_holds_no_secret()
    verifies(lay)


def test_hash_section_name_climbing_out_with_backslashes_is_refused(lay: Layout) -> None:
    name = UP.replace("/", "\\") + "victim\\outside.txt"
    lay.ufd(["[SHA256]", f"{name}={hashlib.sha256(SECRET).hexdigest()}"])
    one_line_error(lay.build("src/x.ufd"), "src/x.ufd: [SHA256]", "outside the source folder")
    r = lay.build("src/x.ufd", "--keep-going")
    assert r.exit_code == 0, r.output
    refused(lay, "ufd-dump-path", f"[SHA256] {name} (line 4)", "'..' climbs out")
    assert not checks(lay.out, "ufd-sha256") and not checks(lay.out, "ufd-dump-present")
    lay.bundle_holds_no_secret()
    verifies(lay)


def test_ufd_in_a_source_folder_naming_a_file_above_it(lay: Layout) -> None:
    """A folder source: the .ufd in a subfolder may name '../x' inside the source, not above it."""
    (lay.src / "top.bin").write_bytes(b"top")
    lay.ufd(["[Dumps]", "FileDump=../top.bin", "FileDump=../../outside.txt"], folder=lay.src / "sub")
    (lay.case / "outside.txt").write_bytes(SECRET)
    one_line_error(lay.build("src"), "src/sub/x.ufd: [Dumps] FileDump (line 5)", "'../../outside.txt'", "outside the source folder")
    assert lay.build("src", "--keep-going").exit_code == 0
    refused(lay, "ufd-dump-path", "'../../outside.txt'")
    (ok,) = checks(lay.out, "ufd-dump-present")
    assert ok["verdict"] == "pass" and ok["subject"] == "top.bin"
    lay.bundle_holds_no_secret()


# --- absolute names, NUL -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["{victim}/outside.txt", "/etc/hostname", "\\\\host\\share\\outside.txt", "\\outside.txt", "C:\\victim\\outside.txt", "c:outside.txt"])
def test_absolute_names_are_refused(lay: Layout, name: str) -> None:
    name = name.format(victim=lay.victim)
    lay.ufd(["[Dumps]", f"FileDump={name}"])
    one_line_error(lay.build("src/x.ufd"), "src/x.ufd: [Dumps] FileDump (line 4)", f"names {name!r}", "an absolute path")
    assert lay.build("src/x.ufd", "--keep-going").exit_code == 0
    refused(lay, "ufd-dump-path", f"names {name!r} outside the source folder (an absolute path)")
    assert [i["original_path"] for i in items(lay.out) if i["kind"] == "file"] == ["x.ufd"]
    lay.bundle_holds_no_secret()
    verifies(lay)


def test_a_name_holding_nul_is_refused(lay: Layout) -> None:
    (lay.src / "a").write_bytes(b"a")
    lay.ufd(["[Dumps]", "FileDump=a\x00b"])
    assert lay.build("src/x.ufd", "--keep-going").exit_code == 0
    refused(lay, "ufd-dump-path", "names 'a\\x00b' holding a NUL character")
    assert [i["original_path"] for i in items(lay.out) if i["kind"] == "file"] == ["x.ufd"]


# --- symbolic links -------------------------------------------------------------------------------


def test_a_symlinked_folder_pointing_outside_is_not_followed(lay: Layout) -> None:
    (lay.src / "link").symlink_to(lay.victim)
    lay.ufd(["[Dumps]", "FileDump=link/outside.txt", "[MD5]", f"link\\outside.txt={hashlib.md5(SECRET).hexdigest()}"])
    one_line_error(lay.build("src/x.ufd"), "src/x.ufd: [Dumps] FileDump (line 4)", "'link/outside.txt'", "through the symbolic link 'link'")
    assert lay.build("src/x.ufd", "--keep-going").exit_code == 0
    c = refused(lay, "ufd-dump-path", "[Dumps] FileDump (line 4)", f"outside the source folder (through the symbolic link 'link' to {str(lay.victim)!r})")
    assert c["subject"] == "x.ufd"
    assert len(checks(lay.out, "ufd-dump-path")) == 1  # the [MD5] entry names the same file: refused once
    assert not checks(lay.out, "ufd-md5") and not checks(lay.out, "ufd-dump-present")
    assert [i["original_path"] for i in items(lay.out) if i["kind"] == "file"] == ["x.ufd"]
    lay.bundle_holds_no_secret()
    verifies(lay)


def test_a_symlinked_folder_in_a_folder_source(lay: Layout) -> None:
    (lay.src / "link").symlink_to(lay.victim)
    lay.ufd(["[Dumps]", "FileDump=link/outside.txt"])
    one_line_error(lay.build("src"), "src/x.ufd", "through the symbolic link 'link'")
    assert lay.build("src", "--keep-going").exit_code == 0
    refused(lay, "ufd-dump-path", "outside the source folder (through the symbolic link 'link'")
    assert [c["verdict"] for c in checks(lay.out, "special-file")] == ["fail"]  # the link itself, as for any folder
    lay.bundle_holds_no_secret()


def test_a_symlinked_folder_inside_the_source_is_not_followed_either(lay: Layout) -> None:
    (lay.src / "real").mkdir()
    (lay.src / "real/dump.bin").write_bytes(b"dump")
    (lay.src / "alias").symlink_to("real")
    lay.ufd(["[Dumps]", "FileDump=alias/dump.bin"])
    assert lay.build("src/x.ufd", "--keep-going").exit_code == 0
    refused(lay, "ufd-dump-path", "names 'alias/dump.bin' through the symbolic link 'alias' to 'real', which is not followed")
    assert [i["original_path"] for i in items(lay.out) if i["kind"] == "file"] == ["x.ufd"]


def test_a_named_file_that_is_itself_a_symlink_outside_is_not_read(lay: Layout) -> None:
    """The last part of a name is never followed either (as for any file of a source): a special file, and a missing dump."""
    (lay.src / "dump.bin").symlink_to(lay.victim / "outside.txt")
    lay.ufd(["[Dumps]", "FileDump=dump.bin"])
    one_line_error(lay.build("src/x.ufd"), "dump.bin", "is a symbolic link", "not followed or read")
    assert lay.build("src/x.ufd", "--keep-going").exit_code == 0
    assert [c["verdict"] for c in checks(lay.out, "special-file")] == ["fail"]
    assert [c["verdict"] for c in checks(lay.out, "ufd-dump-present")] == ["fail"]
    assert [i["original_path"] for i in items(lay.out) if i["kind"] == "file"] == ["x.ufd"]
    lay.bundle_holds_no_secret()
    verifies(lay)


# --- .ufdx ------------------------------------------------------------------------------------------


def ufdx(lay: Layout, path: str) -> None:
    (lay.src / "y.ufdx").write_text(f'<?xml version="1.0"?><EvidenceCollection><Extraction Path="{path}"/></EvidenceCollection>', "utf-8")


@pytest.mark.parametrize("path", [f"{UP}victim/evil.ufd", "{victim}/evil.ufd", "link\\evil.ufd"])
def test_ufdx_naming_a_ufd_outside_the_source(lay: Layout, path: str) -> None:
    path = path.format(victim=lay.victim)
    lay.ufd(["[Dumps]", "FileDump=outside.txt"], name="evil.ufd", folder=lay.victim)
    (lay.src / "link").symlink_to(lay.victim)
    ufdx(lay, path)
    one_line_error(lay.build("src/y.ufdx"), "src/y.ufdx: <Extraction Path>", f"names {path!r}", "outside the source folder", "not read")
    assert lay.build("src/y.ufdx", "--keep-going").exit_code == 0
    c = refused(lay, "ufdx-extraction-path", f"src/y.ufdx: <Extraction Path> names {path!r} outside the source folder")
    assert c["subject"] == "y.ufdx"
    assert [i["original_path"] for i in items(lay.out) if i["kind"] == "file"] == ["y.ufdx"]
    assert not checks(lay.out, "ufdx-extraction-present") and "ufd" not in source(lay.out)["facts"]
    lay.bundle_holds_no_secret()
    verifies(lay)


def test_a_ufd_the_ufdx_brings_may_not_climb_out_either(lay: Layout) -> None:
    lay.ufd(["[Dumps]", "FileDump=../shared.bin", f"FileDump=../{UP}victim/outside.txt"], name="Phone.ufd", folder=lay.src / "ex1")
    (lay.src / "shared.bin").write_bytes(b"shared")
    ufdx(lay, "ex1\\Phone.ufd")
    one_line_error(lay.build("src/y.ufdx"), "src/ex1/Phone.ufd: [Dumps] FileDump (line 5)", "outside the source folder")
    assert lay.build("src/y.ufdx", "--keep-going").exit_code == 0
    refused(lay, "ufd-dump-path", "src/ex1/Phone.ufd: [Dumps] FileDump (line 5)")
    assert sorted(i["original_path"] for i in items(lay.out) if i["kind"] == "file") == ["ex1/Phone.ufd", "shared.bin", "y.ufdx"]
    lay.bundle_holds_no_secret()
    verifies(lay)


# --- what still works ----------------------------------------------------------------------------------


def test_a_legitimate_ufd_and_ufdx_build_and_verify(lay: Layout) -> None:
    dump = b"PK-like dump bytes (synthetic)"
    (lay.src / "ex1/dumps").mkdir(parents=True)
    (lay.src / "ex1/dumps/EXTRACTION_FFS.bin").write_bytes(dump)
    (lay.src / "ex1/notes.txt").write_bytes(b"notes")
    lay.ufd(
        ["[Dumps]", "FileDump=dumps\\EXTRACTION_FFS.bin", "Notes=./dumps/../notes.txt",
         "[SHA256]", f"dumps\\EXTRACTION_FFS.bin={hashlib.sha256(dump).hexdigest().upper()}"],
        name="Phone.ufd", folder=lay.src / "ex1",
    )
    ufdx(lay, "ex1\\Phone.ufd")
    for path in ("src/y.ufdx", "src/ex1/Phone.ufd", "src"):
        r = lay.build(path)
        assert r.exit_code == 0, r.output
        files = sorted(i["original_path"] for i in items(lay.out) if i["kind"] == "file")
        assert {"ex1/dumps/EXTRACTION_FFS.bin", "ex1/notes.txt"} <= set(files) or {"dumps/EXTRACTION_FFS.bin", "notes.txt"} <= set(files), files
        assert [c["verdict"] for c in checks(lay.out, "ufd-sha256")] == ["pass"]
        assert not checks(lay.out, "ufd-dump-path") and not checks(lay.out, "ufdx-extraction-path")
        assert all(c["verdict"] == "pass" for c in source(lay.out)["checks"] if c["check"].startswith(("ufd", "ufdx"))), source(lay.out)["checks"]
        verifies(lay)
        shutil.rmtree(lay.out)


# --- the pieces ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "folder, name, want",
    [
        ("", "a.zip", "a.zip"),
        ("", "dumps\\a.zip", "dumps/a.zip"),
        ("ex1", "../a.zip", "a.zip"),
        ("ex1", "./b/../a.zip", "ex1/a.zip"),
        ("", "../a.zip", "'..' climbs out"),
        ("ex1", "../../a.zip", "'..' climbs out"),
        ("", "a/../../a.zip", "'..' climbs out"),
        ("", "..", "'..' climbs out"),
        ("", "/etc/hostname", "an absolute path"),
        ("ex1", "\\\\host\\x", "an absolute path"),
        ("", "D:x", "an absolute path"),
        ("", "a\x00", "NUL"),
        ("", "", "an empty name"),
        ("ex1", "..", "the source folder itself"),
    ],
)
def test_source_path(folder: str, name: str, want: str) -> None:
    try:
        got = ufed.source_path(folder, name)
    except ufed.UfedError as exc:
        got = str(exc)
        assert want in got
    else:
        assert got == want


@pytest.mark.parametrize("rel", ["../x", "/etc/x", "a//b", "a/./b", "a/..", "", "a/", "a\x00b"])
def test_payload_destination_guard_refuses_anything_that_could_leave_the_source_folder(rel: str) -> None:
    ctx = SimpleNamespace(source=SimpleNamespace(folder="S01-src"))
    with pytest.raises(EvidpackError, match=r"^refusing to write .* inside data/S01-src/ .*nothing was sealed$"):
        ImportContext.payload_path(ctx, rel)  # type: ignore[arg-type]
    assert ImportContext.payload_path(ctx, "a/b c/d.zip") == "data/S01-src/a/b c/d.zip"  # type: ignore[arg-type]


def test_each_bad_name_is_refused_and_the_good_one_still_copied(lay: Layout) -> None:
    """The reviewer's two names in one .ufd beside a good one: both refused, once each; the good one copied and sealed."""
    lay.ufd(["[Dumps]", f"FileDump={UP}victim/outside.txt", "FileDump=/etc/hostname", "FileDump=ok.bin"])
    (lay.src / "ok.bin").write_bytes(b"ok")
    assert lay.build("src/x.ufd", "--keep-going").exit_code == 0
    assert len(checks(lay.out, "ufd-dump-path")) == 2
    assert sorted(i["original_path"] for i in items(lay.out) if i["kind"] == "file") == ["ok.bin", "x.ufd"]
    manifest = (lay.out / "manifest-sha256.txt").read_text("utf-8")
    assert "/.." not in manifest and "//" not in manifest
    facts = source(lay.out)["facts"]["ufd"][0]
    assert json.dumps(facts)  # the .ufd's own facts are still recorded
    lay.bundle_holds_no_secret()
    verifies(lay)
