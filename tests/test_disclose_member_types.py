"""Disclosing members whose type says they hold nothing but which were sealed with
content: a zip entry marked as a folder (by its name or its Unix mode) or as a
special file that carries bytes, a tar member of a type tar does not know that
carries bytes. Each was hashed when sealed (its record has size, SHA-256 and
MD5, and a ``member-type`` problem); a disclosure carries those bytes exactly as
it carries a file member's, and the defence's ``verify`` checks them against
the sealed record. A member without content (a real empty folder) stays a
record without a file."""

from __future__ import annotations

import hashlib
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from conftest import TRUSTED, build_args
from device_support import device_case, members
from test_container_hidden_bytes import HIDDEN, SECRET, _odd_zip, _tar_bytes, _typed
from test_disclose import disclose, extract, read_package, verify
from test_zip_hidden_tail import HIDDEN as TAIL, _spliced_zip

FOLDER_BYTES = b"bytes in a slash folder\n" * 40


def _bundle(cli, tmp_path: Path) -> Path:
    ev = tmp_path / "ev"
    _odd_zip(ev / "b.zip")
    (ev / "a.tar").write_bytes(_tar_bytes(_typed("hidden.txt", b"Z", HIDDEN), _typed("after.txt", tarfile.REGTYPE, b"after\n")))
    # a folder entry with bytes hidden after its (empty) deflate stream: an empty folder, said
    (ev / "c.zip").write_bytes(_spliced_zip([("d/", b"", zipfile.ZIP_DEFLATED), ("c.txt", b"c\n", zipfile.ZIP_DEFLATED)], {"d/": TAIL}))
    out = tmp_path / "out/B"
    r = cli(*build_args(device_case(tmp_path, "ev"), out, "--keep-going"))  # (member-type problems fail their checks)
    assert r.exit_code == 0, r.output
    return out


def _by_path(bundle: Path) -> dict[str, dict[str, Any]]:
    return {m["member_path"]: m for m in members(bundle)}


def _digests(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


def test_members_of_other_types_that_carry_bytes_are_disclosed_with_them_and_verify(cli, tmp_path: Path) -> None:
    bundle = _bundle(cli, tmp_path)
    sealed = _by_path(bundle)
    carrying = {"secret.txt": SECRET, "dir/": FOLDER_BYTES, "pipe": b"fifo bytes\n", "tty": b"char device bytes\n", "hidden.txt": HIDDEN}
    for path, data in carrying.items():  # what the build sealed
        rec = sealed[path]
        assert rec["member_type"] != "file" and {k: rec[k] for k in ("size", "sha256", "md5")} == _digests(data), path
        assert any(p.startswith("member-type: ") for p in rec["problems"]), path
    empty, hollow = sealed["empty/"], sealed["d/"]
    assert "sha256" not in empty and "sha256" not in hollow and hollow["problems"][0].startswith("member-trailing-data: has 1000 byte(s)")

    out = tmp_path / "pkg/B-disclosure-01.zip"
    out.parent.mkdir()
    wanted = [*carrying, "empty/", "d/", "plain.txt", "after.txt"]
    r = disclose(cli, bundle, out, *sum((["--include", sealed[p]["id"]] for p in wanted), []))
    assert r.exit_code == 0, r.output
    assert "record only: a directory in its container, no content of its own" in r.output  # (empty/ and d/)

    package = read_package(out)
    statement = json.loads(package["disclosure.json"])
    listed = {i["id"]: i for i in statement["items"]}
    for path, data in carrying.items():
        rec = sealed[path]
        item = listed[rec["id"]]
        assert item.get("file"), (path, item)
        assert package[item["file"]] == data, path  # the bytes sealed, under the member's own name
        assert item["file"] == f"files/{rec['id'].replace('/', '_')}/{path.rstrip('/').rsplit('/', 1)[-1]}"
        proven = json.loads(json.loads(package[f"items/{rec['id'].replace('/', '_')}.proof.json"])["record"])
        assert proven == rec and {k: proven[k] for k in ("size", "sha256", "md5")} == _digests(data)
    for path in ("empty/", "d/"):  # no content: a record, no file
        item = listed[sealed[path]["id"]]
        assert not item.get("file") and item["note"].startswith("record only: a directory"), item
        assert not any(name.startswith(f"files/{sealed[path]['id'].replace('/', '_')}/") for name in package)
    assert package[listed[sealed["plain.txt"]["id"]]["file"]] == b"plain\n"

    r = verify(cli, out, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output
    assert "7 disclosed file(s) match their sealed records" in r.output
    # (and unpacked, as 7-Zip would leave it)
    folder = extract(out, tmp_path / "unpacked")
    r = cli("verify", folder, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output


def test_a_whole_container_with_such_members_is_disclosed_member_by_member(cli, tmp_path: Path) -> None:
    bundle = _bundle(cli, tmp_path)
    sealed = _by_path(bundle)
    zip_id = sealed["secret.txt"]["container"]
    out = tmp_path / "pkg/B-disclosure-02.zip"
    out.parent.mkdir()
    r = disclose(cli, bundle, out, "--include", f"{zip_id}/*", password=None)
    assert r.exit_code == 0, r.output
    package = read_package(out, None)
    files = {name for name in package if name.startswith("files/")}
    with_bytes = [m for m in sealed.values() if m["container"] == zip_id and "sha256" in m]
    assert len(files) == len(with_bytes)  # (the link's target too: its bytes were sealed)
    for m in with_bytes:
        name = f"files/{m['id'].replace('/', '_')}/{m['member_path'].rstrip('/').rsplit('/', 1)[-1]}"
        assert {k: m[k] for k in ("size", "sha256", "md5")} == _digests(package[name])
    assert verify(cli, out, "--trust", TRUSTED, password=None).exit_code == 0


# --- members sealed from only part of what their container declares, or with a bad CRC ---------------------


def _partial_bundle(cli, tmp_path: Path) -> Path:
    import struct

    from device_support import tar_of

    ev = tmp_path / "ev"
    # a tar cut short inside its last member: sealed with the 1,000 of 3,000 bytes it holds
    tar_of(tmp_path / "x.tar", [("first", b"1" * 700), ("cut", b"C" * 3000)])
    whole = (tmp_path / "x.tar").read_bytes()
    ev.mkdir()
    (ev / "t.tar").write_bytes(whole[: whole.index(b"C" * 3000) + 1000])
    # a folder entry declaring 0 bytes that stores 5 (sealed with the 0 bytes it declares: the
    # 5 are a problem of its record); and a file whose CRC-32 is wrong
    with zipfile.ZipFile(ev / "z.zip", "w") as zf:
        zf.writestr(zipfile.ZipInfo("d/", (2024, 7, 28, 7, 27, 26)), b"hello")
        zf.writestr(zipfile.ZipInfo("crc.txt", (2024, 7, 28, 7, 27, 26)), b"bad crc\n")
    data = bytearray((ev / "z.zip").read_bytes())
    central = bytes(data).index(b"PK\x01\x02")
    struct.pack_into("<L", data, 22, 0)  # d/: uncompressed size 0, in the local header ...
    struct.pack_into("<L", data, central + 24, 0)  # ... and in the central directory
    at = bytes(data).index(b"crc.txt") - 30  # crc.txt's local header: its CRC-32, here and in the central directory
    struct.pack_into("<L", data, at + 14, 0xDEADBEEF)
    struct.pack_into("<L", data, bytes(data).index(b"PK\x01\x02", central + 1) + 16, 0xDEADBEEF)
    (ev / "z.zip").write_bytes(bytes(data))
    out = tmp_path / "out/P"
    r = cli(*build_args(device_case(tmp_path, "ev"), out, "--keep-going"))
    assert r.exit_code == 0, r.output
    return out


def test_members_read_in_part_or_with_a_bad_crc_are_disclosed_as_sealed_and_verify(cli, tmp_path: Path) -> None:
    bundle = _partial_bundle(cli, tmp_path)
    sealed = _by_path(bundle)
    expected = {"cut": b"C" * 1000, "d/": b"", "crc.txt": b"bad crc\n"}
    assert (sealed["cut"]["declared_size"], sealed["d/"]["declared_size"]) == (3000, 0)
    assert "declared_size" not in sealed["crc.txt"] and any(p.startswith("member-crc: ") for p in sealed["crc.txt"]["problems"])
    for path, data in expected.items():
        assert {k: sealed[path][k] for k in ("size", "sha256", "md5")} == _digests(data), path

    out = tmp_path / "pkg/P-disclosure-01.zip"
    out.parent.mkdir()
    r = disclose(cli, bundle, out, *sum((["--include", sealed[p]["id"]] for p in [*expected, "first"]), []))
    assert r.exit_code == 0, r.output  # (it stopped: "cannot be read out of container")
    package = read_package(out)
    listed = {i["id"]: i for i in json.loads(package["disclosure.json"])["items"]}
    for path, data in expected.items():
        assert package[listed[sealed[path]["id"]]["file"]] == data, path  # the bytes sealed, no more
    r = verify(cli, out, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output
    assert "4 disclosed file(s) match their sealed records" in r.output


def test_a_member_whose_bytes_differ_from_the_sealed_ones_still_stops_the_disclosure(cli, tmp_path: Path) -> None:
    """(The CRC-32 is not what guards a disclosure: the sealed SHA-256 and MD5 are.)"""
    bundle = _partial_bundle(cli, tmp_path)
    sealed = _by_path(bundle)
    z = next(p for p in (bundle / "data").rglob("z.zip"))
    z.chmod(0o644)
    data = z.read_bytes()
    z.write_bytes(data.replace(b"bad crc\n", b"bad CRC\n"))
    out = tmp_path / "pkg/P-disclosure-02.zip"
    out.parent.mkdir()
    r = disclose(cli, bundle, out, "--include", sealed["crc.txt"]["id"])
    assert r.exit_code == 1 and "it is not what was sealed; nothing was disclosed" in r.output, r.output
    assert not out.exists()
