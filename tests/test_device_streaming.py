"""Kind ``device``, how a container is catalogued while it is copied: from the
bytes in memory (``StreamedCopy``), with small zip members hashed in helper
processes, its central directory decoded entry by entry, and its member
records made before its own. Each path must give exactly what reading the
finished copy gives, whatever the timing."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import random
import struct
import tarfile
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import build_args
from device_support import built, device_case, items, tar_of, verify_deep, zip_of

from evidpack import build as buildmod
from evidpack import canonical
from evidpack.importers import containers
from evidpack.importers.containers import Member, Problem, RandomReader, StreamedCopy, catalogue, read_zip_directory
from evidpack.payloadcopy import copy_file

ALGORITHMS = ("sha256", "md5")


def _mixed_zip(path: Path) -> Path:
    """Members of many sizes (some larger than the test's buffers), stored and
    deflated, empty, a folder, a symlink and one with a bad CRC."""
    rng = __import__("random").Random(7)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(120):
            size = rng.choice((0, 1, 700, 5000, 40_000, 150_000))
            data = rng.randbytes(size) if i % 3 else (b"text %d " % i) * (size // 7 + 1)
            zf.writestr(zipfile.ZipInfo(f"d{i % 7}/f{i:03d}.bin", (2024, 7, 28, 7, 27, 26)), data,
                        compress_type=zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED)
        zf.writestr("folder/", b"")
        link = zipfile.ZipInfo("sdcard/link")
        link.create_system, link.external_attr = 3, 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("genuine.txt", b"genuine content " * 50)
    data = bytearray(path.read_bytes())
    at = bytes(data).index(b"genuine content")
    data[at] ^= 0x20  # a bad CRC
    path.write_bytes(bytes(data))
    return path


def _events(fmt: str, reader: RandomReader, name: str, directory: Any = None) -> list[tuple[str, Any, Any]]:
    out = []
    for ev in catalogue(fmt, reader, name=name, algorithms=ALGORITHMS, zip_directory=directory):
        if isinstance(ev, Member):
            out.append(("member", ev.fields, ev.problems))
        elif isinstance(ev, Problem):
            out.append(("problem", ev.check, ev.reason))
    return out


def _from_file(src: Path, fmt: str) -> list[tuple[str, Any, Any]]:
    fd = os.open(src, os.O_RDONLY)
    try:
        return _events(fmt, RandomReader.over_fd(fd), src.name)
    finally:
        os.close(fd)


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch) -> None:
    """Members are read in pieces of 64 KiB (not 1 MiB), so that small buffers are reused many times over."""
    monkeypatch.setattr(containers, "CHUNK", 64 << 10)


def _from_memory(src: Path, dest: Path, fmt: str, **kw: Any) -> tuple[list[tuple[str, Any, Any]], StreamedCopy, Any]:
    """Catalogue ``src`` from memory while it is copied to ``dest``, as the device importer does."""
    seen: list[tuple[int, bytes]] = []
    directory = None
    if fmt == "zip":
        with open(src, "rb") as fh:
            directory = read_zip_directory(fh, seen)
    reader = StreamedCopy(dest, expect=seen, **kw)
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(_events(fmt, reader, src.name, directory))
        finally:
            reader.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    st = os.lstat(src)
    copied = copy_file(str(src), str(dest), (st.st_ino, st.st_dev), ALGORITHMS, tee=reader)
    reader.finish()
    thread.join(60)
    assert not thread.is_alive(), "cataloguing from memory did not finish"
    reader.release()
    return result[0], reader, copied


def _spy(monkeypatch, owner: Any, name: str) -> list[Any]:
    """Calls of ``owner.name`` from now on (it still runs)."""
    calls: list[Any] = []
    real = getattr(owner, name)

    def spy(*args: Any, **kw: Any) -> Any:
        calls.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(owner, name, spy)
    return calls


@pytest.mark.parametrize("shared, helped", [(False, False), (True, False), (True, True)])
def test_members_read_from_memory_as_the_copy_is_written_match_the_finished_file(tmp_path: Path, monkeypatch, shared: bool, helped: bool) -> None:
    src = _mixed_zip(tmp_path / "x.zip")
    hashed = _spy(monkeypatch, containers, "_hashed")
    if helped:
        monkeypatch.setattr(containers, "HELPED_MIN", 1)
        monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    got, reader, copied = _from_memory(src, tmp_path / "copy.zip", "zip", chunk=64 << 10, buffers=6, shared=shared)
    assert (len(hashed) > 50) is helped  # (most members were hashed by the helpers)
    assert got == _from_file(src, "zip")
    assert any(kind == "member" and ("member-crc", "bad CRC-32") == (p[0][0], p[0][1][:10]) for kind, _f, p in got if p)
    assert reader.as_expected
    data = src.read_bytes()
    assert (tmp_path / "copy.zip").read_bytes() == data
    assert copied.hex == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


def test_members_whose_data_overlap_are_read_back_from_the_copy(tmp_path: Path, monkeypatch) -> None:
    """The overlapping-members zip bomb: a member's data may have left memory; it is read from the copy on disk."""
    payload = os.urandom(300_000)  # larger than all the test's buffers together
    zip_of(tmp_path / "x.zip", {"a.bin": payload})
    data = (tmp_path / "x.zip").read_bytes()
    cd_at, eocd_at = data.index(b"PK\x01\x02"), data.index(b"PK\x05\x06")
    entry = data[cd_at:eocd_at]
    more = [entry.replace(b"a.bin", f"{c}.bin".encode()) for c in "bcd"]
    eocd = bytearray(data[eocd_at:])
    struct.pack_into("<HHII", eocd, 8, 4, 4, len(entry) * 4, cd_at)
    (tmp_path / "x.zip").write_bytes(data[:cd_at] + entry + b"".join(more) + bytes(eocd))
    read_back = _spy(monkeypatch, StreamedCopy, "_read_full")
    got, _reader, _copied = _from_memory(tmp_path / "x.zip", tmp_path / "copy.zip", "zip", chunk=64 << 10, buffers=4)
    assert read_back
    assert got == _from_file(tmp_path / "x.zip", "zip")
    sums = {f["member_path"]: f["sha256"] for kind, f, _p in got if kind == "member"}
    assert set(sums.values()) == {hashlib.sha256(payload).hexdigest()} and len(sums) == 4


@pytest.mark.parametrize("name, mode", [("x.tar", "w"), ("x.tgz", "w:gz")])
def test_a_tar_read_from_memory_matches_the_finished_file(tmp_path: Path, name: str, mode: str) -> None:
    tar_of(tmp_path / name, [(f"m{i}.bin", os.urandom(i * 9000)) for i in range(30)], mode)
    fmt = "tar" if mode == "w" else "tar+gzip"
    got, _reader, _copied = _from_memory(tmp_path / name, tmp_path / "copy", fmt, chunk=64 << 10, buffers=4)
    assert got == _from_file(tmp_path / name, fmt) and len(got) == 30


def test_a_copy_whose_directory_differs_from_the_one_read_first_is_noticed(tmp_path: Path) -> None:
    zip_of(tmp_path / "a.zip", {"one.txt": b"one", "two.txt": b"two"})
    zip_of(tmp_path / "b.zip", {"one.txt": b"one", "TWO.txt": b"two"})  # the same size, another name
    assert (tmp_path / "a.zip").stat().st_size == (tmp_path / "b.zip").stat().st_size
    seen: list[tuple[int, bytes]] = []
    with open(tmp_path / "a.zip", "rb") as fh:
        read_zip_directory(fh, seen)
    for src, expected in (("a.zip", True), ("b.zip", False)):
        reader = StreamedCopy(tmp_path / f"copy-{src}", expect=seen)
        st = os.lstat(tmp_path / src)
        reader.close()  # (nobody reads the members here)
        copy_file(str(tmp_path / src), str(tmp_path / f"copy-{src}"), (st.st_ino, st.st_dev), ALGORITHMS, tee=reader)
        reader.finish()
        assert reader.as_expected is expected


def _zip_variants(tmp_path: Path) -> list[Path]:
    out = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # data in front of the zip (a self-extracting archive), a comment, ZIP64 fields
        zf.writestr("a.txt", b"a" * 100)
        zf.writestr("dir/", b"")
        zf.comment = b"a comment"
        with zf.open("big", "w", force_zip64=True) as fh:
            fh.write(b"x" * 1000)
        info = zipfile.ZipInfo("ntfs.txt", (2024, 1, 1, 0, 0, 0))
        info.extra = struct.pack("<HHIHHQQQ", 0x000A, 32, 0, 1, 24, 1, 2, 3)
        zf.writestr(info, b"n")
        zf.writestr("小龙.txt", "utf-8 name".encode())
    (tmp_path / "sfx.zip").write_bytes(b"#!/bin/sh\nexit 0\n" * 10 + buf.getvalue())
    out.append(tmp_path / "sfx.zip")
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as zf:
        for i in range(3000):
            zf.writestr(zipfile.ZipInfo(f"f{i}", (2024, 7, 28, 0, 0, i % 60)), b"")
    out.append(tmp_path / "many.zip")
    cp437 = zipfile.ZipInfo("cafX.txt", (2024, 7, 28, 7, 27, 26))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(cp437, b"bytes")
    (tmp_path / "cp437.zip").write_bytes(buf.getvalue().replace(b"cafX.txt", b"caf\x82.txt"))
    out.append(tmp_path / "cp437.zip")
    return out


FIELDS = ("orig_filename", "create_system", "flag_bits", "compress_type", "date_time", "CRC", "compress_size", "file_size",
          "extra", "external_attr", "header_offset")


def test_the_central_directory_is_decoded_as_zipfile_decodes_it(tmp_path: Path) -> None:
    for path in _zip_variants(tmp_path):
        with open(path, "rb") as fh:
            directory = read_zip_directory(fh)
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            assert len(directory) == len(infos) and directory.start == zf.start_dir, path
            for i, info in enumerate(infos):
                entry = directory.entry(i)
                assert {f: getattr(entry, f) for f in FIELDS} == {f: getattr(info, f) for f in FIELDS}, (path, i)


def test_a_directory_out_of_order_is_read_in_the_order_of_the_data(tmp_path: Path) -> None:
    zip_of(tmp_path / "x.zip", {"a": b"1", "b": b"2", "c": b"3"})
    data = (tmp_path / "x.zip").read_bytes()
    cd_at, eocd_at = data.index(b"PK\x01\x02"), data.index(b"PK\x05\x06")
    entries = [e for e in (b"PK\x01\x02" + part for part in data[cd_at + 4 : eocd_at].split(b"PK\x01\x02"))]
    (tmp_path / "x.zip").write_bytes(data[:cd_at] + b"".join(reversed(entries)) + data[eocd_at:])
    with open(tmp_path / "x.zip", "rb") as fh:
        directory = read_zip_directory(fh)
    assert [directory.entry(i).orig_filename for i in directory.order()] == ["a", "b", "c"]
    got = [(f["member_path"], f["member_index"]) for kind, f, _p in _from_file(tmp_path / "x.zip", "zip")]
    assert got == [("a", 3), ("b", 2), ("c", 1)]


def _writer(root: Path) -> buildmod.BundleWriter:
    case = SimpleNamespace(id="TC-1")
    key = SimpleNamespace(derive_secret=lambda label: hashlib.sha256(label.encode()).digest())
    return buildmod.BundleWriter(root, case, key, ALGORITHMS, lambda m: None)  # type: ignore[arg-type]


MEMBER_RECORDS: list[dict[str, Any]] = [
    {"kind": "member", "member_path": "a/b.txt", "member_index": 1, "member_type": "file", "size": 3, "sha256": "ab" * 32, "md5": "cd" * 16,
     "media_type": "text/plain", "compression": "stored", "compressed_size": 3, "crc32": "00000000", "source": "S01"},
    {"kind": "member", "member_path": "../m\x00\"x\"\\u0000", "member_index": 2, "member_type": "file", "size": 0,
     "problems": ["member-path: climbs out"], "source": "S01"},  # a NUL and a literal \u0000: written the plain way
    {"kind": "member", "member_path": "小龙🐉/EnMicroMsg.db", "member_index": 3, "member_type": "file", "tags": ["sqlcipher", "wechat"],
     "device_path": "/data/x", "source": "S01", "nested": {"id": "\x00i", "container": "x"}},
    {"kind": "member", "member_path": "z", "member_index": 4, "member_type": "directory", "size": 0, "source": "S01"},
]


def test_member_lines_made_ahead_are_the_lines_emit_writes(tmp_path: Path) -> None:
    plain, ahead = _writer(tmp_path / "plain"), _writer(tmp_path / "ahead")
    for writer in (plain, ahead):
        writer.emit({"kind": "file", "path": "data/S01/x.zip", "size": 1, "sha256": "00" * 32, "md5": "00" * 16, "source": "S01"})
    for rec in MEMBER_RECORDS:
        plain.emit({**rec, "container": "E0001"})
    prepared = [buildmod.prepare_member(dict(rec)) for rec in MEMBER_RECORDS]
    assert isinstance(prepared[1], dict) and isinstance(prepared[0], tuple)  # the NUL one cannot be cut
    lines = [ahead.member_line(p, "E0001", n) for n, p in enumerate(prepared, 1)]
    ahead.add_member_lines("E0001", [b"".join(line + b"\n" for line in lines[:2]), b"".join(line + b"\n" for line in lines[2:])])
    plain.emit({"kind": "member", "container": "E0001", "member_path": "after", "source": "S01"})
    ahead.emit({"kind": "member", "container": "E0001", "member_path": "after", "source": "S01"})
    for writer in (plain, ahead):
        writer.close()
    assert (tmp_path / "ahead/evidpack/items.jsonl").read_bytes() == (tmp_path / "plain/evidpack/items.jsonl").read_bytes()
    assert ahead.merkle.root() == plain.merkle.root()
    last = json.loads((tmp_path / "ahead/evidpack/items.jsonl").read_text("utf-8").splitlines()[-1])
    assert last["id"] == "E0001/M000005"


def _many_members_zip(path: Path, count: int = 2500) -> Path:
    rng = __import__("random").Random(3)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            data = rng.randbytes(rng.choice((10, 3000, 20_000)))
            zf.writestr(zipfile.ZipInfo(f"data/data/com.tencent.mm/f{i:05d}", (2024, 7, 28, 7, 27, 26)), data,
                        compress_type=zipfile.ZIP_DEFLATED if i % 4 == 0 else zipfile.ZIP_STORED)
        zf.writestr("databases/notes.db", b"SQLite format 3\x00" + bytes(4080))  # (its content is wanted: read in a thread)
    return path


def test_helper_processes_and_threads_give_the_same_bundle(cli, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "ev").mkdir()
    _many_members_zip(tmp_path / "ev/phone.zip")
    monkeypatch.setattr(containers, "HELPED_MIN", 100)
    hashed = _spy(monkeypatch, containers, "_hashed")
    threads, helpers = _built_without_and_with_processes(cli, tmp_path, monkeypatch, "ev/phone.zip", lambda: len(hashed) > 2000)
    recs = items(helpers)
    assert recs[0]["members"] == 2501 and recs[-1]["id"] == "E0001/M002501"
    assert verify_deep(cli, helpers).exit_code == 0


def _built_without_and_with_processes(cli, tmp_path: Path, monkeypatch, path: str, used: Any) -> tuple[Path, Path]:
    """Bundles of the same case built with no worker processes and with two;
    ``used()`` says whether processes did the work so far. They must be the same."""
    bundles = []
    for workers in ("0", "2"):
        monkeypatch.setenv("EVIDPACK_COPY_WORKERS", workers)
        out = tmp_path / f"workers-{workers}"
        r = cli(*build_args(device_case(tmp_path, path), out))
        assert r.exit_code == 0, r.output
        assert used() is (workers == "2")
        bundles.append(out)
    for rel in ("evidpack/items.jsonl", "evidpack/sources.jsonl", "evidpack/records/S01-artifacts.json", "manifest-sha256.txt"):
        assert (bundles[0] / rel).read_bytes() == (bundles[1] / rel).read_bytes(), rel
    return bundles[0], bundles[1]


def test_containers_among_other_files_get_the_ids_their_member_records_were_made_with(cli, tmp_path: Path) -> None:
    """A container's members are recorded before the container itself: its id is known because each entry found is one item."""
    root = tmp_path / "dump"
    for i, name in enumerate(("a.txt", "b.zip", "c/d.tar", "c/e.txt", "f.zip")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".zip"):
            zip_of(root / name, {f"in-{i}.txt": b"x" * i})
        elif name.endswith(".tar"):
            tar_of(root / name, [(f"in-{i}.txt", b"y")])
        else:
            (root / name).write_bytes(b"plain")
    os.symlink("a.txt", root / "c/link")  # recorded, not copied: still one item
    bundle = built(cli, tmp_path, "dump", "--keep-going")
    recs = items(bundle)
    ids = {r.get("original_path"): r["id"] for r in recs if r["kind"] != "member"}
    for r in recs:
        if r["kind"] == "member":
            assert r["id"].startswith(r["container"] + "/M")
    containers_by_id = {r["container"] for r in recs if r["kind"] == "member"}
    assert containers_by_id == {ids["b.zip"], ids["c/d.tar"], ids["f.zip"]}


def test_a_folder_gives_the_same_bundle_whether_its_plain_files_are_copied_by_worker_processes_or_threads(cli, tmp_path: Path, monkeypatch) -> None:
    import sqlite3

    from device_support import gen

    from evidpack import payloadcopy

    root = tmp_path / "dump"
    gen.make_android(root / "android")  # a container, a .ufd naming it, WeChat paths
    gen.write_backup(root / "backup", gen.ios_files())  # an iTunes backup
    rng = __import__("random").Random(11)
    for i in range(300):  # plain small files: enough to go to the worker processes in batches
        (root / f"sdcard/files/d{i % 5}").mkdir(parents=True, exist_ok=True)
        (root / f"sdcard/files/d{i % 5}/f{i:03d}.bin").write_bytes(rng.randbytes(rng.choice((0, 10, 900, 30_000))))
    db = sqlite3.connect(root / "sdcard/files/d0/zz-database-without-extension")
    db.execute("create table t (x)")
    db.executemany("insert into t values (?)", [(i,) for i in range(5)])
    db.commit()
    db.close()
    submitted = _spy(monkeypatch, payloadcopy.CopyPool, "submit")
    _threads, pooled = _built_without_and_with_processes(cli, tmp_path, monkeypatch, "dump", lambda: len(submitted) > 2)
    dbs = json.loads((pooled / "evidpack/records/S01-artifacts.json").read_text("utf-8"))["databases"]
    assert any(d["path"].endswith("zz-database-without-extension") and d["tables"] == [{"table": "t", "rows": 5}] for d in dbs)


def test_members_a_failed_helper_had_are_read_in_the_threads(tmp_path: Path, monkeypatch) -> None:
    from concurrent.futures import Future

    class Gone:
        def __init__(self, *args: Any, **kw: Any) -> None:
            pass

        def submit(self, *args: Any) -> "Future[Any]":
            fut: Future[Any] = Future()
            fut.set_exception(RuntimeError("copy worker ended unexpectedly"))
            return fut

        def close(self) -> None:
            pass

    monkeypatch.setattr(containers, "_Worker", Gone)
    monkeypatch.setattr(containers, "HELPED_MIN", 1)
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    hashed = _spy(monkeypatch, containers, "_hashed")
    src = _mixed_zip(tmp_path / "x.zip")
    got, _reader, _copied = _from_memory(src, tmp_path / "copy.zip", "zip", chunk=64 << 10, buffers=6, shared=True)
    assert got == _from_file(src, "zip") and not hashed


DIGESTS = {"sha256": "00" * 32, "md5": "00" * 16}


@pytest.mark.parametrize(
    "record",
    [
        {"kind": "file", "path": "data/S01/x", "size": 1, **DIGESTS, "source": "S01"},
        {"kind": "file", "path": "data/S01/a\x00b", "size": 1, **DIGESTS, "source": "S01"},  # a NUL: the plain way
        {"kind": "file", "path": "data/S01/\\u0000s", "original_path": ',"salt":"\\u0000s"', "size": 1, **DIGESTS, "source": "S01"},  # the placeholder's text
        {"kind": "member", "member_path": "p"},  # no key after "salt"
        {"kind": "member", "facts": {"salt": "\x00s", "z": [1, 2]}, "member_path": "m", "salt": "given", "source": "S01"},  # a salt given is replaced
    ],
)
def test_an_emitted_line_is_the_canonical_record_with_its_salt_the_hmac_of_the_rest(tmp_path: Path, record: dict[str, Any]) -> None:
    writer = _writer(tmp_path)
    out = writer.emit({**record, **({"container": "E0001"} if record["kind"] == "member" else {})})
    writer.close()
    line = (tmp_path / "evidpack/items.jsonl").read_bytes().rstrip(b"\n")
    parsed = json.loads(line)
    assert line == canonical.dumps(parsed) and parsed == out
    without = {k: v for k, v in parsed.items() if k != "salt"}
    secret = hashlib.sha256(b"leaf-salt TC-1").digest()
    assert parsed["salt"] == hmac.new(secret, canonical.dumps(without), hashlib.sha256).hexdigest()[:32]


def _zip_bytes(members: int = 3, comment: bytes = b"", prefix: bytes = b"", zip64: bool = False) -> bytes:
    buf = io.BytesIO()
    buf.write(prefix)
    with zipfile.ZipFile(buf, "a" if prefix else "w") as zf:
        for i in range(members):
            zf.writestr(zipfile.ZipInfo(f"m{i:05d}", (2024, 7, 28, 7, 27, 26)), b"x" * (i % 7), compress_type=zipfile.ZIP_STORED)
        zf.comment = comment
    data = buf.getvalue()
    assert (b"PK\x06\x06" in data[-(len(comment) + 22 + 20 + 56):]) == zip64
    return data


@pytest.mark.parametrize(
    "data",
    [
        _zip_bytes(),
        _zip_bytes(0),
        _zip_bytes(comment=b"made by a phone extraction tool"),
        _zip_bytes(comment=b"x" * 65535),
        _zip_bytes(comment=b"PK\x05\x06 in the comment"),
        _zip_bytes(prefix=b"#!/bin/sh\nexit 0\n" * 100),  # data before the zip (a self-extracting stub)
        _zip_bytes(70_000, zip64=True),  # more members than a 16-bit count holds: ZIP64 end records
        _zip_bytes(70_000, prefix=b"\x00" * 4096, zip64=True),
        _zip_bytes() + b"trailing bytes after the end record",
    ],
    ids=["plain", "empty", "comment", "longest-comment", "signature-in-comment", "prefix", "zip64", "zip64-prefix", "trailing"],
)
def test_the_end_records_are_found_as_zipfile_finds_them(data: bytes) -> None:
    # zipfile's private _EndRecData is the oracle here (evidpack no longer calls it).
    from evidpack.importers.containers import _end_records

    mine = _end_records(io.BytesIO(data))
    assert mine is not None
    if b"PK\x05\x06 in the comment" in data:
        # zipfile takes the signature in the comment and cannot read the zip; evidpack finds the record
        # that, with its comment, ends the file.
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(io.BytesIO(data))
        assert mine.location == data.index(b"PK\x05\x06 in the comment") - 22
        data = data[: mine.location + 20] + b"\x00\x00"  # the same zip without its comment, for zipfile to compare
    oracle = getattr(zipfile, "_EndRecData", None)  # (private: a later Python may not have it; the rest still checks)
    if oracle is not None:
        theirs = oracle(io.BytesIO(data))
        assert (mine.size, mine.offset, mine.location) == (theirs[zipfile._ECD_SIZE], theirs[zipfile._ECD_OFFSET], theirs[zipfile._ECD_LOCATION])  # type: ignore[attr-defined]
        assert mine.zip64 == (theirs[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64)  # type: ignore[attr-defined]
    directory = read_zip_directory(io.BytesIO(data))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert directory.start == zf.start_dir
        assert [info.header_offset for info in zf.infolist()] == [directory.header_offset(i) for i in range(len(directory))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no end-of-central-directory record"),
        (b"PK\x05\x06", "no end-of-central-directory record"),
        (_zip_bytes()[:-5], "no end-of-central-directory record"),
        (b"PK\x06\x07" + struct.pack("<LQL", 0, 0, 1) + _zip_bytes(0), "Zip64 end of central directory record not found"),
        (b"PK\x06\x07" + struct.pack("<LQL", 2, 0, 3) + _zip_bytes(0), "span multiple disks"),
    ],
    ids=["empty-file", "bare-signature", "truncated", "locator-without-record", "multi-disk"],
)
def test_broken_end_records_are_one_clear_error(data: bytes, message: str) -> None:
    from evidpack.importers.containers import ZipUnreadable

    with pytest.raises(ZipUnreadable, match=message):
        read_zip_directory(io.BytesIO(b"\x00" * 100 + data if data.startswith(b"PK\x06\x07") else data))


@pytest.mark.parametrize("hashers", [1, 2, 3])
def test_tar_members_hashed_in_threads_come_out_in_order_with_their_own_digests(tmp_path: Path, monkeypatch, hashers: int) -> None:
    # Small members are hashed by other threads while the next headers are read; large ones
    # (over a chunk: 64 KiB here) as they stream past; folders and links in between. The order
    # and every digest must be those of the archive, however the threads interleave.
    monkeypatch.setattr(containers, "TAR_HASHERS", hashers)
    rng = __import__("random").Random(hashers)
    entries: list[tarfile.TarInfo | tuple[str, bytes]] = []
    expected: list[tuple[str, str | None]] = []
    for i in range(400):
        if i % 37 == 5:
            d = tarfile.TarInfo(f"dir{i}/")
            d.type = tarfile.DIRTYPE
            entries.append(d)
            expected.append((f"dir{i}/", None))
            continue
        data = rng.randbytes(rng.choice((0, 1, 511, 512, 4000, 65_536, 65_537, 300_000)))
        entries.append((f"f{i:03d}", data))
        expected.append((f"f{i:03d}", hashlib.md5(data).hexdigest()))
    tar_of(tmp_path / "x.tar", entries)
    got = [(f["member_path"], f.get("md5")) for kind, f, _p in _from_file(tmp_path / "x.tar", "tar") if kind == "member"]
    assert [(p.rstrip("/"), m) for p, m in got] == [(p.rstrip("/"), m) for p, m in expected]


def test_a_tar_truncated_inside_a_small_member_lists_the_members_before_it_then_says_so(tmp_path: Path) -> None:
    tar_of(tmp_path / "x.tar", [(f"f{i}", bytes([i]) * 3000) for i in range(50)])
    data = (tmp_path / "x.tar").read_bytes()
    cut = data.index(bytes([40]) * 3000) + 1000  # inside member 41
    (tmp_path / "t.tar").write_bytes(data[:cut])
    got = _from_file(tmp_path / "t.tar", "tar")
    members = [f for kind, f, _p in got if kind == "member"]
    assert [f["member_path"] for f in members] == [f"f{i}" for i in range(41)]
    assert all(f["md5"] == hashlib.md5(bytes([i]) * 3000).hexdigest() for i, f in enumerate(members[:40]))
    # the digests cover every byte the archive holds of the cut member (tarfile's own reader
    # raises and drops them: it gave 0 bytes here), and its record says it is cut short
    assert members[40]["declared_size"] == 3000 and members[40]["size"] == 1000
    assert members[40]["md5"] == hashlib.md5(bytes([40]) * 1000).hexdigest()
    problems = [p for kind, f, p in got if kind == "member" and f["member_path"] == "f40"][0]
    assert ("member-readable", "truncated: the archive ends inside this member; its digests cover the 1000 of 3000 bytes that could be read") in problems
    assert got[-1][0] == "problem" and "ends inside member 41 ('f40'); its digests cover the 1000 of 3000 bytes" in got[-1][2]


@pytest.mark.parametrize("size, cut", [(300_000, 200_000), (3 << 20, (1 << 20) + 12345)])
def test_a_tar_truncated_inside_a_large_member_hashes_every_byte_it_holds(tmp_path: Path, size: int, cut: int) -> None:
    data = random.Random(size).randbytes(size)
    tar_of(tmp_path / "x.tar", [("small", b"s" * 10), ("big", data)])
    whole = (tmp_path / "x.tar").read_bytes()
    start = whole.index(data[:64])
    (tmp_path / "t.tar").write_bytes(whole[: start + cut])
    got = _from_file(tmp_path / "t.tar", "tar")
    big = [f for kind, f, _p in got if kind == "member" and f["member_path"] == "big"][0]
    assert big["size"] == cut and big["declared_size"] == size
    assert big["md5"] == hashlib.md5(data[:cut]).hexdigest()
