"""Text from evidence and custody events never reaches the examiner's terminal raw.

Item names are evidence file names (chosen by whoever made the evidence); custody
events, their notes and their signers' names are anyone's (the log is appended to
after the seal). Printed raw, an ESC sequence clears the screen and paints a fake
"VERIFIED", an OSC sets the window title, a newline forges a row, a bidi override
reorders a line. Every such character is shown as a visible escape (``\\x1b``,
``\\n``, ``\\u202e``); JSON output carries it as a JSON escape (``\\u001b``).
Output of ordinary text, right-to-left letters included, is unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import DEMO_KEY, DEMO_PASS, TRUSTED, assert_clean, build_args, manifest_text, run_cli, write_tree
from evidpack import custody as custody_lib
from evidpack import keys as keymod
from evidpack.cli import json_safe, refuse_inside_bundle, terminal_safe
from evidpack.errors import EvidpackError

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
HOSTILE_NAME = "Mallory\x1b[2J\x1b[1;1H\x1b[32mVERIFIED: all good\x1b[0m\r\n  PASS      forged\u202e\x9b\x07"
EVIL_PASS = b"evil-passphrase-123"


def assert_terminal_safe(text: str) -> None:
    """No character a terminal acts on: C0 controls but the newline ending each line, DEL, C1, bidi controls."""
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F or c in BIDI or c in "\u2028\u2029"]
    assert not bad, (bad, text)


def lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


# --- the function ---------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Det. Jane Roe (DEMO KEY)", "data/S01/小龙🐉 transcript.txt", "محمد علي.txt", "שלום", "a \"quoted\" \\ name",
    "C:\\Users\\x", "café — naïve", "🐉" * 10, "", "zero\u200bwidth",
])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert terminal_safe(text) == text
    assert json_safe(json.dumps(text, ensure_ascii=False)) == json.dumps(text, ensure_ascii=False)


@pytest.mark.parametrize(("text", "shown"), [
    ("a\x1b[2Jb", "a\\x1b[2Jb"),
    ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("\x00\x07\x7f", "\\x00\\x07\\x7f"),
    ("\x9b31m\x85", "\\x9b31m\\x85"),
    ("invoice\u202etxt.exe", "invoice\\u202etxt.exe"),
    ("\u2066x\u2069\u200e\u200f\u061c", "\\u2066x\\u2069\\u200e\\u200f\\u061c"),
    ("a\u2028b\u2029", "a\\u2028b\\u2029"),
    ("bad\udc80byte\ud800", "bad\\udc80byte\\ud800"),
    (42, "42"),
])
def test_controls_are_shown_escaped(text: object, shown: str) -> None:
    assert terminal_safe(text) == shown


def test_json_safe_is_the_same_json() -> None:
    value = {"name": HOSTILE_NAME + "\x7f\u2028\ud800", "n": [1, "x"]}
    text = json_safe(json.dumps(value, indent=2, ensure_ascii=False))
    assert json.loads(text) == value
    assert_terminal_safe(text)


# --- verify ---------------------------------------------------------------------------


def _hostile_key(name: str = HOSTILE_NAME) -> keymod.SigningKey:
    """A throw-away key whose name holds control characters (keys new refuses such a name:
    an attacker makes it with any library)."""
    private = Ed25519PrivateKey.generate()
    return keymod.SigningKey(private, keymod.PublicKey.from_key(private.public_key(), name, "reviewer"))


@pytest.fixture
def hostile_custody(bundle: Path) -> Path:
    """The sample bundle with one event appended by an untrusted key with a hostile name,
    whose note and details are hostile too."""
    custody_lib.append(bundle, "note", _hostile_key(), {
        "k\x1b[31m": "v\x1b[0m\u202e",
        "note": "hi\x1b]0;PWNED\x07\x1b[2J\n45  2026-01-01  sealed  forged row",
    })
    return bundle


def test_verify_shows_hostile_signer_name_escaped(cli, hostile_custody: Path) -> None:
    r = cli("verify", hostile_custody, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 3, r.output
    assert_terminal_safe(r.output)
    assert "\\x1b[2J\\x1b[1;1H\\x1b[32mVERIFIED: all good\\x1b[0m\\r\\n  PASS      forged\\u202e\\x9b\\x07" in r.output
    out = lines(r.stdout)
    assert out[-1].startswith("INTACT BUT NOT FULLY VERIFIED: ")
    assert not any(line.startswith(("VERIFIED", "  PASS      forged")) for line in out)
    # exactly the lines the report has: header, one per check (plus listed problems), head, summary
    report = json.loads(cli("verify", hostile_custody, "--trust", TRUSTED, "--json").stdout)
    extra = sum(min(len(c["problems"]), 20) + (len(c["problems"]) > 20)
                for c in report["checks"] if c["verdict"] in ("fail", "untrusted", "warn") and len(c["problems"]) > 1)
    assert len(out) == 1 + len(report["checks"]) + extra + 1 + 1, r.stdout


def test_verify_json_keeps_the_name_as_json_escapes(cli, hostile_custody: Path) -> None:
    r = cli("verify", hostile_custody, "--trust", TRUSTED, "--json")
    assert r.exit_code == 3
    assert_terminal_safe(r.stdout)
    assert "\\u001b[2J" in r.stdout and "\\u202e" in r.stdout and "\\u009b" in r.stdout
    report = json.loads(r.stdout)
    assert HOSTILE_NAME in report["summary"]  # the same text, only escaped in transit


# --- custody --------------------------------------------------------------------------


def test_custody_show_escapes_notes_details_and_names(cli, hostile_custody: Path) -> None:
    r = cli("custody", "add", hostile_custody, "--action", "note", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS,
            "--note", "hi\x1b]0;PWNED\x07", "--detail", "a\x1b[31m=v\x1b]0;PWNED\x07\x1b[2J\u202e\n45  2026-01-01  forged row")
    # (details are shown sorted by key and cut at 90 characters: the key "a..." comes first)
    assert r.exit_code == 0, r.output
    events = len((hostile_custody / "evidpack/custody.jsonl").read_bytes().splitlines())
    r = cli("custody", "show", hostile_custody)
    assert_clean(r)
    assert r.exit_code == 0, r.output
    assert_terminal_safe(r.output)
    assert "a\\x1b[31m=v\\x1b]0;PWNED\\x07\\x1b[2J\\u202e\\n45  2026-01-01  forged row" in r.output, r.output
    assert "Mallory\\x1b[2J" in r.output
    out = lines(r.stdout)
    assert len(out) == 1 + events + 2, r.stdout  # header, one row per event, chain, head
    assert not any(line.startswith("45  2026-01-01") for line in out)


def test_custody_show_json_has_no_raw_controls(cli, hostile_custody: Path) -> None:
    r = cli("custody", "show", hostile_custody, "--json")
    assert r.exit_code == 0
    assert_terminal_safe(r.stdout)
    assert json.loads(r.stdout)[-1]["actor"]["name"] == HOSTILE_NAME


def test_custody_add_escapes_what_it_echoes(cli, bundle: Path, tmp_path: Path) -> None:
    key = _hostile_key()
    keymod.write_key_pair(key, tmp_path / "evil", EVIL_PASS)
    (tmp_path / "evil.pass").write_bytes(EVIL_PASS + b"\n")
    r = cli("custody", "add", bundle, "--action", "note", "--key", tmp_path / "evil.key",
            "--passphrase-file", tmp_path / "evil.pass", "--note", "x")
    assert_clean(r)
    assert r.exit_code == 0, r.output
    assert_terminal_safe(r.output)
    assert "note by Mallory\\x1b[2J\\x1b[1;1H\\x1b[32mVERIFIED: all good\\x1b[0m (SHA256:" in r.output
    assert len(lines(r.output)) == 2


# --- query, disclose, proof ------------------------------------------------------------

ESC_FILE = "esc\x1b[2J\x1b[31mRED\u202etxt.exe"
NL_FILE = "x\nE9999  forged.txt"


@pytest.fixture
def hostile_names(tmp_path: Path) -> Path:
    """A bundle of two files whose names hold an ESC sequence, a bidi override and a newline."""
    write_tree(tmp_path / "ev", {ESC_FILE: "a", NL_FILE: "b"})
    m = tmp_path / "h.toml"
    m.write_text(manifest_text('"ev"'), "utf-8")
    out = tmp_path / "hb"
    r = run_cli(*build_args(m, out))
    assert r.exit_code == 0, r.output
    assert_terminal_safe(r.output)
    return out


def test_query_table_escapes_cells(cli, hostile_names: Path) -> None:
    r = cli("query", hostile_names, "SELECT id, name FROM items ORDER BY id")
    assert_clean(r)
    assert r.exit_code == 0, r.output
    assert_terminal_safe(r.output)
    assert "esc\\x1b[2J\\x1b[31mRED\\u202etxt.exe" in r.output
    out = lines(r.stdout)
    assert len(out) == 2 + 2 + 1, r.stdout  # header, rule, two rows, count
    assert not any(line.lstrip().startswith("E9999") for line in out)


def test_query_newline_in_a_value_never_splits_a_row(cli, hostile_custody: Path) -> None:
    r = cli("query", hostile_custody, "SELECT actor_name, 'a' || char(10) || 'E9999  forged.txt' || char(13) AS x "
            "FROM custody ORDER BY seq DESC LIMIT 1")
    assert_clean(r)
    assert r.exit_code == 0, r.output
    assert_terminal_safe(r.output)
    out = lines(r.stdout)
    assert len(out) == 2 + 1 + 1, r.stdout
    assert "a\\nE9999  forged.txt\\r" in out[2] and "Mallory\\x1b[2J" in out[2]


def test_query_json_has_no_raw_controls(cli, hostile_names: Path) -> None:
    r = cli("query", hostile_names, "SELECT id, name FROM items ORDER BY id", "--json")
    assert r.exit_code == 0, r.output
    assert_terminal_safe(r.stdout)
    assert ESC_FILE in [row["name"] for row in json.loads(r.stdout)]


def test_disclose_dry_run_escapes_names(cli, hostile_names: Path) -> None:
    r = cli("disclose", hostile_names, "--include", "S01", "--dry-run")
    assert_clean(r)
    assert r.exit_code == 0, r.output
    assert_terminal_safe(r.output)
    assert "esc\\x1b[2J\\x1b[31mRED\\u202etxt.exe" in r.output
    assert not any(line.lstrip().startswith("E9999") for line in lines(r.output))


def test_proof_escapes_the_exhibit_name(cli, hostile_names: Path, tmp_path: Path) -> None:
    for exhibit in ("E0001", "E0002"):
        r = cli("proof", hostile_names, exhibit, "--out", tmp_path / f"{exhibit}.proof.json")
        assert_clean(r)
        assert r.exit_code == 0, r.output
        assert_terminal_safe(r.output)
        assert len(lines(r.output)) == 5, r.output
    r = cli("proof", hostile_names, "E0001", "--out", tmp_path / "E0001.proof.json")
    assert r.exit_code == 2


def test_verify_item_escapes_the_report(cli, hostile_names: Path, tmp_path: Path) -> None:
    rows = json.loads(cli("query", hostile_names, "SELECT id, path FROM items ORDER BY id", "--json").stdout)
    esc = next(row for row in rows if row["path"].endswith(ESC_FILE))
    proof = tmp_path / "esc.proof.json"
    assert cli("proof", hostile_names, esc["id"], "--out", proof).exit_code == 0
    r = cli("verify-item", hostile_names / esc["path"], "--proof", proof, "--trust", TRUSTED)
    assert_clean(r)
    assert r.exit_code == 0, r.output
    assert_terminal_safe(r.output)


# --- errors, keys ---------------------------------------------------------------------


def test_error_line_escapes_the_name_it_echoes(cli, tmp_path: Path) -> None:
    r = cli("verify", tmp_path / "no\x1b[2Jsuch\nevidpack: error: forged\u202e", "--trust", TRUSTED)
    assert r.exit_code == 2
    assert_terminal_safe(r.output)
    assert len(lines(r.output)) == 1, r.output
    assert "no\\x1b[2Jsuch\\nevidpack: error: forged\\u202e: no such bundle" in r.output


def test_keys_show_escapes_the_recorded_name(cli, tmp_path: Path) -> None:
    keymod.write_key_pair(_hostile_key(), tmp_path / "evil", EVIL_PASS)
    pub = tmp_path / "evil.pub"
    pub.write_text(pub.read_text("utf-8").replace("Evidpack-Role: reviewer", "Evidpack-Role: rev\x1b[2Jiewer\u202e"), "utf-8")
    r = cli("keys", "show", pub)
    assert r.exit_code == 0, r.output
    assert_terminal_safe(r.output)
    assert "rev\\x1b[2Jiewer\\u202e" in r.output and len(lines(r.output)) == 4


@pytest.mark.parametrize(("option", "value"), [
    ("--name", "Mallory\x1b[2J"), ("--name", "Tab\there"), ("--name", "a\x7f"), ("--name", "c1\x9b"),
    ("--name", "invoice\u202eexe"), ("--name", "line\u2028sep"), ("--role", "examiner\x1b[0m"),
])
def test_keys_new_refuses_control_characters(cli, tmp_path: Path, option: str, value: str) -> None:
    args = {"--name": "Det. Jane Roe", "--role": "examiner", option: value}
    (tmp_path / "pw").write_text("long-enough-passphrase\n")
    r = cli("keys", "new", "--name", args["--name"], "--role", args["--role"], "--out", tmp_path / "k",
            "--passphrase-file", tmp_path / "pw")
    assert_clean(r)
    assert r.exit_code == 2, r.output
    assert_terminal_safe(r.output)
    assert len(lines(r.output)) == 1 and option in r.output, r.output
    assert not (tmp_path / "k.key").exists() and not (tmp_path / "k.pub").exists()


def test_keys_new_keeps_ordinary_names(cli, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("long-enough-passphrase\n")
    r = cli("keys", "new", "--name", "محمد علي — Det.", "--out", tmp_path / "k", "--passphrase-file", tmp_path / "pw")
    assert r.exit_code == 0, r.output
    assert "name:        محمد علي — Det.\n" in r.output


# --- nothing is written into a sealed bundle ----------------------------------------------


def _still_verifies(bundle: Path) -> None:
    r = run_cli("verify", bundle, "--trust", TRUSTED)
    assert r.exit_code == 0, r.output


def test_proof_refuses_an_output_inside_the_bundle(cli, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    link = tmp_path / "link"
    link.symlink_to(bundle, target_is_directory=True)
    monkeypatch.chdir(bundle / "data")
    for out in (bundle / "E0001.proof.json", bundle / "data/x/../E0001.proof.json", link / "E0001.proof.json",
                Path("../E0001.proof.json"), Path("E0001.proof.json")):
        r = cli("proof", bundle, "E0001", "--out", out)
        assert_clean(r)
        assert r.exit_code == 2, (out, r.output)
        assert len(lines(r.output)) == 1 and "is inside the bundle" in r.output, r.output
    assert not list(bundle.rglob("*.proof.json"))
    _still_verifies(bundle)


def test_disclose_refuses_an_output_inside_the_bundle(cli, bundle: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(bundle / "data", target_is_directory=True)
    for out in (bundle / "data/pkg.zip", link / "pkg.zip", bundle / "pkg.zip"):
        r = cli("disclose", bundle, "--include", "E0001", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS,
                "--plain", "--out", out)
        assert_clean(r)
        assert r.exit_code == 2, (out, r.output)
        assert len(lines(r.output)) == 1 and "is inside the bundle" in r.output, r.output
    assert not list(bundle.rglob("pkg.zip"))
    _still_verifies(bundle)


def test_refuse_inside_bundle_allows_outside_and_refuses_the_zip_itself(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    refuse_inside_bundle(tmp_path / "b-index.pdf", folder, "elsewhere")  # a sibling whose name starts alike
    refuse_inside_bundle(tmp_path / "out.pdf", tmp_path / "b.zip", "elsewhere")
    z = tmp_path / "b.zip"
    z.write_bytes(b"PK")
    with pytest.raises(EvidpackError, match="is the bundle itself"):
        refuse_inside_bundle(Path(os.path.relpath(z)), z, "elsewhere")
    with pytest.raises(EvidpackError, match="is inside the bundle"):
        refuse_inside_bundle(folder, folder, "elsewhere")
