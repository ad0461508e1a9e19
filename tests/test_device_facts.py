"""``facts.tool_hashes``: each hash an extraction tool recorded (a .ufd's hash
lines, a .ufdr's report.xml) against the copy's digest, as a structured fact,
and the index showing the tool's hash beside the copy's."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conftest import run_proc, tool
from device_support import build, built, checks, device_case, gen, member, source
from test_device_ufed import ZIP, android, ufdr, write_ufd

from evidpack.report.kinds import device as device_kind
from evidpack.report.kinds.common import SourceView

INDEX_PDF = "evidpack/index.pdf"


def pdf_text(bundle: Path) -> str:
    return run_proc(tool("pdftotext"), "-enc", "UTF-8", bundle / INDEX_PDF, "-").stdout.decode("utf-8")


def test_the_example_ufd_hashes_are_recorded_as_facts(cli, tmp_path: Path) -> None:
    _folder, data = android(tmp_path)
    bundle = built(cli, tmp_path, "ev")
    facts = source(bundle)["facts"]["tool_hashes"]
    assert [(f["file"], f["algorithm"], f["match"]) for f in facts] == [(ZIP, "md5", True), (ZIP, "sha256", True)]
    by_alg = {f["algorithm"]: f for f in facts}
    assert by_alg["sha256"]["copy"] == hashlib.sha256(data).hexdigest() and by_alg["md5"]["copy"] == hashlib.md5(data).hexdigest()
    assert by_alg["sha256"]["tool"].lower() == by_alg["sha256"]["copy"]
    assert all(f["from"].endswith("ev/Pixel 7.ufd") for f in facts)
    assert "tool_hashes_not_listed" not in source(bundle)["facts"]
    # the checks are as before
    assert [c["verdict"] for c in checks(bundle, "ufd-sha256") + checks(bundle, "ufd-md5")] == ["pass", "pass"]
    text = pdf_text(bundle)
    assert "The tool's hashes against the copy" in text and hashlib.sha256(data).hexdigest() in text


def test_a_ufd_mismatch_is_recorded_with_match_false_and_shown_beside_the_copy(cli, tmp_path: Path) -> None:
    folder, data = android(tmp_path)
    good, wrong = hashlib.sha256(data).hexdigest(), "CD" * 32
    write_ufd(folder, ["[SHA256]", f"{ZIP}={good.upper()}", "[SHA256]", f"{ZIP}={wrong}"])
    out = tmp_path / "out/B"
    assert build(cli, device_case(tmp_path, "ev"), out, "--keep-going").exit_code == 0
    assert [c["verdict"] for c in checks(out, "ufd-sha256")] == ["pass", "fail"]  # unchanged
    facts = source(out)["facts"]["tool_hashes"]
    assert [(f["tool"], f["copy"], f["match"]) for f in facts] == [(good.upper(), good, True), (wrong, good, False)]
    text = pdf_text(out)
    section = text[text.index("The tool's hashes against the copy") : text.index("Containers and their members")]
    assert f"FAIL\n\n{ZIP}\n" in section and f"\n{wrong}\n{good}\n" in section  # the tool's hash, then the copy's
    assert f"\n{good.upper()}\n{good}\n" in section


def test_ufdr_report_hashes_are_recorded_as_facts(cli, tmp_path: Path) -> None:
    a, b = gen.fake_bytes("a", 100), gen.fake_bytes("b", 100)
    name = ufdr(tmp_path, [("/sdcard/a.bin", "files/a.bin", a, None, None), ("/sdcard/b.bin", "files/b.bin", b, "ab" * 32, None)])
    out = tmp_path / "out/B"
    assert build(cli, device_case(tmp_path, name), out, "--keep-going").exit_code == 0
    facts = source(out)["facts"]["tool_hashes"]
    got = [(f["file"], f["device_path"], f["algorithm"], f["match"]) for f in facts]
    assert got == [
        ("files/a.bin", "/sdcard/a.bin", "md5", True), ("files/a.bin", "/sdcard/a.bin", "sha256", True),
        ("files/b.bin", "/sdcard/b.bin", "md5", True), ("files/b.bin", "/sdcard/b.bin", "sha256", False),
    ]
    mismatch = facts[-1]
    assert mismatch["tool"] == "ab" * 32 and mismatch["copy"] == member(out, "files/b.bin")["sha256"]
    assert all(f["from"].endswith("Pixel 7.ufdr") for f in facts)
    (c,) = checks(out, "ufdr-reported-hashes")
    assert c["verdict"] == "fail" and "1 matched, 1 mismatched" in c["detail"]  # unchanged: counted per file
    text = pdf_text(out)
    assert "ab" * 32 in text and "/sdcard/b.bin" in text


def test_the_facts_are_the_same_on_a_rebuild(cli, tmp_path: Path) -> None:
    android(tmp_path)
    first = source(built(cli, tmp_path, "ev"))["facts"]["tool_hashes"]
    out = tmp_path / "out/C"
    assert build(cli, device_case(tmp_path, "ev"), out).exit_code == 0
    assert source(out)["facts"]["tool_hashes"] == first


def test_the_index_reads_old_bundles_from_the_checks_and_new_ones_from_the_facts(monkeypatch) -> None:
    copy, told = "ab" * 32, "cd" * 32
    check = {"check": "ufd-sha256", "verdict": "fail", "subject": ZIP,
             "detail": f"x/Pixel 7.ufd: [SHA256] {ZIP} (line 3) says {told}, but the file as copied has SHA256 {copy} (hash mismatch)"}
    old = SourceView({"id": "S01", "kind": "device", "checks": [check], "facts": {}}, {}, None)  # type: ignore[arg-type]
    assert device_kind.render(old)  # parsed from the check's text
    fact = {"file": ZIP, "algorithm": "sha256", "tool": told, "copy": copy, "match": False, "from": "x/Pixel 7.ufd"}
    new = SourceView({"id": "S01", "kind": "device", "checks": [check], "facts": {"tool_hashes": [fact]}}, {}, None)  # type: ignore[arg-type]
    monkeypatch.setattr(device_kind, "tool_hashes", lambda checks: (_ for _ in ()).throw(AssertionError("parsed the checks")))
    assert device_kind.render(new)


# --- member_index in support.catalogue_zip (WACZ, WeChat productions) ------------------------------


class _Ctx:
    """Just what catalogue_zip uses of an ImportContext."""

    def __init__(self, root: Path) -> None:
        self.writer = type("W", (), {"root": root, "algorithms": ("sha256", "md5")})()
        self.emitted: list[dict] = []
        self.problems: list[str] = []

    def emit(self, rec: dict) -> dict:
        rec = {**rec, "id": f"{rec['container']}/M{len(self.emitted) + 1:06d}"}
        self.emitted.append(rec)
        return rec

    def problem(self, text: str, **_kw: str) -> None:
        self.problems.append(text)

    def check(self, *_args: str) -> None:
        pass


def test_catalogue_zip_records_each_members_place_in_the_central_directory(tmp_path: Path) -> None:
    import zipfile

    from evidpack.importers.support import catalogue_zip

    names = ["b.txt", "dir/", "a.txt", "dir/c.bin"]
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
        for n in names:
            zf.writestr(n, b"" if n.endswith("/") else n.encode() * 3)
    ctx = _Ctx(tmp_path)
    members = catalogue_zip(ctx, {"id": "E0001", "path": "x.zip"}, "x.zip")  # type: ignore[arg-type]
    assert members is not None and not ctx.problems
    assert [(r["member_path"], r["member_index"]) for r in ctx.emitted] == [(n, i) for i, n in enumerate(names, 1)]
    assert [m.index for m in members] == [1, 2, 3, 4]
