"""Hostile or damaged custody logs and bundles against `evidpack custody add/show` and
`verify`: one line naming the file and the event, never a traceback, memory flat, and
never an event lost, half-written or chained onto what does not verify."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, assert_clean, demo_signing_key

from evidpack import custody, keys
from evidpack.timeutil import parse_rfc3339

LOG = "evidpack/custody.jsonl"
DEMO = ["--key", DEMO_KEY, "--passphrase-file", DEMO_PASS]


def add(cli, bundle: Path, *args: str | Path):
    return cli("custody", "add", bundle, "--action", "note", *args, *DEMO)


def one_line(r, code: int, *needles: str) -> None:
    assert_clean(r)
    assert r.exit_code == code, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr
    for n in needles:
        assert n in err[0], err[0]


def peak_kib(*args: str | Path) -> tuple[int, int, str]:
    """(exit code, peak RSS in KiB, output) of `evidpack ARGS` in a process of its own."""
    probe = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "sys.stderr.buffer.write(r.stdout[-4000:] + r.stderr)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "evidpack", *map(str, args)],
                       capture_output=True, timeout=600, check=True)
    code, peak = map(int, r.stdout.split())
    return code, peak, r.stderr.decode("utf-8", "replace")


@pytest.fixture
def impostor(tmp_path: Path) -> keys.SigningKey:
    """A key of someone else that claims the demo examiner's name and role."""
    return keys.generate("Det. Jane Roe (DEMO KEY)", "examiner")


# --- add -----------------------------------------------------------------------------


def test_an_argument_that_is_not_utf8_is_one_line_and_changes_nothing(cli, bundle: Path) -> None:
    before = (bundle / LOG).read_bytes()
    r = add(cli, bundle, "--note", "bad \udc9b byte")  # how Python passes argv that is not UTF-8
    one_line(r, 2, "'note'", "not valid UTF-8")
    r = add(cli, bundle, "--detail", "k\udcff=v")
    one_line(r, 2, "not valid UTF-8")
    assert (bundle / LOG).read_bytes() == before


def test_an_event_dated_in_the_future_is_named_not_blamed_on_the_clock(cli, bundle: Path) -> None:
    # Signed by the trusted sealer, so only the date is wrong: the bytes and signatures are
    # intact, and the clock of the computer reading the log may be the wrong one, so verify
    # warns (not an integrity failure); no event can honestly be appended after it.
    custody.append(bundle, "note", demo_signing_key(), {"note": "from the future"}, at=parse_rfc3339("9999-12-31T23:59:59Z"))
    before = (bundle / LOG).read_bytes()
    r = add(cli, bundle, "--note", "honest")
    one_line(r, 2, "refusing to append", "event seq 7 (line 7)", "in the future", "would be earlier than it")
    assert "fix the clock" not in r.stderr
    assert (bundle / LOG).read_bytes() == before
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 0 and "PASS      custody " in r.output and "WARN      custody-times" in r.output, r.output
    assert "event seq 7 (line 7): time 9999-12-31T23:59:59Z is in the future" in r.output
    r = cli("custody", "show", bundle)
    assert r.exit_code == 0 and "intact" in r.output and "warning: " in r.stderr and "in the future" in r.stderr


def test_a_log_replaced_while_waiting_for_the_lock_loses_no_event(cli, bundle: Path, monkeypatch) -> None:
    log = bundle / LOG
    real = custody.fcntl.flock
    replaced = {}

    def flock(fd, op):
        if not replaced:  # someone renames another copy over the log meanwhile
            copy = log.with_name("copy")
            copy.write_bytes(log.read_bytes())
            os.replace(copy, log)
            replaced["bytes"] = log.read_bytes()
        return real(fd, op)

    monkeypatch.setattr(custody.fcntl, "flock", flock)
    r = add(cli, bundle, "--note", "x")
    one_line(r, 1, "replaced while waiting for the lock")
    assert log.read_bytes() == replaced["bytes"]  # nothing appended to a file nobody sees


def test_a_fifo_put_in_place_of_the_log_is_never_waited_on(cli, bundle: Path, monkeypatch) -> None:
    log = bundle / LOG

    def swap(*_a):  # the seal check passed; then the log becomes a FIFO
        log.unlink()
        os.mkfifo(log)

    monkeypatch.setattr(custody, "_check_before_append", swap)

    def hung(*_a):
        raise TimeoutError("custody add waited on a FIFO")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        r = add(cli, bundle, "--note", "x")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    one_line(r, 1, "custody.jsonl", "not a regular file")


def test_a_short_write_leaves_the_log_as_it_was(cli, bundle: Path, monkeypatch) -> None:
    """A full disk: the kernel writes part of the line. Nothing half-written stays behind."""
    before = (bundle / LOG).read_bytes()
    real = custody.os.write

    def short(fd, data):
        return real(fd, data[: len(data) // 2])

    monkeypatch.setattr(custody.os, "write", short)
    r = add(cli, bundle, "--note", "x")
    one_line(r, 2, "could not append", "the log is unchanged")
    assert (bundle / LOG).read_bytes() == before


def test_a_failed_fsync_leaves_the_log_as_it_was(cli, bundle: Path, monkeypatch) -> None:
    before = (bundle / LOG).read_bytes()
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(custody.os, "fsync", fsync)
    r = add(cli, bundle, "--note", "x")
    one_line(r, 2, "could not append", "the log is unchanged")
    assert (bundle / LOG).read_bytes() == before  # (it said unchanged: it is)


def test_a_torn_last_line_verifies_as_nothing(cli, bundle: Path) -> None:
    """An add killed mid-write: the torn line fails, is named, and nothing chains onto it."""
    assert add(cli, bundle, "--note", "whole").exit_code == 0
    data = (bundle / LOG).read_bytes()
    (bundle / LOG).write_bytes(data[:-40])
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and "line 7: incomplete last line" in r.output, r.output
    one_line(add(cli, bundle, "--note", "after"), 1, "broken custody log", "line 7")


# --- show ----------------------------------------------------------------------------


def test_show_names_the_key_so_an_impostor_cannot_pass_as_the_sealer(cli, bundle: Path, impostor) -> None:
    custody.append(bundle, "transferred", impostor, {"to": "Mallory"})
    r = cli("custody", "show", bundle)
    assert_clean(r)
    assert r.exit_code == 0, r.output
    rows = r.stdout.splitlines()
    sealer = demo_signing_key().public.fingerprint
    assert all(sealer[:16] in row and "sealer" in row for row in rows[1:7]), r.stdout
    assert impostor.public.fingerprint[:16] in rows[7] and "sealer" not in rows[7], r.stdout
    assert "Det. Jane Roe (DEMO KEY)" in rows[7]  # the claim is shown, beside the key that made it


def test_show_refuses_a_log_folder_that_is_a_symlink(cli, bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    os.rename(bundle / "evidpack", outside)
    os.symlink(outside, bundle / "evidpack")
    r = cli("custody", "show", bundle)
    one_line(r, 2, "symbolic link")
    assert "intact" not in r.output


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_show_names_a_log_that_is_not_a_regular_file(cli, bundle: Path, tmp_path: Path, kind: str) -> None:
    log = bundle / LOG
    if kind == "symlink":
        real = tmp_path / "real.jsonl"
        os.rename(log, real)
        os.symlink(real, log)
        want = "symbolic link"
    else:
        log.unlink()
        os.mkfifo(log)
        want = "not a regular file"
    r = cli("custody", "show", bundle)
    one_line(r, 2, "custody.jsonl", want)


def test_show_cuts_hostile_field_values_to_the_column(cli, bundle: Path) -> None:
    """An action or time of a megabyte (signed by anyone) must not flood every row."""
    lines = (bundle / LOG).read_bytes().splitlines()
    key = keys.generate("M" * 100_000, "other")
    ev = custody.make_event(seq=len(lines) + 1, at=parse_rfc3339("2026-11-22T08:00:00Z"), action="note", key=key,
                            subject={}, details={"k" * 50_000: "v" * 50_000}, prev=hashlib.sha256(lines[-1]).hexdigest())
    ev = json.loads(ev)
    ev["action"] = "\x1b[2J" + "A" * 1_000_000
    with open(bundle / LOG, "ab") as fh:
        fh.write(json.dumps(ev, separators=(",", ":"), sort_keys=True).encode() + b"\n")
    r = cli("custody", "show", bundle)
    assert_clean(r)
    assert r.exit_code == 1 and "BROKEN" in r.output
    assert max(map(len, r.stdout.splitlines())) < 400, max(map(len, r.stdout.splitlines()))
    assert "\x1b" not in r.stdout


def test_show_and_add_stay_flat_on_a_huge_line(bundle: Path) -> None:
    with open(bundle / LOG, "ab") as fh:
        fh.write(b'{"note":"' + b"A" * (120 << 20) + b'"}\n')
    code, peak, out = peak_kib("custody", "show", bundle)
    assert code == 1 and "line 7:" in out and "not read" in out, out
    assert peak < 120 * 1024, f"custody show peaked at {peak:,} KiB for a 120 MiB line"
    code, peak, out = peak_kib("custody", "show", bundle, "--json")
    assert code == 1 and peak < 120 * 1024, (peak, out)
    code, _, out = peak_kib("custody", "add", bundle, "--action", "note", *DEMO)
    assert code == 1 and "refusing to append to a broken custody log" in out and "line 7" in out, out


def test_show_stays_flat_on_a_log_of_many_bad_lines(bundle: Path) -> None:
    with open(bundle / LOG, "ab") as fh:
        fh.write(b"{}\n" * 300_000)
    code, peak, out = peak_kib("custody", "show", bundle)
    assert code == 1 and "BROKEN" in out and "more problem(s)" in out, out
    assert peak < 150 * 1024, f"custody show peaked at {peak:,} KiB for 300,000 bad lines"


# --- verify --------------------------------------------------------------------------


def _resign(bundle: Path, change) -> None:
    """Every event re-signed by the sealer, after ``change(event)``: only the form is wrong."""
    key = demo_signing_key()
    prev = custody.GENESIS
    out = []
    for line in (bundle / LOG).read_bytes().splitlines():
        ev = json.loads(line)
        change(ev)
        ev["prev"] = prev
        ev.pop("sig")
        ev["sig"] = base64.b64encode(key.sign(custody.canonical.dumps(ev))).decode()
        new = custody.canonical.dumps(ev)
        out.append(new)
        prev = hashlib.sha256(new).hexdigest()
    (bundle / LOG).write_bytes(b"".join(line + b"\n" for line in out))


def test_a_boolean_seq_is_not_taken_for_1(cli, bundle: Path) -> None:
    _resign(bundle, lambda ev: ev.update(seq=True) if ev["seq"] == 1 else None)
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and "event seq True (line 1): expected seq 1" in r.output, r.output


@pytest.mark.parametrize("line", [
    b"\x00\x1b[2J{}",
    b'{"seq":7,"at":"9999-12-31T23:59:59-23:59","action":"note"}',
    b'{"seq":7,"at":["x"],"action":{"a":1},"actor":[],"subject":1,"details":"x","prev":7,"sig":7}',
    b"\xff\xfe not utf-8",
])
def test_verify_names_a_hostile_line_as_a_failed_check(cli, bundle: Path, line: bytes) -> None:
    with open(bundle / LOG, "ab") as fh:
        fh.write(line + b"\n")
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and "FAIL      custody " in r.output and "line 7" in r.output, r.output
    assert "\x1b" not in r.output and "\x00" not in r.output
    r = cli("custody", "show", bundle)
    assert_clean(r)
    assert r.exit_code == 1 and "line 7" in r.output and "\x1b" not in r.output


def test_concurrent_cli_adds_lose_and_interleave_nothing(bundle: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-m", "evidpack", "custody", "add", str(bundle), "--action", "accessed",
                          "--note", f"p{n}-" + "x" * 70_000, *map(str, DEMO)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for n in range(8)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    chain = custody.check_chain((bundle / LOG).read_bytes())
    assert chain.problems == [] and len(chain.events) == 6 + 8
    assert sorted(e["details"]["note"][:3] for e in chain.events[6:]) == sorted(f"p{n}-" for n in range(8))


def test_show_json_stays_strict_json_when_an_event_holds_nan(cli, bundle: Path) -> None:
    data = (bundle / LOG).read_bytes()
    (bundle / LOG).write_bytes(data.replace(b'"seq":2,', b'"seq":NaN,', 1))

    def strict(name: str):
        raise ValueError(f"{name} is not JSON")

    r = cli("custody", "show", bundle, "--json")
    assert_clean(r)
    assert r.exit_code == 1 and "line 2" in r.stderr
    events = json.loads(r.stdout, parse_constant=strict)  # what any other JSON parser reads
    assert len(events) == 6 and events[1]["line"] == 2 and "NaN" in events[1]["unprintable"]


def test_verify_names_a_symlinked_custody_log_as_such_not_as_missing(cli, bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_bytes((bundle / LOG).read_bytes())
    (bundle / LOG).chmod(0o644)
    (bundle / LOG).unlink()
    (bundle / LOG).symlink_to(outside)
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 1 and "evidpack/custody.jsonl: not a regular file (symlink or special file)" in r.output, r.output
    assert "custody.jsonl: missing" not in r.output, r.output
    assert "FAIL      custody                  evidpack/custody.jsonl: not a regular file (symlink or special file), never followed" in r.output
