"""Bad input: one clear line naming the thing and the problem, non-zero exit,
no traceback, nothing written outside the output folder."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from conftest import DEMO_KEY, DEMO_PASS, build_args, manifest_text, write_tree


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def one_line_error(r, *needles: str) -> str:
    """The command failed with exit 2 and one line on standard error holding every needle; returns it."""
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evidpack: error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def make_case(tmp_path: Path, files: dict | None = None, path: str = '"evidence"') -> Path:
    write_tree(tmp_path / "evidence", files or {"a.txt": "a"})
    m = tmp_path / "case.toml"
    m.write_text(manifest_text(path), "utf-8")
    return m


def build_fails(cli, tmp_path: Path, manifest: Path, *needles: str, extra: tuple[str, ...] = ()) -> None:
    before = listing(tmp_path)
    r = cli(*build_args(manifest, tmp_path / "out/B", *extra))
    one_line_error(r, *needles)
    after = listing(tmp_path)
    # nothing new anywhere except the (empty) output parent folder
    assert after - before <= {"out"}, after - before
    assert not (tmp_path / "out/B").exists()


def test_missing_source(cli, tmp_path: Path) -> None:
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"nowhere"'))
    build_fails(cli, tmp_path, m, "nowhere", "does not exist")


def test_empty_source(cli, tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir()
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"evidence"'))
    build_fails(cli, tmp_path, m, "evidence", "holds no readable files")


def test_source_with_symlink(cli, tmp_path: Path) -> None:
    m = make_case(tmp_path)
    (tmp_path / "evidence/link").symlink_to("/etc/passwd")
    build_fails(cli, tmp_path, m, "evidence/link", "symbolic link", "/etc/passwd")


def test_source_with_fifo(cli, tmp_path: Path) -> None:
    m = make_case(tmp_path)
    os.mkfifo(tmp_path / "evidence/pipe")
    build_fails(cli, tmp_path, m, "evidence/pipe", "FIFO")


def test_source_with_socket(cli, tmp_path: Path) -> None:
    m = make_case(tmp_path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "evidence/sock"))
    try:
        build_fails(cli, tmp_path, m, "evidence/sock", "socket")
    finally:
        s.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_source_with_device_file(cli, tmp_path: Path) -> None:
    import stat

    m = make_case(tmp_path)
    os.mknod(tmp_path / "evidence/null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    build_fails(cli, tmp_path, m, "evidence/null", "character device")


def test_non_utf8_file_name(cli, tmp_path: Path) -> None:
    m = make_case(tmp_path)
    (tmp_path / "evidence").joinpath(os.fsdecode(b"caf\xe9.txt")).write_text("x")
    build_fails(cli, tmp_path, m, "caf%E9.txt", "not valid UTF-8")


def test_unreadable_file(cli, tmp_path: Path, monkeypatch) -> None:
    from evidpack import payloadcopy

    m = make_case(tmp_path, {"a.txt": "a", "secret.txt": "s"})
    real = payloadcopy.open_source

    def deny(path):
        if str(path).endswith("secret.txt"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(payloadcopy, "open_source", deny)
    build_fails(cli, tmp_path, m, "secret.txt", "cannot read", "Permission denied")


def test_output_folder_already_exists(cli, tmp_path: Path) -> None:
    m = make_case(tmp_path)
    (tmp_path / "out/B").mkdir(parents=True)
    r = cli(*build_args(m, tmp_path / "out/B"))
    one_line_error(r, "out/B", "already exists")
    assert list((tmp_path / "out/B").iterdir()) == []


@pytest.mark.parametrize(
    "text, needles",
    [
        ("[case\nid = 1", ("case.toml", "invalid TOML", "line 1")),
        ('[case]\nid = "X"\n', ("case.toml", "sources", "is required")),
        (manifest_text('"evidence"').replace('kind = "files"', 'kind = "floppy"'), ("sources[0].kind", "floppy")),
        (manifest_text('"evidence"').replace('at = "2026-03-02T10:00:00Z"', 'at = "2026-03-02 10:00"'),
         ("sources[0].acquisition.at", "zone")),
        (manifest_text('"evidence"').replace('label = "Loose files"', 'label = "Loose files"\nlabell = "typo"'),
         ("sources[0]", "unknown field", "labell")),
        (manifest_text('"evidence"').replace('id = "TC-0001"', 'id = "../etc"'), ("case.id",)),
        (manifest_text('"evidence"').replace('by = "Det. Test"', 'by = ""'), ("sources[0].acquisition.by",)),
    ],
)
def test_malformed_manifest(cli, tmp_path: Path, text: str, needles: tuple[str, ...]) -> None:
    write_tree(tmp_path / "evidence", {"a.txt": "a"})
    m = tmp_path / "case.toml"
    m.write_text(text)
    build_fails(cli, tmp_path, m, *needles)


@pytest.mark.parametrize(
    "old, new, needles",
    [
        ('title = "Test case (synthetic)"', 'title = "' + "T" * 1001 + '"', ("case.title", "is too long: 1,001 characters, at most 1,000")),
        ('label = "Loose files"', 'label = "Loose files"\nnotes = "' + "n" * 100_001 + '"', ("sources[0].notes", "100,001 characters, at most 100,000")),
        ('id = "TC-0001"', 'id = "' + "x" * 5000 + '"', ("case.id", "(5,000 characters) does not match")),
    ],
)
def test_an_overlong_manifest_value_is_named_not_printed(cli, tmp_path: Path, old: str, new: str, needles: tuple[str, ...]) -> None:
    write_tree(tmp_path / "evidence", {"a.txt": "a"})
    m = tmp_path / "case.toml"
    text = manifest_text('"evidence"')
    assert old in text
    m.write_text(text.replace(old, new, 1))
    r = cli(*build_args(m, tmp_path / "out/B"))
    assert r.exit_code == 2 and len(r.stderr) < 400, r.stderr[:400]  # the value is quoted in part, if at all
    one_line_error(r, *needles)


def test_missing_manifest_and_key(cli, tmp_path: Path) -> None:
    one_line_error(cli(*build_args(tmp_path / "none.toml", tmp_path / "o")), "none.toml", "no such case manifest")
    m = make_case(tmp_path)
    r = cli("build", m, "--key", tmp_path / "nokey.key", "--passphrase-file", DEMO_PASS, "--out", tmp_path / "o")
    one_line_error(r, "nokey.key", "no such key file")
    r = cli("build", m, "--key", m, "--passphrase-file", DEMO_PASS, "--out", tmp_path / "o")
    one_line_error(r, "case.toml", "not a PEM private key")


def test_keep_going_records_symlink_fifo_and_bad_name_without_following(cli, tmp_path: Path) -> None:
    m = make_case(tmp_path, {"a.txt": "a"})
    (tmp_path / "evidence/link").symlink_to("/etc/passwd")
    os.mkfifo(tmp_path / "evidence/pipe")
    (tmp_path / "evidence").joinpath(os.fsdecode(b"caf\xe9.txt")).write_text("bytes kept")
    out = tmp_path / "out/B"
    r = cli(*build_args(m, out, "--keep-going"))
    assert r.exit_code == 0, r.output
    assert "warning" in r.stderr
    items = [json.loads(line) for line in (out / "evidpack/items.jsonl").read_text().splitlines()]
    by_name = {i["original_path"]: i for i in items}
    assert by_name["link"]["kind"] == "not-copied" and "symbolic link" in by_name["link"]["reason"]
    assert by_name["pipe"]["kind"] == "not-copied" and "FIFO" in by_name["pipe"]["reason"]
    bad = by_name["caf%E9.txt"]
    assert bad["kind"] == "file" and bad["original_path_raw"] == b"caf\xe9.txt".hex()
    assert (out / "data/S01-loose-files/caf\uff05E9.txt").read_text() == "bytes kept"  # (stored names hold no "%")
    assert not (out / "data/S01-loose-files/link").exists()
    source = json.loads((out / "evidpack/sources.jsonl").read_text())
    failed = [c for c in source["checks"] if c["verdict"] == "fail"]
    assert {c["check"] for c in failed} == {"special-file", "utf8-name"}
    from conftest import TRUSTED

    assert cli("verify", out, "--trust", TRUSTED).exit_code == 0


def test_unquoted_toml_time_in_options_is_a_clear_error(cli, tmp_path: Path) -> None:
    write_tree(tmp_path / "evidence", {"a.txt": "a"})
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"evidence"', extra_source="[sources.options]\nsent = 2026-03-10T09:00:00+08:00\n"))
    build_fails(cli, tmp_path, m, "sources[0].options.sent", "quoted strings")


def test_empty_source_with_keep_going_is_a_failed_check(cli, tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other/a.txt").write_text("a")
    m = tmp_path / "case.toml"
    text = manifest_text('"evidence"')
    m.write_text(text + text[text.index("[[sources]]"):].replace('"evidence"', '"other"'))
    out = tmp_path / "out/B"
    r = cli(*build_args(m, out, "--keep-going"))
    assert r.exit_code == 0, r.output
    first = json.loads((out / "evidpack/sources.jsonl").read_text().splitlines()[0])
    assert [c["verdict"] for c in first["checks"] if c["check"] == "source-empty"] == ["fail"]
