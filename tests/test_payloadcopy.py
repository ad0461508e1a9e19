"""Copying into the payload: the one-file path (threaded digests, O_DIRECT for
large files) and the worker-process pool for many small files."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest

from evidpack import payloadcopy
from evidpack.payloadcopy import BIG_CHUNK, CopyPool, copy_batch, copy_file

from conftest import build_args, write_tree


def _digests(data: bytes, algorithms: tuple[str, ...] = ("sha256", "md5")) -> dict[str, str]:
    return {a: hashlib.new(a, data).hexdigest() for a in algorithms}


@pytest.mark.parametrize(
    "size",
    [0, 1, 4095, 4096, (1 << 20) - 1, 1 << 20, payloadcopy.DIRECT_MIN, payloadcopy.DIRECT_MIN + 1, BIG_CHUNK * 2 + 4096 + 7],
)
def test_copy_file_copies_every_byte_and_hashes_what_it_wrote(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    os.utime(src, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    st = os.lstat(src)
    dest = tmp_path / "out" / "deep" / "copy.bin"
    got = copy_file(str(src), str(dest), (st.st_ino, st.st_dev), ("sha256", "md5"))
    assert got.size == size
    assert got.hex == _digests(data)
    assert got.head == data[:512]
    assert dest.read_bytes() == data
    dst = os.stat(dest)
    assert stat.S_IMODE(dst.st_mode) == 0o444
    assert dst.st_mtime_ns == 1_500_000_000_987_654_321 == got.mtime_ns
    # the source is untouched, its access time included
    after = os.stat(src)
    assert (after.st_mtime_ns, after.st_atime_ns) == (st.st_mtime_ns, st.st_atime_ns)


def test_copy_file_falls_back_when_direct_io_is_refused(tmp_path: Path, monkeypatch) -> None:
    data = os.urandom(payloadcopy.DIRECT_MIN + 12345)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    st = os.lstat(src)
    real_write = os.write
    refused = []

    def write(fd: int, buf) -> int:
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
            refused.append(len(buf))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, buf)

    monkeypatch.setattr(payloadcopy.os, "write", write)
    got = copy_file(str(src), str(tmp_path / "copy.bin"), (st.st_ino, st.st_dev), ("sha256",))
    assert got.hex["sha256"] == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "copy.bin").read_bytes() == data
    if getattr(os, "O_DIRECT", 0):
        assert refused, "the first write should have been tried with O_DIRECT"


def test_copy_file_refuses_a_different_file_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    other = os.lstat(tmp_path / "b")
    with pytest.raises(OSError) as exc:
        copy_file(str(tmp_path / "a"), str(tmp_path / "out/a"), (other.st_ino, other.st_dev), ("sha256",))
    assert exc.value.errno == errno.ESTALE
    assert not (tmp_path / "out/a").exists()


def test_a_batch_reports_each_unreadable_file_and_copies_the_rest(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_bytes(b"fine")
    st = os.lstat(tmp_path / "ok.txt")
    jobs = [
        (str(tmp_path / "gone.txt"), str(tmp_path / "out/gone.txt"), (1, 1), "gone.txt"),
        (str(tmp_path / "ok.txt"), str(tmp_path / "out/ok.txt"), (st.st_ino, st.st_dev), "ok.txt"),
    ]
    with CopyPool(1) as pool:
        answers = pool.submit(("sha256",), jobs).result(timeout=60)
    assert isinstance(answers[0], OSError) and answers[0].errno == errno.ENOENT
    size, _mtime, digests, media_type = answers[1]
    assert (size, digests["sha256"], media_type) == (4, hashlib.sha256(b"fine").hexdigest(), "text/plain")
    assert copy_batch(("sha256",), jobs[:1])[0].errno == errno.ENOENT


def test_a_worker_that_dies_fails_the_batch_instead_of_hanging(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"x")
    st = os.lstat(tmp_path / "x")
    pool = CopyPool(1)
    try:
        pool.submit(("sha256",), [(str(tmp_path / "x"), str(tmp_path / "o/x"), (st.st_ino, st.st_dev), "x")]).result(timeout=60)
        pool._all[0].proc.kill()
        pool._all[0].proc.wait()
        fut = pool.submit(("sha256",), [(str(tmp_path / "x"), str(tmp_path / "o/y"), (st.st_ino, st.st_dev), "x")])
        with pytest.raises(RuntimeError, match="copy worker ended unexpectedly"):
            fut.result(timeout=60)
    finally:
        pool.close()


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_GETPIPE_SZ"), reason="pipe sizes are Linux's")
def test_a_worker_pipe_holds_dozens_of_batches_so_the_workers_never_wait_for_the_build(tmp_path: Path) -> None:
    # While the build unlocks its key or loads the PDF renderer, it submits
    # nothing: the workers copy what their pipes hold (64 KiB by default: four
    # or five batches of 64 names, a few milliseconds of work).
    import fcntl

    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    pool = CopyPool(1).start()
    try:
        size = fcntl.fcntl(pool._all[0].proc.stdin.fileno(), fcntl.F_GETPIPE_SZ)
        assert size == payloadcopy.PIPE_SIZE if limit >= payloadcopy.PIPE_SIZE else size >= 65536
        (tmp_path / "in").mkdir()
        jobs = []
        for i in range(3):
            (tmp_path / "in" / f"{i}").write_bytes(b"%d" % i)
            st = os.lstat(tmp_path / "in" / f"{i}")
            jobs.append((str(tmp_path / "in" / f"{i}"), str(tmp_path / f"out/{i}"), (st.st_ino, st.st_dev), f"{i}"))
        futures = [pool.submit(("sha256",), jobs)]
        assert [a[0] for a in futures[0].result(timeout=60)] == [1, 1, 1]
    finally:
        pool.close()


def _tree(root: Path) -> None:
    rnd = __import__("random").Random(7)
    for d in range(6):
        folder = root / f"d{d}"
        folder.mkdir(parents=True)
        for i in range(70):
            (folder / f"f{i:03d}.bin").write_bytes(rnd.randbytes(rnd.randrange(0, 5000)))
    (root / "d2" / "big.bin").write_bytes(rnd.randbytes(payloadcopy.DIRECT_MIN + 3))
    (root / "d3" / "mid.bin").write_bytes(rnd.randbytes((1 << 20) + 17))
    (root / "d4" / "empty.txt").write_bytes(b"")
    (root / os.fsdecode(b"d5/caf\xe9.txt")).write_bytes(b"latin-1 name")


def test_worker_processes_and_one_thread_give_the_same_sealed_bundle(cli, tmp_path: Path, monkeypatch) -> None:
    """420+ files: the pool path starts worker processes; EVIDPACK_COPY_WORKERS=0
    copies everything in this process. Both must seal byte-identical records."""
    evidence = tmp_path / "evidence"
    _tree(evidence)
    manifest = tmp_path / "case.toml"
    manifest.write_text(
        '[case]\nid = "TC-POOL"\ntitle = "pool"\nagency = "A"\nauthority = "none"\nexaminer = "E"\n'
        '[[sources]]\nkind = "files"\npath = "evidence"\nlabel = "tree"\n'
        '[sources.acquisition]\ntool = "t"\nby = "b"\nat = "2026-01-01T00:00:00Z"\n'
    )
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in evidence.rglob("*") if p.is_file()}
    batches = []
    real_submit = payloadcopy._Worker.submit

    def counting_submit(self, op, algorithms, jobs):
        batches.append(len(jobs))
        return real_submit(self, op, algorithms, jobs)

    monkeypatch.setattr(payloadcopy._Worker, "submit", counting_submit)
    outs = {}
    for workers in ("2", "0"):
        monkeypatch.setenv("EVIDPACK_COPY_WORKERS", workers)
        out = tmp_path / f"out-{workers}"
        r = cli(*build_args(manifest, out), "--keep-going")
        assert r.exit_code == 0, r.output
        outs[workers] = out
        v = cli("verify", str(out))
        assert v.exit_code in (0, 3), v.output
        assert "VERIFIED" in v.output or "intact" in v.output
    assert sum(batches) > 200, "the worker processes should have copied most files"
    for rel in ("evidpack/items.jsonl", "manifest-sha256.txt", "manifest-md5.txt", "tagmanifest-sha256.txt"):
        assert (outs["2"] / rel).read_bytes() == (outs["0"] / rel).read_bytes(), rel
    lines = (outs["2"] / "manifest-sha256.txt").read_text().splitlines()
    assert len(lines) == 6 * 70 + 4
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in evidence.rglob("*") if p.is_file()} == before
    # verify hashes this many files in worker processes too: a change is still named
    victim = outs["2"] / "data" / lines[300].split("  ", 1)[1].split("/", 1)[1]
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes() + b"!")
    v = cli("verify", str(outs["2"]), "--md5")
    assert v.exit_code == 1, v.output
    rel = victim.relative_to(outs["2"]).as_posix()
    assert f"{rel}: changed (sha256" in v.output and f"{rel}: changed (md5" in v.output


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_full_disk_stops_the_build_even_with_keep_going(cli, tmp_path: Path, monkeypatch, workers) -> None:
    """Writing the bundle failing is never 'a source file could not be read'."""
    write_tree(tmp_path / "evidence", {f"d{d}/f{i}.txt": b"y" * 100 for d in range(4) for i in range(100)})
    manifest = tmp_path / "case.toml"
    manifest.write_text(
        '[case]\nid = "TC-FULL"\ntitle = "t"\nagency = "A"\nauthority = "none"\nexaminer = "E"\n'
        '[[sources]]\nkind = "files"\npath = "evidence"\nlabel = "tree"\n'
        '[sources.acquisition]\ntool = "t"\nby = "b"\nat = "2026-01-01T00:00:00Z"\n'
    )
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", workers)
    class FullDisk:  # the os module, except that writing our files' bytes fails
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def write(fd, view):
            if bytes(view[:1]) == b"y":
                raise OSError(errno.ENOSPC, "No space left on device")
            return os.write(fd, view)

    monkeypatch.setattr(payloadcopy, "os", FullDisk())  # reaches in-process copies only
    if workers != "0":
        monkeypatch.setattr(payloadcopy.CopyPool, "_submit", lambda self, op, algs, jobs: _done(payloadcopy._OPS[op](algs, jobs)))
    r = cli(*build_args(manifest, tmp_path / "out/B"), "--keep-going")
    assert r.exit_code == 2, r.output
    assert "into the bundle (No space left on device); nothing was sealed" in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "out/B").exists() and list((tmp_path / "out").iterdir()) == []


def _done(value):
    from concurrent.futures import Future

    fut = Future()
    fut.set_result(value)
    return fut


def test_direct_io_refused_after_a_short_write_still_gives_an_exact_copy(tmp_path: Path, monkeypatch) -> None:
    """If O_DIRECT writes part of a chunk and then refuses the rest, the chunk is
    written again from its start: the copy is exactly the bytes hashed."""
    if not getattr(os, "O_DIRECT", 0):
        pytest.skip("no O_DIRECT here")
    import fcntl

    data = os.urandom(payloadcopy.DIRECT_MIN + 4096 * 3 + 5)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    st = os.lstat(src)
    calls = {"direct": 0}

    class ShortThenRefuse:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def write(fd, buf):
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
                calls["direct"] += 1
                if calls["direct"] == 1:
                    return os.write(fd, buf[:4096])  # a short write
                raise OSError(errno.EINVAL, "Invalid argument")
            return os.write(fd, buf)

    monkeypatch.setattr(payloadcopy, "os", ShortThenRefuse())
    got = copy_file(str(src), str(tmp_path / "copy.bin"), (st.st_ino, st.st_dev), ("sha256",))
    assert calls["direct"] == 2
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert got.hex["sha256"] == hashlib.sha256(data).hexdigest()


def test_without_an_interpreter_to_start_the_pool_copies_in_process(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "x").write_bytes(b"data")
    st = os.lstat(tmp_path / "x")
    monkeypatch.setattr(payloadcopy.sys, "executable", str(tmp_path / "no-such-python"))
    with CopyPool(2) as pool:
        answers = pool.submit(("sha256",), [(str(tmp_path / "x"), str(tmp_path / "o/x"), (st.st_ino, st.st_dev), "x")]).result(timeout=60)
        assert pool.workers == 0
    assert answers[0][2]["sha256"] == hashlib.sha256(b"data").hexdigest()


def _spy_reads(monkeypatch, nowait=None, refuse_direct=()):
    """Wrap payloadcopy's os.preadv: count reads by kind, and optionally answer
    the cache probes (RWF_NOWAIT) with ``nowait(chunk_index, view)`` and refuse
    the direct reads numbered in ``refuse_direct`` (from 1) with EINVAL."""
    import fcntl

    seen = {"cached": 0, "direct": 0, "buffered": 0, "refused": 0}

    class Spy:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def preadv(fd, bufs, offset, flags=0):
            if flags & os.RWF_NOWAIT:
                seen["cached"] += 1
                if nowait is not None:
                    return nowait(offset // payloadcopy.BIG_CHUNK, fd, bufs, offset)
            elif fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
                seen["direct"] += 1
                if seen["direct"] in refuse_direct:
                    seen["refused"] += 1
                    raise OSError(errno.EINVAL, "Invalid argument")
            else:
                seen["buffered"] += 1
            return os.preadv(fd, bufs, offset, flags)

    monkeypatch.setattr(payloadcopy, "os", Spy())
    return seen


def _needs_direct_and_nowait() -> None:
    if not getattr(os, "O_DIRECT", 0) or not getattr(os, "RWF_NOWAIT", 0):
        pytest.skip("no O_DIRECT or RWF_NOWAIT here")


def _three_chunks_and_a_tail(tmp_path: Path) -> tuple[bytes, Path, os.stat_result]:
    _needs_direct_and_nowait()
    data = os.urandom(payloadcopy.DIRECT_MIN * 3 + 777)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    return data, src, os.lstat(src)


def test_a_source_not_in_the_page_cache_is_read_direct_and_a_refused_direct_read_falls_back(tmp_path: Path, monkeypatch) -> None:
    data, src, st = _three_chunks_and_a_tail(tmp_path)

    def cold(i, fd, bufs, offset):
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    seen = _spy_reads(monkeypatch, nowait=cold, refuse_direct=(2,))
    got = copy_file(str(src), str(tmp_path / "copy.bin"), (st.st_ino, st.st_dev), ("sha256", "md5"))
    # chunk 1 direct; chunk 2's direct read refused, so it, chunk 3, the tail and
    # the read that finds the end go through the cache
    assert seen == {"cached": 2, "direct": 2, "buffered": 4, "refused": 1}
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert got.hex == _digests(data)


def test_what_the_page_cache_holds_is_read_from_it_and_the_rest_direct(tmp_path: Path, monkeypatch) -> None:
    data, src, st = _three_chunks_and_a_tail(tmp_path)

    def partly(i, fd, bufs, offset):
        if i == 0:
            raise BlockingIOError(errno.EAGAIN, "not cached")
        if i == 1:  # only the first 3 pages of the chunk are cached
            view = memoryview(bufs[0])[: 3 * 4096]
            return os.preadv(fd, [view], offset, os.RWF_NOWAIT)
        return os.preadv(fd, bufs, offset, os.RWF_NOWAIT)

    seen = _spy_reads(monkeypatch, nowait=partly)
    got = copy_file(str(src), str(tmp_path / "copy.bin"), (st.st_ino, st.st_dev), ("sha256", "md5"))
    # chunk 1: direct; chunk 2: 3 pages cached, the rest direct; chunk 3 and the
    # tail: cached; then the read that finds the end
    assert seen == {"cached": 4, "direct": 2, "buffered": 1, "refused": 0}
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert got.hex == _digests(data)


def test_an_evicted_source_is_really_read_direct(tmp_path: Path, monkeypatch) -> None:
    """No simulation: the source's pages are dropped from the page cache, so the
    probes find nothing and the chunks are read from the disk, O_DIRECT."""
    _needs_direct_and_nowait()
    data = os.urandom(payloadcopy.DIRECT_MIN * 2)
    src = tmp_path / "src.bin"
    with open(src, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    st = os.lstat(src)
    seen = _spy_reads(monkeypatch)
    got = copy_file(str(src), str(tmp_path / "copy.bin"), (st.st_ino, st.st_dev), ("sha256",))
    if seen["direct"] == 0:
        pytest.skip("the file system kept the pages cached (or does not do O_DIRECT)")
    assert seen["direct"] == 2 and seen["buffered"] == 0
    assert got.hex == _digests(data, ("sha256",))
