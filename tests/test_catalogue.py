"""catalogue.sqlite (written at build time, sealed) and `evidpack query` (read-only)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlite_utils
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, build_args, manifest_text, run_cli

from evidpack import importers
from evidpack.catalogue import write_catalogue
from evidpack.custody import ChainWriter
from evidpack.errors import EvidpackError
from evidpack.hashing import hash_bytes
from evidpack.importers.base import ImportContext

CATALOGUE = "evidpack/catalogue.sqlite"


def db(bundle: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{bundle / CATALOGUE}?mode=ro", uri=True)


def query_json(bundle: Path, sql: str) -> list[dict[str, Any]]:
    r = run_cli("query", bundle, sql, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def items_jsonl(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / "evidpack/items.jsonl").read_text("utf-8").splitlines()]


# --- what build writes ---------------------------------------------------------------


def test_catalogue_is_a_sealed_tag_file(bundle: Path) -> None:
    listed = (bundle / "tagmanifest-sha256.txt").read_text("utf-8")
    digest = hashlib.sha256((bundle / CATALOGUE).read_bytes()).hexdigest()
    assert f"{digest}  {CATALOGUE}\n" in listed
    assert not list((bundle / "evidpack").glob("catalogue.sqlite-*"))  # no journal left behind


def test_catalogue_has_the_built_in_tables_and_format_version(bundle: Path) -> None:
    con = db(bundle)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"case", "sources", "source_checks", "items", "custody", "items_fts"} <= tables
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1


def test_items_table_holds_every_record_with_its_digests(bundle: Path) -> None:
    records = {r["id"]: r for r in items_jsonl(bundle)}
    rows = {r["id"]: r for r in query_json(bundle, "SELECT * FROM items")}
    assert rows.keys() == records.keys()
    for exhibit, rec in records.items():
        row = rows[exhibit]
        for column in ("kind", "path", "size", "sha256", "md5", "mtime", "source", "media_type"):
            assert row[column] == rec[column], (exhibit, column)
        assert row["name"] == rec["path"].rsplit("/", 1)[-1]
        assert "salt" not in row  # the leaf salt serves Merkle proofs only


def test_items_have_the_lookup_indexes(bundle: Path) -> None:
    indexed = {r[0] for r in db(bundle).execute(
        "SELECT ii.name FROM pragma_index_list('items') il, pragma_index_info(il.name) ii")}
    assert {"sha256", "md5", "source", "container", "kind"} <= indexed


def test_full_text_search_finds_items_by_any_part_of_their_name(bundle: Path) -> None:
    rows = query_json(bundle, "SELECT i.id, i.name FROM items_fts JOIN items i ON i.rowid = items_fts.rowid "
                              """WHERE items_fts MATCH '"cene-0"'""")  # a phrase: any run of 3+ characters
    assert [r["name"] for r in rows] == ["scene-001.png"]
    rows = query_json(bundle, "SELECT name FROM items_fts WHERE items_fts MATCH '小龙🐉'")
    assert [r["name"] for r in rows] == ["小龙🐉 transcript.txt"]


def test_sources_and_checks_are_tables_with_flattened_acquisition(bundle: Path) -> None:
    (src,) = query_json(bundle, "SELECT * FROM sources")
    assert (src["id"], src["kind"], src["acquisition_by"], src["acquisition_at"]) == ("S01", "files", "Det. Test", "2026-03-02T10:00:00Z")
    assert src["counts_files"] == 5
    checks = query_json(bundle, "SELECT source, seq, \"check\", verdict FROM source_checks ORDER BY seq")
    assert [(c["source"], c["seq"], c["check"], c["verdict"]) for c in checks] == [
        ("S01", 1, "files-copied", "pass"), ("S01", 2, "files-unchanged-while-read", "pass")]


def test_sealed_custody_table_has_the_events_before_the_seal(bundle: Path) -> None:
    lines = (bundle / "evidpack/custody.jsonl").read_bytes().splitlines()
    sealed = db(bundle).execute("SELECT seq, action, actor_name, line_sha256 FROM custody ORDER BY seq").fetchall()
    assert [s[1] for s in sealed] == [json.loads(l)["action"] for l in lines[:-1]]
    assert json.loads(lines[-1])["action"] == "sealed"
    assert sealed[0][2] == "Det. Jane Roe (DEMO KEY)"
    assert [s[3] for s in sealed] == [hashlib.sha256(l).hexdigest() for l in lines[:-1]]


def test_case_table_names_the_case(bundle: Path) -> None:
    (case,) = query_json(bundle, "SELECT id, title, authority, examiner FROM \"case\"")
    assert case == {"id": "TC-0001", "title": "Test case (synthetic)", "authority": "Warrant T-1", "examiner": "Det. Test"}


# --- containers, members and importer tables (through a stand-in container importer) ---


class ZipDeviceImporter:
    """A stand-in for the device importer: keeps a zip as one payload file and
    catalogues its members (hashed from the zip) and an importer table."""

    kind: ClassVar[str] = "device"

    def run(self, source: Any, ctx: ImportContext) -> None:
        import os

        path = source.paths[0]
        container = ctx.emit(ctx.copy_file(str(path), path.name, os.lstat(path)))
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                d = hash_bytes(zf.read(info))
                ctx.emit({"kind": "member", "container": container["id"], "member_path": info.filename,
                          "size": d.size, "sha256": d["sha256"], "md5": d["md5"], "tags": ["wechat", "android-db"]})
        ctx.add_rows("artifacts", [{"artifact": "wechat-db", "exhibit": f"{container['id']}/M000001",
                                    "facts": {"uin": 12345, "names": ["小龙"]}, "paths": ["a", "b"]}])
        ctx.add_rows("artifacts", [{"artifact": "note", "extra_column": 1.5}])


@pytest.fixture
def device_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(importers.IMPORTERS, "device", ZipDeviceImporter)
    src = tmp_path / "acq/EXTRACTION_FFS.zip"
    src.parent.mkdir()
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("Dump/data/data/com.tencent.mm/MicroMsg/9f/EnMicroMsg.db", b"SQLite format 3\x00" + b"\x01" * 100)
        zf.writestr("Dump/sdcard/DCIM/IMG_0001.jpg", b"\xff\xd8\xff" + b"\x02" * 50)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"acq/EXTRACTION_FFS.zip"', kind="device"), "utf-8")
    out = tmp_path / "bundles/TC-0001"
    r = run_cli(*build_args(m, out))
    assert r.exit_code == 0, r.output
    return out


def test_member_records_are_items_linked_to_their_container(device_bundle: Path) -> None:
    rows = query_json(device_bundle, "SELECT id, kind, container, name, member_path, sha256, tags FROM items ORDER BY id")
    assert [(r["id"], r["kind"], r["container"]) for r in rows] == [
        ("E0001", "file", None), ("E0001/M000001", "member", "E0001"), ("E0001/M000002", "member", "E0001")]
    db_member = rows[1]
    assert db_member["name"] == "EnMicroMsg.db"
    assert db_member["sha256"] == hashlib.sha256(b"SQLite format 3\x00" + b"\x01" * 100).hexdigest()
    assert db_member["tags"] == '["wechat","android-db"]'  # canonical JSON text, order kept
    fks = {(r[3], r[2], r[4]) for r in db(device_bundle).execute("PRAGMA foreign_key_list(items)")}
    assert ("container", "items", "id") in fks and ("source", "sources", "id") in fks


def test_search_finds_members_by_part_of_their_path(device_bundle: Path) -> None:
    rows = query_json(device_bundle, "SELECT i.id FROM items i WHERE i.rowid IN "
                                     "(SELECT rowid FROM items_fts WHERE items_fts MATCH 'MicroMsg')")
    assert [r["id"] for r in rows] == ["E0001/M000001"]


def test_importer_tables_take_any_columns_and_store_nested_values_as_json(device_bundle: Path) -> None:
    rows = query_json(device_bundle, "SELECT * FROM artifacts ORDER BY rowid")
    assert rows[0]["source"] == "S01" and rows[0]["artifact"] == "wechat-db"
    assert rows[0]["facts"] == '{"names":["小龙"],"uin":12345}'  # canonical JSON text
    assert json.loads(rows[0]["paths"]) == ["a", "b"]
    assert rows[1]["extra_column"] == 1.5 and rows[0]["extra_column"] is None
    (uin,) = query_json(device_bundle, "SELECT json_extract(facts, '$.uin') AS uin FROM artifacts WHERE artifact = 'wechat-db'")
    assert uin == {"uin": 12345}


def test_a_build_with_members_still_verifies(device_bundle: Path) -> None:
    r = run_cli("verify", device_bundle, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output


def test_catalogue_is_byte_identical_across_builds_with_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(importers.IMPORTERS, "device", ZipDeviceImporter)
    src = tmp_path / "acq/x.zip"
    src.parent.mkdir()
    with zipfile.ZipFile(src, "w") as zf:
        for n in range(50):
            zf.writestr(f"Dump/{n:03d}/file-{n}.bin", bytes([n]) * (n + 1))
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"acq/x.zip"', kind="device"), "utf-8")
    for name in ("one", "two"):
        assert run_cli(*build_args(m, tmp_path / name)).exit_code == 0
    assert (tmp_path / "one" / CATALOGUE).read_bytes() == (tmp_path / "two" / CATALOGUE).read_bytes()


def test_an_importer_table_may_not_replace_a_built_in_one(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("")
    with pytest.raises(EvidpackError, match="reserved"):
        write_catalogue(tmp_path / "c.sqlite", case={"id": "X"}, sources=[], items_path=items,
                        custody_lines=ChainWriter().lines, tables={"items": [{"a": 1}]})


# --- evidpack query ------------------------------------------------------------------------


def test_query_prints_a_readable_table(bundle: Path) -> None:
    r = run_cli("query", bundle, "SELECT id, name, size FROM items WHERE name = 'ledger.csv'")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "size"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["E0002", "ledger.csv", "31"]
    assert lines[-1] == "(1 row)"


def test_query_json_gives_one_object_per_row(bundle: Path) -> None:
    rows = query_json(bundle, "SELECT id, size FROM items ORDER BY id")
    assert len(rows) == 5 and rows[0].keys() == {"id", "size"}
    assert all(isinstance(r["size"], int) for r in rows)


def test_query_works_on_a_zipped_bundle(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "b/TC-0001"
    assert run_cli(*build_args(case, out, "--zip")).exit_code == 0
    zipped = out.with_name("TC-0001.zip")
    assert query_json(zipped, "SELECT count(*) AS n FROM items") == [{"n": 5}]
    assert query_json(zipped, "SELECT count(*) AS n FROM custody") == [{"n": len((out / "evidpack/custody.jsonl").read_bytes().splitlines())}]


def test_query_sees_custody_events_added_after_the_seal_without_changing_the_catalogue(bundle: Path) -> None:
    before = (bundle / CATALOGUE).read_bytes()
    r = run_cli("custody", "add", bundle, "--action", "transferred", "--to", "ADA M. Park", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS)
    assert r.exit_code == 0, r.output
    rows = query_json(bundle, "SELECT seq, action, after_seal, json_extract(details, '$.to') AS \"to\" FROM custody ORDER BY seq")
    assert [r["action"] for r in rows[-2:]] == ["sealed", "transferred"]
    assert rows[-1]["to"] == "ADA M. Park" and rows[-1]["after_seal"] == 1
    assert all(r["after_seal"] == 0 for r in rows[:-1])
    sealed_copy = query_json(bundle, "SELECT count(*) AS n FROM main.custody")
    assert sealed_copy == [{"n": len(rows) - 2}]
    assert (bundle / CATALOGUE).read_bytes() == before
    assert run_cli("verify", bundle, "--trust", TRUSTED).exit_code == 0


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM items",
        "UPDATE items SET size = 0",
        "INSERT INTO custody (seq) VALUES (99)",
        "DROP TABLE items",
        "CREATE TABLE notes (t)",
        "ATTACH DATABASE 'elsewhere.sqlite' AS x",
        "VACUUM INTO 'copy.sqlite'",
        "PRAGMA journal_mode = WAL",
        "PRAGMA user_version = 7",
    ],
)
def test_query_refuses_anything_that_writes(bundle: Path, sql: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = (bundle / CATALOGUE).read_bytes()
    files_before = sorted(p.name for p in (bundle / "evidpack").iterdir())
    r = run_cli("query", bundle, sql)
    assert r.exit_code == 2
    assert r.stderr.startswith("evidpack: error: ") and r.stderr.count("\n") == 1
    assert "read-only" in r.stderr
    assert (bundle / CATALOGUE).read_bytes() == before
    assert sorted(p.name for p in (bundle / "evidpack").iterdir()) == files_before
    assert not (tmp_path / "elsewhere.sqlite").exists() and not (tmp_path / "copy.sqlite").exists()


def test_query_allows_reading_pragmas(bundle: Path) -> None:
    names = [r["name"] for r in query_json(bundle, "PRAGMA table_info(items)")]
    assert names[:3] == ["id", "kind", "source"]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC id FROM items", "syntax error"),
        ("SELECT nope FROM items", "no such column: nope"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
    ],
)
def test_bad_sql_is_one_line_and_exit_2(bundle: Path, sql: str, message: str) -> None:
    r = run_cli("query", bundle, sql)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"evidpack: error: {bundle}: bad query: ") and message in r.stderr
    assert r.stderr.count("\n") == 1


def test_query_on_something_that_is_not_a_bundle_is_one_line(tmp_path: Path) -> None:
    r = run_cli("query", tmp_path, "SELECT 1")
    assert r.exit_code == 2
    assert r.stderr == f"evidpack: error: {tmp_path}: not an evidpack bundle (no bagit.txt)\n"
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    r = run_cli("query", junk, "SELECT 1")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "not a bundle folder or a readable zip" in r.stderr


def test_query_refuses_a_catalogue_changed_since_the_seal(bundle: Path) -> None:
    path = bundle / CATALOGUE
    path.chmod(0o644)
    con = sqlite3.connect(path)
    con.execute("UPDATE items SET size = 0")
    con.commit()
    con.close()
    r = run_cli("query", bundle, "SELECT count(*) FROM items")
    assert r.exit_code == 1
    assert "differs from the sealed tag manifest" in r.stderr and r.stderr.count("\n") == 1


def test_query_names_a_broken_custody_line(bundle: Path) -> None:
    log = bundle / "evidpack/custody.jsonl"
    log.chmod(0o644)
    with open(log, "ab") as fh:
        fh.write(b"{not json\n")
    r = run_cli("query", bundle, "SELECT count(*) FROM custody")
    assert r.exit_code == 2
    assert "custody.jsonl line" in r.stderr and "not a JSON event" in r.stderr and r.stderr.count("\n") == 1


def test_the_catalogue_opens_with_sqlite_utils(bundle: Path) -> None:
    database = sqlite_utils.Database(db(bundle))
    try:
        assert database.table("items").detect_fts() == "items_fts"
        assert [r["id"] for r in database.table("items").search("ledger")] == ["E0002"]
        assert database.table("items").count == 5
    finally:
        database.close()


def test_an_importer_table_with_no_rows_still_exists(tmp_path: Path) -> None:
    """wechat_parse_errors is empty for a clean production: querying it gives no rows, not an error."""
    from conftest import REPO

    out = tmp_path / "B"
    assert run_cli(*build_args(REPO / "manifests/example-case.toml", out)).exit_code == 0
    r = run_cli("query", out, "SELECT count(*) AS n FROM wechat_parse_errors", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [{"n": 0}]
