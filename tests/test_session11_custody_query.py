"""Session 11: the custody log read as a stream by verify and the index; a torn last
line recovered with `evidpack custody repair` (moved out, kept, and recorded in a
signed event); `evidpack query --trust`; one rule for UTC offsets (-12:00 to +14:00)."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
import test_osint_captures as osint_tests
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, assert_clean, demo_signing_key
from test_custody_hostile import one_line, peak_kib
from test_osint_captures import sidecar
from test_osint_hostile_mhtml_images import mhtml
from test_query_sandbox import reseal
from test_wechat_production import fails

from evidpack import custody
from evidpack.timeparse import OffsetNotInUse, TimeProblem, parse_zone
from evidpack.timeutil import parse_rfc3339

LOG = "evidpack/custody.jsonl"
DEMO = ["--key", DEMO_KEY, "--passphrase-file", DEMO_PASS]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def grow_log(bundle: Path, events: int, note_bytes: int) -> str:
    """Append ``events`` signed, chained 'note' events of ``note_bytes`` each to the log
    (written directly: custody add checks the seal before each); the new head."""
    log = bundle / LOG
    last_line = log.read_bytes().splitlines()[-1]
    last = json.loads(last_line)
    subject = {"case": last["subject"]["case"], "tagmanifest_sha256": sha((bundle / "tagmanifest-sha256.txt").read_bytes())}
    key = demo_signing_key()
    prev, seq, at = sha(last_line), last["seq"], parse_rfc3339(last["at"])
    note = "n" * note_bytes
    with open(log, "ab") as fh:
        for _ in range(events):
            seq += 1
            at += timedelta(seconds=1)
            line = custody.make_event(seq=seq, at=at, action="note", key=key, subject=subject, details={"note": note}, prev=prev)
            fh.write(line + b"\n")
            prev = sha(line)
    return prev


def custody_check(r) -> dict:
    return next(c for c in json.loads(r.stdout)["checks"] if c["check"] == "custody")


# --- 1: the custody log is read as a stream -------------------------------------------------------


def test_verify_reads_a_long_custody_log_in_flat_memory(cli, bundle: Path) -> None:
    """Before, verify read the whole log into memory, and kept every event: a log of
    2,000 events of 50 KB (100 MB) took about 200 MB more. Now it is read a line at a
    time, with the same verdicts and messages."""
    code, before, out = peak_kib("verify", bundle, "--trust", TRUSTED)
    assert code == 0, out
    events = sum(1 for _ in (bundle / LOG).open("rb"))
    head = grow_log(bundle, 2000, 50_000)
    assert (bundle / LOG).stat().st_size > 100_000_000
    code, after, out = peak_kib("verify", bundle, "--trust", TRUSTED, "--expect-head", head)
    assert code == 0, out
    assert f"{events + 2000} custody events: links, order and signatures intact; receipt {head} found; head {head}" in out, out
    assert after - before < 48 * 1024, f"verify grew by {(after - before) >> 10} MiB for a 100 MB custody log"


def test_verdicts_on_a_long_tampered_log_are_as_before(cli, bundle: Path) -> None:
    grow_log(bundle, 50, 100)
    log = bundle / LOG
    lines = log.read_bytes().splitlines()
    ev = json.loads(lines[30])
    ev["details"]["note"] = "edited"
    lines[30] = json.dumps(ev, separators=(",", ":"), sort_keys=True).encode()
    del lines[40]
    log.write_bytes(b"".join(line + b"\n" for line in lines))
    r = cli("verify", bundle, "--trust", TRUSTED, "--json", "--expect-head", "ab" * 32)
    assert_clean(r)
    assert r.exit_code == 1
    # (the same problems the in-memory check of the whole log names, in its order)
    chain = custody.check_chain(log.read_bytes())
    c = custody_check(r)
    assert c["verdict"] == "fail" and c["problems"][: len(chain.problems)] == chain.problems
    assert any("seq 31 (line 31): signature does not match" in p for p in c["problems"])
    assert any("line 41): expected seq 41" in p for p in c["problems"])
    assert c["problems"][-1].startswith("receipt abababababababab… is not the hash of any event")
    signers = next(c for c in json.loads(r.stdout)["checks"] if c["check"] == "custody-signers")
    assert signers["verdict"] == "fail" and signers["reason"].startswith(f"1 of {len(lines)} custody event(s) carry no signature")


def test_the_reading_copy_of_the_index_reads_the_log_as_a_stream(cli, bundle: Path, tmp_path: Path) -> None:
    """Lines too long to be events (48 MiB each): before, the index held the whole log
    and each line decoded (about 2 bytes for each byte of the log); now one line at a time,
    shown by its start."""
    code, before, out = peak_kib("index", bundle, "--out", tmp_path / "before.pdf", "--time", "2026-11-23T00:00:00Z")
    assert code == 0, out
    with open(bundle / LOG, "ab") as fh:
        for _ in range(4):
            fh.write(b"x" * (48 << 20) + b"\n")
    code, after, out = peak_kib("index", bundle, "--out", tmp_path / "after.pdf", "--time", "2026-11-23T00:00:00Z")
    assert code == 0, out
    assert after - before < 150 * 1024, f"index grew by {(after - before) >> 10} MiB for a 192 MiB custody log"
    assert (tmp_path / "after.pdf").stat().st_size > 0


# --- 2: a torn last line ------------------------------------------------------------------------------


def torn(cli, bundle: Path) -> tuple[bytes, bytes]:
    """An add killed mid-write: the log ends in part of a line. (the log before, the torn bytes)"""
    assert cli("custody", "add", bundle, "--action", "note", "--note", "whole", *DEMO).exit_code == 0
    data = (bundle / LOG).read_bytes()
    cut = data[:-40]
    (bundle / LOG).write_bytes(cut)
    good = cut[: cut.rindex(b"\n") + 1]
    return good, cut[len(good):]


def test_custody_add_after_a_torn_line_names_the_recovery(cli, bundle: Path) -> None:
    torn(cli, bundle)
    r = cli("custody", "add", bundle, "--action", "note", "--note", "after", *DEMO)
    one_line(r, 1, "broken custody log", "line 7: incomplete last line", f"evidpack custody repair {bundle} --key KEY --tail-to FILE",
             "docs/custody.md")


def test_repair_moves_the_torn_bytes_out_records_them_and_the_log_verifies(cli, bundle: Path, tmp_path: Path) -> None:
    good, tail = torn(cli, bundle)
    saved = tmp_path / "torn.bin"
    r = cli("custody", "repair", bundle, "--tail-to", saved, "--note", "power cut during custody add", *DEMO)
    assert_clean(r)
    assert r.exit_code == 0, r.output
    assert f"moved {len(tail)} torn byte(s) (sha256 {sha(tail)})" in r.stdout and f"offset {len(good)}" in r.stdout
    assert "event 7: repaired by" in r.stdout
    # the bytes are kept, read-only; the complete lines are untouched; the event records the removal
    assert saved.read_bytes() == tail and not saved.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    data = (bundle / LOG).read_bytes()
    assert data.startswith(good) and data.endswith(b"\n") and data.count(b"\n") == good.count(b"\n") + 1
    event = json.loads(data[len(good):])
    assert event["action"] == "repaired" and event["seq"] == 7 and event["prev"] == sha(good.splitlines()[-1])
    d = event["details"]
    assert (d["torn_bytes"], d["torn_sha256"], d["torn_offset"], d["torn_line"], d["saved_as"]) == (len(tail), sha(tail), len(good), 7, "torn.bin")
    assert d["note"] == "power cut during custody add" and d["checked"] == custody.CHECKED
    head = r.stdout.strip().splitlines()[-1].removeprefix("head: ")
    assert head == sha(data[len(good):-1])
    # verify passes and says so; show lists it; later events chain on
    v = cli("verify", bundle, "--trust", TRUSTED, "--expect-head", head)
    assert v.exit_code == 0, v.output
    assert f"1 'repaired' event(s): an incomplete last line was moved out of the log (first: seq 7, {len(tail)} bytes" in v.output
    s = cli("custody", "show", bundle)
    assert s.exit_code == 0 and "repaired" in s.stdout and f"torn_bytes={len(tail)}" in s.stdout, s.output
    assert cli("custody", "add", bundle, "--action", "note", "--note", "after", *DEMO).exit_code == 0
    assert cli("verify", bundle, "--trust", TRUSTED).exit_code == 0


def test_repair_refuses_what_it_cannot_do_safely_and_changes_nothing(cli, bundle: Path, tmp_path: Path) -> None:
    before = (bundle / LOG).read_bytes()
    one_line(cli("custody", "repair", bundle, "--tail-to", tmp_path / "t.bin", *DEMO), 2, "nothing to repair")
    assert (bundle / LOG).read_bytes() == before and not (tmp_path / "t.bin").exists()
    good, tail = torn(cli, bundle)
    before = (bundle / LOG).read_bytes()
    one_line(cli("custody", "repair", bundle, "--tail-to", bundle / "torn.bin", *DEMO), 2, "is inside the bundle")
    (tmp_path / "exists.bin").write_bytes(b"keep")
    one_line(cli("custody", "repair", bundle, "--tail-to", tmp_path / "exists.bin", *DEMO), 2, "already exists", "never overwritten")
    assert (tmp_path / "exists.bin").read_bytes() == b"keep"
    one_line(cli("custody", "add", bundle, "--action", "repaired", *DEMO), 2, "written only by `evidpack custody repair`")
    # a log broken before its last line is not "repaired": only a torn last line is moved out
    lines = before.split(b"\n")
    lines[3] = lines[3].replace(b'"seq":4', b'"seq":9')
    (bundle / LOG).write_bytes(b"\n".join(lines))
    broken = (bundle / LOG).read_bytes()
    one_line(cli("custody", "repair", bundle, "--tail-to", tmp_path / "t.bin", *DEMO), 1, "broken before its incomplete last line", "line 4")
    assert (bundle / LOG).read_bytes() == broken and not (tmp_path / "t.bin").exists()
    # a zipped bundle is read-only
    one_line(cli("custody", "repair", tmp_path / "no.zip", "--tail-to", tmp_path / "t.bin", *DEMO), 2)


def test_a_repair_that_cannot_finish_puts_the_torn_bytes_back(cli, bundle: Path, tmp_path: Path, monkeypatch) -> None:
    good, _ = torn(cli, bundle)
    tail = b"{" + b"y" * 20_000  # (longer than the event written over it: the log is then cut)
    (bundle / LOG).write_bytes(good + tail)

    def ftruncate(fd: int, size: int) -> None:
        monkeypatch.undo()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(custody.os, "ftruncate", ftruncate)
    r = cli("custody", "repair", bundle, "--tail-to", tmp_path / "t.bin", *DEMO)
    one_line(r, 2, "could not write the 'repaired' event", "the log is as it was")
    assert (bundle / LOG).read_bytes() == good + tail and (tmp_path / "t.bin").read_bytes() == tail
    r = cli("custody", "repair", bundle, "--tail-to", tmp_path / "t2.bin", *DEMO)
    assert r.exit_code == 0, r.output
    assert cli("verify", bundle, "--trust", TRUSTED).exit_code == 0


# --- 3: query --trust ------------------------------------------------------------------------------


def test_query_names_the_signer_on_stderr_and_checks_it_with_trust(cli, bundle: Path) -> None:
    sql = "SELECT id, name FROM items ORDER BY id LIMIT 2"
    plain = cli("query", bundle, sql, "--json")
    assert plain.exit_code == 0, plain.output
    signer = demo_signing_key().public
    [line] = plain.stderr.splitlines()
    assert line.startswith("evidpack: warning: sealed by ") and signer.name in line and signer.role in line
    assert signer.fingerprint in line and "not checked against trusted keys" in line
    trusted = cli("query", bundle, sql, "--json", "--trust", TRUSTED)
    assert trusted.exit_code == 0 and trusted.stderr == "" and trusted.stdout == plain.stdout
    table = cli("query", bundle, sql, "--trust", TRUSTED / "demo-examiner.pub")
    assert table.exit_code == 0 and table.stderr == "" and table.stdout.splitlines()[0].split() == ["id", "name"]


def test_query_refuses_a_catalogue_resealed_by_a_key_not_trusted(cli, bundle: Path) -> None:
    reseal(bundle)
    r = cli("query", bundle, "SELECT count(*) FROM items", "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 3 and r.stdout == ""
    [line] = r.stderr.splitlines()
    assert line.startswith("evidpack: error: ") and "Mallory" in line and "not among the 1 trusted key(s)" in line
    r = cli("query", bundle, "SELECT count(*) AS n FROM items", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["n"] > 0
    assert "sealed by Mallory (other) SHA256:" in r.stderr and "not checked against trusted keys" in r.stderr


def test_query_trust_on_a_zipped_bundle(cli, case: Path, tmp_path: Path) -> None:
    from conftest import build_args

    out = tmp_path / "z/TC-0001"
    assert cli(*build_args(case, out, "--zip")).exit_code == 0
    r = cli("query", out.with_name("TC-0001.zip"), "SELECT count(*) AS n FROM items", "--json", "--trust", TRUSTED)
    assert r.exit_code == 0 and r.stderr == "", r.output


# --- 4: UTC offsets beyond -12:00 .. +14:00 are refused by every importer ---------------------------


@pytest.mark.parametrize("text", ["-12:00", "+14:00", "UTC-12", "GMT+14", "+05:45", "-0930"])
def test_offsets_in_use_are_read(text: str) -> None:
    parse_zone(text)


@pytest.mark.parametrize("text, label", [("+14:01", "+14:01"), ("-12:01", "-12:01"), ("+23:59", "+23:59"), ("UTC-13", "-13:00"), ("+1500", "+15:00")])
def test_offsets_beyond_those_in_use_are_refused(text: str, label: str) -> None:
    with pytest.raises(OffsetNotInUse, match=f"UTC offset \\{label} is outside the offsets in use \\(-12:00 to \\+14:00\\)"):
        parse_zone(text)
    with pytest.raises(TimeProblem, match="out of range"):
        parse_zone("+08:75")


def test_an_osint_manifest_zone_beyond_those_in_use_is_refused(cli, tmp_path: Path) -> None:
    shot = osint_tests.gen.png(4, 4, {})
    r, _ = osint_tests.build(cli, tmp_path, {"s.png": shot}, '[sources.options]\nzone = "+14:30"\n')
    fails(r, "options.zone", "'+14:30'", "UTC offset +14:30 is outside the offsets in use (-12:00 to +14:00)")


def test_an_osint_sidecar_time_beyond_those_in_use_is_refused(cli, tmp_path: Path) -> None:
    shot = osint_tests.gen.png(4, 4, {})
    r, _ = osint_tests.build(cli, tmp_path, {"s.png": shot, "s.json": sidecar(shot, captured_at="2026-03-11T14:10:00+15:00")})
    fails(r, "s.json", "captured_at", "UTC offset +15:00 is outside the offsets in use")


def test_an_mhtml_date_beyond_those_in_use_is_refused(cli, tmp_path: Path) -> None:
    """An RFC 5322 date is read by a parser of its own when the common one cannot: it too."""
    r, _ = osint_tests.build(cli, tmp_path, {"p.mhtml": mhtml(date=b"Wed, 11 Mar 2026 06:10:00 +1500")})
    fails(r, "p.mhtml", "Date: ", "UTC offset +15:00 is outside the offsets in use")


def test_the_wechat_rule_is_the_same_rule() -> None:
    from evidpack import timeparse
    from evidpack.wechat import values

    assert values.unreal_offset is timeparse.unreal_offset
