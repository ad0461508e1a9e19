"""Verification without evidpack: the exact stock-tool commands the README shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO, run_proc, tool

from evidpack.build import SIG_FILE, SSHSIG_FILE, TAGMANIFEST


def readme_block(title: str) -> list[str]:
    """The shell commands under a README heading, so tests run exactly what users read."""
    text = (REPO / "README.md").read_text()
    section = text.split(title, 1)[1]
    block = re.search(r"```(?:sh|shell|bash)?\n(.*?)```", section, re.S)
    assert block, f"no command block after {title!r}"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def sh(command: str, cwd: Path) -> int:
    return run_proc("bash", "-c", "set -o pipefail; " + command, cwd=cwd).returncode


def test_bagit_py_validates_the_bundle(bundle: Path) -> None:
    r = run_proc(tool("bagit.py"), "--validate", bundle)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert b"is valid" in r.stderr


def test_bagit_py_rejects_a_tampered_bundle(bundle: Path) -> None:
    victim = bundle / "data/S01-loose-files/ledger.csv"
    victim.write_bytes(victim.read_bytes() + b"x")
    assert run_proc(tool("bagit.py"), "--validate", bundle).returncode != 0


def test_readme_stock_tool_commands_pass_on_a_good_bundle(bundle: Path) -> None:
    commands = readme_block("### Verify without evidpack")
    assert any("sha256sum -c" in c for c in commands)
    assert any("openssl pkeyutl -verify" in c and "-rawin" in c for c in commands)
    assert any("ssh-keygen -Y verify" in c for c in commands)
    for command in commands:
        assert sh(command, bundle) == 0, command


@pytest.mark.parametrize(
    "victim, fails",
    [
        ("data/S01-loose-files/ledger.csv", "sha256sum -c manifest-sha256.txt"),
        ("evidpack/items.jsonl", "sha256sum -c tagmanifest-sha256.txt"),
        (TAGMANIFEST, "-sigfile tagmanifest-sha256.txt.sig"),
        (TAGMANIFEST, "ssh-keygen -Y verify"),
        (SIG_FILE, "-sigfile tagmanifest-sha256.txt.sig"),
    ],
)
def test_readme_stock_tool_commands_catch_tampering(bundle: Path, victim: str, fails: str) -> None:
    p = bundle / victim
    data = bytearray(p.read_bytes())
    data[5] ^= 0x20
    p.write_bytes(bytes(data))
    commands = [c for c in readme_block("### Verify without evidpack") if fails in c]
    assert commands, fails
    assert all(sh(c, bundle) != 0 for c in commands)


def test_ssh_keygen_rejects_a_tampered_sshsig(bundle: Path) -> None:
    (bundle / TAGMANIFEST).write_bytes((bundle / TAGMANIFEST).read_bytes() + b"\n")
    cmd = next(c for c in readme_block("### Verify without evidpack") if "ssh-keygen" in c)
    assert sh(cmd, bundle) != 0
    assert (bundle / SSHSIG_FILE).exists()
