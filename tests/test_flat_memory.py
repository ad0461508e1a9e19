"""A build's memory does not grow with the rows of the importers' tables: the
catalogue rows are spooled to a temporary file beside the bundle (deleted
however the build ends) and streamed into SQLite by the catalogue's child, and
the PDF index reads a WeChat production's accounts, logins and parse errors
back from the record as it lays out its pages — every row still in both, the
catalogue and the index the same as when everything was held in memory."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import BUILD_TIME, TRUSTED, VENV_BIN, build_args, demo_signing_key, manifest_text, run_cli, run_proc, tool, write_tree
from test_wechat_large import ALICE, HEADER, LOGIN_HEADER, ZONE, login_lines, zipped

from evidpack import build as buildmod
from evidpack import casefile
from evidpack.bundle import Bundle
from evidpack.catalogue import write_catalogue
from evidpack.cataloguewriter import CatalogueWriter, RowSpool
from evidpack.custody import ChainWriter
from evidpack.report import render_index
from evidpack.report.index import StreamedList, read_record
from evidpack.report.kinds import wechat as wechat_kind
from evidpack.timeutil import parse_rfc3339

RECORD = "evidpack/records/S01-wechat.json"


def _case(tmp_path: Path, rows: int) -> Path:
    zip_bytes = zipped({"ip-log.csv": LOGIN_HEADER + login_lines(rows), "subscriber.csv": HEADER + ALICE})
    write_tree(tmp_path / "source", {"production.zip": zip_bytes})
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"source"', kind="wechat-production", extra_source=ZONE), "utf-8")
    return m


def _measured_build(tmp_path: Path, rows: int) -> tuple[int, Path]:
    """Build a production of ``rows`` login rows with ``evidpack build`` in a
    child process; its peak resident memory (the largest of the build and the
    processes it waited for: the catalogue's child, the copy workers) and the bundle."""
    out = tmp_path / "out/B"
    args = [str(a) for a in build_args(_case(tmp_path, rows), out)]
    exe = VENV_BIN / "evidpack"
    cmd = [str(exe)] if exe.exists() else [str(VENV_BIN / "python"), "-m", "evidpack"]
    with open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen([*cmd, *args], stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, (tmp_path / "stderr").read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["B"]  # no spool, no partial folder left beside it
    return usage.ru_maxrss * 1024, out


def _login_text(i: int) -> tuple[str, str]:
    """The time as produced and in UTC of login row ``i`` of :func:`login_lines` (read as UTC+8)."""
    day, hour, minute, second = 1 + i % 28, i % 24, i % 60, (i * 7) % 60
    utc_day, utc_hour = (day, hour - 8) if hour >= 8 else (day - 1, hour + 16)
    utc = f"2026-{'02' if utc_day == 0 else '03'}-{28 if utc_day == 0 else utc_day:02d}T{utc_hour:02d}:{minute:02d}:{second:02d}Z"
    return f"2026-03-{day:02d} {hour:02d}:{minute:02d}:{second:02d}", utc


def _pages(pdf: Path, first: int, last: int) -> str:
    return " ".join(run_proc(tool("pdftotext"), "-enc", "UTF-8", "-f", first, "-l", last, pdf, "-").stdout.decode("utf-8").split())


def test_a_build_does_not_grow_with_the_rows_and_keeps_every_row(tmp_path: Path) -> None:
    """Before, a build's peak grew by about 4.6 KB per login row: the catalogue
    rows held until the end (and pickled whole to the catalogue's child), and
    the whole production record parsed while the index was laid out. Now it
    grows by about 200 bytes per row: about 107 is the PDF index itself, mapped
    while the sealing key signs it (the file grows by that much a row), the
    rest the record's entry offsets (8 bytes each) and the like."""
    small_rows, large_rows = 20_000, 160_000
    small, _ = _measured_build(tmp_path / "small", small_rows)
    large, out = _measured_build(tmp_path / "large", large_rows)
    per_row = (large - small) / (large_rows - small_rows)
    assert per_row < 400, f"the build's peak grows by {per_row:.0f} bytes per row ({small >> 20} MiB -> {large >> 20} MiB)"

    assert run_cli("verify", out, "--trust", TRUSTED).exit_code == 0

    # Every row is in the catalogue, in order.
    con = sqlite3.connect(f"file:{out / 'evidpack/catalogue.sqlite'}?mode=ro", uri=True)
    try:
        assert con.execute("SELECT count(*) FROM wechat_logins").fetchone() == (large_rows,)
        first, last = (con.execute(f"SELECT row, time_original, ip FROM wechat_logins ORDER BY rowid {o} LIMIT 1").fetchone() for o in ("", "DESC"))
        assert con.execute("SELECT count(*) FROM wechat_accounts").fetchone() == (1,)
    finally:
        con.close()
    assert first == (2, _login_text(0)[0], "203.0.113.0") and last[:2] == (large_rows + 1, _login_text(large_rows - 1)[0])

    # ... and in the index: the first row on the first pages, the last before the production's last tables.
    pdf = out / "evidpack/index.pdf"
    pages = int(re.search(r"^Pages:\s+(\d+)$", run_proc(tool("pdfinfo"), pdf).stdout.decode(), re.M).group(1))
    head = _pages(pdf, 1, 12)
    assert f"Logins and IP addresses ({large_rows:,}), in UTC" in head
    original, utc = _login_text(0)
    assert re.search(rf"{utc} {original} .*wxid_example_0 .*ip-log\.csv, row 2 ", head)
    tail = _pages(pdf, pages - 20, pages)  # (pdftotext reads a page's columns in an order of its own)
    original, utc = _login_text(large_rows - 1)
    assert f"{original} +08:00, from header wxid_example_49" in tail and utc in tail
    assert f"ip-log.csv, row {large_rows + 1} Rows that did not parse" in tail


# --- the catalogue rows: spooled, the same catalogue -------------------------------------------------


def _rows() -> dict[str, list[dict[str, Any]]]:
    """Rows as importers hand them over: columns that appear late (typed by their
    first value that is not null), nested values, every scalar type, text in any script."""
    rng = random.Random(7)
    logins = []
    for n in range(2_345):
        row: dict[str, Any] = {"source": "S01", "n": n, "ip": f"192.0.2.{n % 250}", "problems": [] if n % 3 else [{"field": "time", "problem": "x"}]}
        if n > 1_500:
            row["late"] = None if n < 1_700 else rng.random()
        if n % 500 == 7:
            row["flag"], row["nick"] = bool(n % 2), "小龙\u200b🐉 محمد"
        logins.append(row)
    return {"wechat_logins": logins, "wechat_parse_errors": [], "web_captures": [{"source": "S02", "url": "https://example.org/", "facts": {"b": [1, 2], "a": None}}]}


def _catalogue(tmp_path: Path, name: str, tables: Any, *, child: bool = False) -> bytes:
    items = tmp_path / "items.jsonl"
    items.write_text('{"id":"E0001","kind":"file","path":"data/S01/a.txt","sha256":"00","size":1,"source":"S01"}\n')
    path = tmp_path / name
    kwargs = dict(case={"id": "TC-1", "title": "t"}, sources=[], items_path=items, custody_lines=ChainWriter().lines, tables=tables)
    if child:
        writer = CatalogueWriter(path, **kwargs)
        assert writer._worker is not None
        writer.wait()
        writer.close()
    else:
        write_catalogue(path, **kwargs)
    return path.read_bytes()


def test_spooled_rows_give_the_same_catalogue_as_rows_held_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RowSpool, "CHUNK", 100)  # many chunks, columns first met in a later one
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    tables = _rows()
    spool = RowSpool(tmp_path / "rows")
    spool.add("wechat_parse_errors", [])
    for start in range(0, 2_345, 1_000):  # handed over in batches, interleaved with another table
        spool.add("wechat_logins", iter(tables["wechat_logins"][start : start + 1_000]))
        if start == 1_000:
            spool.add("web_captures", tables["web_captures"])
    spooled = spool.tables()
    assert {k: len(v) for k, v in spooled.items()} == {"wechat_parse_errors": 0, "wechat_logins": 2_345, "web_captures": 1}
    assert list(spooled["wechat_logins"]) == tables["wechat_logins"]
    held = _catalogue(tmp_path, "held.sqlite", tables)
    assert _catalogue(tmp_path, "spooled.sqlite", spooled) == held
    assert _catalogue(tmp_path, "child.sqlite", spooled, child=True) == held  # read back by the catalogue's child
    spool.remove()
    spool.remove()
    assert not (tmp_path / "rows").exists()


def test_no_rows_no_spool_file(tmp_path: Path) -> None:
    spool = RowSpool(tmp_path / "rows")
    spool.add("wechat_parse_errors", [])
    assert {k: list(v) for k, v in spool.tables().items()} == {"wechat_parse_errors": []}
    assert not (tmp_path / "rows").exists()
    spool.remove()


def test_an_interrupted_build_leaves_no_spool_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = _case(tmp_path, 3_000)
    out = tmp_path / "out/B"
    seen: list[list[str]] = []

    def interrupted(*args: Any, **kwargs: Any) -> None:  # after the rows are spooled and the catalogue's child reads them
        seen.append(sorted(p.name for p in out.parent.iterdir()))
        seen.append(sorted(p.name for d in out.parent.iterdir() for p in d.iterdir()))
        raise KeyboardInterrupt

    monkeypatch.setattr(buildmod, "_write_seal_files", interrupted)
    with pytest.raises(buildmod.BuildInterrupted):
        buildmod.build(casefile.load(m), demo_signing_key(), out, built_at=parse_rfc3339(BUILD_TIME))
    # The spool is inside the unsealed temporary folder (nothing beside it), and goes with it.
    assert len(seen) == 2 and len(seen[0]) == 1 and seen[0][0].startswith(".B.partial-")
    assert ".catalogue-rows.spool" in seen[1]
    assert list(out.parent.iterdir()) == []


# --- the index: the production's lists read back as drawn ---------------------------------------------


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("production")
    files = {"ip.csv": LOGIN_HEADER + login_lines(700) + "yesterday,wxid_x,999.1.1.1,dev,login\r\n", "sub.csv": HEADER + ALICE}
    write_tree(tmp_path / "source", files)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"source"', kind="wechat-production", extra_source=ZONE), "utf-8")
    out = tmp_path / "B"
    r = run_cli(*build_args(m, out, "--keep-going", "--zip"))
    assert r.exit_code == 0, r.output
    return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, StreamedList) else value


@pytest.mark.parametrize("zipped_bundle", [False, True])
def test_a_record_read_with_its_lists_streamed_is_the_record(production: Path, zipped_bundle: bool) -> None:
    whole = json.loads((production / RECORD).read_bytes())
    with Bundle.open(production.with_name("B.zip") if zipped_bundle else production) as bundle:
        record = read_record(bundle, RECORD, wechat_kind.STREAMED)
        assert {k: type(v) for k, v in record.items() if isinstance(v, StreamedList)}.keys() == {"accounts", "logins", "parse_errors"}
        assert len(record["logins"]) == 701 and len(record["parse_errors"]) == 2  # the time and the IP of the last row
        assert {k: _plain(v) for k, v in record.items()} == whole
        assert list(record["logins"]) == whole["logins"]  # read again: the same


def test_the_index_drawn_from_streamed_lists_is_the_index_drawn_from_the_whole_record(production: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    when = parse_rfc3339(BUILD_TIME)
    with Bundle.open(production) as bundle:
        streamed = render_index(bundle, rendered_at=when)
    monkeypatch.setattr(wechat_kind, "STREAMED", ())  # the whole record, as before
    with Bundle.open(production) as bundle:
        assert render_index(bundle, rendered_at=when) == streamed


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(["a", " ", "\n", '"', "\\", ",", "]", "}", "{", ' "', "\u200b", "🐉", "ق", "\x00"]) for _ in range(rng.randrange(6)))


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False, 0, -7, 2**70, 1.5, -0.0])
    if kind in (1, 2, 3, 4):
        return _random_text(rng)
    if kind in (5, 6):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_random_text(rng): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _record_file(tmp_path: Path, text: str | bytes) -> Bundle:
    (tmp_path / "bagit.txt").write_text("BagIt-Version: 1.0\n")
    path = tmp_path / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    return Bundle.open(tmp_path)


def test_any_record_as_evidpack_writes_it_reads_back_the_same(tmp_path: Path) -> None:
    rng = random.Random(2026)
    for n in range(300):
        record = {k: _random_value(rng) for k in ("accounts", "counts", "files", "logins", "parse_errors", "z", "")}
        record["logins"] = [_random_value(rng) for _ in range(rng.randrange(5))]
        with _record_file(tmp_path, json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True) + "\n") as bundle:
            got = read_record(bundle, RECORD, ("logins", "accounts", ""))
            assert {k: _plain(v) for k, v in got.items()} == record
            assert isinstance(got["logins"], StreamedList) == bool(record["logins"])


@pytest.mark.parametrize(
    "text",
    [
        '{"logins": [{"a": 1}, {"b": 2}], "counts": {}}\n',  # compact
        '{\n  "logins": [\n    {"a": 1}\n  ]\n}\n',  # indent 2
        '{\n "logins": [\n  {"a":\n  1},\n  2\n ]\n}\n',  # an entry on lines as if two
        '{\n "logins": [\n  1,\n  2\n ],\n "logins": [\n  3\n ]\n}\n',  # a key twice: the last wins
        '{\n "a": 1,\n "logins": [\n  1\n ],\n "b": 2 }\n',
        '{\n "a": 1, "logins": [\n  1\n ]\n}\n',
        '{\n "logins": [\n  1\n ]\n}',  # no newline at the end
        '{\n "logins": [\n  "\udc80"\n ]\n}\n',  # a lone surrogate (as json.loads decodes UTF-8)
    ],
)
def test_a_record_laid_out_otherwise_is_read_whole_with_the_same_values(tmp_path: Path, text: str) -> None:
    with _record_file(tmp_path, text) as bundle:
        got = read_record(bundle, RECORD, ("logins",))
        assert {k: _plain(v) for k, v in got.items()} == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{\n "logins": [\n  1,\n  2,\n ]\n}\n',  # a comma too many
        '{\n "logins": [\n  1\n  2\n ]\n}\n',  # one too few
        '{\n "logins": [\n  {"a": 1}}\n ]\n}\n',
        '{\n "logins": [\n  1\n ],\n}\n',
        '{\n "logins": [\n  1\n ]\n}\n}\n',
        b'{\n "logins": [\n  "\xff"\n ]\n}\n',  # not UTF-8
        '{\n "logins": [\n  ' + "[" * 100_000 + "]" * 100_000 + '\n ]\n}\n',  # nested too deeply
    ],
)
def test_a_record_that_is_not_json_is_one_clear_error_as_before(tmp_path: Path, text: str | bytes) -> None:
    from evidpack.errors import EvidpackError

    with _record_file(tmp_path, text) as bundle, pytest.raises(EvidpackError, match=r"S01-wechat\.json is not valid JSON"):
        read_record(bundle, RECORD, ("logins",))


def test_a_zipped_record_that_inflates_implausibly_is_refused_as_before(tmp_path: Path) -> None:
    from evidpack.errors import EvidpackError

    record = {"logins": [{"ip": "192.0.2.1"}] * 400_000}  # 12 MB of JSON, deflated 1,000:1
    path = tmp_path / "B.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("B/bagit.txt", "BagIt-Version: 1.0\n")
        zf.writestr(f"B/{RECORD}", json.dumps(record, indent=1) + "\n")
    with Bundle.open(path) as bundle, pytest.raises(EvidpackError, match="zip bomb"):
        read_record(bundle, RECORD, ("logins",))
