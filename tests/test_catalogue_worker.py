"""The catalogue is written by a child process while a build draws its index:
the same file as when written in-process, and its errors come back as one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evidpack.cataloguewriter import CatalogueWriter
from evidpack.errors import EvidpackError

CASE = {"id": "TC-1", "title": "t"}
SOURCES = [{"id": "S01", "kind": "files", "label": "l", "checks": [], "counts": {}, "facts": {}}]


def _items(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_catalogue_is_the_same_from_the_child_and_in_process(tmp_path: Path, monkeypatch, workers: str) -> None:
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", workers)
    items = _items(tmp_path / "items.jsonl", [b'{"id":"E0001","kind":"file","path":"data/S01/a.txt","sha256":"00","size":1,"source":"S01"}'])
    writer = CatalogueWriter(tmp_path / "c.sqlite", case=CASE, sources=SOURCES, items_path=items, custody_lines=[], tables={"t_rows": [{"source": "S01", "x": 1}]})
    assert (writer._worker is not None) == (workers != "0")
    writer.wait()
    con = sqlite3.connect(tmp_path / "c.sqlite")
    assert con.execute("select id, name from items").fetchall() == [("E0001", "a.txt")]
    assert con.execute("select x from t_rows").fetchall() == [(1,)]


def test_a_bad_items_line_is_one_clear_error_from_the_child(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    items = _items(tmp_path / "items.jsonl", [b'{"id":"E0001","kind":"file","source":"S01"}', b"{not json"])
    writer = CatalogueWriter(tmp_path / "c.sqlite", case=CASE, sources=SOURCES, items_path=items, custody_lines=[], tables={})
    with pytest.raises(EvidpackError, match=r"items.jsonl: line 2: not a JSON record"):
        writer.wait()
    assert writer._worker is None  # the child is gone


def test_closing_early_stops_the_child(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    items = _items(tmp_path / "items.jsonl", [b'{"id":"E0001","kind":"file","source":"S01"}'])
    writer = CatalogueWriter(tmp_path / "c.sqlite", case=CASE, sources=SOURCES, items_path=items, custody_lines=[], tables={})
    proc = writer._worker.proc
    writer.close()
    assert proc.poll() is not None
    writer.close()  # twice is fine


def test_a_writer_started_early_writes_when_given_the_job(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    items = _items(tmp_path / "items.jsonl", [b'{"id":"E0001","kind":"file","path":"data/S01/a.txt","source":"S01"}'])
    with CatalogueWriter() as writer:
        assert writer._worker is not None and writer._worker.proc.poll() is None  # started, waiting for its job
        with pytest.raises(ValueError, match="no catalogue"):
            writer.wait()
        writer.write(tmp_path / "c.sqlite", case=CASE, sources=SOURCES, items_path=items, custody_lines=[], tables={})
        with pytest.raises(ValueError, match="one catalogue"):
            writer.write(tmp_path / "d.sqlite", case=CASE, sources=SOURCES, items_path=items, custody_lines=[], tables={})
        writer.wait()
    assert sqlite3.connect(tmp_path / "c.sqlite").execute("select name from items").fetchall() == [("a.txt",)]
    assert not (tmp_path / "d.sqlite").exists()


def test_a_build_that_fails_stops_the_catalogue_child(cli, case: Path, tmp_path: Path, monkeypatch) -> None:
    # The child starts once the first copies are under way; a build that fails before
    # the child has a job must not leave it behind.
    import evidpack.cataloguewriter as cw
    from conftest import build_args

    from evidpack.importers import files

    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    started = []
    real_start = cw.CatalogueWriter.start

    def spy(self):
        real_start(self)
        started.append(self._worker.proc)

    def fail(self, source, ctx):
        ctx.waiting_for_copies()  # (as the importer says once its first copies are under way)
        raise EvidpackError("evidence: cannot list folder (boom)")

    monkeypatch.setattr(cw.CatalogueWriter, "start", spy)
    monkeypatch.setattr(files.FilesImporter, "run", fail)
    r = cli(*build_args(case, tmp_path / "out"))
    assert r.exit_code != 0 and "boom" in r.output
    assert len(started) == 1 and started[0].poll() is not None  # the child was started, and is gone
    assert not (tmp_path / "out").exists()


def test_a_build_that_fails_before_copying_starts_no_catalogue_child(cli, case: Path, tmp_path: Path, monkeypatch) -> None:
    # The child and the renderer's loading wait for the first copies: a build that fails
    # before (an unreadable source folder) starts neither.
    import evidpack.build as build_mod
    import evidpack.cataloguewriter as cw
    from conftest import build_args

    from evidpack.importers import files

    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    started = []
    monkeypatch.setattr(cw.CatalogueWriter, "start", lambda self: started.append("catalogue"))
    monkeypatch.setattr(build_mod, "_preload_renderer", lambda: started.append("renderer"))
    monkeypatch.setattr(files.FilesImporter, "run", lambda *a, **k: (_ for _ in ()).throw(EvidpackError("evidence: cannot list folder (boom)")))
    r = cli(*build_args(case, tmp_path / "out"))
    assert r.exit_code != 0 and "boom" in r.output
    assert started == []
    assert not (tmp_path / "out").exists()
