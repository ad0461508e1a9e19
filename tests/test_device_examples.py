"""The committed synthetic device examples: reproducible, small, used by the
example case, and sealed and verified (members re-derived) without a change
to a byte or a time of them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from conftest import REPO, build_args
from device_support import gen, items, source, verify_deep
from test_integrity_guarantees import snapshot

EXAMPLES = REPO / "examples/device"


def test_the_generator_reproduces_the_committed_examples_byte_for_byte(tmp_path: Path) -> None:
    gen.main(tmp_path / "device")
    made = {p.relative_to(tmp_path / "device"): p.read_bytes() for p in sorted((tmp_path / "device").rglob("*")) if p.is_file()}
    committed = {p.relative_to(EXAMPLES): p.read_bytes() for p in sorted(EXAMPLES.rglob("*")) if p.is_file()}
    assert made.keys() == committed.keys()
    assert [k for k in made if made[k] != committed[k]] == []


def test_the_examples_are_small_and_synthetic() -> None:
    assert sum(p.stat().st_size for p in EXAMPLES.rglob("*") if p.is_file()) < 2_000_000
    ufd = (EXAMPLES / "pixel-7/Pixel 7.ufd").read_bytes()[2:].decode("utf-16-le")
    assert "SYNTHETIC" in ufd and "Model=Pixel 7 (SYNTHETIC)" in ufd


def device_sources_manifest(tmp_path: Path) -> Path:
    """The example case with only its device sources (paths made absolute)."""
    case = tomllib.loads((REPO / "manifests/example-case.toml").read_text("utf-8"))
    sources = [s for s in case["sources"] if s["kind"] == "device"]
    assert len(sources) == 2
    lines = ["[case]", *(f"{k} = {json.dumps(v)}" for k, v in case["case"].items())]
    for s in sources:
        lines += ["", "[[sources]]", f'kind = "device"', f"path = {json.dumps(str((REPO / 'manifests' / s['path']).resolve()))}",
                  f"label = {json.dumps(s['label'])}", f"slug = {json.dumps(s['slug'])}", "[sources.acquisition]",
                  *(f"{k} = {json.dumps(v)}" for k, v in s["acquisition"].items())]
    m = tmp_path / "case.toml"
    m.write_text("\n".join(lines) + "\n", "utf-8")
    return m


def test_the_example_case_seals_the_device_examples_and_they_verify_deep(cli, tmp_path: Path) -> None:
    before = snapshot(EXAMPLES)
    out = tmp_path / "out/NC-2026-0142"
    r = cli(*build_args(device_sources_manifest(tmp_path), out))
    assert r.exit_code == 0, r.output
    assert snapshot(EXAMPLES) == before
    for sid in ("S01", "S02"):
        row = source(out, sid)
        assert row["kind"] == "device" and all(c["verdict"] in ("pass", "not-checkable") for c in row["checks"]), row["checks"]
    assert {c["check"] for c in source(out, "S01")["checks"]} >= {"ufd-sha256", "ufd-md5", "ufd-hmac", "container-readable", "member-count"}
    assert {c["check"] for c in source(out, "S02")["checks"]} >= {"itunes-manifest", "itunes-file-ids"}
    assert sum(1 for i in items(out) if i["kind"] == "member") == 12
    r = verify_deep(cli, out)
    assert r.exit_code == 0 and "PASS      container-members" in r.output, r.output
