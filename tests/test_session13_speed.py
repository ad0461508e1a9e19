"""Session 13's speed work keeps behaviour: each fast path gives what the plain
way gives, and a file the walk no longer stats is still refused if it is not a
regular file when opened."""

from __future__ import annotations

import errno
import json
import os
import random
from pathlib import Path

import pytest

from evidpack import canonical, catalogue
from evidpack.importers import files
from evidpack.importers.files import LARGE_MIN, Found, _units, walk
from evidpack.mediatype import _MAGIC, sniff
from evidpack.payloadcopy import copy_file

RND = random.Random(20261123)


def _random_text(n: int) -> str:
    pool = [chr(c) for c in (*range(0x20, 0x7F), 0x0, 0x1F, 0x7F, 0xE9, 0x2028, 0x4E2D, 0x1F600, 0xDC80, 0xDCFF)]
    return "".join(RND.choice(pool) for _ in range(n))


def _random_value(depth: int = 0):
    k = RND.randrange(8 if depth < 3 else 5)
    if k == 0:
        return _random_text(RND.randrange(6)).replace("\udc80", "").replace("\udcff", "")
    if k == 1:
        return RND.randrange(-(10**20), 10**20)
    if k == 2:
        return RND.choice([0.5, -0.0, 1e300, 5e-324, 3.14159])
    if k == 3:
        return RND.choice([True, False, None])
    if k == 4:
        return ""
    if k in (5, 6):
        return {_random_text(RND.randrange(4)).replace("\udc80", "").replace("\udcff", ""): _random_value(depth + 1) for _ in range(RND.randrange(4))}
    return [_random_value(depth + 1) for _ in range(RND.randrange(4))]


def test_canonical_dumps_is_the_json_encoders_output() -> None:
    plain = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for _ in range(20000):
        value = _random_value()
        assert canonical.dumps(value) == plain.encode(value).encode("utf-8")
    for bad in (float("nan"), {"a": float("inf")}, {"a": object()}, {1: 1, "1": 2}):
        with pytest.raises((ValueError, TypeError)) as fast:
            canonical.dumps(bad)
        with pytest.raises((ValueError, TypeError)) as slow:
            plain.encode(bad)
        assert (type(fast.value), str(fast.value)) == (type(slow.value), str(slow.value))


def test_sniff_by_first_byte_matches_every_magic_in_order() -> None:
    heads = [magic.rjust(offset + len(magic), b"\0") + bytes(40) for magic, offset, _ in _MAGIC]
    heads += [b"", b"\x00", b"ustar", bytes(257) + b"ustar\x0000", b"RIFF\0\0\0\0WEBPVP8 ", b"RIFF\0\0\0\0AVI LIST", b"%PDF" + bytes(253) + b"ustar"]
    heads += [os.urandom(RND.randrange(600)) for _ in range(3000)]
    for head in heads:
        for name in ("x.bin", "a.txt", "report.pdf", "noext"):
            expected = None
            for magic, offset, mtype in _MAGIC:  # the table, in order, as sniff read it before
                if head[offset : offset + len(magic)] == magic:
                    if mtype == "application/zip" and magic == b"PK\x03\x04":
                        break
                    if mtype == "application/octet-stream" and head[8:12] == b"WEBP":
                        expected = "image/webp"
                        break
                    if mtype != "application/octet-stream":
                        expected = mtype
                        break
            got = sniff(head, name)
            if expected is not None:
                assert got == expected, (head[:16], name)
    assert sniff(bytes(257) + b"ustar", "x") == "application/x-tar"
    assert sniff(b"%PDF-1.7" + bytes(249) + b"ustar", "x") == "application/pdf"  # the first in the table wins


def test_entries_sort_by_their_bytes(tmp_path: Path) -> None:
    names = {"b", "a", "B", "é", "z", "\u4e2d", "\U0001f600", "a b", "a~", "e\u0301", "aa", "-x", "_y"}
    for name in names:
        (tmp_path / name).write_bytes(b"")
    bad = [b"\xff", b"a\x80", b"\xc3("]  # not UTF-8: sorted by their bytes among the others
    for raw in bad:
        with open(os.path.join(os.fsencode(tmp_path), raw), "wb"):
            pass
    found = [f.rel for f in walk(str(tmp_path), [])]
    assert [os.fsencode(r) for r in found] == sorted(os.fsencode(r) for r in found)
    assert len(found) == len(names) + len(bad)
    ascii_only = tmp_path / "ascii"
    ascii_only.mkdir()
    for name in ("b", "A", "a", "_", "Z"):
        (ascii_only / name).write_bytes(b"")
    assert [f.rel for f in walk(str(ascii_only), [])] == ["A", "Z", "_", "a", "b"]


def test_lookalike_names_are_still_noted(tmp_path: Path) -> None:
    for name in ("Readme.txt", "README.txt", "other.txt", "caf\u00e9", "cafe\u0301"):
        (tmp_path / name).write_bytes(b"x")
    notes: list[tuple[str, str, str]] = []
    list(walk(str(tmp_path), [], note=lambda *n: notes.append(n)))
    assert len(notes) == 2
    details = " ".join(n[2] for n in notes)
    assert "differ only by case" in details and "Unicode normalisation" in details
    notes.clear()
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("a.txt", "b.txt", "A-b.txt"):
        (plain / name).write_bytes(b"x")
    list(walk(str(plain), [], note=lambda *n: notes.append(n)))
    assert notes == []


def test_a_walk_that_does_not_stat_files_stats_everything_else(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.txt").write_bytes(b"y")
    os.symlink("file.txt", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    found = {f.rel: f for f in walk(str(tmp_path), [], stat_files=False)}
    assert set(found) == {"fifo", "file.txt", "link", "sub/inner.txt"}
    assert found["file.txt"].lst is None and found["sub/inner.txt"].lst is None
    assert found["link"].lst is not None and found["fifo"].lst is not None  # (recorded, never read)
    assert all(f.lst is not None for f in walk(str(tmp_path), []))


def test_a_file_not_statted_when_found_must_be_a_regular_file_when_opened(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_bytes(b"data")
    os.symlink("real.txt", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    got = copy_file(str(tmp_path / "real.txt"), str(tmp_path / "out/real.txt"), None, ("sha256",))
    assert got.size == 4
    with pytest.raises(OSError) as exc:
        copy_file(str(tmp_path / "link"), str(tmp_path / "out/link"), None, ("sha256",))
    assert exc.value.errno == errno.ELOOP  # never followed
    with pytest.raises(OSError) as exc:
        copy_file(str(tmp_path / "fifo"), str(tmp_path / "out/fifo"), None, ("sha256",))
    assert exc.value.errno == errno.EINVAL  # never read (opened without blocking, refused)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["real.txt"]


def _entry(tmp_path: Path, name: str, size: int, statted: bool) -> tuple[Found, str, str]:
    path = tmp_path / name
    with open(path, "wb") as fh:
        fh.truncate(size)
    return Found(str(path), name, os.lstat(path) if statted else None, name), name, ""


def test_units_stat_the_first_files_and_batch_the_rest(tmp_path: Path) -> None:
    # A lone large file (the first found) still gets a worker of its own, as when the walk stat'ed it.
    big = _entry(tmp_path, "big.bin", LARGE_MIN, False)
    units = list(_units(iter([big]), True))
    assert len(units) == 1 and units[0][1] is True and units[0][0][0][0].lst is not None
    # A medium file among the first files is copied in a thread, as before.
    medium = _entry(tmp_path, "medium.bin", files.SMALL_MAX, False)
    assert [u[1] for u in _units(iter([medium]), True)] == [False]
    # After the first batches, files not stat'ed join the batches whatever their size.
    small = [_entry(tmp_path, f"s{i:03d}", 10, False) for i in range(files.BATCH * files.INLINE_BATCHES)]
    late = _entry(tmp_path, "late.bin", files.SMALL_MAX, False)
    units = list(_units(iter([*small, late]), True))
    assert [u[1] for u in units] == [False] * files.INLINE_BATCHES + [True]
    assert units[-1][0][0][0].rel == "late.bin" and units[-1][0][0][0].lst is None
    # A file gone before it could be stat'ed stays as found: its copy says why it cannot be read.
    gone = Found(str(tmp_path / "gone"), "gone", None, "gone"), "gone", ""
    assert list(_units(iter([gone]), True))[0][0][0][0].lst is None


def test_a_file_removed_after_the_walk_is_recorded_not_dropped(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import build_args, manifest_text

    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    src = tmp_path / "evidence"
    src.mkdir()
    for i in range(300):
        (src / f"f{i:03d}.txt").write_text(f"file {i}")
    real_units = files._units

    def units_then_remove(entries, pooled, poolable=lambda f: True):
        for unit in real_units(entries, pooled, poolable):
            for f, _dest, _why in unit[0]:
                if f.rel == "f250.txt":
                    os.unlink(f.abs_path)  # between the walk and the copy
            yield unit

    case = tmp_path / "case.toml"
    case.write_text(manifest_text('"evidence"'), "utf-8")
    monkeypatch.setattr(files, "_units", units_then_remove)
    r = cli(*build_args(case, tmp_path / "out"), "--keep-going")
    assert r.exit_code == 0, r.output
    assert "f250.txt: cannot read" in r.output
    records = [json.loads(line) for line in (tmp_path / "out/evidpack/items.jsonl").read_text().splitlines()]
    gone = [r for r in records if r.get("original_path") == "f250.txt"]
    assert len(gone) == 1 and gone[0]["kind"] == "not-copied" and "No such file" in gone[0]["reason"]
    assert sum(1 for r in records if r["kind"] == "file") == 299


def test_catalogue_rows_of_plain_records_match_the_general_way(tmp_path: Path) -> None:
    records = []
    for i in range(500):
        rec = {"kind": RND.choice(["file", "member", "not-copied"]), "id": f"E{i:04d}", "salt": "s" * 32, "size": RND.randrange(10**6)}
        rec["path" if RND.random() < 0.7 else "member_path"] = f"data/S01-x/{_random_text(6).replace(chr(0xDC80), '').replace(chr(0xDCFF), '')}/n{i}"
        if RND.random() < 0.3:
            rec["note"] = RND.choice(["{braces} in text", "[brackets]", "plain", {"nested": [1, 2]}, ["a", "b"]])
        if RND.random() < 0.1:
            rec["name"] = "own name"
        records.append(rec)
    items = tmp_path / "items.jsonl"
    items.write_bytes(b"".join(canonical.dumps(r) + b"\n" for r in records))
    assert list(catalogue._read_items(items)) == [catalogue.item_row(r) for r in records]
