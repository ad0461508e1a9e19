"""What a build does while its files are copied: the copy workers start before
the manifest is read, the sealing key is unlocked while the first copies run,
and large files are copied by a worker process each. None of it may change a
byte of the bundle, and a failure at any of these points must leave nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Future
from pathlib import Path

import pytest

from conftest import BUILD_TIME, DEMO_KEY, DEMO_PASS, build_args, demo_signing_key, manifest_text, write_tree
from evidpack import build as buildmod, payloadcopy
from evidpack.casefile import load as load_case
from evidpack.hashing import in_order
from evidpack.importers import files as filesmod
from evidpack.payloadcopy import CopyPool
from evidpack.timeutil import parse_rfc3339


def _case(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    write_tree(tmp_path / "evidence", files)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"evidence"'), "utf-8")
    return m


def _many(n: int) -> dict[str, bytes | str]:
    return {f"d{i // 100:02d}/f{i:04d}.txt": f"file {i}\n" * (1 + i % 7) for i in range(n)}


def _workers_started(monkeypatch) -> list[payloadcopy._Worker]:
    started: list[payloadcopy._Worker] = []
    real = payloadcopy._Worker.__init__

    def spy(self, *a, **k):
        real(self, *a, **k)
        started.append(self)

    monkeypatch.setattr(payloadcopy._Worker, "__init__", spy)
    return started


def test_the_key_is_unlocked_once_while_the_first_copies_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    case = load_case(_case(tmp_path, _many(600)))
    seen: list[int] = []

    with CopyPool() as pool:

        def unlock():
            seen.append(sum(w._sent for w in pool._all))  # batches already handed to the workers
            return demo_signing_key()

        result = buildmod.build(case, unlock, tmp_path / "out", built_at=parse_rfc3339(BUILD_TIME), pool=pool)
    assert len(seen) == 1 and seen[0] > 0
    assert result.files == 600 and result.signer.fingerprint == demo_signing_key().public.fingerprint


def test_a_key_given_unlocked_or_to_unlock_gives_the_same_bundle(tmp_path: Path) -> None:
    case = load_case(_case(tmp_path, _many(300)))
    when = parse_rfc3339(BUILD_TIME)
    buildmod.build(case, demo_signing_key(), tmp_path / "a", built_at=when)
    buildmod.build(case, demo_signing_key, tmp_path / "b", built_at=when)
    for rel in ("tagmanifest-sha256.txt", "tagmanifest-sha256.txt.sig", "evidpack/custody.jsonl", "evidpack/items.jsonl"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_a_wrong_passphrase_found_while_copying_stops_the_build_and_its_workers(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    monkeypatch.setattr(filesmod, "LARGE_MIN", 1 << 20)  # the big file goes to a worker
    case = _case(tmp_path, {**_many(300), "big.bin": os.urandom(4 << 20)})
    started = _workers_started(monkeypatch)
    r = cli("build", case, "--key", DEMO_KEY, "--out", tmp_path / "out", env={"EVIDPACK_PASSPHRASE": "not the passphrase"})
    assert r.exit_code == 2
    assert r.stderr.strip() == f"evidpack: error: {DEMO_KEY}: wrong passphrase"
    assert sorted(os.listdir(tmp_path)) == ["case.toml", "evidence"]  # no bundle, no partial folder
    assert started and all(w.proc.poll() is not None for w in started)  # no worker outlives it


def test_a_missing_key_file_is_one_line_and_leaves_nothing(cli, case: Path, tmp_path: Path) -> None:
    r = cli("build", case, "--key", tmp_path / "nope.key", "--passphrase-file", DEMO_PASS, "--out", tmp_path / "out")
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "nope.key" in r.stderr
    assert not (tmp_path / "out").exists() and not [p for p in os.listdir(tmp_path) if ".partial-" in p]


def test_large_files_copied_by_a_worker_are_recorded_as_copied_here(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    files = {**_many(150), "a/big-1.bin": os.urandom(3 << 20), "a/big-2.bin": b"\x89PNG\r\n\x1a\n" + os.urandom(2 << 20), "z.txt": "last\n"}
    case = _case(tmp_path, files)
    jobs: list[int] = []
    real = CopyPool.submit

    def spy(self, algorithms, batch):
        jobs.append(len(batch))
        return real(self, algorithms, batch)

    monkeypatch.setattr(CopyPool, "submit", spy)
    monkeypatch.setattr(filesmod, "LARGE_MIN", 1 << 20)
    assert cli(*build_args(case, tmp_path / "pooled")).exit_code == 0
    pooled_jobs = list(jobs)
    jobs.clear()
    monkeypatch.setattr(filesmod, "LARGE_MIN", 1 << 40)  # in this process's threads, as before
    assert cli(*build_args(case, tmp_path / "threads")).exit_code == 0
    assert pooled_jobs.count(1) >= 2 and jobs.count(1) < pooled_jobs.count(1)  # each big file a job of its own
    for rel in ("evidpack/items.jsonl", "manifest-sha256.txt", "manifest-md5.txt", "tagmanifest-sha256.txt"):
        assert (tmp_path / "pooled" / rel).read_bytes() == (tmp_path / "threads" / rel).read_bytes(), rel
    big = tmp_path / "pooled/data/S01-loose-files/a/big-2.bin"
    assert big.read_bytes() == files["a/big-2.bin"] and big.stat().st_mtime_ns == (tmp_path / "evidence/a/big-2.bin").stat().st_mtime_ns


class _Busy:
    def __init__(self, waiting: int) -> None:
        self._waiting = waiting
        self.got: list[object] = []

    def waiting(self) -> int:
        return self._waiting

    def submit(self, op, algorithms, jobs):
        self.got.append(jobs)
        self._waiting += 1
        return Future()


def test_a_batch_goes_to_the_least_busy_worker_then_in_turn() -> None:
    pool = CopyPool(3)
    a, b, c = _Busy(5), _Busy(0), _Busy(0)
    pool._all = [a, b, c]  # type: ignore[list-item]
    for n in range(4):
        pool.submit(("sha256",), [n])  # type: ignore[list-item]
    assert (a.got, b.got, c.got) == ([], [[0], [2]], [[1], [3]])
    pool._all = []


def test_a_worker_is_added_only_when_every_worker_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = CopyPool(3)
    added: list[_Busy] = []

    def grow() -> None:
        added.append(_Busy(0))
        pool._all.append(added[-1])  # type: ignore[arg-type]

    monkeypatch.setattr(pool, "_grow", grow)
    pool._all = [_Busy(0)]  # type: ignore[list-item]
    pool.submit(("sha256",), [0])  # type: ignore[list-item]  # the one worker is idle: it takes it
    assert not added
    pool.submit(("sha256",), [1])  # type: ignore[list-item]  # it is busy: a second starts and takes this one
    assert len(added) == 1 and added[0].got == [[1]]
    pool.submit(("sha256",), [2])  # type: ignore[list-item]
    pool.submit(("sha256",), [3])  # type: ignore[list-item]
    assert len(pool._all) == 3  # never more than asked for
    pool.submit(("sha256",), [4])  # type: ignore[list-item]
    assert len(pool._all) == 3
    pool._all = []


def test_a_pool_starts_one_worker_and_one_file_needs_no_other(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"x")
    st = os.lstat(tmp_path / "x")
    with CopyPool(2) as pool:
        assert len(pool.start()._all) == 1
        job = (str(tmp_path / "x"), str(tmp_path / "o/x"), (st.st_ino, st.st_dev), "x")
        assert pool.submit(("sha256",), [job]).result(timeout=60)[0][0] == 1
        assert len(pool._all) == 1


def test_released_workers_end_on_their_own_and_more_work_starts_new_ones(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"x")
    st = os.lstat(tmp_path / "x")
    job = (str(tmp_path / "x"), str(tmp_path / "o/x"), (st.st_ino, st.st_dev), "x")
    with CopyPool(2) as pool:
        first = list(pool.start()._all)
        assert pool.submit(("sha256",), [job]).result(timeout=60)[0][0] == 1
        pool.release()
        for w in first:
            assert w.proc.wait(timeout=30) == 0
        again = pool.submit(("sha256",), [(*job[:1], str(tmp_path / "o/y"), *job[2:])]).result(timeout=60)
        assert again[0][0] == 1 and all(w not in first for w in pool._all)
    assert all(w.proc.poll() is not None for w in first)


def test_in_order_calls_idle_once_when_the_window_is_full_or_it_would_wait() -> None:
    calls: list[str] = []
    done: Future[int] = Future()
    done.set_result(1)
    # Fewer items than the window, all done: nothing to wait for, no idle call.
    assert [r for _, r in in_order([1, 2], lambda i: done, 3, idle=lambda: calls.append("idle"))] == [1, 1]
    assert calls == []

    # The window filled: idle runs then (while the most work is under way),
    # before the first result is handed over, however quickly it came, and once.
    def tracked(i: int) -> Future[int]:
        calls.append(f"start {i}")
        return done

    got = []
    for item, _ in in_order([1, 2, 3, 4], tracked, 2, idle=lambda: calls.append("idle")):
        calls.append(f"yield {item}")
        got.append(item)
    assert got == [1, 2, 3, 4]
    assert calls == ["start 1", "start 2", "idle", "yield 1", "start 3", "yield 2", "start 4", "yield 3", "yield 4"]

    def later(i: int) -> Future[int]:
        fut: Future[int] = Future()
        import threading

        threading.Timer(0.05, fut.set_result, (i,)).start()
        return fut

    calls.clear()
    # Fewer items than the window, not ready: idle runs when a result is first waited for.
    assert [r for _, r in in_order([1, 2, 3], later, 5, idle=lambda: calls.append("idle"))] == [1, 2, 3]
    assert calls == ["idle"]


def test_python_dash_m_and_the_installed_command_run_the_same_cli(tmp_path: Path) -> None:
    for cmd in ([sys.executable, "-m", "evidpack", "--version"], [str(Path(sys.executable).parent / "evidpack"), "--version"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.startswith("evidpack, version"), (cmd, out.stderr)


def test_a_bad_manifest_stops_the_workers_started_before_it_was_read(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    started = _workers_started(monkeypatch)
    bad = tmp_path / "bad.toml"
    bad.write_text("[case]\nid = 1\n")
    r = cli(*build_args(bad, tmp_path / "out"))
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "bad.toml" in r.stderr
    assert len(started) == 1 and all(w.proc.poll() is not None for w in started)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a nice value of each thread's own: Linux")
def test_work_done_ahead_runs_at_a_lower_priority_than_the_copy_and_only_that_work(tmp_path: Path, monkeypatch) -> None:
    import threading

    from evidpack import cataloguewriter
    from evidpack.cataloguewriter import CatalogueWriter

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[tuple[int, int]] = []

    def ahead() -> None:
        payloadcopy.in_background()
        seen.append((threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))

    t = threading.Thread(target=ahead)
    t.start()
    t.join()
    assert seen[0][1] > mine and os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # that thread only

    # The catalogue's child loads its libraries in a thread of lower priority (as above) ...
    monkeypatch.setattr(cataloguewriter, "import_module", lambda name: ahead())
    cataloguewriter._load_in_background()
    assert seen[1][0] != threading.get_native_id() and seen[1][1] > mine
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
    # ... and writes the catalogue at the normal priority: lowered, it could not be raised
    # again, and on a busy machine the build would wait for it.
    monkeypatch.setenv("EVIDPACK_COPY_WORKERS", "2")
    items = tmp_path / "items.jsonl"
    items.write_bytes(b'{"id":"E0001","kind":"file","path":"data/S01/a.txt","sha256":"00","size":1,"source":"S01"}\n')
    with CatalogueWriter() as writer:
        writer.write(tmp_path / "c.sqlite", case={"id": "TC-1", "title": "t"}, sources=[], items_path=items, custody_lines=[], tables={})
        assert writer._answer.result(timeout=60) == []
        assert os.getpriority(os.PRIO_PROCESS, writer._worker.proc.pid) == mine
        writer.wait()
