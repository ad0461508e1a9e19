"""Helpers for the device importer tests: a one-source case of kind ``device``,
reading what a build wrote, and small crafted containers. The example
generator's builders (examples/make_device_examples.py) make the realistic
inputs, so the tests and the committed examples come from the same code."""

from __future__ import annotations

import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from conftest import REPO, TRUSTED, build_args, manifest_text
from test_bad_input import one_line_error  # noqa: F401  (re-exported for the device tests)

sys.path.insert(0, str(REPO / "examples"))
import make_device_examples as gen  # noqa: E402

FOLDER = "data/S01-loose-files"


def device_case(tmp_path: Path, path: str, options: dict[str, Any] | None = None) -> Path:
    """A case manifest with one source of kind ``device`` at ``path`` (relative to tmp_path)."""
    extra = ""
    if options:
        extra = "[sources.options]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
    m = tmp_path / "case.toml"
    m.write_text(manifest_text(json.dumps(path), kind="device", extra_source=extra), "utf-8")
    return m


def build(cli, manifest: Path, out: Path, *extra: str):
    return cli(*build_args(manifest, out, *extra))


def built(cli, tmp_path: Path, path: str, *extra: str, options: dict[str, Any] | None = None) -> Path:
    """Build a one-source device case and return the bundle (the build must succeed)."""
    out = tmp_path / "out/B"
    r = build(cli, device_case(tmp_path, path, options), out, *extra)
    assert r.exit_code == 0, r.output
    return out


def items(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / "evidpack/items.jsonl").read_text("utf-8").splitlines()]


def members(bundle: Path) -> list[dict[str, Any]]:
    return [i for i in items(bundle) if i["kind"] == "member"]


def member(bundle: Path, path: str) -> dict[str, Any]:
    return next(m for m in members(bundle) if m["member_path"] == path)


def source(bundle: Path, sid: str = "S01") -> dict[str, Any]:
    return next(json.loads(line) for line in (bundle / "evidpack/sources.jsonl").read_text("utf-8").splitlines() if json.loads(line)["id"] == sid)


def checks(bundle: Path, name: str, sid: str = "S01") -> list[dict[str, Any]]:
    return [c for c in source(bundle, sid)["checks"] if c["check"] == name]


def artifacts(bundle: Path, sid: str = "S01") -> dict[str, Any]:
    return json.loads((bundle / f"evidpack/records/{sid}-artifacts.json").read_text("utf-8"))


def verify_deep(cli, bundle: Path):
    return cli("verify", bundle, "--trust", TRUSTED, "--deep")


def zip_of(path: Path, entries: dict[str, bytes], **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", **kw) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def tar_of(path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tf:
        for e in entries:
            if isinstance(e, tarfile.TarInfo):
                tf.addfile(e)
            else:
                ti = tarfile.TarInfo(e[0])
                ti.size, ti.mtime = len(e[1]), gen.EPOCH
                tf.addfile(ti, io.BytesIO(e[1]))
    return path


def tar_entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mtime = kind, linkname, gen.EPOCH
    return ti
