"""Session 12: `evidpack query` and `evidpack export case` read the custody log as a
stream (flat memory, pinned to what they first read); every new custody event is
dated to the whole second, whatever wrote it, while logs written by earlier versions
(whole and fractional seconds mixed) still verify."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, assert_clean, demo_signing_key, run_proc, tool
from test_custody_hostile import peak_kib
from test_session11_custody_query import grow_log, sha

from evidpack import custody
from evidpack.bundle import Bundle
from evidpack.catalogue import read_custody
from evidpack.errors import EvidpackError, IntegrityError
from evidpack.timeutil import parse_rfc3339

LOG = "evidpack/custody.jsonl"
DEMO = ["--key", DEMO_KEY, "--passphrase-file", DEMO_PASS]
WHOLE_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def events(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / LOG).read_bytes().splitlines()]


# --- 1: query and export read the log as a stream ------------------------------------------------


def test_query_reads_a_long_custody_log_in_flat_memory(bundle: Path) -> None:
    """Before, query read the whole log, kept every event and built its live table in
    memory: about three times the log. Now a line at a time, into a table on disk."""
    code, before, out = peak_kib("query", bundle, "SELECT count(*) AS n FROM custody", "--json")
    assert code == 0, out
    n = len(events(bundle))
    grow_log(bundle, 2000, 50_000)
    assert (bundle / LOG).stat().st_size > 100_000_000
    code, after, out = peak_kib("query", bundle, "SELECT count(*) AS n, sum(after_seal) AS later, sum(length(details)) > 100000000 AS big FROM custody",
                                "--json", "--trust", TRUSTED)
    assert code == 0, out
    assert json.JSONDecoder().raw_decode(out[out.index("["):])[0] == [{"n": n + 2000, "later": 2000, "big": 1}], out
    assert after - before < 48 * 1024, f"query grew by {(after - before) >> 10} MiB for a 100 MB custody log"


def test_export_case_reads_a_long_custody_log_in_flat_memory(bundle: Path, tmp_path: Path) -> None:
    code, before, out = peak_kib("export", "case", bundle, "--out", tmp_path / "before.jsonld")
    assert code == 0, out
    n = len(events(bundle))
    grow_log(bundle, 2000, 50_000)
    code, after, out = peak_kib("export", "case", bundle, "--out", tmp_path / "after.jsonld")
    assert code == 0, out
    assert f"{n + 2000} custody event(s)" in out, out
    assert after - before < 48 * 1024, f"export case grew by {(after - before) >> 10} MiB for a 100 MB custody log"


def test_the_events_read_are_pinned_to_the_first_reading(bundle: Path) -> None:
    """Each pass reads the log again: events appended since are left out; any other change
    is refused, never shown as if it were the log first read."""
    log = bundle / LOG
    with Bundle.open(bundle) as b:
        read = read_custody(b, bundle)
        first = list(read)
        assert len(read) == len(first) == len(events(bundle))
        assert [line for line, _ in first] == log.read_bytes().splitlines()
        assert read.sealed_seq == next(e["seq"] for e in events(bundle) if e["action"] == "sealed")
        custody.append(bundle, "note", demo_signing_key(), {"note": "appended meanwhile"})
        assert list(read) == first
        lines = log.read_bytes().splitlines()
        ev = json.loads(lines[2])
        ev["details"]["edited"] = True
        lines[2] = json.dumps(ev, separators=(",", ":"), sort_keys=True).encode()
        log.write_bytes(b"".join(line + b"\n" for line in lines))
        with pytest.raises(IntegrityError, match="changed while it was read"):
            list(read)
        log.write_bytes(b"".join(line + b"\n" for line in lines[:3]))
        with pytest.raises(IntegrityError, match="changed while it was read"):
            list(read)


def test_what_read_custody_refuses_is_unchanged(bundle: Path) -> None:
    log = bundle / LOG
    good = log.read_bytes()
    for bad, why in [(b"{not json\n", "line 7: not a JSON event"), (b'{"seq": 7', "line 7: incomplete last line")]:
        log.write_bytes(good + bad)
        with Bundle.open(bundle) as b, pytest.raises(EvidpackError, match=why):
            read_custody(b, bundle)
    log.unlink()
    with Bundle.open(bundle) as b, pytest.raises(EvidpackError, match="no evidpack/custody.jsonl"):
        read_custody(b, bundle)


def test_query_shows_the_live_log_with_the_columns_and_verdicts_as_before(cli, bundle: Path) -> None:
    assert cli("custody", "add", bundle, "--action", "transferred", "--to", "ADA M. Park", "--detail", "witness=PC 4471", *DEMO).exit_code == 0
    r = cli("query", bundle, "SELECT name FROM pragma_table_info('custody')", "--json")
    assert r.exit_code == 0, r.output
    names = [row["name"] for row in json.loads(r.stdout)]
    assert names[:11] == ["seq", "at", "action", "actor_name", "actor_role", "actor_key", "subject", "details", "prev", "sig", "line_sha256"]
    assert names[-1] == "after_seal"
    r = cli("query", bundle, "SELECT seq, action, after_seal, line_sha256 FROM custody ORDER BY seq", "--json")
    rows = json.loads(r.stdout)
    assert [row["line_sha256"] for row in rows] == [sha(line) for line in (bundle / LOG).read_bytes().splitlines()]
    assert [row["after_seal"] for row in rows] == [0] * (len(rows) - 1) + [1]
    for sql in ("DELETE FROM temp.custody", "DELETE FROM live.custody", "DROP TABLE live.custody", "ATTACH DATABASE ':memory:' AS x"):
        assert cli("query", bundle, sql).exit_code == 2, sql


# --- 2: the time of a custody event ------------------------------------------------------------------


def test_every_new_event_is_dated_to_the_whole_second(cli, bundle: Path, tmp_path: Path) -> None:
    assert all(e["at"] == "2026-11-22T08:00:00Z" for e in events(bundle))  # the build time (--time)
    assert cli("custody", "add", bundle, "--action", "accessed", "--note", "review", *DEMO).exit_code == 0
    assert cli("verify", bundle, "--trust", TRUSTED, "--record", *DEMO).exit_code == 0
    r = cli("disclose", bundle, "--include", "S01", *DEMO, "--plain", "--out", tmp_path / "p.zip")
    assert r.exit_code == 0, r.output
    new = events(bundle)[-3:]
    assert [e["action"] for e in new] == ["accessed", "verified", "disclosed"]
    assert all(WHOLE_SECOND.match(e["at"]) for e in new), [e["at"] for e in new]
    # (the disclosure's own copy of the event, made before it was appended, is the same line)
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output


def test_a_time_given_with_a_fraction_is_cut_never_rounded_up(bundle: Path) -> None:
    done = custody.append(bundle, "note", demo_signing_key(), {}, at=parse_rfc3339("2026-11-22T09:14:02.999999+01:00"))
    assert done.event["at"] == "2026-11-22T08:14:02Z"
    assert custody.event_time(datetime(2026, 11, 23, 9, 14, 2, 500000, tzinfo=timezone.utc)) == datetime(2026, 11, 23, 9, 14, 2, tzinfo=timezone.utc)


def old_style(bundle: Path, times: list[str]) -> None:
    """Events as earlier versions wrote them: the time as read, a fraction when it had one."""
    lines = (bundle / LOG).read_bytes().splitlines()
    last = json.loads(lines[-1])
    subject = {"case": last["subject"]["case"], "tagmanifest_sha256": sha((bundle / "tagmanifest-sha256.txt").read_bytes())}
    prev, seq = sha(lines[-1]), last["seq"]
    with open(bundle / LOG, "ab") as fh:
        for at in times:
            seq += 1
            line = custody.make_event(seq=seq, at=parse_rfc3339(at), action="note", key=demo_signing_key(), subject=subject,
                                      details={"note": "old"}, prev=prev, exact_time=True)
            assert json.loads(line)["at"] == at
            fh.write(line + b"\n")
            prev = sha(line)


OLD_TIMES = ["2026-11-22T09:14:02.118Z", "2026-11-22T09:15:00Z", "2026-11-22T09:15:00.5Z", "2026-11-22T09:16:07.123456Z"]


def test_a_log_of_an_earlier_version_with_both_forms_still_verifies_and_shows_as_written(cli, bundle: Path) -> None:
    old_style(bundle, OLD_TIMES)
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output
    assert f"{6 + len(OLD_TIMES)} custody events: links, order and signatures intact" in r.output
    shown = cli("custody", "show", bundle)
    assert shown.exit_code == 0, shown.output
    rows = [line for line in shown.stdout.splitlines() if line.split()[:1] and line.split()[0].isdigit()]
    assert [row.split()[1] for row in rows] == [e["at"] for e in events(bundle)]
    # the times column is as wide as the longest form, so every row lines up
    assert len({row.index(row.split()[2]) for row in rows}) == 1
    assert [e["at"] for e in json.loads(cli("custody", "show", bundle, "--json").stdout)][-len(OLD_TIMES):] == OLD_TIMES
    r = cli("query", bundle, "SELECT at FROM custody WHERE seq > 6 ORDER BY seq", "--json")
    assert [row["at"] for row in json.loads(r.stdout)] == OLD_TIMES


def test_an_append_in_the_second_of_an_old_event_with_a_fraction_keeps_the_order(bundle: Path) -> None:
    """Cut to 09:16:07, the new event would be earlier than the one before it (09:16:07.123456,
    written by an earlier version): it keeps the moment as read instead."""
    old_style(bundle, OLD_TIMES)
    done = custody.append(bundle, "note", demo_signing_key(), {}, at=parse_rfc3339("2026-11-22T09:16:07.5Z"))
    assert done.event["at"] == "2026-11-22T09:16:07.5Z"
    done = custody.append(bundle, "note", demo_signing_key(), {}, at=parse_rfc3339("2026-11-22T09:16:08.25Z"))
    assert done.event["at"] == "2026-11-22T09:16:08Z"
    assert custody.check_chain((bundle / LOG).read_bytes()).problems == []


def test_the_index_prints_each_time_as_written(cli, bundle: Path, tmp_path: Path) -> None:
    old_style(bundle, OLD_TIMES[:1])
    assert cli("custody", "add", bundle, "--action", "note", "--note", "new", *DEMO).exit_code == 0
    r = cli("index", bundle, "--out", tmp_path / "index.pdf", "--time", "2030-01-01T00:00:00Z")
    assert_clean(r)
    assert r.exit_code == 0, r.output
    text = run_proc(tool("pdftotext"), "-enc", "UTF-8", tmp_path / "index.pdf", "-").stdout.decode("utf-8")
    flat = "".join(text.split())
    for e in events(bundle):
        assert e["at"] in flat, e["at"]
