"""`evidpack query` (and the bundle reader under it) against hostile bundles:
a re-hashed but unsigned tag manifest, zip bombs among the tag files, a custody
log with keys and values SQLite cannot take as they are, and Ctrl-C during a
statement that never ends."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import pytest
from conftest import TRUSTED, VENV_BIN, assert_clean, build_args, run_cli

from evidpack import bundle as bundlemod
from evidpack import catalogue as cataloguemod
from evidpack import keys as keymod
from evidpack.catalogue import open_catalogue

CATALOGUE = "evidpack/catalogue.sqlite"
LOG = "evidpack/custody.jsonl"
TM = "tagmanifest-sha256.txt"
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c)"


def query_json(bundle: Path, sql: str) -> list[dict[str, Any]]:
    r = run_cli("query", bundle, sql, "--json")
    assert r.exit_code == 0, r.output
    assert_clean(r)
    return json.loads(r.stdout)


def one_line_error(r: Any, code: int, *words: str) -> None:
    assert_clean(r)
    assert r.exit_code == code, r.output
    assert r.stderr.startswith("evidpack: error: ") and r.stderr.count("\n") == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


@pytest.fixture
def zipped(case: Path, tmp_path: Path) -> Path:
    out = tmp_path / "z/TC-0001"
    r = run_cli(*build_args(case, out, "--zip"))
    assert r.exit_code == 0, r.output
    return out.with_name("TC-0001.zip")


def rezip(src: Path, dst: Path, rel: str, write: Callable[[IO[bytes], bytes], None]) -> Path:
    """``src`` with the member ``<top>/rel`` rewritten (deflated) by ``write(fh, old bytes)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename.split("/", 1)[-1] == rel:
                zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = info.external_attr
                with zout.open(zi, "w", force_zip64=True) as fh:
                    write(fh, zin.read(info))
            else:
                zout.writestr(info, zin.read(info))
    return dst


def zeros(n: int) -> Callable[[IO[bytes], bytes], None]:
    def write(fh: IO[bytes], _old: bytes) -> None:
        for _ in range(n):
            fh.write(bytes(1 << 20))

    return write


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of our own for the zip catalogue's copy, to see what is left in it."""
    d = tmp_path / "tmpdir"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


# --- the tag manifest's signature ---------------------------------------------------------


def test_query_refuses_a_catalogue_re_hashed_into_an_unsigned_tag_manifest(bundle: Path) -> None:
    """Editing the catalogue and then its tag-manifest line needs no key: the
    signature over the tag manifest no longer verifies, so nothing is shown."""
    con = sqlite3.connect(writable(bundle / CATALOGUE))
    con.execute("UPDATE items SET sha256 = '00' WHERE id = 'E0001'")
    con.commit()
    con.close()
    digest = hashlib.sha256((bundle / CATALOGUE).read_bytes()).hexdigest()
    tm = writable(bundle / TM)
    lines = [f"{digest}  {CATALOGUE}" if line.endswith(f"  {CATALOGUE}") else line for line in tm.read_text().splitlines()]
    tm.write_text("\n".join(lines) + "\n")
    r = run_cli("query", bundle, "SELECT id, sha256 FROM items WHERE id = 'E0001'", "--json")
    one_line_error(r, 1, "the tag manifest's signature does not verify: the catalogue cannot be trusted; run evidpack verify")
    assert r.stdout == ""


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda b: (b / "tagmanifest-sha256.txt.sig").unlink(), "tagmanifest-sha256.txt.sig is missing"),
        (lambda b: (b / "evidpack/signer.pem").unlink(), "evidpack/signer.pem is missing"),
        (lambda b: writable(b / "evidpack/signer.pem").write_text("not a key\n"), "not a public key"),
        (lambda b: writable(b / "tagmanifest-sha256.txt.sig").write_bytes(b"\x00" * 64), ""),
        (lambda b: writable(b / "tagmanifest-sha256.txt.sig").write_bytes(b"short"), ""),
        (lambda b: writable(b / TM).write_bytes((b / TM).read_bytes() + b"\n"), ""),
    ],
    ids=["no-sig", "no-signer", "bad-signer", "zero-sig", "short-sig", "tm-changed"],
)
def test_query_refuses_a_bundle_whose_seal_does_not_verify(bundle: Path, damage: Callable[[Path], Any], why: str) -> None:
    damage(bundle)
    r = run_cli("query", bundle, "SELECT count(*) FROM items")
    one_line_error(r, 1, "the tag manifest's signature does not verify", why)


def test_query_needs_the_catalogue_line_in_the_signed_tag_manifest(bundle: Path) -> None:
    key = keymod.generate("Someone Else", "other")
    tm = writable(bundle / TM)
    tm.write_bytes(b"".join(line + b"\n" for line in tm.read_bytes().splitlines() if not line.endswith(CATALOGUE.encode())))
    writable(bundle / "tagmanifest-sha256.txt.sig").write_bytes(key.sign(tm.read_bytes()))
    writable(bundle / "evidpack/signer.pem").write_bytes(key.public.pem())
    r = run_cli("query", bundle, "SELECT 1")
    one_line_error(r, 1, "is not in the sealed tag manifest")


def test_query_checks_the_seal_is_intact_not_who_sealed_it(bundle: Path) -> None:
    """A seal re-made with another key is intact: query answers (whose key it is
    is for verify --trust to say); and no payload file is hashed."""
    key = keymod.generate("Someone Else", "other")
    writable(bundle / "tagmanifest-sha256.txt.sig").write_bytes(key.sign((bundle / TM).read_bytes()))
    writable(bundle / "evidpack/signer.pem").write_bytes(key.public.pem())
    with open(writable(bundle / "data/S01-loose-files/ledger.csv"), "ab") as fh:  # payload: verify's job
        fh.write(b"changed\n")
    assert query_json(bundle, "SELECT count(*) AS n FROM items") == [{"n": 5}]


def test_query_still_works_on_an_intact_zipped_bundle(zipped: Path, private_tmp: Path) -> None:
    assert query_json(zipped, "SELECT count(*) AS n FROM items") == [{"n": 5}]
    assert list(private_tmp.iterdir()) == []


# --- zip bombs among the tag files ---------------------------------------------------------------


def test_query_refuses_a_zip_catalogue_that_inflates_like_a_bomb(zipped: Path, tmp_path: Path, private_tmp: Path) -> None:
    bomb = rezip(zipped, tmp_path / "bomb.zip", CATALOGUE, zeros(24))  # 24 MiB of zeros in ~24 KiB
    r = run_cli("query", bomb, "SELECT 1")
    one_line_error(r, 2, "evidpack/catalogue.sqlite inflates to 25165824 bytes", "zip bomb")
    assert list(private_tmp.iterdir()) == []  # nothing was written


def test_query_refuses_a_zip_catalogue_larger_than_the_free_space(
    zipped: Path, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cataloguemod.shutil, "disk_usage", lambda _p: SimpleNamespace(total=1 << 30, used=(1 << 30) - 1000, free=1000))
    r = run_cli("query", zipped, "SELECT 1")
    one_line_error(r, 2, "more than the 1000 bytes free in", "TMPDIR")
    assert list(private_tmp.iterdir()) == []


def test_a_changed_zip_catalogue_leaves_no_temporary_copy(zipped: Path, tmp_path: Path, private_tmp: Path) -> None:
    def changed(fh: IO[bytes], old: bytes) -> None:
        fh.write(old[:-1] + bytes([old[-1] ^ 1]))

    r = run_cli("query", rezip(zipped, tmp_path / "changed.zip", CATALOGUE, changed), "SELECT 1")
    one_line_error(r, 1, "differs from the sealed tag manifest")
    assert list(private_tmp.iterdir()) == []


def test_a_custody_member_bomb_is_refused_before_it_is_inflated(zipped: Path, tmp_path: Path) -> None:
    def padded(fh: IO[bytes], old: bytes) -> None:
        fh.write(old)
        for _ in range(48):
            fh.write(b" " * (1 << 20))

    bomb = rezip(zipped, tmp_path / "cbomb.zip", LOG, padded)
    tracemalloc.start()
    try:
        shown = run_cli("custody", "show", bomb)
        queried = run_cli("query", bomb, "SELECT count(*) FROM custody")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for r in (shown, queried):
        one_line_error(r, 2, "custody.jsonl inflates to", "zip bomb")
    assert peak < 24 << 20, peak  # the 48 MiB member was never inflated
    # verify: a failed check in its report (the bundle was altered), not unusable input
    v = run_cli("verify", bomb, "--trust", TRUSTED, "--json")
    assert v.exit_code == 1, v.output
    checks = json.loads(v.stdout)["checks"]
    assert [(c["check"], c["verdict"]) for c in checks] == [("structure", "fail")]
    assert "custody.jsonl inflates to" in checks[0]["reason"] and "no other check was run" in checks[0]["problems"][1]


def test_a_tag_file_over_the_read_limit_is_refused_with_one_line(
    bundle: Path, zipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a bomb (random bytes do not compress), only too large for what a custody log holds."""
    monkeypatch.setattr(bundlemod, "TAG_READ_LIMIT", 64 << 10)
    noise = os.urandom(48 << 10).hex().encode()  # 96 KiB
    with open(writable(bundle / LOG), "ab") as fh:
        fh.write(noise)
    big = rezip(zipped, tmp_path / "big.zip", LOG, lambda fh, old: fh.write(old + noise))
    for target in (bundle, big):
        one_line_error(run_cli("query", target, "SELECT 1"), 2, "custody.jsonl is", "more than the 65536 bytes")
        one_line_error(run_cli("custody", "show", target), 2, "custody.jsonl is")
        v = run_cli("verify", target, "--trust", TRUSTED)
        assert v.exit_code == 1 and "custody.jsonl is" in v.output and "Traceback" not in v.output, v.output


def test_the_read_limit_leaves_payload_and_large_tag_files_alone(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundlemod, "TAG_READ_LIMIT", 16)
    with bundlemod.Bundle.open(bundle) as b:
        assert b.read("evidpack/items.jsonl") == (bundle / "evidpack/items.jsonl").read_bytes()
        assert b.read("data/S01-loose-files/big.bin") == (bundle / "data/S01-loose-files/big.bin").read_bytes()
        with pytest.raises(bundlemod.EvidpackError, match="seal.json is"):
            b.read("evidpack/seal.json")


# --- a hostile custody log ----------------------------------------------------------------------


def append_event(bundle: Path, **extra: Any) -> int:
    """An event after the last one (not signed: query shows what the log holds), with
    ``extra`` keys and values; written with JSON escapes, as a forger may."""
    log = writable(bundle / LOG)
    last = json.loads(log.read_bytes().splitlines()[-1])
    seq = last["seq"] + 1
    event = {**last, "seq": seq, "action": "noted", **extra}
    with open(log, "ab") as fh:
        fh.write(json.dumps(event, ensure_ascii=True).encode() + b"\n")
    return seq


@pytest.mark.parametrize(
    "key",
    ["SEQ", "Action", "a\x00b", "x\ud800", "tab\there", "\u202eevil", "", "k" * 200, "extra", "AFTER_SEAL"],
    ids=["case-duplicate", "case-duplicate-2", "nul", "surrogate", "control", "bidi", "empty", "long", "extra", "after-seal"],
)
def test_a_key_that_cannot_be_a_column_is_kept_in_extra(bundle: Path, key: str) -> None:
    seq = append_event(bundle, **{key: 1})
    rows = query_json(bundle, f"SELECT seq, action, after_seal, extra FROM custody WHERE seq = {seq}")
    assert [(r["seq"], r["action"], r["after_seal"]) for r in rows] == [(seq, "noted", 1)]
    assert json.loads(rows[0]["extra"]) == {key: 1}


def test_a_plain_new_key_is_a_column_and_extra_appears_only_when_needed(bundle: Path) -> None:
    assert "extra" not in query_json(bundle, "SELECT * FROM custody LIMIT 1")[0]
    seq = append_event(bundle, witness="PC 4471")
    assert query_json(bundle, f"SELECT witness FROM custody WHERE seq = {seq}") == [{"witness": "PC 4471"}]


def test_keys_past_the_column_cap_go_to_extra(bundle: Path) -> None:
    many = {f"k{i:04d}": i for i in range(3000)}  # more than SQLite's 2000 columns
    seq = append_event(bundle, **many)
    row = query_json(bundle, f"SELECT * FROM custody WHERE seq = {seq}")[0]
    assert row["k0000"] == 0 and row[f"k{cataloguemod.MAX_LIVE_COLUMNS - 2:04d}"] == cataloguemod.MAX_LIVE_COLUMNS - 2
    extra = json.loads(row["extra"])
    assert len(extra) + sum(k in row for k in many) == 3000


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("a\x00b", '"a\\u0000b"'),
        ("x\ud800", '"x\\ud800"'),
        (10**30, str(10**30)),
        (-(2**63), -(2**63)),
        ({"zz": "\ud800", "n": float("nan")}, '{"n":NaN,"zz":"\\ud800"}'),
        (["\x00"], '["\\u0000"]'),
    ],
    ids=["nul", "surrogate", "huge-int", "min-int64", "nested-surrogate-nan", "nested-nul"],
)
def test_values_sqlite_cannot_take_as_they_are_are_stored_escaped(bundle: Path, value: Any, shown: Any) -> None:
    seq = append_event(bundle, note=value, details=value)
    rows = query_json(bundle, f"SELECT note, details FROM custody WHERE seq = {seq}")
    assert rows == [{"note": shown, "details": shown}]


def test_a_hostile_actor_is_flattened_safely(bundle: Path) -> None:
    log_last = json.loads((bundle / LOG).read_bytes().splitlines()[-1])
    seq = append_event(bundle, actor={**log_last["actor"], "NAME": "x", "\x00": "\ud800", "name": "a\x00"})
    row = query_json(bundle, f"SELECT actor_name, extra FROM custody WHERE seq = {seq}")[0]
    assert row["actor_name"] == '"a\\u0000"'
    assert json.loads(row["extra"]) == {"actor_NAME": "x", "actor_\x00": "\ud800"}


def test_the_repro_custody_lines_give_no_internal_error(bundle: Path) -> None:
    """The reviewer's three lines, as raw bytes, appended one after another."""
    log = writable(bundle / LOG)
    last = log.read_bytes().splitlines()[-1]
    with open(log, "ab") as fh:
        for extra in (b'"SEQ":1', b'"a\\u0000b":1', b'"x\\ud800":1'):
            fh.write(last[:-1] + b"," + extra + b"}\n")
    rows = query_json(bundle, "SELECT extra FROM custody WHERE extra IS NOT NULL")
    assert [json.loads(r["extra"]) for r in rows] == [{"SEQ": 1}, {"a\x00b": 1}, {"x\ud800": 1}]


# --- Ctrl-C -------------------------------------------------------------------------------------------


def test_closing_the_row_stream_after_the_catalogue_closed_is_quiet(bundle: Path) -> None:
    with open_catalogue(bundle) as catalogue:
        _columns, rows = catalogue.query(f"{ENDLESS} SELECT x FROM c")
        assert next(rows) == (1,)
    rows.close()  # (used to close the cursor of a closed connection, and raise)
    assert list(rows) == []


def test_the_progress_handler_stops_a_statement_once_interrupted(bundle: Path) -> None:
    with open_catalogue(bundle) as catalogue:
        catalogue._interrupt.hit = True
        with pytest.raises(KeyboardInterrupt):
            catalogue.query(f"{ENDLESS} SELECT count(*) FROM c")


def _opened(pid: int, name: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith(name) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the query start")
@pytest.mark.parametrize("sql", [f"{ENDLESS} SELECT count(*) FROM c", f"{ENDLESS} SELECT x FROM c"], ids=["no-row-yet", "streaming"])
def test_ctrl_c_stops_an_endless_query_with_one_line(bundle: Path, sql: str) -> None:
    proc = subprocess.Popen(
        [str(VENV_BIN / "evidpack"), "query", str(bundle), sql, "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # (as in a terminal, even if we ignore it)
    )
    try:
        deadline = time.monotonic() + 30
        while not _opened(proc.pid, "catalogue.sqlite") and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # the statement is running
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.decode() == "evidpack: error: interrupted\n"
