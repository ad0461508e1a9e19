"""verify's payload checks: the streamed path (flat memory) and the in-memory
path must reach the same verdicts and name the same problems."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from evidpack import verify_payload
from evidpack.verify_payload import OutOfStep, _Streamed

from conftest import TRUSTED


def _payload(bundle: Path) -> list[Path]:
    return sorted(p for p in (bundle / "data").rglob("*") if p.is_file())


def _writable(p: Path) -> Path:
    p.chmod(0o644)
    return p


def change_a_file(b: Path) -> None:
    _writable(_payload(b)[0]).write_bytes(b"altered")


def delete_a_file(b: Path) -> None:
    _payload(b)[-1].unlink()


def add_a_file(b: Path) -> None:
    (b / "data" / "planted.txt").write_bytes(b"not sealed")


def add_a_folder(b: Path) -> None:
    (b / "data" / "new" / "deeper").mkdir(parents=True)
    (b / "data" / "new" / "deeper" / "x.bin").write_bytes(b"x")


def replace_by_symlink(b: Path) -> None:
    target = _payload(b)[1]
    target.unlink()
    target.symlink_to("/etc/hostname")


def grow_a_file(b: Path) -> None:
    p = _writable(_payload(b)[2])
    p.write_bytes(p.read_bytes() + b"+")


def move_a_file(b: Path) -> None:
    p = _payload(b)[0]
    p.rename(p.with_name("renamed-" + p.name))


def edit_items(b: Path) -> None:  # the tag manifest fails: the in-memory path names what differs
    items = _writable(b / "evidpack/items.jsonl")
    lines = items.read_bytes().splitlines()
    items.write_bytes(b"\n".join(lines[1:]) + b"\n")


TAMPERINGS: list[Callable[[Path], None]] = [
    change_a_file, delete_a_file, add_a_file, add_a_folder, replace_by_symlink, grow_a_file, move_a_file, edit_items,
]


def _checks(cli, bundle: Path, *extra: str) -> tuple[int, dict[str, tuple[str, list[str]]]]:
    r = cli("verify", bundle, "--trust", TRUSTED, "--json", *extra)
    data = json.loads(r.output[r.output.index("{"):])
    return r.exit_code, {c["check"]: (c["verdict"], c.get("problems", [])) for c in data["checks"]}


def _forced_in_memory(monkeypatch) -> None:
    def refuse(self):
        raise OutOfStep

    monkeypatch.setattr(_Streamed, "run", refuse)


@pytest.mark.parametrize("tamper", [None, *TAMPERINGS], ids=lambda t: "intact" if t is None else t.__name__)
@pytest.mark.parametrize("md5", [False, True], ids=["sha256", "md5-too"])
def test_streamed_and_in_memory_checks_agree(cli, bundle: Path, monkeypatch, tamper, md5) -> None:
    if tamper is not None:
        tamper(bundle)
    extra = ("--md5",) if md5 else ()
    used = []
    real_run = _Streamed.run

    def spy(self):
        used.append("streamed")
        return real_run(self)

    monkeypatch.setattr(_Streamed, "run", spy)
    code, streamed = _checks(cli, bundle, *extra)
    _forced_in_memory(monkeypatch)
    code2, in_memory = _checks(cli, bundle, *extra)
    assert code == code2
    assert streamed == in_memory
    if tamper is None:
        assert code == 0 and used, "an intact folder bundle is verified by the streamed path"
    else:
        assert code == 1
        failed = [name for name, (verdict, _) in streamed.items() if verdict == "fail"]
        assert failed, streamed


def test_streamed_check_names_the_file_added_and_keeps_nothing_per_file(cli, bundle: Path, monkeypatch) -> None:
    add_a_folder(bundle)
    kept = []
    real = verify_payload._Streamed._extra

    def spy(self, present):
        kept.append((type(self.listed).__name__, self.listed.itemsize))
        return real(self, present)

    monkeypatch.setattr(verify_payload._Streamed, "_extra", spy)
    code, checks = _checks(cli, bundle)
    assert code == 1
    assert kept == [("array", 8)]  # 8 bytes per listed file, no path strings
    assert "data/new/deeper/x.bin: extra file, not in manifest-sha256.txt" in checks["payload-manifest-sha256"][1]
    assert checks["payload-manifest-md5"][1] == ["data/new/deeper/x.bin: extra file, not in manifest-md5.txt"]


def test_zip_bundles_use_the_in_memory_path(cli, bundle: Path, tmp_path: Path, monkeypatch) -> None:
    shutil.make_archive(str(tmp_path / "z"), "zip", bundle.parent, bundle.name)
    streamed = []
    monkeypatch.setattr(_Streamed, "run", lambda self: streamed.append(1))
    code, checks = _checks(cli, tmp_path / "z.zip")
    assert code == 0, checks
    assert streamed == []
    assert checks["payload-manifest-md5"][0] == "skipped"
