"""Shared fixtures: the demo key, small synthetic cases, and a CLI runner that
fails the test on any traceback."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evidpack import keys as keymod
from evidpack.cli import main

REPO = Path(__file__).resolve().parents[1]
DEMO_KEY = REPO / "keys/demo-examiner.key"
DEMO_PASS = REPO / "keys/demo-examiner.passphrase"
DEMO_PUB = REPO / "keys/demo-examiner.pub"
TRUSTED = REPO / "keys/trusted"
BUILD_TIME = "2026-11-22T08:00:00Z"
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A program the interop tests need: from the venv (bagit.py, case_validate) or the system."""
    venv = VENV_BIN / name
    if venv.exists():
        return str(venv)
    found = shutil.which(name)
    assert found, f"{name} is not installed; run `make tools`"
    return found


def run_cli(*args: str | os.PathLike[str], env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """Run the CLI in-process. A traceback (any exception other than SystemExit) fails the test."""
    result = CliRunner().invoke(main, [str(a) for a in args], env=env, input=input, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError(
            "CLI raised instead of printing one line:\n"
            + "".join(traceback.format_exception(result.exception))
            + result.output
        )
    return result


@pytest.fixture
def cli() -> Callable[..., Result]:
    return run_cli


def run_proc(*args: str | os.PathLike[str], cwd: Path | None = None, input: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(a) for a in args], cwd=cwd, input=input, capture_output=True, env=full_env, timeout=600)


def write_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


SAMPLE_FILES: dict[str, bytes | str] = {
    "notes/field-notes.txt": "Seized handset at 09:55 UTC (synthetic).\n",
    "ledger.csv": "date,amount\n2026-02-11,4500.00\n",
    "photos/scene-001.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "小龙🐉 transcript.txt": "Nickname: 小龙🐉\n",
    "big.bin": os.urandom(3 * 1024 * 1024 + 17),
}


def manifest_text(paths: str, kind: str = "files", extra_source: str = "", case_id: str = "TC-0001") -> str:
    return f"""
[case]
id = "{case_id}"
title = "Test case (synthetic)"
agency = "Test Agency"
authority = "Warrant T-1"
examiner = "Det. Test"

[[sources]]
kind = "{kind}"
path = {paths}
label = "Loose files"
{extra_source}
[sources.acquisition]
tool = "Manual copy"
by = "Det. Test"
at = "2026-03-02T10:00:00Z"
"""


@pytest.fixture
def case(tmp_path: Path) -> Path:
    """A manifest whose one source is a folder of sample files; returns the manifest path."""
    write_tree(tmp_path / "evidence", SAMPLE_FILES)
    m = tmp_path / "case.toml"
    m.write_text(manifest_text('"evidence"'), "utf-8")
    return m


def build_args(manifest: Path, out: Path, *extra: str) -> list[str | Path]:
    return ["build", manifest, "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS, "--out", out, "--time", BUILD_TIME, *extra]


@pytest.fixture
def bundle(case: Path, tmp_path: Path) -> Path:
    out = tmp_path / "bundles/TC-0001"
    r = run_cli(*build_args(case, out))
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A second examiner's key pair: (key path, pub path, passphrase)."""
    d = tmp_path_factory.mktemp("otherkey")
    passphrase = b"other-examiner-passphrase"
    key = keymod.generate("Det. Other Person", "examiner")
    key_path, pub_path = keymod.write_key_pair(key, d / "other", passphrase)
    return key_path, pub_path, passphrase


def demo_signing_key() -> keymod.SigningKey:
    return keymod.load_signing_key(DEMO_KEY, DEMO_PASS.read_text().splitlines()[0].encode())


_MEASURE = """
import resource, subprocess, sys
cap = lambda: resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
r = subprocess.run(sys.argv[1:], capture_output=True, text=True, preexec_fn=cap)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)
print(r.stderr, end="")
"""


def measured_build(manifest: Path, out: Path, *extra: str) -> tuple[int, int, str]:
    """``evidpack build`` in a process of its own (its children's peak RSS alone,
    under `timeout` and an address-space cap): peak MiB, exit code, stderr."""
    args = [str(a) for a in build_args(manifest, out, *extra)]
    cmd = ["timeout", "300", str(VENV_BIN / "evidpack"), *args]
    p = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, timeout=400)
    first, _, stderr = p.stdout.partition("\n")
    peak_kib, code = map(int, first.split())
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return peak_kib >> 10, code, stderr


def assert_clean(r: Result) -> None:
    """Hostile input must never give a traceback or an internal error."""
    for bad in ("Traceback", "internal error"):
        assert bad not in r.output, r.output


def extract_package(package: Path, dest: Path) -> Path:
    """A disclosure package zip extracted into ``dest`` (its regular files, without the top folder)."""
    with zipfile.ZipFile(package) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                target = dest / info.filename.split("/", 1)[1]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
    return dest


@pytest.fixture
def proof(bundle: Path, tmp_path: Path) -> Path:
    """The Merkle proof of the sample bundle's ledger (E0002)."""
    out = tmp_path / "ledger.proof.json"
    r = run_cli("proof", bundle, "E0002", "--out", out)
    assert r.exit_code == 0, r.output
    return out


DEEP_JSON = "[" * 100_000 + "]" * 100_000  # nested far past the JSON decoder's recursion limit


def unknown_algorithm_pem() -> str:
    """A PEM SubjectPublicKeyInfo of an algorithm (OID 1.2.3.4) the cryptography library does not know."""
    oid = bytes([6, 3, 0x2A, 3, 4])
    alg = bytes([0x30, len(oid)]) + oid
    bits = bytes([3, 33, 0]) + b"\x01" * 32
    der = bytes([0x30, len(alg) + len(bits)]) + alg + bits
    return "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n"


def read_events(log: Path) -> list[dict]:
    """The events of a custody log, parsed."""
    return [json.loads(line) for line in log.read_bytes().splitlines()]


def write_events(log: Path, events: list[dict]) -> None:
    """A custody log rewritten in canonical form, as a forger would (only edited events' signatures break)."""
    from evidpack import canonical

    log.write_bytes(b"".join(canonical.dumps(e) + b"\n" for e in events))
