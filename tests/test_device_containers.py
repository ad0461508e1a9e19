"""Kind ``device``: containers kept whole, their members catalogued by streaming.

Every input form the issue names (folder, zip incl. ZIP64 and > 4 GB members,
tar, tar.gz/tgz, gzip), through the CLI, and ``verify --deep`` re-deriving
every member record from the sealed copy."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from conftest import TRUSTED, build_args, write_tree
from device_support import FOLDER, built, device_case, gen, items, member, members, source, tar_of, verify_deep, zip_of
from test_integrity_guarantees import snapshot

from evidpack.importers.containers import Limits


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_zip_is_one_payload_item_and_each_member_a_record(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "ev/phone.zip", {"a/one.txt": b"one", "a/two.bin": os.urandom(3 << 20)}, compression=zipfile.ZIP_DEFLATED)
    bundle = built(cli, tmp_path, "ev/phone.zip")
    payload = [p.relative_to(bundle) for p in (bundle / "data").rglob("*") if p.is_file()]
    assert payload == [Path(f"{FOLDER}/phone.zip")]  # kept whole: nothing unpacked into the bundle
    recs = items(bundle)
    container = recs[0]
    assert container["id"] == "E0001" and container["sha256"] == sha((tmp_path / "ev/phone.zip").read_bytes())
    assert container["container_format"] == "zip" and container["members"] == 2
    with zipfile.ZipFile(tmp_path / "ev/phone.zip") as zf:
        for n, (rec, info) in enumerate(zip(recs[1:], zf.infolist()), 1):
            data = zf.read(info)
            assert rec["id"] == f"E0001/M{n:06d}" and rec["kind"] == "member" and rec["container"] == "E0001"
            assert rec["member_path"] == info.filename and rec["size"] == len(data)
            assert rec["sha256"] == sha(data) and rec["md5"] == hashlib.md5(data).hexdigest()
            assert rec["compression"] == "deflate" and rec["crc32"] == f"{info.CRC:08x}"


def test_zip_dos_times_have_no_zone_and_say_so(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "ev/x.zip", {"plain.txt": b"x"})
    m = member(built(cli, tmp_path, "ev/x.zip"), "plain.txt")
    assert "mtime" not in m and m["mtime_zone"] == "unknown (DOS time)"
    assert len(m["mtime_local"]) == 19 and not m["mtime_local"].endswith("Z")


def test_zip_extended_timestamp_is_utc(cli, tmp_path: Path) -> None:
    (tmp_path / "ev").mkdir()
    gen.write_zip(tmp_path / "ev/x.zip", [("utc.txt", b"x", True)])
    m = member(built(cli, tmp_path, "ev/x.zip"), "utc.txt")
    assert m["mtime"] == "2024-06-28T11:27:27Z" and "0x5455" in m["mtime_from"] and "mtime_local" not in m


def test_zip_ntfs_times_are_utc(cli, tmp_path: Path) -> None:
    info = zipfile.ZipInfo("ntfs.txt", (2024, 1, 1, 0, 0, 0))
    ticks = (1_700_000_000 + 11_644_473_600) * 10_000_000
    info.extra = struct.pack("<HHIHHQQQ", 0x000A, 32, 0, 1, 24, ticks, ticks, ticks)
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
        zf.writestr(info, b"x")
    m = member(built(cli, tmp_path, "x.zip"), "ntfs.txt")
    assert m["mtime"] == "2023-11-14T22:13:20Z" and "NTFS" in m["mtime_from"]


def test_unicode_path_extra_field_gives_the_name(cli, tmp_path: Path) -> None:
    raw = b"caf\x82.txt"  # CP437 "café.txt", not flagged UTF-8, with an Info-ZIP Unicode Path field
    body = b"\x01" + struct.pack("<I", zlib.crc32(raw)) + "café.txt".encode()
    _patched_zip(tmp_path / "x.zip", b"cafX.txt", raw, extra=struct.pack("<HH", 0x7075, len(body)) + body)
    m = member(built(cli, tmp_path, "x.zip"), "café.txt")
    assert m["member_path_raw"] == raw.hex() and "0x7075" in m["member_path_encoding"] and "problems" not in m


def _patched_zip(path: Path, placeholder: bytes, raw: bytes, extra: bytes = b"") -> None:
    """A zip whose member name bytes are ``raw`` (not UTF-8, flag unset): written
    with a same-length ASCII placeholder, then patched in both headers."""
    info = zipfile.ZipInfo(placeholder.decode(), (2024, 7, 28, 7, 27, 26))
    info.extra = extra
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, b"content")
    path.write_bytes(buf.getvalue().replace(placeholder, raw))


def test_zip64_structures_are_read(cli, tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "z64.zip", "w", allowZip64=True) as zf:
        for name in ("a.txt", "b.txt"):
            with zf.open(name, "w", force_zip64=True) as fh:
                fh.write(name.encode() * 1000)
    raw = (tmp_path / "z64.zip").read_bytes()
    assert raw[18:26] == b"\xff" * 8 and raw[30 + 5 : 30 + 7] == b"\x01\x00"  # sizes in a ZIP64 extra field
    bundle = built(cli, tmp_path, "z64.zip")
    assert member(bundle, "b.txt")["sha256"] == sha(b"b.txt" * 1000)
    assert verify_deep(cli, bundle).exit_code == 0


@pytest.fixture(scope="module")
def many_members(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip with more members than a plain zip's directory can count (65,535)."""
    root = tmp_path_factory.mktemp("zip64many")
    with zipfile.ZipFile(root / "many.zip", "w") as zf:
        for i in range(65_540):
            zf.writestr(zipfile.ZipInfo(f"d{i // 1000:02d}/f{i:05d}", (2024, 7, 28, 0, 0, 0)), str(i).encode())
    return root


def test_zip64_with_more_than_65535_members(cli, many_members: Path) -> None:
    from conftest import run_cli

    assert b"PK\x06\x06" in (many_members / "many.zip").read_bytes()[-200:]  # ZIP64 end of central directory
    bundle = built(run_cli, many_members, "many.zip")
    recs = items(bundle)
    assert recs[0]["members"] == 65_540 and len(recs) == 65_541
    assert recs[-1]["id"] == "E0001/M065540" and recs[-1]["member_path"] == "d65/f65539"
    assert recs[-1]["sha256"] == sha(b"65539")
    r = verify_deep(run_cli, bundle)
    assert r.exit_code == 0 and "65540 member record(s) re-derived" in r.output


def test_member_over_4_gib(cli, tmp_path: Path) -> None:
    """4.1 GB of zeros streamed through inflate and both digests, at build and at --deep
    (about 20-40 s; the zip itself is a few megabytes)."""
    block = b"\x00" * (1 << 24)
    size = 262 * len(block)  # 4.09 GiB: more than a 32-bit size can hold
    digest = hashlib.sha256()
    with zipfile.ZipFile(tmp_path / "big.zip", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("huge.img", "w", force_zip64=True) as fh:
            for _ in range(size // len(block)):
                fh.write(block)
                digest.update(block)
    bundle = built(cli, tmp_path, "big.zip")
    m = member(bundle, "huge.img")
    assert m["size"] == size and m["sha256"] == digest.hexdigest()
    assert verify_deep(cli, bundle).exit_code == 0


def test_tar_members_have_utc_times_modes_and_owners(cli, tmp_path: Path) -> None:
    ti = tarfile.TarInfo("data/data/com.example/files/notes.txt")
    ti.size, ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname = 5, 1_700_000_000, 0o600, 10123, 10123, "u0_a123"
    with tarfile.open(tmp_path / "fs.tar", "w") as tf:
        tf.addfile(ti, io.BytesIO(b"hello"))
    bundle = built(cli, tmp_path, "fs.tar")
    m = member(bundle, "data/data/com.example/files/notes.txt")
    assert m["mtime"] == "2023-11-14T22:13:20Z" and m["mode"] == "0600" and m["uid"] == 10123 and m["uname"] == "u0_a123"
    assert m["sha256"] == sha(b"hello") and items(bundle)[0]["container_format"] == "tar"


@pytest.mark.parametrize("name, mode", [("fs.tar.gz", "w:gz"), ("fs.tgz", "w:gz")])
def test_tar_gz_is_streamed_once(cli, tmp_path: Path, name: str, mode: str) -> None:
    tar_of(tmp_path / name, [("a.txt", b"a" * 5000), ("b/c.txt", b"c")], mode)
    bundle = built(cli, tmp_path, name)
    assert items(bundle)[0]["container_format"] == "tar+gzip"
    assert [m["member_path"] for m in members(bundle)] == ["a.txt", "b/c.txt"]
    assert member(bundle, "a.txt")["sha256"] == sha(b"a" * 5000)
    assert verify_deep(cli, bundle).exit_code == 0


def test_a_plain_gz_has_one_member_named_by_its_header(cli, tmp_path: Path) -> None:
    data = b"logcat line\n" * 100
    with open(tmp_path / "logcat.gz", "wb") as fh, gzip.GzipFile("logcat.txt", "wb", fileobj=fh, mtime=1_700_000_000) as gz:
        gz.write(data)
    bundle = built(cli, tmp_path, "logcat.gz")
    (m,) = members(bundle)
    assert m["member_path"] == "logcat.txt" and m["sha256"] == sha(data)
    assert m["mtime"] == "2023-11-14T22:13:20Z" and "gzip header" in m["mtime_from"]
    assert items(bundle)[0]["container_format"] == "gzip"


def test_folder_dump_is_copied_file_by_file_and_its_containers_catalogued(cli, tmp_path: Path) -> None:
    write_tree(tmp_path / "dump", {"sdcard/DCIM/a.jpg": b"\xff\xd8\xff" + b"x" * 10, "sdcard/backup.zip": b""})
    zip_of(tmp_path / "dump/sdcard/backup.zip", {"inner.txt": b"inner"})
    bundle = built(cli, tmp_path, "dump")
    recs = items(bundle)
    assert {r.get("original_path") for r in recs if r["kind"] == "file"} == {"sdcard/DCIM/a.jpg", "sdcard/backup.zip"}
    assert member(bundle, "inner.txt")["container"] == next(r["id"] for r in recs if r.get("original_path") == "sdcard/backup.zip")


def test_catalogue_members_false_keeps_containers_whole_without_records(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "ev/x.zip", {"a.txt": b"a"})
    bundle = built(cli, tmp_path, "ev/x.zip", options={"catalogue_members": False})
    assert [r["kind"] for r in items(bundle)] == ["file"]


def test_a_list_of_files(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "a.zip", {"a.txt": b"a"})
    tar_of(tmp_path / "b.tar", [("b.txt", b"b")])
    m = device_case(tmp_path, "a.zip")
    m.write_text(m.read_text().replace('path = "a.zip"', 'path = ["a.zip", "b.tar"]'))
    out = tmp_path / "out/B"
    assert cli(*build_args(m, out)).exit_code == 0
    assert [r["member_path"] for r in members(out)] == ["a.txt", "b.txt"]


def test_sources_are_untouched_byte_and_time(cli, tmp_path: Path) -> None:
    gen.make_android(tmp_path / "ev")
    before = snapshot(tmp_path / "ev")
    built(cli, tmp_path, "ev")
    assert snapshot(tmp_path / "ev") == before


def test_rebuild_gives_identical_records(cli, tmp_path: Path) -> None:
    gen.make_android(tmp_path / "ev")
    m = device_case(tmp_path, "ev")
    for name in ("one", "two"):
        assert cli(*build_args(m, tmp_path / name)).exit_code == 0
    for rel in ("evidpack/items.jsonl", "evidpack/sources.jsonl", "evidpack/records/S01-artifacts.json", "tagmanifest-sha256.txt.sig"):
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel


def test_deep_verify_passes_and_names_a_member_whose_record_lies(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "x.zip", {"a.txt": b"a", "b.txt": b"b"})
    bundle = built(cli, tmp_path, "x.zip")
    r = verify_deep(cli, bundle)
    assert r.exit_code == 0 and "PASS      container-members" in r.output and "2 member record(s) re-derived" in r.output
    assert "SKIP      container-members" in cli("verify", bundle, "--trust", TRUSTED).output
    lines = (bundle / "evidpack/items.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace(sha(b"b"), sha(b"forged"))
    (bundle / "evidpack/items.jsonl").write_text("\n".join(lines) + "\n")
    r = verify_deep(cli, bundle)
    assert r.exit_code == 1 and "FAIL      container-members" in r.output
    assert "E0001/M000002 'b.txt'" in r.output and "sha256 differs" in r.output


def test_deep_verify_of_a_zipped_bundle(cli, tmp_path: Path) -> None:
    tar_of(tmp_path / "x.tgz", [("a.txt", b"a" * 100)], "w:gz")
    out = tmp_path / "out/B"
    assert cli(*build_args(device_case(tmp_path, "x.tgz"), out, "--zip")).exit_code == 0
    r = verify_deep(cli, out.with_name("B.zip"))
    assert r.exit_code == 0 and "1 member record(s) re-derived" in r.output


def test_expansion_caps_are_recorded_when_not_the_default(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "x.zip", {"a.txt": b"a"})
    bundle = built(cli, tmp_path, "x.zip", options={"max_expansion_ratio": 5000, "max_expanded_bytes": 1 << 40})
    assert items(bundle)[0]["expansion_caps"] == {"max_ratio": 5000.0, "max_expanded": 1 << 40}
    assert verify_deep(cli, bundle).exit_code == 0
    assert Limits().max_ratio < 5000


def test_member_counts_and_readability_are_source_checks(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "x.zip", {"a/": b"", "a/b.txt": b"b"})
    row = source(built(cli, tmp_path, "x.zip"))
    by = {c["check"]: c for c in row["checks"]}
    assert by["container-readable"]["verdict"] == "pass" and by["member-count"]["verdict"] == "pass"
    assert "2 member(s) (1 directory, 1 file)" in by["member-count"]["detail"]
    assert "nothing unpacked to disk" in by["member-count"]["detail"]
    assert row["facts"]["members"] == 2 and row["facts"]["containers"][0]["format"] == "zip"


@pytest.mark.parametrize(
    "options, needles",
    [
        ({"max_expansion_ratio": "big"}, ("options.max_expansion_ratio", "must be a number")),
        ({"sqlite_summary_max_bytes": -1}, ("options.sqlite_summary_max_bytes", "at least 0")),
        ({"catalogue_members": "yes"}, ("options.catalogue_members", "true or false")),
        ({"max_ratio": 10}, ("unknown option(s) max_ratio", "known: catalogue_members")),
    ],
)
def test_bad_options_are_one_line_errors(cli, tmp_path: Path, options: dict, needles: tuple[str, ...]) -> None:
    from device_support import build, one_line_error

    zip_of(tmp_path / "x.zip", {"a.txt": b"a"})
    one_line_error(build(cli, device_case(tmp_path, "x.zip", options), tmp_path / "out/B"), "case.toml", *needles)
