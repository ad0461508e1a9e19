"""Review fixes to the PDF index: its bytes depend on the build time alone
(not on how it was given, nor on $SOURCE_DATE_EPOCH read behind evidpack's
back), the "How to verify" commands can be copied from the PDF and run, and
Office Open XML / OpenDocument files are not listed as plain zips."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from conftest import BUILD_TIME, DEMO_KEY, DEMO_PASS, DEMO_PUB, REPO, VENV_BIN, build_args, manifest_text, run_cli, run_proc, tool, write_tree

from evidpack.mediatype import sniff
from evidpack.report.verifying import Command, line_chars, output_lines, shell_lines

INSTANT = int(datetime.fromisoformat(BUILD_TIME.replace("Z", "+00:00")).timestamp())
INDEX = "evidpack/index.pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"


def files_of(bundle: Path) -> dict[str, bytes]:
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()}


def build_with(manifest: Path, out: Path, *, time: str | None, epoch: str | None, monkeypatch: pytest.MonkeyPatch) -> Path:
    if epoch is None:
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    else:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    args: list = ["build", manifest, "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS, "--out", out]
    if time is not None:
        args += ["--time", time]
    r = run_cli(*args)
    assert r.exit_code == 0, r.output
    return out


# --- 1. the build time, however it is given --------------------------------------------------


def test_the_same_instant_gives_the_same_bundle_however_the_time_is_given(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = build_with(case, tmp_path / "a/TC-0001", time=BUILD_TIME, epoch=None, monkeypatch=monkeypatch)
    b = build_with(case, tmp_path / "b/TC-0001", time=None, epoch=str(INSTANT), monkeypatch=monkeypatch)
    c = build_with(case, tmp_path / "c/TC-0001", time=BUILD_TIME, epoch="1000000000", monkeypatch=monkeypatch)
    d = build_with(case, tmp_path / "d/TC-0001", time="2026-11-22T09:00:00+01:00", epoch="0", monkeypatch=monkeypatch)
    first = files_of(a)
    for other in (b, c, d):
        files = files_of(other)
        assert files[INDEX] == first[INDEX]  # and so its signature, the sealed event and the custody head
        assert files["tagmanifest-sha256.txt"] == first["tagmanifest-sha256.txt"]
        assert files == first
    assert b"/CreationDate (D:20261122080000+00'00')" in first[INDEX]


def test_a_reading_copy_depends_on_the_rendering_time_alone(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copies = []
    for n, (time, epoch) in enumerate([(BUILD_TIME, None), (None, str(INSTANT)), (BUILD_TIME, "42")]):
        if epoch is None:
            monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        else:
            monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        out = tmp_path / f"copy-{n}.pdf"
        r = run_cli("index", bundle, "--out", out, *(["--time", time] if time else []))
        assert r.exit_code == 0, r.output
        copies.append(out.read_bytes())
    assert copies[0] == copies[1] == copies[2]


# --- 2. "How to verify": commands that can be copied and run -----------------------------------

COMMANDS = ("evidpack", "cd", "sha256sum", "md5sum", "openssl", "ssh-keygen", "awk", "grep")


def verify_page(pdf: Path) -> tuple[int, str]:
    """The number and the ``pdftotext -layout`` text of the page "How to verify" starts on."""
    r = run_proc(tool("pdftotext"), "-layout", "-enc", "UTF-8", pdf, "-")
    assert r.returncode == 0, r.stderr
    pages = r.stdout.decode("utf-8").split("\f")
    number = max(i for i, page in enumerate(pages) if re.search(r"^How to verify\s*$", page, re.M))
    return number + 1, pages[number]


def extracted_commands(page: str) -> list[str]:
    """Every command printed on the page, its continued lines joined as a shell joins them."""
    lines = page.splitlines()
    commands: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.split(" ", 1)[0] in COMMANDS and lines[i].startswith(" "):  # panels are indented; prose is not
            parts = [line]
            while parts[-1].endswith(" \\"):
                i += 1
                follow = lines[i]
                assert follow.startswith("  ") and follow.strip(), f"a continued line must be indented: {follow!r}"
                parts[-1] = parts[-1][:-2]
                parts.append(follow.strip())
            commands.append(" ".join(parts))
        i += 1
    return commands


@pytest.fixture
def named_bundle(tmp_path: Path) -> Path:
    """A bundle in a folder named after its case, with a long principal-free layout."""
    write_tree(tmp_path / "evidence", {"a.txt": "alpha\n", "sub/b.csv": "x,y\n1,2\n"})
    manifest = tmp_path / "case.toml"
    manifest.write_text(manifest_text('"evidence"', case_id="TC-VERIFY-2026-000123"), "utf-8")
    out = tmp_path / "work" / "TC-VERIFY-2026-000123"
    r = run_cli(*build_args(manifest, out))
    assert r.exit_code == 0, r.output
    return out


def test_every_command_on_the_verify_page_can_be_copied_and_run(named_bundle: Path) -> None:
    _, page = verify_page(named_bundle / INDEX)
    commands = extracted_commands(page)
    assert [c.split(" ", 1)[0] for c in commands] == [
        "evidpack", "evidpack", "evidpack", "cd",
        "sha256sum", "openssl", "ssh-keygen", "awk",
        "sha256sum", "sha256sum", "md5sum",
        "openssl", "sha256sum", "grep",
    ]  # fmt: skip
    assert any("\\" in line for line in page.splitlines() if line.startswith(" ")), "the long commands are continued"
    work = named_bundle.parent
    shutil.copy(DEMO_PUB, work / "examiner.pub")  # the key obtained from the examiner
    env = {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    cwd = work
    for command in commands:
        if command.startswith("cd "):
            cwd = (cwd / command.split(" ", 1)[1]).resolve()
            assert cwd == named_bundle.resolve()
            continue
        r = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, env=env, timeout=600)
        assert r.returncode == 0, f"{command}\n{r.stdout.decode()}{r.stderr.decode()}"
    expected = {
        "openssl pkeyutl -verify -pubin -inkey evidpack/signer.pem -rawin -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig",
        "openssl pkeyutl -verify -pubin -inkey evidpack/signer.pem -rawin -in evidpack/index.pdf -sigfile evidpack/index.pdf.sig",
        "sha256sum -c manifest-sha256.txt",
        "md5sum -c manifest-md5.txt",
        "sha256sum -c tagmanifest-sha256.txt",
    }
    assert expected <= set(commands)  # as the README gives them


def test_the_commands_run_from_the_pdf_as_a_script(named_bundle: Path) -> None:
    """Pasted as the lines the PDF holds (continuations and all), the stock-tool
    part runs as a script."""
    _, page = verify_page(named_bundle / INDEX)
    lines = page.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"cd {named_bundle.name}")
    script = [lines[start].strip()]
    for line in lines[start + 1 :]:
        if line.strip().split(" ", 1)[0] in COMMANDS[2:] or (script[-1].endswith("\\") and line.startswith("  ")):
            script.append(line.strip() if not script[-1].endswith("\\") else "    " + line.strip())
    r = subprocess.run(["bash", "-e", "-c", "\n".join(script)], cwd=named_bundle.parent, capture_output=True, timeout=600)
    assert r.returncode == 0, "\n".join(script) + "\n" + r.stderr.decode()
    assert r.stdout.decode().count("Signature Verified Successfully") == 2


def test_the_fingerprint_on_the_verify_page_is_in_the_fixed_width_font(named_bundle: Path) -> None:
    number, page = verify_page(named_bundle / INDEX)
    seal = json.loads((named_bundle / "evidpack/seal.json").read_bytes())
    fingerprint = seal["signer"]["fingerprint"]
    assert fingerprint in page
    r = run_proc(tool("pdftohtml"), "-xml", "-stdout", "-i", "-f", number, "-l", number, named_bundle / INDEX)
    assert r.returncode == 0, r.stderr
    xml = r.stdout.decode("utf-8")
    families = {m.group(1): m.group(2) for m in re.finditer(r'<fontspec id="(\d+)"[^>]*family="([^"]+)"', xml)}
    texts = [(m.group(1), m.group(2)) for m in re.finditer(r'<text [^>]*font="(\d+)"[^>]*>(.*?)</text>', xml)]
    holding = [families[font] for font, text in texts if "SHA256:" in text]
    assert len(holding) >= 3  # the fingerprint to check, ssh-keygen's two lines of expected output
    assert all("Mono" in family for family in holding), holding


def test_commands_are_broken_only_between_arguments() -> None:
    width = line_chars()
    long = Command.of("openssl", "pkeyutl", "-verify", "-in " + "x" * 60, "-sigfile " + "y" * 60, comment="checks it")
    lines = shell_lines(long, width)
    assert lines[0] == "# checks it" or lines[-1].endswith("# checks it")
    body = [line for line in lines if not line.startswith("#")]
    assert all(len(line) <= width for line in lines)
    assert all(line.endswith(" \\") for line in body[:-1]) and not body[-1].split("#")[0].rstrip().endswith("\\")
    assert all(line.startswith("    ") for line in body[1:])
    joined = " ".join(line[:-2] if line.endswith(" \\") else line for line in (b.strip() for b in body))
    assert joined.split("  #")[0] == long.text
    short = Command.of("sha256sum", "-c", "manifest-sha256.txt")
    assert shell_lines(short, width) == ["sha256sum -c manifest-sha256.txt"]
    assert output_lines("a " * 10 + "b" * 300, 30)[-1] == "    " + "b" * 300  # a word longer than a line is left whole


# --- 3. Office Open XML and OpenDocument files -------------------------------------------------


def zip_head(members: list[tuple[str, bytes, int]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data, method in members:
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data, compress_type=method)
    return out.getvalue()


S, D = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
CT = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'


@pytest.mark.parametrize(
    ("members", "name", "expected"),
    [
        ([("[Content_Types].xml", CT, D), ("word/document.xml", b"<w/>", D)], "letter.bin", DOCX),  # as Word writes it
        ([("[Content_Types].xml", CT, D), ("_rels/.rels", b"<r/>", D), ("xl/workbook.xml", b"<x/>", D)], "noname", XLSX),
        ([("[Content_Types].xml", CT, D), ("ppt/presentation.xml", b"<p/>", D)], "deck", PPTX),
        ([("docProps/app.xml", b"<a/>" * 40, D), ("docProps/core.xml", b"<c/>" * 40, D)], "ip-log.xlsx", XLSX),  # as openpyxl writes it
        ([("[Content_Types].xml", CT * 20, D)], "slides.PPTX", PPTX),
        ([("[Content_Types].xml", CT * 20, D)], "report.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"),
        ([("[Content_Types].xml", CT * 20, D)], "unknown.bin", "application/zip"),  # an OOXML package of no kind it shows
        ([("mimetype", b"application/vnd.oasis.opendocument.text", S), ("content.xml", b"<o/>", D)], "a.zip", "application/vnd.oasis.opendocument.text"),
        ([("mimetype", b"application/vnd.oasis.opendocument.spreadsheet", S)], "x", "application/vnd.oasis.opendocument.spreadsheet"),
        ([("mimetype", b"application/epub+zip", S)], "book", "application/epub+zip"),
        ([("mimetype", b"text/html", S)], "page.odt", "application/zip"),  # not a package type: a plain zip
        ([("mimetype", b"application/vnd.oasis.opendocument.text", D)], "a.odt", "application/zip"),  # ODF stores it
        ([("notes.txt", b"hello", D), ("photo.jpg", b"\xff\xd8\xff", S)], "evidence.xlsx", "application/zip"),  # a plain zip, whatever its name
        ([("xlsx/readme.txt", b"hi", D)], "a.zip", "application/zip"),
    ],
)
def test_zip_based_formats_are_told_from_plain_zips(members: list, name: str, expected: str) -> None:
    data = zip_head(members)
    assert sniff(data[:512], name) == expected


def test_sniffing_reads_no_more_than_the_head_it_is_given() -> None:
    late = zip_head([("a" * 200 + ".txt", b"z" * 400, S), ("word/document.xml", b"<w/>", D)])
    assert sniff(late[:512], "x.bin") == "application/zip"  # the part folder lies beyond the head
    assert sniff(late[:40], "x.docx") == "application/zip"  # a head cut inside the first name
    assert sniff(b"PK\x03\x04", "x.xlsx") == "application/zip"
    assert sniff(b"PK\x05\x06" + bytes(18), "empty.zip") == "application/zip"


def test_an_xlsx_is_listed_as_a_spreadsheet_in_the_records_and_the_schedule(tmp_path: Path) -> None:
    xlsx = (REPO / "examples/wechat-production/ip-log.xlsx").read_bytes()
    odt = zip_head([("mimetype", b"application/vnd.oasis.opendocument.text", S), ("content.xml", b"<o/>", D)])
    plain = zip_head([("notes.txt", b"hello", D)])
    write_tree(tmp_path / "evidence", {"ip-log.xlsx": xlsx, "statement.odt": odt, "bundle-of-notes.zip": plain})
    manifest = tmp_path / "case.toml"
    manifest.write_text(manifest_text('"evidence"'), "utf-8")
    out = tmp_path / "TC-0001"
    r = run_cli(*build_args(manifest, out))
    assert r.exit_code == 0, r.output
    types = {}
    for line in (out / "evidpack/items.jsonl").read_bytes().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "file":
            types[rec["path"].rsplit("/", 1)[-1]] = rec["media_type"]
    assert types == {"ip-log.xlsx": XLSX, "statement.odt": "application/vnd.oasis.opendocument.text", "bundle-of-notes.zip": "application/zip"}
    text = run_proc(tool("pdftotext"), "-enc", "UTF-8", out / INDEX, "-").stdout.decode("utf-8")
    schedule = text.split("Item schedule")[-1]
    assert "spreadsheetml" in schedule and "opendocument.text" in schedule
    assert run_cli("verify", out, "--trust", REPO / "keys/trusted", "--deep").exit_code == 0


def test_a_media_type_guessed_from_a_name_does_not_depend_on_the_host(tmp_path, monkeypatch) -> None:
    # mimetypes.guess_type reads the host's /etc/mime.types; the item record (and
    # so the Merkle root) must not change with the machine that builds it.
    import mimetypes

    from evidpack import mediatype

    extra = tmp_path / "mime.types"
    extra.write_text("application/x-host-only ufd txt\n")
    mimetypes.init([str(extra)])
    try:
        assert mimetypes.guess_type("a.ufd")[0] == "application/x-host-only"
        assert mediatype.sniff(b"", "a.ufd") == "application/x-empty"
        assert mediatype.sniff(b"hello", "a.txt") == "text/plain"
    finally:
        mimetypes.init()
