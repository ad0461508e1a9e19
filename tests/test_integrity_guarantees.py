"""Sources untouched, reproducible builds, atomic sealing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BUILD_TIME, TRUSTED, build_args, manifest_text, run_cli, write_tree

from evidpack import casefile
from evidpack.build import BuildInterrupted, build
from conftest import demo_signing_key
from evidpack.timeutil import parse_rfc3339


def _read_noatime(p: Path) -> bytes:
    fd = os.open(p, os.O_RDONLY | os.O_NOATIME)
    try:
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int, int]]:
    """Bytes, mtime, mode and atime of everything below root (read without touching atime)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (_read_noatime(p) if p.is_file() else b"", st.st_mtime_ns, st.st_mode, st.st_atime_ns)
    return out


def test_sources_are_byte_and_time_identical_after_build(case: Path, tmp_path: Path) -> None:
    src = tmp_path / "evidence"
    os.utime(src / "ledger.csv", ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    before = snapshot(src)
    r = run_cli(*build_args(case, tmp_path / "b"))
    assert r.exit_code == 0
    assert snapshot(src) == before  # bytes, mtime, mode, and access time


def test_copies_keep_the_source_mtime_exactly(case: Path, tmp_path: Path) -> None:
    src = tmp_path / "evidence/ledger.csv"
    os.utime(src, ns=(1_600_000_000_000_000_000, 1_500_000_000_987_654_321))
    run_cli(*build_args(case, tmp_path / "b"))
    copy = tmp_path / "b/data/S01-loose-files/ledger.csv"
    assert copy.stat().st_mtime_ns == 1_500_000_000_987_654_321
    import json

    rec = next(json.loads(l) for l in (tmp_path / "b/evidpack/items.jsonl").read_text().splitlines() if "ledger" in l)
    assert rec["mtime"] == "2017-07-14T02:40:00.987654321Z"


def tag_and_signature_files(bundle: Path) -> dict[str, bytes]:
    return {str(p.relative_to(bundle)): p.read_bytes() for p in sorted(bundle.rglob("*"))
            if p.is_file() and not str(p.relative_to(bundle)).startswith("data/")}


def test_same_inputs_key_and_time_give_byte_identical_bundles(case: Path, tmp_path: Path) -> None:
    for name in ("one", "two"):
        assert run_cli(*build_args(case, tmp_path / name / "TC-0001", "--zip")).exit_code == 0
    one, two = (tag_and_signature_files(tmp_path / n / "TC-0001") for n in ("one", "two"))
    assert one == two
    assert "tagmanifest-sha256.txt.sig" in one and "evidpack/custody.jsonl" in one
    assert (tmp_path / "one/TC-0001.zip").read_bytes() == (tmp_path / "two/TC-0001.zip").read_bytes()


def test_source_date_epoch_sets_the_build_time(case: Path, tmp_path: Path) -> None:
    args = [a for a in build_args(case, tmp_path / "a") if a not in ("--time", BUILD_TIME)]
    r = run_cli(*args, env={"SOURCE_DATE_EPOCH": "1795334400"})
    assert r.exit_code == 0
    assert b'"sealed_at":"2026-11-22T08:00:00Z"' in (tmp_path / "a/evidpack/seal.json").read_bytes()
    assert run_cli(*build_args(case, tmp_path / "b")).exit_code == 0
    assert (tmp_path / "a/tagmanifest-sha256.txt.sig").read_bytes() == (tmp_path / "b/tagmanifest-sha256.txt.sig").read_bytes()


def test_a_different_time_gives_a_different_seal(case: Path, tmp_path: Path) -> None:
    run_cli(*build_args(case, tmp_path / "a"))
    args = build_args(case, tmp_path / "b")
    args[args.index(BUILD_TIME)] = "2026-11-22T08:00:01Z"
    run_cli(*args)
    assert (tmp_path / "a/tagmanifest-sha256.txt.sig").read_bytes() != (tmp_path / "b/tagmanifest-sha256.txt.sig").read_bytes()


def test_failure_midway_leaves_no_bundle_and_no_temporary_folder(case: Path, tmp_path: Path, monkeypatch) -> None:
    from evidpack.importers import base

    calls = {"n": 0}
    real = base.ImportContext.emit

    def boom(self, record):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, record)

    monkeypatch.setattr(base.ImportContext, "emit", boom)
    c = casefile.load(case)
    out = tmp_path / "out/B"
    with pytest.raises(BuildInterrupted, match=r"^build interrupted \(Ctrl-C\); nothing was sealed$") as caught:
        build(c, demo_signing_key(), out, built_at=parse_rfc3339(BUILD_TIME))
    assert caught.value.exit_code == 130
    assert not out.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_an_interrupted_zip_leaves_neither_the_folder_nor_the_zip(case: Path, tmp_path: Path, monkeypatch) -> None:
    # --zip makes the sealed folder and its zip, or neither: the zip is written
    # before either is moved into place.
    import shutil as shutil_mod

    real = shutil_mod.copyfileobj
    calls = {"n": 0}

    def boom(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # some of the zip written, the folder complete
            assert len(list((tmp_path / "out").glob(".B.zip.partial-*"))) == 1
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    out = tmp_path / "out/B"
    monkeypatch.setattr(shutil_mod, "copyfileobj", boom)
    with pytest.raises(BuildInterrupted, match="nothing was sealed"):
        build(casefile.load(case), demo_signing_key(), out, built_at=parse_rfc3339(BUILD_TIME), make_zip=True)
    assert calls["n"] == 4
    assert list((tmp_path / "out").iterdir()) == []


def test_sigterm_while_the_zip_is_written_seals_nothing_and_leaves_nothing(tmp_path: Path) -> None:
    proc, out = _start_big_build(tmp_path, "--zip", wait_for=".B.zip.partial-*")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.decode().strip() == "evidpack: error: build interrupted (signal 15); nothing was sealed"
    assert list((tmp_path / "out").iterdir()) == []


def test_a_zip_build_seals_both_and_leaves_no_temporary_file(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "out/B"
    r = run_cli(*build_args(case, out, "--zip"))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["B", "B.zip"]
    import zipfile

    with zipfile.ZipFile(out.with_name("B.zip")) as zf:
        names = zf.namelist()
    assert "B/evidpack/.incomplete" not in names and "B/bagit.txt" in names
    assert run_cli("verify", out.with_name("B.zip"), "--trust", TRUSTED).exit_code == 0


def _start_big_build(tmp_path: Path, *extra: str, wait_for: str = ".B.partial-*/data/S01-loose-files/part1.bin") -> tuple[subprocess.Popen, Path]:
    src = tmp_path / "big"
    src.mkdir()
    for i in range(6):
        with open(src / f"part{i}.bin", "wb") as fh:
            fh.truncate(128 * 1024 * 1024)  # sparse on disk; read as 128 MiB of zeros
    m = tmp_path / "case.toml"
    from conftest import manifest_text

    m.write_text(manifest_text('"big"'))
    out = tmp_path / "out/B"
    proc = subprocess.Popen(
        [sys.executable, "-m", "evidpack", *map(str, build_args(m, out, *extra))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        partial = list((tmp_path / "out").glob(wait_for)) if (tmp_path / "out").exists() else []
        if partial:
            return proc, out
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("build did not start")


def test_sigterm_midway_cleans_up_and_seals_nothing(tmp_path: Path) -> None:
    proc, out = _start_big_build(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert not out.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_sigkill_midway_leaves_nothing_that_verifies(tmp_path: Path) -> None:
    proc, out = _start_big_build(tmp_path)
    proc.kill()
    proc.wait(timeout=60)
    assert not out.exists()
    leftovers = list((tmp_path / "out").iterdir())
    for folder in leftovers:
        r = run_cli("verify", folder, "--trust", TRUSTED)
        assert r.exit_code in (1, 2), r.output


def _start_many_files_build(tmp_path: Path) -> tuple[subprocess.Popen, Path, list[int]]:
    """A build of many small files, caught while its copy workers are running:
    returns the process, the output path and the worker pids."""
    write_tree(tmp_path / "many", {f"d{d:02d}/f{i:03d}": b"x" * 300 for d in range(40) for i in range(200)})
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"many"'))
    out = tmp_path / "out/B"
    proc = subprocess.Popen(
        [sys.executable, "-m", "evidpack", *map(str, build_args(m, out))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "EVIDPACK_COPY_WORKERS": "2"},
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        workers = _children(proc.pid)
        copied = list((tmp_path / "out").glob(".B.partial-*/data/S01-loose-files/d05/*")) if (tmp_path / "out").exists() else []
        if len(workers) >= 2 and copied:
            return proc, out, workers
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("build did not start its copy workers")


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _gone(pids: list[int], timeout: float = 30) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]]
        if not alive:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the copy workers")
def test_sigterm_during_a_many_file_copy_stops_the_workers_and_seals_nothing(tmp_path: Path) -> None:
    proc, out, workers = _start_many_files_build(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert _gone(workers), "copy workers outlived the build"
    assert not out.exists()
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the copy workers")
def test_sigkill_during_a_many_file_copy_leaves_no_workers_and_nothing_that_verifies(tmp_path: Path) -> None:
    proc, out, workers = _start_many_files_build(tmp_path)
    proc.kill()
    proc.wait(timeout=60)
    assert _gone(workers), "copy workers outlived a killed build"
    assert not out.exists()
    for folder in (tmp_path / "out").iterdir():
        r = run_cli("verify", folder, "--trust", TRUSTED)
        assert r.exit_code in (1, 2), r.output
