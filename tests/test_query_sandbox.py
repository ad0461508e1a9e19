"""`evidpack query` as a sandbox: the SQL is user input and the catalogue may be
hostile (anyone can re-seal a bundle with a key of their own, and query checks
that the seal is intact, not whose it is). Every statement is bounded in time,
memory and value size with one line; nothing is written; what is printed is
safe and is what the catalogue holds."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from test_query_hostile import one_line_error

from evidpack import catalogue as cataloguemod
from evidpack import cli_catalogue
from evidpack import keys as keymod

CATALOGUE = "evidpack/catalogue.sqlite"
TM = "tagmanifest-sha256.txt"
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c)"


def reseal(bundle: Path) -> None:
    """Put the catalogue's new digest in the tag manifest and sign it with another
    key, as anyone handing over an altered bundle can: query then accepts it."""
    for rel in (CATALOGUE, TM, f"{TM}.sig", "evidpack/signer.pem"):
        (bundle / rel).chmod(0o644)
    digest = hashlib.sha256((bundle / CATALOGUE).read_bytes()).hexdigest()
    tm = bundle / TM
    tm.write_text("".join(f"{digest}  {CATALOGUE}\n" if line.endswith(f"  {CATALOGUE}") else line + "\n"
                          for line in tm.read_text().splitlines()))
    key = keymod.generate("Mallory", "other")
    (bundle / f"{TM}.sig").write_bytes(key.sign(tm.read_bytes()))
    (bundle / "evidpack/signer.pem").write_bytes(key.public.pem())


def hostile(bundle: Path, script: str) -> Path:
    (bundle / CATALOGUE).chmod(0o644)
    con = sqlite3.connect(bundle / CATALOGUE)
    con.executescript(script)
    con.commit()
    con.close()
    reseal(bundle)
    return bundle


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root`` (and ``root`` itself): mtime, size, mode, bytes' digest."""
    out: dict[str, tuple[Any, ...]] = {}
    for p in [root, *sorted(root.rglob("*"))]:
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        out[str(p.relative_to(root))] = (st.st_mtime_ns, st.st_size, st.st_mode, digest)
    return out


# --- bounded: time, memory, value size, table size ---------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [f"{ENDLESS} SELECT count(*) FROM c", "SELECT count(*) FROM " + ", ".join(f"items t{n}" for n in range(14))],
    ids=["endless-cte", "cartesian"],
)
def test_a_statement_that_runs_forever_is_stopped_by_the_time_limit(bundle: Path, sql: str) -> None:
    r = run_cli("query", bundle, sql, "--timeout", "0.5")
    one_line_error(r, 2, "stopped after 0.5 s of work", "--timeout")
    assert r.stdout == ""


def test_an_endless_view_in_a_hostile_catalogue_is_stopped(bundle: Path) -> None:
    hostile(bundle, f"CREATE VIEW innocent AS {ENDLESS} SELECT count(*) AS n FROM c;")
    r = run_cli("query", bundle, "SELECT * FROM innocent", "--timeout", "0.5", "--json")
    one_line_error(r, 2, "stopped after 0.5 s of work")
    assert r.stdout == ""  # (not a lone "[")


def test_the_time_limit_stops_a_streaming_query_too(bundle: Path) -> None:
    r = run_cli("query", bundle, f"{ENDLESS} SELECT x FROM c", "--json", "--timeout", "0.5")
    one_line_error(r, 2, "stopped after 0.5 s of work")
    assert r.stdout.startswith('[\n {"x": 1},\n {"x": 2}')


def test_a_statement_that_needs_too_much_memory_is_stopped(bundle: Path) -> None:
    r = run_cli("query", bundle, f"{ENDLESS} SELECT count(DISTINCT printf('%0100d', x)) FROM c", "--max-memory", "16", "--timeout", "60")
    one_line_error(r, 2, "needs more memory than it may use (16 MiB, --max-memory)")
    # the limit is lifted again afterwards (it holds for the whole process while it is set)
    r = run_cli("query", bundle, f"{ENDLESS} SELECT count(DISTINCT x) FROM (SELECT x FROM c LIMIT 300000)", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [{"count(DISTINCT x)": 300000}]


@pytest.mark.parametrize(
    "sql",
    ["SELECT length(randomblob(200000000))", "SELECT hex(zeroblob(40000000))",
     f"{ENDLESS} SELECT length(group_concat(printf('%.*c', 1000000, 'x'))) FROM (SELECT x FROM c LIMIT 100)"],
    ids=["randomblob", "hex", "group-concat"],
)
def test_a_value_past_the_limit_is_refused(bundle: Path, sql: str) -> None:
    r = run_cli("query", bundle, sql)
    one_line_error(r, 2, "a value longer than 64 MiB")
    assert r.stdout == ""


def test_the_table_holds_a_bounded_number_of_rows(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The text table is laid out when every row is in, so it is held in memory:
    an endless result used to grow it until memory ran out."""
    monkeypatch.setattr(cli_catalogue, "MAX_TABLE_ROWS", 1000)
    r = run_cli("query", bundle, f"{ENDLESS} SELECT x FROM c LIMIT 5000")
    one_line_error(r, 2, "too large to lay out as a table", "--json")
    assert r.stdout == ""
    r = run_cli("query", bundle, f"{ENDLESS} SELECT x FROM c LIMIT 5000", "--json")  # streams: no bound
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 5000


# --- refused: what reads or changes the process's memory ------------------------------------------


@pytest.mark.parametrize(
    "sql",
    ["SELECT fts3_tokenizer('simple')", "SELECT FTS3_TOKENIZER('simple', x'4141414141414141')",
     "SELECT hex(fts3_tokenizer('porter'))", "SELECT load_extension('/nonexistent/x')"],
    ids=["address-leak", "install-at-address", "nested", "load-extension"],
)
def test_functions_that_touch_the_process_memory_are_refused(bundle: Path, sql: str) -> None:
    r = run_cli("query", bundle, sql)
    one_line_error(r, 2, "query refused", "is not allowed")
    assert r.stdout == ""


# --- nothing is written, whatever is tried ------------------------------------------------------------


WRITES = [
    "INSERT INTO items (id) VALUES ('x')", "DELETE FROM temp.custody", "DROP TABLE temp.custody",
    "CREATE TEMP TABLE t (x)", "CREATE VIRTUAL TABLE temp.x USING fts5(a)",
    "ATTACH DATABASE '{out}/a.sqlite' AS a", "VACUUM INTO '{out}/v.sqlite'", "VACUUM",
    "PRAGMA writable_schema = 1", "PRAGMA journal_mode = DELETE", "PRAGMA query_only = 0",
    "PRAGMA temp_store_directory = '{out}'", "PRAGMA hard_heap_limit = 0", "PRAGMA trusted_schema = 1",
    "INSERT INTO items_fts (items_fts) VALUES ('rebuild')", "REINDEX", "ANALYZE", "BEGIN", "SAVEPOINT s",
    "SELECT fts3_tokenizer('simple', fts3_tokenizer('porter'))",
]


def test_nothing_is_written_in_or_beside_the_bundle(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cwd"
    out.mkdir()
    monkeypatch.chdir(out)
    before = snapshot(bundle.parent)
    for sql in WRITES:
        r = run_cli("query", bundle, sql.format(out=out))
        one_line_error(r, 2)
    assert snapshot(bundle.parent) == before
    assert list(out.iterdir()) == []


# --- a hostile catalogue ----------------------------------------------------------------------------


def test_text_that_is_not_utf8_is_shown_escaped_not_an_error(bundle: Path) -> None:
    hostile(bundle, "CREATE TABLE evil (a, b); INSERT INTO evil VALUES (CAST(x'ff41' AS TEXT), 'ok');")
    r = run_cli("query", bundle, "SELECT a, b FROM evil", "--json")
    assert r.exit_code == 0, r.output
    assert r.stdout == '[\n {"a": "\\udcffA", "b": "ok"}\n]\n'
    r = run_cli("query", bundle, "SELECT a, b FROM evil")
    assert r.exit_code == 0, r.output
    assert "\\udcffA" in r.stdout.splitlines()[2]


def test_control_and_bidi_characters_from_the_catalogue_are_escaped(bundle: Path) -> None:
    hostile(bundle, "CREATE TABLE evil (\"x\x1b[2J\"); INSERT INTO evil VALUES ('a' || char(0) || char(27) || '[31m' || char(8238) || 'gnp.exe' || char(10) || 'fake');")
    for extra in ((), ("--json",)):
        r = run_cli("query", bundle, "SELECT * FROM evil", *extra)
        assert r.exit_code == 0, r.output
        assert not any(c in r.stdout for c in "\x00\x1b\u202e"), repr(r.stdout)
    assert json.loads(r.stdout) == [{"x\x1b[2J": "a\x00\x1b[31m\u202egnp.exe\nfake"}]


@pytest.mark.parametrize(("kind", "make"), [("a symbolic link", "symlink"), ("a FIFO", "fifo")])
def test_a_catalogue_that_is_not_a_regular_file_is_named_as_such(bundle: Path, tmp_path: Path, kind: str, make: str) -> None:
    path = bundle / CATALOGUE
    real = tmp_path / "real.sqlite"
    real.write_bytes(path.read_bytes())
    path.unlink()
    if make == "symlink":
        path.symlink_to(real)
    else:
        os.mkfifo(path)
    r = run_cli("query", bundle, "SELECT 1")
    one_line_error(r, 1, f"{CATALOGUE} is {kind}, not a regular file", "run evidpack verify")


def test_a_catalogue_swapped_after_its_digest_was_checked_is_refused(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked by its digest, then opened by SQLite by name: a file put in its
    place in between (someone with write access to the bundle's storage) is noticed."""
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.executescript("CREATE TABLE items (id); INSERT INTO items VALUES ('forged');")
    con.close()
    connect: Callable[..., sqlite3.Connection] = cataloguemod._connect_read_only

    def swapped(path: Path, label: Path) -> sqlite3.Connection:
        os.replace(other, path)
        return connect(path, label)

    monkeypatch.setattr(cataloguemod, "_connect_read_only", swapped)
    r = run_cli("query", bundle, "SELECT id FROM items", "--json")
    one_line_error(r, 1, "was replaced or changed while it was queried")
    assert "forged" not in r.stdout


# --- JSON output is JSON, and holds every column -------------------------------------------------------


def test_infinite_values_are_valid_json(bundle: Path) -> None:
    r = run_cli("query", bundle, "SELECT 1e999 AS up, -1e999 AS down, 0.5 AS half", "--json")
    assert r.exit_code == 0, r.output

    def strict(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    assert json.loads(r.stdout, parse_constant=strict) == [{"up": float("inf"), "down": float("-inf"), "half": 0.5}]


def test_two_columns_of_one_name_are_not_silently_lost_in_json(bundle: Path) -> None:
    r = run_cli("query", bundle, "SELECT i.id, s.id FROM items i JOIN sources s ON s.id = i.source LIMIT 1", "--json")
    one_line_error(r, 2, "two columns named 'id'", "AS")
    assert r.stdout == ""
    r = run_cli("query", bundle, "SELECT i.id, s.id AS source_id FROM items i JOIN sources s ON s.id = i.source LIMIT 1", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0].keys() == {"id", "source_id"}
