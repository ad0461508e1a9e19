"""The custody log: written by build, appended to after the seal, every change detected."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUILD_TIME, DEMO_KEY, DEMO_PASS, TRUSTED, run_cli

from evidpack import canonical, keys
from evidpack.custody import check_chain

LOG = "evidpack/custody.jsonl"
DEMO = ["--key", DEMO_KEY, "--passphrase-file", DEMO_PASS]


def events(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / LOG).read_text().splitlines()]


def add(cli, bundle: Path, *args: str | Path, key=DEMO):
    return cli("custody", "add", bundle, *args, *key)


def head_of(output: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if line.startswith("head:"))


@pytest.fixture
def park(tmp_path: Path) -> tuple[list[str | Path], Path]:
    """ADA M. Park's key: (key options for the CLI, a trust folder holding both keys)."""
    pw = tmp_path / "park.pw"
    pw.write_text("park-passphrase\n")
    k = keys.generate("ADA M. Park", "prosecutor")
    key_path, pub_path = keys.write_key_pair(k, tmp_path / "mpark", b"park-passphrase")
    trust = tmp_path / "trusted"
    trust.mkdir()
    (trust / "demo.pub").write_bytes((TRUSTED / "demo-examiner.pub").read_bytes())
    (trust / "mpark.pub").write_bytes(pub_path.read_bytes())
    return ["--key", key_path, "--passphrase-file", pw], trust


def test_build_writes_created_acquired_imported_checks_and_sealed(bundle: Path) -> None:
    evs = events(bundle)
    assert [e["action"] for e in evs] == ["created", "acquired", "imported", "source-verified", "source-verified", "sealed"]
    acquired = evs[1]
    assert acquired["details"]["declared"] is True
    assert acquired["details"]["by"] == "Det. Test" and acquired["details"]["tool"] == "Manual copy"
    assert acquired["details"]["at"] == "2026-03-02T10:00:00Z"
    import hashlib

    tm = hashlib.sha256((bundle / "tagmanifest-sha256.txt").read_bytes()).hexdigest()
    assert evs[-1]["subject"]["tagmanifest_sha256"] == tm
    assert all(e["at"] == BUILD_TIME for e in evs)
    assert evs[0]["prev"] == "0" * 64


def test_add_transferred_and_received_prints_receipts_and_keeps_the_seal(cli, bundle: Path, park) -> None:
    park_key, trust = park
    tag_files_before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file() and p.name != "custody.jsonl"}
    r = add(cli, bundle, "--action", "transferred", "--to", "ADA M. Park, Wake County DA", "--note", "sealed envelope #4471")
    assert r.exit_code == 0, r.output
    h1 = head_of(r.output)
    r = add(cli, bundle, "--action", "received", key=park_key)
    assert r.exit_code == 0, r.output
    h2 = head_of(r.output)
    evs = events(bundle)
    assert evs[-2]["action"] == "transferred" and evs[-2]["details"]["to"] == "ADA M. Park, Wake County DA"
    assert evs[-1]["actor"]["name"] == "ADA M. Park" and evs[-1]["actor"]["role"] == "prosecutor"
    import hashlib

    lines = (bundle / LOG).read_bytes().splitlines()
    assert hashlib.sha256(lines[-2]).hexdigest() == h1 and hashlib.sha256(lines[-1]).hexdigest() == h2
    assert {p: p.read_bytes() for p in tag_files_before} == tag_files_before
    r = cli("verify", bundle, "--trust", trust, "--expect-head", h1)
    assert r.exit_code == 0, r.output
    assert "receipt" in r.output


def test_custody_show_table_and_json(cli, bundle: Path) -> None:
    add(cli, bundle, "--action", "note", "--note", "photographed packaging")
    r = cli("custody", "show", bundle)
    assert r.exit_code == 0
    assert "sealed" in r.output and "photographed packaging" in r.output and "chain: 7 events, intact" in r.output
    r = cli("custody", "show", bundle, "--json")
    assert [e["seq"] for e in json.loads(r.stdout)] == list(range(1, 8))


def test_verify_record_appends_a_verified_event_with_the_result(cli, bundle: Path, park) -> None:
    park_key, trust = park
    r = cli("verify", bundle, "--trust", trust, "--record", *park_key)
    assert r.exit_code == 0, r.output
    ev = events(bundle)[-1]
    assert ev["action"] == "verified" and ev["actor"]["name"] == "ADA M. Park"
    assert ev["details"]["result"] == "verified" and ev["details"]["failed_checks"] == []
    # the event says what was not re-checked, so it never reads as more than was done
    assert ev["details"]["skipped_checks"] == ["payload-manifest-md5", "container-members"]
    assert "recorded: event 7" in r.output


def test_record_needs_a_key(cli, bundle: Path) -> None:
    r = cli("verify", bundle, "--trust", TRUSTED, "--record")
    assert r.exit_code == 2 and "--record needs --key" in r.stderr


def test_untrusted_custody_signer_is_reported(cli, bundle: Path, park) -> None:
    park_key, _ = park
    add(cli, bundle, "--action", "received", key=park_key)
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert r.exit_code == 3
    # the untrusted key's name is its own claim, said as one: key first, "unverified"
    assert re.search(r"custody events signed by key\(s\) not in --trust: SHA256:\S+ "
                     r"\(claiming to be ADA M\. Park, prosecutor: unverified\)", r.output), r.output
    assert "sealed by trusted key Det. Jane Roe (DEMO KEY)" in r.output


def test_tail_cut_is_caught_by_the_receipt(cli, bundle: Path) -> None:
    r = add(cli, bundle, "--action", "note", "--note", "one")
    receipt = head_of(r.output)
    assert cli("verify", bundle, "--trust", TRUSTED, "--expect-head", receipt).exit_code == 0
    lines = (bundle / LOG).read_bytes().splitlines(keepends=True)
    (bundle / LOG).write_bytes(b"".join(lines[:-1]))
    r = cli("verify", bundle, "--trust", TRUSTED, "--expect-head", receipt)
    assert r.exit_code == 1 and "the log was cut or rewritten" in r.output


def _rewrite(bundle: Path, fn) -> None:
    lines = (bundle / LOG).read_bytes().splitlines()
    (bundle / LOG).write_bytes(b"".join(line + b"\n" for line in fn(lines)))


@pytest.mark.parametrize(
    "change, expected",
    [
        ("edit", "event seq 7 (line 7): signature does not match the event"),
        ("reorder", "expected seq 7"),
        ("remove", "expected seq 7"),
        ("insert", "event seq 8 (line 9): prev does not match the hash of the line before"),
        ("garbage", "line 7: not a JSON event"),
    ],
)
def test_any_change_to_the_log_is_detected_and_named(cli, bundle: Path, change: str, expected: str) -> None:
    for note in ("first", "second"):
        assert add(cli, bundle, "--action", "note", "--note", note).exit_code == 0

    def edit(lines):
        ev = json.loads(lines[6])
        ev["details"]["note"] = "forged"
        lines[6] = canonical.dumps(ev)
        return lines

    def insert(lines):
        # a well-formed, correctly signed event spliced in the middle
        from evidpack.custody import make_event
        from evidpack.timeutil import parse_rfc3339
        from conftest import demo_signing_key
        import hashlib

        ev = json.loads(lines[6])
        forged = make_event(seq=8, at=parse_rfc3339(ev["at"]), action="note", key=demo_signing_key(),
                            subject=ev["subject"], details={"note": "inserted"}, prev=hashlib.sha256(lines[6]).hexdigest())
        return lines[:7] + [forged] + lines[7:]

    ops = {
        "edit": edit,
        "reorder": lambda ls: ls[:6] + [ls[7], ls[6]],
        "remove": lambda ls: ls[:6] + ls[7:],
        "insert": insert,
        "garbage": lambda ls: ls[:6] + [b"{not json"] + ls[7:],
    }
    _rewrite(bundle, ops[change])
    r = cli("verify", bundle, "--trust", TRUSTED)
    assert r.exit_code == 1, r.output
    assert "FAIL      custody" in r.output
    assert expected in r.output


def test_refuses_to_append_to_a_broken_log_and_changes_nothing(cli, bundle: Path) -> None:
    with open(bundle / LOG, "ab") as fh:
        fh.write(b"{broken\n")
    before = (bundle / LOG).read_bytes()
    r = add(cli, bundle, "--action", "note", "--note", "x")
    assert r.exit_code == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "refusing to append to a broken custody log" in r.stderr
    assert (bundle / LOG).read_bytes() == before


def test_a_key_that_does_not_match_the_actor_it_claims(cli, bundle: Path, park, tmp_path: Path) -> None:
    park_key, trust = park
    real = keys.load_signing_key(Path(park_key[1]), b"park-passphrase")
    impostor = keys.SigningKey(real.private, keys.PublicKey.from_key(real.private.public_key(), "Det. Jane Roe", "examiner"))
    from evidpack import custody

    custody.append(bundle, "note", impostor, {"note": "claims to be Roe"})
    r = cli("verify", bundle, "--trust", trust)
    # The key is the trusted one and no byte differs: not an integrity failure,
    # but not verified either (exit 3), the disagreement named.
    assert r.exit_code == 3, r.output
    line = next(x for x in r.output.splitlines() if "custody-identity" in x)
    assert line.split()[0] == "UNTRUSTED"
    assert "is trusted as ADA M. Park (prosecutor) but its events name its holder Det. Jane Roe (examiner)" in line
    assert "INTACT BUT NOT FULLY VERIFIED" in r.output


def test_build_history_cannot_be_rewritten_with_another_key(cli, bundle: Path, park) -> None:
    from evidpack.custody import make_event
    from evidpack.timeutil import parse_rfc3339
    import hashlib

    park_key, trust = park
    other = keys.load_signing_key(Path(park_key[1]), b"park-passphrase")
    lines = (bundle / LOG).read_bytes().splitlines()
    out, prev = [], "0" * 64
    for line in lines:
        ev = json.loads(line)
        new = make_event(seq=ev["seq"], at=parse_rfc3339(ev["at"]), action=ev["action"], key=other,
                         subject=ev["subject"], details=ev["details"], prev=prev)
        out.append(new)
        prev = hashlib.sha256(new).hexdigest()
    (bundle / LOG).write_bytes(b"".join(line + b"\n" for line in out))
    r = cli("verify", bundle, "--trust", trust)
    assert r.exit_code == 1 and "not signed by the sealer's key" in r.output


def test_concurrent_appends_from_many_processes_keep_the_chain(bundle: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from evidpack import custody, keys\n"
        f"k = keys.load_signing_key(Path({str(DEMO_KEY)!r}), {DEMO_PASS.read_text().splitlines()[0]!r}.encode())\n"
        "for i in range(5):\n"
        "    custody.append(Path(sys.argv[1]), 'accessed', k, {'worker': sys.argv[2], 'i': i})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(bundle), str(w)]) for w in range(8)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    chain = check_chain((bundle / LOG).read_bytes())
    assert chain.problems == []
    assert len(chain.events) == 6 + 40
    assert sorted((e["details"]["worker"], e["details"]["i"]) for e in chain.events[6:]) == sorted(
        (str(w), i) for w in range(8) for i in range(5))


def test_concurrent_cli_appends(bundle: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-m", "evidpack", "custody", "add", str(bundle), "--action", "accessed",
                          "--note", f"p{n}", "--key", str(DEMO_KEY), "--passphrase-file", str(DEMO_PASS)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for n in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert check_chain((bundle / LOG).read_bytes()).problems == []
    assert run_cli("verify", bundle, "--trust", TRUSTED).exit_code == 0


def test_read_only_bundle_gives_one_line(cli, bundle: Path, monkeypatch) -> None:
    import os

    from evidpack import custody

    real = os.open

    def deny(path, flags, *a, **kw):  # (the log is opened relative to its folder: dir_fd)
        if str(path).endswith("custody.jsonl") and flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied")
        return real(path, flags, *a, **kw)

    monkeypatch.setattr(custody.os, "open", deny)
    before = (bundle / LOG).read_bytes()
    r = add(cli, bundle, "--action", "note", "--note", "x")
    assert r.exit_code == 2 and "read-only" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (bundle / LOG).read_bytes() == before


def test_not_a_bundle_zip_bundle_and_build_only_actions(cli, bundle: Path, tmp_path: Path) -> None:
    r = add(cli, tmp_path, "--action", "note")
    assert r.exit_code == 2 and "not an evidpack bundle" in r.stderr
    (tmp_path / "b.zip").write_bytes(b"PK")
    r = add(cli, tmp_path / "b.zip", "--action", "note")
    assert r.exit_code == 2 and "read-only" in r.stderr
    r = add(cli, bundle, "--action", "sealed")
    assert r.exit_code == 2 and "written only by `evidpack build`" in r.stderr
    r = add(cli, bundle, "--action", "teleported")
    assert r.exit_code == 2 and "teleported" in r.stderr


def test_clock_behind_the_log_is_refused(bundle: Path) -> None:
    from conftest import demo_signing_key
    from evidpack import custody
    from evidpack.errors import EvidpackError
    from evidpack.timeutil import parse_rfc3339

    with pytest.raises(EvidpackError, match="clock"):
        custody.append(bundle, "note", demo_signing_key(), {}, at=parse_rfc3339("2020-01-01T00:00:00Z"))
