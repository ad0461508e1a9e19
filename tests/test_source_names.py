"""Names in a `files` source and where they are stored: every file is sealed,
under a name every tool reads the same, and the original name is recorded.

- A stored name holds no '%', CR or LF, the characters a BagIt manifest must
  percent-encode and stock tools do not decode (sha256sum -c reads a manifest
  line as it is; bagit-python 1.9 leaves '%25' as it is): '%' is written '％',
  CR, LF, bytes that are not UTF-8 and white space ending a name '％XX'
  (bagit-python strips white space from a manifest line). The original name
  is in original_path.
- Stored names are unique among all siblings (files and folders), fit 255
  bytes, and never depend on the examiner's paths.
- A folder that cannot be listed is recorded, and with --keep-going the rest is
  sealed; names that differ only by case or Unicode normalisation are flagged.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import TRUSTED, build_args, manifest_text, tool

from evidpack.importers import files as filesmod


def _case(tmp_path: Path, names: dict[bytes, bytes], folders: tuple[bytes, ...] = ()) -> Path:
    src = os.fsencode(tmp_path / "evidence")
    os.mkdir(src)
    for d in folders:
        os.makedirs(os.path.join(src, d), exist_ok=True)
    for name, data in names.items():
        with open(os.path.join(src, name), "wb") as fh:
            fh.write(data)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"evidence"'), "utf-8")
    return m


def _items(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "evidpack/items.jsonl").read_text("utf-8").splitlines()]


def _checks(out: Path) -> list[dict]:
    return json.loads((out / "evidpack/sources.jsonl").read_text("utf-8").splitlines()[0])["checks"]


def _raw(item: dict) -> bytes:
    """The original name's bytes, as recorded."""
    return bytes.fromhex(item["original_path_raw"]) if "original_path_raw" in item else item["original_path"].encode()


def _all_tools_agree(out: Path) -> None:
    """sha256sum -c, md5sum -c and bagit.py --validate all accept the bundle as it is."""
    for cmd in (["sha256sum", "--quiet", "-c", "manifest-sha256.txt"], ["md5sum", "--quiet", "-c", "manifest-md5.txt"]):
        r = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([tool("bagit.py"), "--validate", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_names_with_percent_cr_lf_and_other_bytes_are_stored_so_every_tool_reads_them(cli, tmp_path: Path) -> None:
    names = {
        b"report%20final.pdf": b"1",  # (a browser download's name)
        b"100%.txt": b"2",
        b"line\nbreak.txt": b"3",
        b"carriage\rreturn.txt": b"4",
        b"caf\xe9.txt": b"5",
        "\uff05E9.txt".encode(): b"6",  # a real name that looks like an escaped one (no clash here)
        b"dir%41/inner.txt": b"7",
    }
    m = _case(tmp_path, names, folders=(b"dir%41",))
    out = tmp_path / "out/B"
    r = cli(*build_args(m, out, "--keep-going"))
    assert r.exit_code == 0, r.output
    files = [i for i in _items(out) if i["kind"] == "file"]
    stored = {_raw(i): i["path"].removeprefix("data/S01-loose-files/") for i in files}
    assert stored == {
        b"report%20final.pdf": "report\uff0520final.pdf",
        b"100%.txt": "100\uff05.txt",
        b"line\nbreak.txt": "line\uff050Abreak.txt",
        b"carriage\rreturn.txt": "carriage\uff050Dreturn.txt",
        b"caf\xe9.txt": "caf\uff05E9.txt",
        "\uff05E9.txt".encode(): "\uff05E9.txt",
        b"dir%41/inner.txt": "dir\uff0541/inner.txt",
    }
    for i in files:  # each stored file holds its own source file's bytes
        assert (out / i["path"]).read_bytes() == names[_raw(i)]
    assert "%" not in (out / "manifest-sha256.txt").read_text("utf-8")  # nothing percent-encoded: each line is the name
    (warned,) = [c for c in _checks(out) if c["check"] == "stored-names"]
    assert warned["verdict"] == "warn" and warned["detail"].startswith("5 file(s) stored under another name")
    assert cli("verify", out, "--trust", TRUSTED).exit_code == 0
    _all_tools_agree(out)


def test_names_ending_in_white_space_are_stored_so_bagit_python_finds_them(cli, tmp_path: Path) -> None:
    # bagit-python strips white space (any Unicode white space) from both ends of a
    # manifest line: "trail.txt " was looked for as "trail.txt" and the bag failed.
    names = {
        b"trail.txt ": b"1",
        "ideographic\u3000".encode(): b"2",
        b"tab\t": b"3",
        b" lead.txt": b"4",  # inside a line: kept as it is
        b"two  spaces.txt": b"5",
        b"sub /in.txt": b"6",  # a folder's trailing space is escaped too (the same rule for every name)
    }
    m = _case(tmp_path, names, folders=(b"sub ",))
    out = tmp_path / "out/B"
    r = cli(*build_args(m, out))
    assert r.exit_code == 0, r.output
    files = [i for i in _items(out) if i["kind"] == "file"]
    stored = {_raw(i): i["path"].removeprefix("data/S01-loose-files/") for i in files}
    assert stored == {
        b"trail.txt ": "trail.txt\uff0520",
        "ideographic\u3000".encode(): "ideographic\uff05E3\uff0580\uff0580",
        b"tab\t": "tab\uff0509",
        b" lead.txt": " lead.txt",
        b"two  spaces.txt": "two  spaces.txt",
        b"sub /in.txt": "sub\uff0520/in.txt",
    }
    for i in files:
        assert (out / i["path"]).read_bytes() == names[_raw(i)]
    (warned,) = [c for c in _checks(out) if c["check"] == "stored-names"]
    assert warned["detail"].startswith("4 file(s) stored under another name")
    assert cli("verify", out, "--trust", TRUSTED).exit_code == 0
    _all_tools_agree(out)


def test_escaped_names_never_clash_with_real_names_of_files_or_folders(cli, tmp_path: Path) -> None:
    # b'\xff.txt' would be stored as '％FF.txt', and a real file of that name is there too;
    # folder b'd\xff' would be stored as 'd％FF', and a real folder of that name is there too
    names = {b"\xff.txt": b"escaped", "\uff05FF.txt".encode(): b"real", b"d\xff/a": b"escaped dir", "d\uff05FF/a".encode(): b"real dir"}
    m = _case(tmp_path, names, folders=(b"d\xff", "d\uff05FF".encode()))
    out = tmp_path / "out/B"
    r = cli(*build_args(m, out, "--keep-going"))
    assert r.exit_code == 0, r.output
    files = [i for i in _items(out) if i["kind"] == "file"]
    assert len(files) == 4 and len({i["path"] for i in files}) == 4
    for i in files:
        assert (out / i["path"]).read_bytes() == names[_raw(i)]
    real = {i["original_path"]: i["path"] for i in files if "original_path_raw" not in i}
    assert real == {"\uff05FF.txt": "data/S01-loose-files/\uff05FF.txt", "d\uff05FF/a": "data/S01-loose-files/d\uff05FF/a"}
    assert cli("verify", out, "--trust", TRUSTED).exit_code == 0
    _all_tools_agree(out)


def test_a_long_name_that_is_not_utf8_is_shortened_to_fit_and_sealed(cli, tmp_path: Path) -> None:
    long = b"\xe9" * 100 + b".txt"  # 104 bytes on disk, 304 escaped
    m = _case(tmp_path, {long: b"long", b"ok.txt": b"ok"})
    out = tmp_path / "out/B"
    r = cli(*build_args(m, out, "--keep-going"))
    assert r.exit_code == 0, r.output
    (item,) = [i for i in _items(out) if i.get("original_path_raw") == long.hex()]
    name = item["path"].rpartition("/")[2]
    assert len(name.encode()) <= 255 and name.endswith(".txt") and "~" in name
    assert (out / item["path"]).read_bytes() == b"long"
    assert cli("verify", out, "--trust", TRUSTED).exit_code == 0


def test_stored_name_is_deterministic_unique_and_fits() -> None:
    a = os.fsdecode(b"\xff" * 200 + b".jpeg")
    b = os.fsdecode(b"\xff" * 201 + b".jpeg")
    n1, n2, n3 = filesmod.stored_name(a, set()), filesmod.stored_name(a, set()), filesmod.stored_name(b, set())
    assert n1 == n2 != n3 and all(len(n.encode()) <= 255 and n.endswith(".jpeg") for n in (n1, n3))
    assert filesmod.stored_name("a%b", {"a\uff05b"}).startswith("a\uff05b~")
    assert filesmod.plain_name("plain.txt") and not filesmod.plain_name("a%b") and not filesmod.plain_name("a\nb")


def test_an_unlistable_folder_is_recorded_and_the_rest_sealed_with_keep_going(cli, tmp_path: Path, monkeypatch) -> None:
    m = _case(tmp_path, {b"a.txt": b"a", b"sub/b.txt": b"b", b"z.txt": b"z"}, folders=(b"sub",))
    real = os.scandir

    def deny(path=None):
        if isinstance(path, (str, bytes)) and os.fsdecode(path).endswith("/sub"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(filesmod.os, "scandir", deny)
    # without --keep-going: one line naming the folder as the manifest names it, nothing written
    r = cli(*build_args(m, tmp_path / "out/A"))
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == [
        "evidpack: error: evidence/sub: cannot list folder (Permission denied); nothing in it was read "
        "(use --keep-going to record it as a failed check and continue)"
    ], r.stderr
    assert not (tmp_path / "out/A").exists()
    out = tmp_path / "out/B"
    r = cli(*build_args(m, out, "--keep-going"))
    assert r.exit_code == 0, r.output
    items = _items(out)
    assert [i["original_path"] for i in items if i["kind"] == "file"] == ["a.txt", "z.txt"]
    (rec,) = [i for i in items if i["kind"] == "not-copied"]
    assert rec["original_path"] == "sub" and "could not list folder (Permission denied)" in rec["reason"]
    (failed,) = [c for c in _checks(out) if c["verdict"] == "fail"]
    assert failed["check"] == "folder-readable" and failed["detail"].startswith("evidence/sub: cannot list folder")
    assert cli("verify", out, "--trust", TRUSTED).exit_code == 0


def test_recorded_problems_name_files_as_the_manifest_does_never_by_absolute_path(cli, tmp_path: Path) -> None:
    m = _case(tmp_path, {b"a.txt": b"a"})
    os.symlink("a.txt", tmp_path / "evidence/100%link")
    out = tmp_path / "out/B"
    r = cli(*build_args(m, out, "--keep-going"))
    assert r.exit_code == 0, r.output
    for tag in ("evidpack/sources.jsonl", "evidpack/custody.jsonl", "evidpack/items.jsonl"):
        assert str(tmp_path) not in (out / tag).read_text("utf-8"), tag
    (failed,) = [c for c in _checks(out) if c["verdict"] == "fail"]
    assert failed["detail"] == "evidence/100%link: is a symbolic link to 'a.txt'; not followed or read"
    (rec,) = [i for i in _items(out) if i["kind"] == "not-copied"]
    assert rec["original_path"] == "100%link" and "original_path_raw" not in rec  # (the name as it is: UTF-8)


@pytest.mark.parametrize(
    "names, folders, said",
    [
        ({"caf\u00e9.txt".encode(): b"nfc", "cafe\u0301.txt".encode(): b"nfd"}, (), "by Unicode normalisation"),
        ({b"Docs/a.txt": b"1", b"docs/a.txt": b"2"}, (b"Docs", b"docs"), "by case"),
        ({b"A.txt": b"1", b"a.txt": b"2"}, (), "by case"),
    ],
)
def test_names_a_mac_or_windows_could_not_hold_both_of_are_flagged(cli, tmp_path: Path, names, folders, said) -> None:
    m = _case(tmp_path, names, folders=folders)
    out = tmp_path / "out/B"
    assert cli(*build_args(m, out)).exit_code == 0
    (warned,) = [c for c in _checks(out) if c["check"] == "name-collision"]
    assert warned["verdict"] == "warn" and said in warned["detail"]
    assert len([i for i in _items(out) if i["kind"] == "file"]) == 2


def test_a_nul_in_a_manifest_path_is_one_line(cli, tmp_path: Path) -> None:
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"a\\u0000b"'), "utf-8")
    r = cli(*build_args(m, tmp_path / "out/B"))
    assert r.exit_code == 2
    assert r.stderr.strip() == f"evidpack: error: {m}: sources[0].path: contains a NUL character, which no file name can hold"
