"""Session 11, the CLI: a closed standard output (`| head`) ends a command quietly
(141, or the command's own status once its work is done); manifest errors name an
unknown field and what it looks like, and unquoted TOML date-times with a zone are
taken as written; `index --out` (and `proof`, `disclose`, `build`) never write over a
file or inside any bundle; `--expect-head` must be a whole head."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import (BUILD_TIME, DEMO_KEY, DEMO_PASS, TRUSTED, VENV_BIN, assert_clean, build_args, manifest_text,
                      read_events, run_cli, write_tree)

from evidpack.cli import SIGPIPE_EXIT

EVIDPACK = str(VENV_BIN / "evidpack")


def one_line(r, code: int, *needles: str) -> str:
    assert_clean(r)
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evidpack: error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# --- 1: a closed standard output --------------------------------------------------------------------


def piped(*args: str | os.PathLike[str], read_lines: int = 0) -> tuple[int, str]:
    """Run evidpack with its standard output a pipe whose reader reads ``read_lines``
    lines and goes (as `| head -N` does); the exit status and standard error."""
    p = subprocess.Popen([EVIDPACK, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    for _ in range(read_lines):
        assert p.stdout.readline()
    p.stdout.close()  # the reader has gone: the next write gets EPIPE
    err = p.stderr.read().decode()
    return p.wait(timeout=600), err


def test_build_into_a_closed_pipe_seals_and_says_so_by_its_exit_status(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    code, err = piped(*build_args(case, out))
    assert "internal error" not in err and "Broken" not in err and "Traceback" not in err, err
    assert code == 0, err  # the bundle is sealed: the build did not fail
    assert run_cli("verify", out, "--trust", TRUSTED).exit_code == 0


def test_verify_into_a_closed_pipe_keeps_its_verdict_and_records(bundle: Path) -> None:
    code, err = piped("verify", bundle, "--trust", TRUSTED)
    assert (code, err) == (0, "")
    code, err = piped("verify", bundle, "--json")  # intact, signer not trusted
    assert (code, err) == (3, "")
    before = len(read_events(bundle / "evidpack/custody.jsonl"))
    code, err = piped("verify", bundle, "--trust", TRUSTED, "--record", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS)
    assert (code, err) == (0, "")
    events = read_events(bundle / "evidpack/custody.jsonl")
    assert len(events) == before + 1 and events[-1]["action"] == "verified"  # the report was cut short, not the work


def test_query_cut_short_by_head_ends_quietly_with_141(bundle: Path) -> None:
    many = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 200000) SELECT x FROM n"
    code, err = piped("query", bundle, many, "--json", "--trust", TRUSTED, read_lines=1)  # far more than a pipe holds
    assert (code, err) == (SIGPIPE_EXIT, "")


@pytest.mark.parametrize("args", [["custody", "show", "{bundle}"], ["keys", "show", str(TRUSTED / "demo-examiner.pub")],
                                  ["--help"], ["verify", "--help"], ["--version"]])
def test_output_into_a_closed_pipe_ends_quietly(bundle: Path, args: list[str]) -> None:
    code, err = piped(*(a.format(bundle=bundle) for a in args))
    assert (code, err) == (SIGPIPE_EXIT, "")


def test_a_broken_pipe_that_is_not_standard_output_is_still_an_internal_error(bundle: Path, monkeypatch) -> None:
    from evidpack import verify

    def broken(*a, **k):
        raise BrokenPipeError(32, "Broken pipe")  # (a worker process that died, say)

    monkeypatch.setattr(verify, "verify_bundle", broken)
    r = run_cli("verify", bundle)
    assert r.exit_code == 2 and "internal error: BrokenPipeError" in r.stderr, r.output


# --- 2: manifest errors -----------------------------------------------------------------------------


def write_case(tmp_path: Path, text: str) -> Path:
    write_tree(tmp_path / "evidence", {"a.txt": "a"})
    m = tmp_path / "case.toml"
    m.write_text(text, "utf-8")
    return m


def built_sources(cli, tmp_path: Path, text: str, name: str) -> list[dict]:
    m = write_case(tmp_path, text)
    out = tmp_path / name
    r = cli(*build_args(m, out))
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in (out / "evidpack/sources.jsonl").read_text().splitlines()]


QUOTED_AT = 'at = "2026-03-02T10:00:00Z"'


def test_an_unquoted_toml_date_time_with_a_zone_is_taken_as_written(cli, tmp_path: Path) -> None:
    text = manifest_text('"evidence"')
    quoted = built_sources(cli, tmp_path, text, "q")
    bare = built_sources(cli, tmp_path, text.replace(QUOTED_AT, "at = 2026-03-02T10:00:00Z"), "b")
    assert bare == quoted and bare[0]["acquisition"]["at"] == "2026-03-02T10:00:00Z"
    offset = built_sources(cli, tmp_path, text.replace(QUOTED_AT, "at = 2026-03-02T18:00:00.25+08:00"), "o")
    acq = offset[0]["acquisition"]
    assert acq["at"] == "2026-03-02T10:00:00.25Z" and acq["at_original"] == "2026-03-02T18:00:00.25+08:00"


@pytest.mark.parametrize("value, kind", [("2026-03-02T10:00:00", "local date-time"), ("2026-03-02", "date"), ("10:00:00", "time")])
def test_a_toml_date_time_without_a_zone_is_refused_on_one_line(cli, tmp_path: Path, value: str, kind: str) -> None:
    text = manifest_text('"evidence"').replace(QUOTED_AT, f"at = {value}")
    line = 1 + text.splitlines().index(f"at = {value}")
    m = write_case(tmp_path, text)
    r = cli(*build_args(m, tmp_path / "out"))
    one_line(r, 2, f"case.toml: line {line}: sources[0].acquisition.at: {value} is a TOML {kind}", "Z or an offset")
    assert not (tmp_path / "out").exists()


def test_a_toml_date_where_text_belongs_says_write_it_in_quotes(cli, tmp_path: Path) -> None:
    m = write_case(tmp_path, manifest_text('"evidence"').replace('title = "Test case (synthetic)"', "title = 2026-01-01"))
    msg = one_line(cli(*build_args(m, tmp_path / "out")), 2, "case.title", 'write it in quotes, e.g. "2026-01-01"')
    assert "datetime." not in msg


TWO_SOURCES = manifest_text('"evidence"') + """
[[sources]]
kind = "files"
path = "evidence"
lable = "Second"
[sources.acquisition]
tool = "Manual copy"
by = "Det. Test"
at = "2026-03-02T11:00:00Z"
"""


def test_a_misspelt_field_is_named_with_the_field_it_looks_like(cli, tmp_path: Path) -> None:
    m = write_case(tmp_path, TWO_SOURCES)
    line = 1 + TWO_SOURCES.splitlines().index('lable = "Second"')
    msg = one_line(cli(*build_args(m, tmp_path / "out")), 2)
    # the missing 'label' is what the misspelling caused: not counted as one more problem
    assert msg == f"evidpack: error: {m}: line {line}: sources[1]: unknown field 'lable' (did you mean 'label'?)"


@pytest.mark.parametrize(
    "old, new, where, expect",
    [
        ('title = "Test case (synthetic)"', 'tittle = "Test case (synthetic)"', "case", "unknown field 'tittle' (did you mean 'title'?)"),
        ('tool = "Manual copy"', 'tol = "Manual copy"', "sources[0].acquisition", "unknown field 'tol' (did you mean 'tool'?)"),
        ("[sources.acquisition]", "[sources.acquistion]", "sources[0]", "unknown field 'acquistion' (did you mean 'acquisition'?)"),
        ("[[sources]]", "[[sorces]]", "(top level)", "unknown field 'sorces' (did you mean 'sources'?)"),
        ('label = "Loose files"', 'label = "Loose files"\ncolour = "red"', "sources[0]", "unknown field 'colour' (known: kind, path, label"),
        ('title = "Test case (synthetic)"', 'titel = "T"\nagnecy = "A"', "case", "unknown fields 'titel' (did you mean 'title'?), 'agnecy' (did you mean 'agency'?)"),
    ],
)
def test_unknown_fields_anywhere_are_named(cli, tmp_path: Path, old: str, new: str, where: str, expect: str) -> None:
    text = manifest_text('"evidence"')
    assert old in text
    text = text.replace(old, new, 1)
    m = write_case(tmp_path, text)
    unknown = expect.split("'")[1]
    line = 1 + next(n for n, t in enumerate(text.splitlines()) if unknown in t)  # the unknown field's own line
    one_line(cli(*build_args(m, tmp_path / "out")), 2, f"case.toml: line {line}: {where}: {expect}")


# --- 3: index --out (and proof, disclose, build) never overwrite, never write inside a bundle --------


@pytest.fixture
def other(bundle: Path, tmp_path: Path) -> Path:
    """A second sealed bundle, beside the first."""
    m = tmp_path / "other.toml"
    m.write_text(manifest_text('"evidence"', case_id="TC-0002"), "utf-8")
    out = tmp_path / "bundles/TC-0002"
    assert run_cli(*build_args(m, out)).exit_code == 0
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_index_refuses_an_existing_file(cli, bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "notes.pdf"
    out.write_bytes(b"someone's file")
    one_line(cli("index", bundle, "--out", out, "--time", BUILD_TIME), 2, "notes.pdf", "already exists")
    assert out.read_bytes() == b"someone's file"
    link = tmp_path / "dangling.pdf"
    link.symlink_to(tmp_path / "nowhere.pdf")
    one_line(cli("index", bundle, "--out", link, "--time", BUILD_TIME), 2, "already exists")
    assert not (tmp_path / "nowhere.pdf").exists()


def test_index_refuses_a_path_inside_any_bundle(cli, bundle: Path, other: Path) -> None:
    before = snapshot(other)
    evidence = next((other / "data").rglob("*.txt"))
    for out in (other / "evidpack/index.pdf", evidence, other / "data/new.pdf", other / "evidpack/copy.pdf"):
        one_line(cli("index", bundle, "--out", out, "--time", BUILD_TIME), 2, "is inside the bundle", str(other))
    assert snapshot(other) == before
    assert run_cli("verify", other, "--trust", TRUSTED).exit_code == 0


def test_index_writes_atomically_and_leaves_nothing_on_failure(cli, bundle: Path, tmp_path: Path, monkeypatch) -> None:
    from evidpack import report
    from evidpack.errors import EvidpackError

    def fails_half_way(b, fh, rendered_at):
        fh.write(b"%PDF-1.7 half a document")
        raise EvidpackError("the renderer gave up")

    monkeypatch.setattr(report, "write_index", fails_half_way)
    folder = tmp_path / "out"
    folder.mkdir()
    one_line(cli("index", bundle, "--out", folder / "index.pdf"), 2, "the renderer gave up")
    assert list(folder.iterdir()) == []


def test_index_never_replaces_a_file_made_while_it_wrote(cli, bundle: Path, tmp_path: Path, monkeypatch) -> None:
    from evidpack import report

    out = tmp_path / "index.pdf"

    def someone_else_writes(b, fh, rendered_at):
        out.write_bytes(b"made meanwhile")
        fh.write(b"%PDF-1.7 ours")

    monkeypatch.setattr(report, "write_index", someone_else_writes)
    one_line(cli("index", bundle, "--out", out), 2, "already exists")
    assert out.read_bytes() == b"made meanwhile"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".index.pdf")] == []


def test_index_still_writes_a_new_file(cli, bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy.pdf"
    r = cli("index", bundle, "--out", out, "--time", BUILD_TIME)
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"%PDF") and oct(out.stat().st_mode & 0o777) == oct(0o644)


def test_proof_disclose_and_build_refuse_a_path_inside_another_bundle(cli, bundle: Path, other: Path, case: Path) -> None:
    before = snapshot(other)
    one_line(cli("proof", bundle, "E0001", "--out", other / "data/p.json"), 2, "is inside the bundle", str(other))
    one_line(cli("disclose", bundle, "--include", "E0001", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS, "--plain",
                 "--out", other / "data/pkg.zip"), 2, "is inside the bundle", str(other))
    one_line(cli(*build_args(case, other / "data/nested")), 2, "is inside the bundle", str(other))
    assert snapshot(other) == before


def test_proof_refuses_an_existing_file_and_leaves_nothing_on_failure(cli, bundle: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "p.json"
    out.write_text("{}")
    one_line(cli("proof", bundle, "E0001", "--out", out), 2, "already exists")
    assert out.read_text() == "{}"
    from evidpack import proof

    def no_space(data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(proof, "proof_bytes", no_space)
    folder = tmp_path / "proofs"
    folder.mkdir()
    one_line(cli("proof", bundle, "E0001", "--out", folder / "p.json"), 2, "cannot write", "No space left")
    assert list(folder.iterdir()) == []


def test_disclose_refuses_an_existing_package_before_showing_the_plan(cli, bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "pkg.zip"
    out.write_bytes(b"PK")
    r = cli("disclose", bundle, "--include", "E0001", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS, "--plain", "--out", out)
    one_line(r, 2, "already exists")
    assert r.stdout == "" and out.read_bytes() == b"PK"


# --- 4: --expect-head must be a whole head -----------------------------------------------------------


@pytest.mark.parametrize("value, why", [("371c1b04", "8 hex digits, not 64"), ("sha256:" + "ab" * 32, "not hex digits only"),
                                        ("ab" * 32 + "00", "66 hex digits, not 64"), ("", "empty"),
                                        ("zz" * 32, "not hex digits only")])
def test_a_malformed_expect_head_is_a_usage_error(cli, bundle: Path, value: str, why: str) -> None:
    r = cli("verify", bundle, "--trust", TRUSTED, "--expect-head", value)
    one_line(r, 2, "--expect-head", why, "64 hex digits")
    assert "FAIL" not in r.output and "NOT INTACT" not in r.output


def test_a_whole_head_in_capitals_or_with_spaces_is_accepted(cli, bundle: Path) -> None:
    head = run_cli("custody", "show", bundle).output.split("head: ")[-1].split()[0]
    assert len(head) == 64
    r = cli("verify", bundle, "--trust", TRUSTED, "--expect-head", f" {head.upper()} ")
    assert r.exit_code == 0 and f"receipt {head} found" in r.output, r.output


def test_custody_add_into_a_closed_pipe_records_and_says_so_by_its_exit_status(bundle: Path) -> None:
    before = len(read_events(bundle / "evidpack/custody.jsonl"))
    code, err = piped("custody", "add", bundle, "--action", "note", "--note", "piped", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS)
    assert (code, err) == (0, "")  # the event is recorded: the output was cut short, not the work
    assert len(read_events(bundle / "evidpack/custody.jsonl")) == before + 1


def test_export_case_refuses_a_path_inside_another_bundle(cli, bundle: Path, other: Path) -> None:
    before = snapshot(other)
    one_line(cli("export", "case", bundle, "--out", other / "data/case.jsonld"), 2, "is inside the bundle", str(other))
    assert snapshot(other) == before
