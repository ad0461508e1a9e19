"""A list-of-files source naming files of the same name from different folders."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import TRUSTED, build_args, manifest_text, run_cli, write_tree


def _items(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / "evidpack/items.jsonl").read_text("utf-8").splitlines()]


def test_same_named_files_from_two_folders_are_both_kept_and_told_apart(tmp_path: Path) -> None:
    write_tree(tmp_path / "ev", {"a/report.txt": b"first", "b/report.txt": b"second", "c/other.txt": b"x"})
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('["ev/a/report.txt", "ev/b/report.txt", "ev/c/other.txt"]'))
    out = tmp_path / "B"
    r = run_cli(*build_args(m, out))
    assert r.exit_code == 0, r.output
    files = {i["original_path"]: i for i in _items(out) if i["kind"] == "file"}
    # Each is recorded by the path the manifest gives it, stored under a name of its own.
    assert set(files) == {"ev/a/report.txt", "ev/b/report.txt", "other.txt"}
    a, b = files["ev/a/report.txt"], files["ev/b/report.txt"]
    assert a["path"] != b["path"]
    for item, content in ((a, b"first"), (b, b"second")):
        name = item["path"].rsplit("/", 1)[1]
        assert name.startswith("report~") and name.endswith(".txt")
        assert (out / item["path"]).read_bytes() == content
    assert files["other.txt"]["path"].endswith("/other.txt")
    checks = [c for s in (out / "evidpack/sources.jsonl").read_text().splitlines() for c in json.loads(s)["checks"]]
    renamed = [c for c in checks if c["check"] == "stored-names"]
    assert renamed and renamed[0]["verdict"] == "warn" and "ev/a/report.txt" in renamed[0]["detail"]
    assert run_cli("verify", out, "--trust", TRUSTED).exit_code == 0
    ok = subprocess.run(["sha256sum", "-c", "--quiet", "manifest-sha256.txt"], cwd=out, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_file_listed_twice_is_refused_naming_both(tmp_path: Path) -> None:
    write_tree(tmp_path / "ev", {"a/report.txt": b"first"})
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('["ev/a/report.txt", "ev/a/../a/report.txt"]'))
    r = run_cli(*build_args(m, tmp_path / "B"))
    assert r.exit_code == 2
    assert r.stderr.strip() == "evidpack: error: ev/a/../a/report.txt: source S01 lists the same file twice (also as ev/a/report.txt)"
    assert not (tmp_path / "B").exists()


def test_an_acquisition_dated_after_the_seal_is_a_sealed_warning(tmp_path: Path) -> None:
    write_tree(tmp_path / "ev", {"x.txt": b"x"})
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"ev"').replace('at = "2026-03-02T10:00:00Z"', 'at = "2036-03-02T10:00:00Z"'))
    out = tmp_path / "B"
    r = run_cli(*build_args(m, out))
    assert r.exit_code == 0, r.output
    assert "acquired at 2036-03-02T10:00:00Z according to the case manifest, after this bundle's sealing time" in r.stderr
    checks = [c for s in (out / "evidpack/sources.jsonl").read_text().splitlines() for c in json.loads(s)["checks"]]
    late = [c for c in checks if c["check"] == "acquisition-time"]
    assert len(late) == 1 and late[0]["verdict"] == "warn"
    # An acquisition before the seal gives no such check.
    m.write_text(manifest_text('"ev"'))
    assert run_cli(*build_args(m, tmp_path / "C")).exit_code == 0
    assert "acquisition-time" not in (tmp_path / "C/evidpack/sources.jsonl").read_text()
