"""Hostile iTunes/Finder backups: a Manifest.db whose Files computes its rows,
an IsEncrypted flag that does not match Manifest.db, plists of unexpected
types, nested too deeply or holding NaN, and MBFile blobs with values no device
writes. Each is one clear line (exit 2), or with --keep-going a failed check,
and a build that succeeds verifies."""

from __future__ import annotations

import json
import plistlib
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, VENV_BIN
from device_support import build, checks, device_case, gen, items, one_line_error, source

from evidpack.importers import itunes

UDID = gen.UDID
VICTIM = ("HomeDomain", "Library/Preferences/com.example.synthetic.plist")  # a stored file of gen.ios_files()


def backup(tmp_path: Path) -> Path:
    folder = tmp_path / "backup" / UDID
    gen.write_backup(folder, gen.ios_files())
    return folder


def stored(domain: str, path: str) -> str:
    fid = gen.file_id(domain, path)
    return f"{fid[:2]}/{fid}"


def edit_plist(path: Path, fmt: Any = plistlib.FMT_BINARY, **changes: Any) -> None:
    d = plistlib.loads(path.read_bytes())
    d.update(changes)
    path.write_bytes(plistlib.dumps(d, fmt=fmt))


def set_blob(folder: Path, blob: bytes, domain: str = VICTIM[0], path: str = VICTIM[1]) -> None:
    con = sqlite3.connect(folder / "Manifest.db")
    con.execute("UPDATE Files SET file = ? WHERE fileID = ?", (blob, gen.file_id(domain, path)))
    con.commit()
    con.close()


def archive(root: Any) -> bytes:
    """An NSKeyedArchiver blob whose root object is ``root``."""
    return plistlib.dumps({"$archiver": "NSKeyedArchiver", "$version": 100000, "$top": {"root": plistlib.UID(1)},
                           "$objects": ["$null", root]}, fmt=plistlib.FMT_BINARY)


def bplist(objs: list[bytes], ref_size: int) -> bytes:
    """A binary plist of the encoded objects ``objs`` (the first is the root)."""
    body, offsets = bytearray(b"bplist00"), []
    for o in objs:
        offsets.append(len(body))
        body += o
    table = len(body)
    for off in offsets:
        body += struct.pack(">I", off)
    return bytes(body + struct.pack(">6xBBQQQ", 4, ref_size, len(objs), 0, table))


def deep_bplist(depth: int = 20000) -> bytes:
    """A binary plist of ``depth`` arrays, each holding the next."""
    return bplist([bytes([0xA1]) + struct.pack(">H", i + 1) for i in range(depth - 1)] + [bytes([0xA0])], 2)


def kept_going(cli, tmp_path: Path) -> Path:
    """Build with --keep-going (must succeed and verify); the bundle."""
    out = tmp_path / "out/B"
    r = build(cli, device_case(tmp_path, "backup"), out, "--keep-going")
    assert r.exit_code == 0, r.output
    assert cli("verify", out, "--trust", TRUSTED).exit_code == 0
    return out


def stops(cli, tmp_path: Path, *needles: str) -> None:
    one_line_error(build(cli, device_case(tmp_path, "backup"), tmp_path / "out/B"), *needles)


def failed(bundle: Path, name: str = "itunes-manifest") -> list[str]:
    return [c["detail"] for c in checks(bundle, name) if c["verdict"] == "fail"]


def record(bundle: Path, domain: str = VICTIM[0], path: str = VICTIM[1]) -> dict[str, Any]:
    return next(i for i in items(bundle) if i.get("original_path") == f"{UDID}/{stored(domain, path)}")


# --- #3: a Manifest.db whose Files computes its rows ------------------------------------------

ENDLESS_VIEW = """CREATE VIEW Files AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n)
  SELECT printf('%040x', i) AS fileID, 'HomeDomain' AS domain, 'Library/f' || i AS relativePath, 1 AS flags, NULL AS file FROM n"""


def replace_manifest_db(folder: Path, script: str) -> None:
    (folder / "Manifest.db").unlink()
    con = sqlite3.connect(folder / "Manifest.db")
    con.executescript(script)
    con.commit()
    con.close()


_MEASURE = """
import resource, subprocess, sys
cap = lambda: resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
r = subprocess.run(sys.argv[1:], capture_output=True, text=True, preexec_fn=cap)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)
print(r.stderr, end="")
"""


def test_a_files_view_of_endless_rows_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    folder = backup(tmp_path)
    replace_manifest_db(folder, ENDLESS_VIEW)
    assert (folder / "Manifest.db").stat().st_size < 16384
    manifest = device_case(tmp_path, "backup")
    # measured in a process of its own (its children's peak RSS alone); `timeout` and an
    # address-space cap so that a regression fails instead of hanging or exhausting the machine
    cmd = ["timeout", "300", str(VENV_BIN / "evidpack"), "build", str(manifest), "--key", str(DEMO_KEY),
           "--passphrase-file", str(DEMO_PASS), "--out", str(tmp_path / "out/B"), "--time", "2026-11-22T08:00:00Z"]
    p = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, timeout=400)
    first, _, stderr = p.stdout.partition("\n")
    peak_kib, code = map(int, first.split())
    assert code == 2, p.stdout
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evidpack: error: "), stderr
    assert "Manifest.db: refused: its Files is a view, not a table of stored rows" in lines[0]
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib} KiB"


def test_a_refused_manifest_db_is_a_failed_check_with_keep_going(cli, tmp_path: Path) -> None:
    replace_manifest_db(backup(tmp_path), ENDLESS_VIEW)
    bundle = kept_going(cli, tmp_path)
    (detail,) = failed(bundle)
    assert "refused: its Files is a view" in detail
    assert source(bundle)["facts"]["itunes_backups"][0]["manifest_db"].startswith("unreadable: its Files is a view")
    assert not any("backup_domain" in i for i in items(bundle))


COLUMNS = "fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER"


@pytest.mark.parametrize("script, needle", [
    (f"CREATE TABLE Files ({COLUMNS}, file BLOB AS (zeroblob(100000000)))", "Files column 'file' is generated"),
    (f"CREATE TABLE Files ({COLUMNS}, file BLOB DEFAULT (zeroblob(100000000)))", "Files column 'file' has a DEFAULT"),
    ("CREATE VIRTUAL TABLE Files USING fts5(fileID, domain, relativePath, flags, file)", "its Files is a virtual table"),
    ("CREATE TABLE Other (x)", "it has no Files table"),
])
def test_a_files_table_that_computes_values_is_refused(cli, tmp_path: Path, script: str, needle: str) -> None:
    replace_manifest_db(backup(tmp_path), script)
    stops(cli, tmp_path, f"{UDID}/Manifest.db: refused: {needle}")


def test_triggers_and_other_views_do_not_stop_a_real_files_table(cli, tmp_path: Path) -> None:
    folder = backup(tmp_path)
    con = sqlite3.connect(folder / "Manifest.db")
    con.executescript("CREATE TRIGGER t AFTER INSERT ON Files BEGIN SELECT 1; END;"
                      "CREATE VIEW endless AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT i FROM n;")
    con.close()
    bundle = kept_going(cli, tmp_path)
    (c,) = checks(bundle, "itunes-manifest")
    assert c["verdict"] == "pass" and "maps 8 stored file(s)" in c["detail"]


def test_reading_manifest_db_has_a_budget_in_proportion_to_its_size(cli, tmp_path: Path, monkeypatch) -> None:
    backup(tmp_path)
    monkeypatch.setattr(itunes, "_STEP_CHECK", 1)
    monkeypatch.setattr(itunes, "_STEPS_FLOOR", 5)
    monkeypatch.setattr(itunes, "_STEPS_PER_BYTE", 0)
    stops(cli, tmp_path, f"{UDID}/Manifest.db: cannot be read as a backup manifest", "took more work than a database of", "stopped")


def test_reading_manifest_db_has_a_row_cap_in_proportion_to_its_size(cli, tmp_path: Path, monkeypatch) -> None:
    backup(tmp_path)
    monkeypatch.setattr(itunes, "_ROW_BYTES", 1 << 40)  # 16 rows at most; the backup lists 18
    stops(cli, tmp_path, f"{UDID}/Manifest.db: cannot be read as a backup manifest", "more rows than a database of")


# --- #7: IsEncrypted must be a boolean, and never silences the checks of a plain Manifest.db -------


def test_isencrypted_true_with_a_plain_manifest_db_still_checks_the_files(cli, tmp_path: Path) -> None:
    folder = backup(tmp_path)
    (folder / stored(*VICTIM)).unlink()
    edit_plist(folder / "Manifest.plist", IsEncrypted=True)
    stops(cli, tmp_path, "Manifest.db lists 1 file(s) the backup folder does not hold", VICTIM[1])
    bundle = kept_going(cli, tmp_path)
    (c,) = checks(bundle, "itunes-manifest")
    assert c["verdict"] == "warn" and "says the backup is encrypted (IsEncrypted), yet Manifest.db is a plain SQLite database" in c["detail"]
    assert "maps 8 stored file(s)" in c["detail"]
    assert failed(bundle, "itunes-files-present") and checks(bundle, "itunes-file-ids")[0]["verdict"] == "pass"
    assert sum(1 for i in items(bundle) if "backup_domain" in i) == 7


def test_isencrypted_and_a_manifestkey_with_a_plain_manifest_db_disagree(cli, tmp_path: Path) -> None:
    folder = backup(tmp_path)
    edit_plist(folder / "Manifest.plist", IsEncrypted=True, ManifestKey=b"\x04\x00\x00\x00" + b"k" * 40)
    stops(cli, tmp_path, "and a ManifestKey", "yet Manifest.db is a plain SQLite database: they disagree")
    bundle = kept_going(cli, tmp_path)
    assert "they disagree" in failed(bundle)[0]
    assert checks(bundle, "itunes-file-ids")[0]["verdict"] == "pass"


@pytest.mark.parametrize("flag", ["NO", 1, "YES"])
def test_isencrypted_that_is_not_a_boolean_is_a_problem(cli, tmp_path: Path, flag: Any) -> None:
    folder = backup(tmp_path)
    (folder / stored(*VICTIM)).unlink()
    edit_plist(folder / "Manifest.plist", IsEncrypted=flag)
    stops(cli, tmp_path, f"{UDID}/Manifest.plist: IsEncrypted is", "not a boolean")
    bundle = kept_going(cli, tmp_path)
    assert "not a boolean" in failed(bundle)[0]
    assert failed(bundle, "itunes-files-present")  # the files are still checked against Manifest.db
    facts = source(bundle)["facts"]["itunes_backups"][0]
    assert facts["encrypted"] is False and facts["manifest"]["IsEncrypted"] == flag  # kept as written


def test_a_non_boolean_flag_and_an_unreadable_manifest_db(cli, tmp_path: Path) -> None:
    folder = backup(tmp_path)
    (folder / "Manifest.db").write_bytes(gen.fake_bytes("encrypted?", 8192))
    edit_plist(folder / "Manifest.plist", IsEncrypted="YES")
    bundle = kept_going(cli, tmp_path)
    details = failed(bundle)
    assert any("IsEncrypted is a string" in d for d in details)
    assert any("not an SQLite database, and Manifest.plist's IsEncrypted is not a boolean" in d for d in details)


# --- #16: plist values of unexpected types ------------------------------------------------------


@pytest.mark.parametrize("changes, needle", [
    ({"Lockdown": "not a dict"}, "Lockdown is a string, not a dictionary"),
    ({"Applications": ["com.tencent.xin"]}, "Applications is an array, not a dictionary"),
    ({"Lockdown": [1, 2]}, "Lockdown is an array, not a dictionary"),
])
def test_manifest_plist_values_of_unexpected_type(cli, tmp_path: Path, changes: dict[str, Any], needle: str) -> None:
    edit_plist(backup(tmp_path) / "Manifest.plist", **changes)
    stops(cli, tmp_path, f"{UDID}/Manifest.plist: {needle}")
    bundle = kept_going(cli, tmp_path)
    assert needle in failed(bundle)[0]
    manifest = source(bundle)["facts"]["itunes_backups"][0]["manifest"]
    assert isinstance(manifest["Lockdown"], dict) and isinstance(manifest["Applications"], list)


def bplist_with_int_key() -> bytes:
    """{1: "x", "Device Name": "y"}: a binary plist dict whose first key is an integer."""
    return bplist([b"\xd2\x01\x02\x03\x04", b"\x10\x01", bytes([0x5B]) + b"Device Name", b"\x51x", b"\x51y"], 1)


def test_a_plist_key_that_is_not_a_string(cli, tmp_path: Path) -> None:
    assert plistlib.loads(bplist_with_int_key()) == {1: "x", "Device Name": "y"}
    (backup(tmp_path) / "Info.plist").write_bytes(bplist_with_int_key())
    stops(cli, tmp_path, f"{UDID}/Info.plist: a key that is an integer, not a string")
    bundle = kept_going(cli, tmp_path)
    assert source(bundle)["facts"]["itunes_backups"][0]["info"] == {"Device Name": "y"}


def huge_int_bplist() -> bytes:
    """{"Big": <an integer of 32 KiB>}: plistlib reads it; JSON could not write it."""
    return bplist([b"\xd1\x01\x02", b"\x53Big", b"\x1f" + b"\x01" * 32768], 1)


@pytest.mark.parametrize("data, needle", [
    (huge_int_bplist(), "'Big' is an integer of 262137 bits, beyond a property list's 128: not recorded"),
    (b"<?xml version='1.0'?><plist><dict><key>a</key>", "not a readable property list (no element found"),
    (b"bplist00" + b"\x00" * 8 + struct.pack(">6xBBQQQ", 1, 1, 10**9, 0, 8), "a binary property list declaring 1000000000 objects, over the 2,000,000"),
    (plistlib.dumps(["an array"]), "not a property list dictionary (its root is an array)"),
])
def test_unreadable_info_plist(cli, tmp_path: Path, data: bytes, needle: str) -> None:
    (backup(tmp_path) / "Info.plist").write_bytes(data)
    stops(cli, tmp_path, f"{UDID}/Info.plist: {needle}")
    kept_going(cli, tmp_path)


def test_a_plist_over_the_size_cap_is_kept_not_read(cli, tmp_path: Path, monkeypatch) -> None:
    backup(tmp_path)
    monkeypatch.setattr(itunes, "PLIST_MAX_BYTES", 100)
    bundle = kept_going(cli, tmp_path)
    assert any(d.endswith("Info.plist: " + f"{(tmp_path / 'backup' / UDID / 'Info.plist').stat().st_size} bytes, over the 100 bytes "
                          "evidpack reads of a property list: kept, not read") for d in failed(bundle))


# --- #17: nested too deeply ---------------------------------------------------------------------


def test_a_deeply_nested_info_plist(cli, tmp_path: Path) -> None:
    (backup(tmp_path) / "Info.plist").write_bytes(deep_bplist())
    stops(cli, tmp_path, f"{UDID}/Info.plist: not a readable property list (nested too deeply)")
    bundle = kept_going(cli, tmp_path)
    assert source(bundle)["facts"]["itunes_backups"][0]["info"] == {}


def test_a_deeply_nested_mbfile_blob(cli, tmp_path: Path) -> None:
    set_blob(backup(tmp_path), deep_bplist())
    fid = gen.file_id(*VICTIM)
    stops(cli, tmp_path, f"{UDID}/Manifest.db: Files row with fileID {fid}: its MBFile blob is not a readable property list (nested too deeply)")
    bundle = kept_going(cli, tmp_path)
    rec = record(bundle)
    assert rec["backup_path"] == VICTIM[1] and "device_mtime" not in rec
    assert rec["problems"] == ["itunes-manifest: its MBFile blob is not a readable property list (nested too deeply)"]


# --- #18: MBFile values no device writes --------------------------------------------------------


def test_an_mbfile_whose_root_is_not_a_dictionary(cli, tmp_path: Path) -> None:
    set_blob(backup(tmp_path), archive(["x"]))
    stops(cli, tmp_path, "Files row with fileID", "its MBFile blob's root object is an array, not a dictionary")
    assert record(kept_going(cli, tmp_path))["problems"] == ["itunes-manifest: its MBFile blob's root object is an array, not a dictionary"]


LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z


@pytest.mark.parametrize("when", [2**62, -5, LAST_SECOND + 1])
def test_an_mbfile_time_out_of_range_is_recorded_raw(cli, tmp_path: Path, when: int) -> None:
    set_blob(backup(tmp_path), archive({"LastModified": when, "Birth": 1_700_000_000, "Size": 61}))
    stops(cli, tmp_path, f"MBFile LastModified {when} is outside 0..{LAST_SECOND} seconds since 1970")
    rec = record(kept_going(cli, tmp_path))
    assert rec["device_mtime_raw"] == str(when) and "device_mtime" not in rec
    assert rec["device_birth"] == "2023-11-14T22:13:20Z" and rec["device_size"] == 61
    assert "recorded as read in device_mtime_raw, not converted" in rec["problems"][0]


def test_an_mbfile_time_at_the_last_second_of_9999_is_converted(cli, tmp_path: Path) -> None:
    set_blob(backup(tmp_path), archive({"LastModified": LAST_SECOND}))
    rec = record(kept_going(cli, tmp_path))
    assert rec["device_mtime"] == "9999-12-31T23:59:59Z" and "problems" not in rec


@pytest.mark.parametrize("values, needle", [
    ({"LastModified": True}, "MBFile LastModified is a boolean, not an integer"),
    ({"LastModified": 1.5e9}, "MBFile LastModified is a real number, not an integer"),
    ({"Size": 2**63}, "MBFile Size 9223372036854775808 is out of range"),
    ({"Size": -1}, "MBFile Size -1 is out of range"),
    ({"Mode": 2**20}, "MBFile Mode 1048576 is out of range"),
    ({"Size": "61"}, "MBFile Size is a string, not an integer"),
])
def test_mbfile_values_of_unexpected_type_or_range(cli, tmp_path: Path, values: dict[str, Any], needle: str) -> None:
    set_blob(backup(tmp_path), archive(values))
    stops(cli, tmp_path, needle)
    rec = record(kept_going(cli, tmp_path))
    assert needle in rec["problems"][0] and not {"device_mtime", "device_size", "device_mode"} & set(rec)


def test_rows_with_problems_are_counted_in_one_line(cli, tmp_path: Path) -> None:
    folder = backup(tmp_path)
    con = sqlite3.connect(folder / "Manifest.db")
    con.execute("UPDATE Files SET file = ? WHERE flags = 1", (archive(["x"]),))
    con.commit()
    con.close()
    bundle = kept_going(cli, tmp_path)
    (detail,) = failed(bundle)
    assert "root object is an array" in detail and "(7 more row(s) likewise: each such record lists its problems)" in detail
    assert sum(1 for i in items(bundle) if i.get("problems")) == 8


@pytest.mark.parametrize("value, needle", [
    ("X'00FF'", "domain is a blob, not text: the row is not mapped"),
    ("CAST(X'48FF6F6D65' AS TEXT)", "domain is text that is not UTF-8: the row is not mapped"),
])
def test_a_row_whose_domain_is_not_text_is_not_mapped(cli, tmp_path: Path, value: str, needle: str) -> None:
    folder = backup(tmp_path)
    con = sqlite3.connect(folder / "Manifest.db")
    con.execute(f"UPDATE Files SET domain = {value} WHERE fileID = ?", (gen.file_id(*VICTIM),))
    con.commit()
    con.close()
    stops(cli, tmp_path, f"{UDID}/Manifest.db: Files row with fileID {gen.file_id(*VICTIM)}: {needle}")
    bundle = kept_going(cli, tmp_path)
    assert "backup_domain" not in record(bundle)
    assert checks(bundle, "itunes-file-ids")[0]["verdict"] == "warn"  # the id no longer matches the (unreadable) domain


def test_a_file_row_whose_file_id_is_not_text(cli, tmp_path: Path) -> None:
    folder = backup(tmp_path)
    con = sqlite3.connect(folder / "Manifest.db")
    con.execute("UPDATE Files SET fileID = CAST(fileID AS BLOB) WHERE fileID = ?", (gen.file_id(*VICTIM),))
    con.commit()
    con.close()
    bundle = kept_going(cli, tmp_path)
    shown = "X'" + gen.file_id(*VICTIM).encode().hex() + "'"
    assert any(f"Files row with fileID {shown}: fileID is a blob, not text: the row is not mapped" in d for d in failed(bundle))
    (c,) = [c for c in checks(bundle, "itunes-files-present") if c["verdict"] == "warn"]
    assert "1 stored file(s) are not listed in Manifest.db" in c["detail"]


# --- #19: non-finite real numbers ----------------------------------------------------------------


@pytest.mark.parametrize("value, text", [(float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf")])
def test_a_non_finite_real_is_recorded_as_text_with_a_note(cli, tmp_path: Path, value: float, text: str) -> None:
    folder = backup(tmp_path)
    edit_plist(folder / "Info.plist", fmt=plistlib.FMT_XML, **{"Battery Level": value})
    edit_plist(folder / "Manifest.plist", Lockdown={"DeviceName": "x", "Charge": value})
    out = tmp_path / "out/B"
    r = build(cli, device_case(tmp_path, "backup"), out)  # a note, not bad input: the build goes on
    assert r.exit_code == 0, r.output
    assert cli("verify", out, "--trust", TRUSTED).exit_code == 0
    facts = source(out)["facts"]["itunes_backups"][0]
    assert facts["info"]["Battery Level"] == text and facts["manifest"]["Lockdown"]["Charge"] == text
    notes = sorted(c["detail"] for c in checks(out, "itunes-manifest") if c["verdict"] == "warn")
    assert len(notes) == 2
    assert notes[0].endswith(f"Info.plist: 'Battery Level' is the real number {text}, which JSON cannot hold: recorded as the text '{text}'")
    assert notes[1].endswith(f"Manifest.plist: Lockdown: 'Charge' is the real number {text}, which JSON cannot hold: recorded as the text '{text}'")
    json.loads((out / "evidpack/sources.jsonl").read_text("utf-8").splitlines()[0], parse_constant=lambda c: pytest.fail(c))


def test_an_mbfile_blob_over_the_cap_is_not_read(cli, tmp_path: Path, monkeypatch) -> None:
    backup(tmp_path)
    monkeypatch.setattr(itunes, "MBFILE_MAX_BYTES", 64)
    bundle = kept_going(cli, tmp_path)
    (detail,) = failed(bundle)
    assert "its MBFile blob is" in detail and "bytes, over the 64 bytes evidpack reads of one: not read" in detail
    assert "(7 more row(s) likewise" in detail and "device_mtime" not in record(bundle)
