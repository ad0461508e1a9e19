"""The PDF index (`evidpack index`, and the sealed index a build renders) of a
bundle whose custody log holds hostile events: anyone who can write to the
bundle folder can append a validly signed event whose note is megabytes long,
whose details nest hundreds of levels deep, or whose text holds control
characters, bidi overrides or lone surrogates. The index must render (no
internal error), show such text cut or escaped with a pointer to
evidpack/custody.jsonl, keep memory bounded, and never let an override
reorder what a court reads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from conftest import DEEP_JSON, DEMO_KEY, DEMO_PASS, SAMPLE_FILES, TRUSTED, assert_clean, build_args, demo_signing_key, manifest_text, run_proc, tool, write_tree

from evidpack import custody
from evidpack.custody import CUSTODY_FILE

BIDI_MARKS = dict.fromkeys(map(ord, "\u202a\u202b\u202c"))  # LRE, RLE, PDF: pdftotext adds them around RTL runs


def pdftotext(pdf: Path) -> str:
    r = run_proc(tool("pdftotext"), "-enc", "UTF-8", pdf, "-")
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8")


def flat(text: str) -> str:
    """pdftotext's text with every run of white space as one space (lines wrap anywhere)."""
    return " ".join(text.split())


def index(cli, bundle: Path, out: Path) -> str:
    r = cli("index", bundle, "--out", out, "--time", "2026-11-23T09:00:00Z")
    assert_clean(r)
    assert r.exit_code == 0, r.output
    assert out.is_file() and out.read_bytes().startswith(b"%PDF-")
    return pdftotext(out)


def append(bundle: Path, details: dict) -> int:
    """A validly signed 'note' event, as anyone holding a key can append; returns its seq."""
    return custody.append(bundle, "note", demo_signing_key(), details).seq


def content_streams(pdf: Path) -> bytes:
    """Every page's drawing operators, inflated."""
    data = pdf.read_bytes()
    out = []
    for m in re.finditer(rb"stream\r?\n", data):
        raw = data[m.end() : data.find(b"endstream", m.end())]
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            continue
    return b"\n".join(out)


# --- nesting ------------------------------------------------------------------------------


def test_custody_details_nested_500_deep_render_with_a_pointer_to_the_log(cli, bundle: Path, tmp_path: Path) -> None:
    deep_list: object = "x"
    for _ in range(500):
        deep_list = [deep_list]
    deep_object: object = "y"
    for _ in range(800):
        deep_object = {"k": deep_object}
    first = append(bundle, {"note": deep_list})
    second = append(bundle, {"deep": deep_object})
    assert cli("verify", bundle, "--trust", TRUSTED).exit_code == 0  # both are validly signed events
    text = flat(index(cli, bundle, tmp_path / "x.pdf"))
    assert "note: [… nested deeper than 32 levels]" in text
    for seq in (first, second):
        assert f"Values nested deeper than 32 levels are not shown; the whole event is in evidpack/custody.jsonl, event seq {seq}" in text


def test_custody_lines_the_decoder_cannot_read_are_shown_as_unreadable(cli, bundle: Path, tmp_path: Path) -> None:
    log = bundle / CUSTODY_FILE
    log.write_bytes(log.read_bytes() + DEEP_JSON.encode() + b"\n" + b"[1, 2]\n" + b'"just a string"\n')
    text = flat(index(cli, bundle, tmp_path / "x.pdf"))
    assert text.count("(unreadable line)") == 3
    assert "line: [[[[" in text and "more characters; the full text is in line" in text  # 200,000 brackets: cut


# --- length -------------------------------------------------------------------------------


def test_a_20_mb_custody_note_is_cut_and_memory_stays_bounded(bundle: Path, tmp_path: Path) -> None:
    seq = append(bundle, {"note": "A" * 20_000_000})
    out = tmp_path / "x.pdf"
    # The peak memory of `evidpack index` alone: measured by a process of its own
    # that runs it (RUSAGE_CHILDREN of this test process would count every child so far).
    probe = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "sys.stderr.buffer.write(r.stdout + r.stderr)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "evidpack", "index", str(bundle), "--out", str(out)],
        capture_output=True, timeout=600, check=True,
    )
    code, peak_kb = map(int, r.stdout.split())
    assert code == 0, r.stderr.decode()
    assert peak_kb < 300 * 1024, f"evidpack index peaked at {peak_kb:,} KB for a 20 MB note"
    assert out.stat().st_size < 2_000_000  # a few pages of the note, not thousands
    text = flat(pdftotext(out))
    assert f"… 19,996,000 more characters; the full text is in evidpack/custody.jsonl, event seq {seq}" in text
    # the log keeps it all
    assert json.loads((bundle / CUSTODY_FILE).read_bytes().splitlines()[seq - 1])["details"]["note"] == "A" * 20_000_000


def test_long_and_many_custody_details_are_cut_with_a_pointer(cli, bundle: Path, tmp_path: Path) -> None:
    many = {f"k{i:04d}": "v" * 20 for i in range(1000)}
    lines = "\n".join(f"line {i}" for i in range(100))
    seq_many = append(bundle, many)
    seq_lines = append(bundle, {"note": lines})
    text = flat(index(cli, bundle, tmp_path / "x.pdf"))
    assert "k0098: vvvvvvvvvvvvvvvvvvvv" in text and "k0099:" not in text  # 100 shown ('checked' is one of them)
    assert f"… 901 more details; they are in evidpack/custody.jsonl, event seq {seq_many}" in text
    assert "line 39" in text and "line 40" not in text  # 40 lines of one value
    assert f"more characters; the full text is in evidpack/custody.jsonl, event seq {seq_lines}" in text


def test_a_long_custody_note_through_the_cli_is_cut_and_a_short_one_is_not(cli, bundle: Path, tmp_path: Path) -> None:
    short = "sealed envelope #4471, محمد علي " + "lorem ipsum " * 200  # 2,400 characters: shown whole
    long = "B" * 100_000
    for note in (short, long):
        r = cli("custody", "add", bundle, "--action", "note", "--note", note, "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS)
        assert r.exit_code == 0, r.output
    seq = len((bundle / CUSTODY_FILE).read_bytes().splitlines())
    text = flat(index(cli, bundle, tmp_path / "x.pdf"))
    assert "lorem ipsum " * 199 + "lorem ipsum" in text
    assert text.count("more characters; the full text is in") == 1
    assert f"… 96,000 more characters; the full text is in evidpack/custody.jsonl, event seq {seq}" in text


def test_hostile_field_types_in_a_custody_event_render(cli, bundle: Path, tmp_path: Path) -> None:
    """Events as a forger may write them (the signature breaks; the index does not verify)."""
    log = bundle / CUSTODY_FILE
    event = json.loads(log.read_bytes().splitlines()[-1])
    odd = [
        {**event, "seq": {"a": 1}, "at": 12345, "action": ["x"], "actor": "someone", "subject": [1], "details": ["a", "b"]},
        {**event, "seq": "C" * 10_000, "actor": {"name": "N" * 10_000, "role": None, "key": 7}, "subject": {"source": "S" * 10_000}},
        {**event, "action": "sealed", "subject": {"tagmanifest_sha256": "f" * 100_000}},
    ]
    before = len(log.read_bytes().splitlines())
    log.write_bytes(log.read_bytes() + b"".join(json.dumps(e).encode() + b"\n" for e in odd))
    text = flat(index(cli, bundle, tmp_path / "x.pdf"))
    assert "details: a; b" in text and "12,345" in text
    assert "N" * 299 + "…" in text.replace(" ", "")
    for line in (before + 2, before + 3):
        assert f"Fields marked … are cut; the whole event is in line {line} of evidpack/custody.jsonl" in text
    assert "source: " + "S" * 300 in text.replace("S S", "SS")


# --- characters ---------------------------------------------------------------------------


def test_a_lone_surrogate_in_custody_details_is_shown_escaped(cli, bundle: Path, tmp_path: Path) -> None:
    log = bundle / CUSTODY_FILE
    lines = log.read_bytes().splitlines()
    forged = lines[-1].replace(b'"details":{', b'"details":{"zz":"a\\ud800b","\\udfffkey":"v",', 1)
    log.write_bytes(b"".join(line + b"\n" for line in [*lines, forged]))
    text = index(cli, bundle, tmp_path / "x.pdf")
    assert "zz: a\\ud800b" in text and "\\udfffkey: v" in text
    # the head is the SHA-256 of the line as written (a surrogate cannot be re-encoded)
    import hashlib

    assert hashlib.sha256(forged).hexdigest() in flat(text).replace(" ", "")


def test_control_characters_and_bidi_overrides_in_a_note_are_shown_not_obeyed(cli, bundle: Path, tmp_path: Path) -> None:
    note = "bell\a esc\x1b[31m rlo\u202eevil\u202c done"
    r = cli("custody", "add", bundle, "--action", "note", "--note", note, "--detail", "arabic=محمد علي", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS)
    assert r.exit_code == 0, r.output
    out = tmp_path / "x.pdf"
    text = index(cli, bundle, out).translate(BIDI_MARKS)  # (and the note's own U+202C)
    # Read back in logical order: the override did not reorder "evil done".
    assert "rlo\u202eevil done" in text
    assert "arabic: محمد علي" in text  # right-to-left text still shaped and read back
    # Drawn as visible [U+XXXX] markers (red, smaller), the character kept only as /ActualText.
    ops = content_streams(out)
    for code in ("0007", "001B", "202E", "202C"):
        assert re.search(rb"/ActualText <FEFF%s>>> BDC [^\n]*\(\[U\+%s\]\) Tj" % (code.encode(), code.encode()), ops), code
    assert b"(rlo) Tj" in ops or b"rlo) Tj" in ops
    assert ops.index(b"([U+202E]) Tj") < ops.index(b"(evil) Tj")  # drawn left to right, as written


# --- the sealed index ---------------------------------------------------------------------


def test_a_source_label_of_the_longest_allowed_builds(cli, tmp_path: Path) -> None:
    """A long label (the manifest allows 1,000 characters; before that cap one of
    16,000 was cut in the headings, bookmarks and contents) builds, and is printed
    in full."""
    write_tree(tmp_path / "evidence", {"a.txt": SAMPLE_FILES["notes/field-notes.txt"]})
    manifest = tmp_path / "case.toml"
    label = "Scene documents " * 62  # 991 characters, once stripped
    manifest.write_text(manifest_text('"evidence"').replace('label = "Loose files"', f'label = "{label.strip()}"'), "utf-8")
    r = cli(*build_args(manifest, tmp_path / "out/TC-0001"))
    assert_clean(r)
    assert r.exit_code == 0, r.output
    text = flat(pdftotext(tmp_path / "out/TC-0001/evidpack/index.pdf"))
    assert "S01 — Scene documents Scene documents" in text
    assert label.strip() in text


def test_the_reading_copy_of_an_ordinary_log_is_reproducible_and_uncut(cli, bundle: Path, tmp_path: Path) -> None:
    r = cli("custody", "add", bundle, "--action", "transferred", "--to", "ADA M. Park", "--note", "envelope #4471", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS)
    assert r.exit_code == 0, r.output
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    text = flat(index(cli, bundle, a))
    index(cli, bundle, b)
    assert a.read_bytes() == b.read_bytes()
    assert "note: envelope #4471" in text and "to: ADA M. Park" in text
    assert "more characters" not in text and "nested deeper" not in text and "more details" not in text


@pytest.mark.parametrize(
    ("rel", "content", "message"),
    [
        ("evidpack/sources.jsonl", DEEP_JSON, "evidpack/sources.jsonl line 1 is not valid JSON (nested too deeply)"),
        ("evidpack/sources.jsonl", "[1]", "evidpack/sources.jsonl line 1 is not a JSON object"),
        ("evidpack/case.json", DEEP_JSON, "evidpack/case.json is not valid JSON (nested too deeply)"),
        ("evidpack/seal.json", '"a string"', "evidpack/seal.json is not a JSON object"),
    ],
)
def test_a_tampered_sealed_record_is_named_not_an_internal_error(cli, bundle: Path, tmp_path: Path, rel: str, content: str, message: str) -> None:
    (bundle / rel).write_text(content + "\n", "utf-8")
    r = cli("index", bundle, "--out", tmp_path / "x.pdf")
    assert_clean(r)
    assert r.exit_code != 0 and message in r.output, r.output
    assert not (tmp_path / "x.pdf").exists()
