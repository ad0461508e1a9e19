"""catalogue.sqlite (written at build time, sealed) and `evidpack query` (read-only)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, build_args, manifest_text, run_cli

from evidpack.catalogue import write_catalogue
from evidpack.custody import ChainWriter
from evidpack.errors import EvidpackError

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


# --- containers, members and importer tables (through the real device importer) ---

ACCOUNT = "cc509bd1d73e37d487fc13c432a812e9"
ACCOUNT_DIR = f"Dump/data/data/com.tencent.mm/MicroMsg/{ACCOUNT}"
ENMICROMSG = b"\x8f\x1d" * 2048  # not the SQLite header: a SQLCipher database, as WeChat writes it
DEVICE_ZIP = {
    f"{ACCOUNT_DIR}/EnMicroMsg.db": ENMICROMSG,
    f"{ACCOUNT_DIR}/image2/ab/cd/th_abcd": b"\xff\xd8\xff" + b"\x03" * 40,
    "Dump/sdcard/DCIM/IMG_0001.jpg": b"\xff\xd8\xff" + b"\x02" * 50,
}


def device_case(tmp_path: Path, name: str, entries: dict[str, bytes]) -> Path:
    """A case with one ``device`` source: a small synthetic extraction zip, read by the real device importer."""
    src = tmp_path / "acq" / name
    src.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(src, "w") as zf:
        for member, data in entries.items():
            zf.writestr(member, data)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text(json.dumps(f"acq/{name}"), kind="device"), "utf-8")
    return m


@pytest.fixture
def device_bundle(tmp_path: Path) -> Path:
    out = tmp_path / "bundles/TC-0001"
    r = run_cli(*build_args(device_case(tmp_path, "EXTRACTION_FFS.zip", DEVICE_ZIP), out))
    assert r.exit_code == 0, r.output
    return out


def test_member_records_are_items_linked_to_their_container(device_bundle: Path) -> None:
    rows = query_json(device_bundle, "SELECT id, kind, container, name, member_path, member_index, sha256, tags FROM items ORDER BY id")
    assert [(r["id"], r["kind"], r["container"]) for r in rows] == [
        ("E0001", "file", None), ("E0001/M000001", "member", "E0001"), ("E0001/M000002", "member", "E0001"),
        ("E0001/M000003", "member", "E0001")]
    assert [(r["member_path"], r["member_index"]) for r in rows[1:]] == [(n, i) for i, n in enumerate(DEVICE_ZIP, 1)]
    db_member = rows[1]
    assert db_member["name"] == "EnMicroMsg.db"
    assert db_member["sha256"] == hashlib.sha256(ENMICROMSG).hexdigest()
    assert db_member["tags"] == '["android-db","sqlcipher","wechat"]'  # canonical JSON text, order kept
    assert rows[3]["tags"] is None  # not recognised
    fks = {(r[3], r[2], r[4]) for r in db(device_bundle).execute("PRAGMA foreign_key_list(items)")}
    assert ("container", "items", "id") in fks and ("source", "sources", "id") in fks


def test_search_finds_members_by_part_of_their_path(device_bundle: Path) -> None:
    def search(term: str) -> list[str]:
        rows = query_json(device_bundle, "SELECT i.id FROM items i WHERE i.rowid IN "
                                         f"(SELECT rowid FROM items_fts WHERE items_fts MATCH '{term}') ORDER BY i.id")
        return [r["id"] for r in rows]

    assert search("MicroMsg") == ["E0001/M000001", "E0001/M000002"]
    assert search("DCIM") == ["E0001/M000003"]


def test_the_device_importer_tables_are_in_the_catalogue(device_bundle: Path) -> None:
    rows = query_json(device_bundle, "SELECT * FROM artifacts ORDER BY rowid")
    assert [(r["source"], r["recogniser"], r["item"]) for r in rows] == [
        ("S01", "wechat-android-enmicromsg", "E0001/M000001"), ("S01", "wechat-android-media", None)]
    assert rows[0]["tags"] == '["android-db","sqlcipher","wechat"]' and rows[0]["encrypted"] == 1  # a list as canonical JSON text
    # rows with different columns share one table: the counted media group has its own, the others are null
    assert rows[1]["count"] == 1 and rows[1]["first_item"] == "E0001/M000002" and rows[0]["count"] is None
    assert rows[1]["group"] == f"{ACCOUNT}/image2" and rows[1]["why"] is None
    (tags,) = query_json(device_bundle, "SELECT json_extract(tags, '$[1]') AS t FROM artifacts WHERE recogniser = 'wechat-android-enmicromsg'")
    assert tags == {"t": "sqlcipher"}


def test_importer_tables_take_any_columns_and_store_nested_values_as_json(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("")
    rows = [{"source": "S01", "artifact": "wechat-db", "facts": {"uin": 12345, "names": ["小龙"]}, "paths": ["a", "b"]},
            {"source": "S01", "artifact": "note", "extra_column": 1.5}]
    write_catalogue(tmp_path / "c.sqlite", case={"id": "X"}, sources=[], items_path=items,
                    custody_lines=ChainWriter().lines, tables={"artifacts": rows})
    with sqlite3.connect(f"file:{tmp_path / 'c.sqlite'}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        got = [dict(r) for r in conn.execute("SELECT * FROM artifacts ORDER BY rowid")]
        (uin,) = conn.execute("SELECT json_extract(facts, '$.uin') FROM artifacts WHERE artifact = 'wechat-db'").fetchone()
    assert got[0]["facts"] == '{"names":["小龙"],"uin":12345}'  # canonical JSON text
    assert json.loads(got[0]["paths"]) == ["a", "b"]
    assert got[1]["extra_column"] == 1.5 and got[0]["extra_column"] is None
    assert uin == 12345


def test_a_build_with_members_still_verifies(device_bundle: Path) -> None:
    r = run_cli("verify", device_bundle, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output


def test_catalogue_is_byte_identical_across_builds_with_members(tmp_path: Path) -> None:
    m = device_case(tmp_path, "x.zip", {**DEVICE_ZIP, **{f"Dump/{n:03d}/file-{n}.bin": bytes([n]) * (n + 1) for n in range(50)}})
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
