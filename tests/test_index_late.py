"""The sealed index is laid out before the tag manifest exists (the build
writes the catalogue meanwhile): the tag manifest's hash it prints is a
stand-in until the PDF is saved (document.LateDigest, pdfstream's late text).
The result must be the index that would be drawn with the tag manifest there
from the start, and a stand-in must never reach the output."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import shutil
from pathlib import Path

import pytest
from conftest import BUILD_TIME, run_proc, tool
from reportlab.pdfgen.canvas import Canvas
from test_index_pdf import build, make_case, pdftotext

from evidpack.build import INDEX_PDF, TAGMANIFEST
from evidpack.bundle import Bundle
from evidpack.custody import CUSTODY_FILE
from evidpack.errors import EvidpackError
from evidpack.report import render_index, write_index
from evidpack.report.pdfstream import stream_to

WHEN = dt.datetime.fromisoformat(BUILD_TIME.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("latecase")
    return build(make_case(root), root / "bundle")


def custody_before_seal(bundle: Path) -> list[bytes]:
    lines = (bundle / CUSTODY_FILE).read_bytes().splitlines()
    assert b'"action":"sealed"' in lines[-1]
    return lines[:-1]


def same_objects(a: Path, b: Path, tmp_path: Path) -> bool:
    """Whether two PDFs hold the same objects, whatever their order in the file
    (qpdf's QDF form numbers and writes them in the order the document reaches them)."""
    normal = []
    for pdf in (a, b):
        out = tmp_path / f"{pdf.stem}-{len(normal)}.qdf"
        r = run_proc(tool("qpdf"), "--qdf", "--static-id", "--object-streams=disable", pdf, out)
        assert r.returncode == 0, r.stderr
        normal.append(out.read_bytes())
    return normal[0] == normal[1]


def test_the_sealed_index_is_the_one_drawn_with_the_tag_manifest_there(sealed: Path, tmp_path: Path) -> None:
    # The build drew its index before the tag manifest existed; drawn again now, from the
    # finished tag manifest and the same custody events, it has the same objects. Only their
    # order differs: a page that prints the hash in full has its contents written at the end.
    with Bundle.open(sealed) as bundle:
        again = render_index(bundle, rendered_at=WHEN, custody_lines=custody_before_seal(sealed))
    (tmp_path / "again.pdf").write_bytes(again)
    assert same_objects(tmp_path / "again.pdf", sealed / INDEX_PDF, tmp_path)


def test_the_hash_is_filled_in_everywhere_it_is_printed(sealed: Path) -> None:
    digest = hashlib.sha256((sealed / TAGMANIFEST).read_bytes()).hexdigest()
    text = pdftotext(sealed / INDEX_PDF)
    pages = text.split("\f")[:-1]
    assert all(f" · {digest[:16]} · Page " in page for page in pages)
    assert digest in pages[0]  # the cover
    assert f"the tag manifest's, as on the cover:\n{digest}\n" in text  # how to verify
    assert f"tagmanifest_sha256:\n{digest[:32]}\n{digest[32:]}" in text  # the custody log's 'sealed' row
    info = run_proc(tool("pdfinfo"), sealed / INDEX_PDF).stdout.decode()
    assert re.search(rf"^Subject:.*tag manifest SHA-256 {digest}$", info, re.M)
    # Nothing else that looks like a SHA-256 is printed beside the ones expected (no stand-in left).
    hexes = set(re.findall(r"(?<![0-9a-f])[0-9a-f]{32,64}(?![0-9a-f])", text))
    known = {digest, digest[:32], digest[32:]}
    for line in (sealed / "manifest-sha256.txt", sealed / "manifest-md5.txt", sealed / "evidpack/seal.json", sealed / "evidpack/custody.jsonl"):
        known |= {h for found in re.findall(r"[0-9a-f]{32,64}", line.read_text()) for h in (found, found[:32], found[32:])}
    assert hexes <= known, hexes - known


def copy_without_seal(sealed: Path, tmp_path: Path) -> Path:
    bundle = tmp_path / "unsealed"
    shutil.copytree(sealed, bundle)
    (bundle / TAGMANIFEST).unlink()
    (bundle / INDEX_PDF).unlink()
    return bundle


def test_seal_is_called_once_after_every_page_is_written(sealed: Path, tmp_path: Path) -> None:
    bundle = copy_without_seal(sealed, tmp_path)
    tm = (sealed / TAGMANIFEST).read_bytes()
    calls: list[int] = []
    out = io.BytesIO()

    def seal() -> str:
        calls.append(out.tell())
        (bundle / TAGMANIFEST).write_bytes(tm)
        return hashlib.sha256(tm).hexdigest()

    with Bundle.open(bundle) as b:
        write_index(b, out, rendered_at=WHEN, custody_lines=custody_before_seal(sealed), seal=seal)
    assert len(calls) == 1
    pages = int(re.search(rb"/Count (\d+)", out.getvalue()).group(1))
    assert pages > 5 and out.getvalue()[: calls[0]].count(b"/Type /Page\n") == pages  # every page was out before
    assert out.getvalue() == (sealed / INDEX_PDF).read_bytes()  # as the build made it


def test_a_seal_that_fails_stops_the_index(sealed: Path, tmp_path: Path) -> None:
    bundle = copy_without_seal(sealed, tmp_path)

    def seal() -> str:
        raise EvidpackError("catalogue.sqlite: the disk is full")

    with Bundle.open(bundle) as b, pytest.raises(EvidpackError, match="the disk is full"):
        write_index(b, io.BytesIO(), rendered_at=WHEN, custody_lines=custody_before_seal(sealed), seal=seal)


@pytest.mark.parametrize("bad", ["", "0" * 63, "A" * 64, "g" * 64])
def test_a_seal_that_returns_no_sha256_is_refused(sealed: Path, tmp_path: Path, bad: str) -> None:
    bundle = copy_without_seal(sealed, tmp_path)
    with Bundle.open(bundle) as b, pytest.raises(ValueError, match="not a SHA-256"):
        write_index(b, io.BytesIO(), rendered_at=WHEN, custody_lines=custody_before_seal(sealed), seal=lambda: bad)


def test_only_the_sealed_index_is_drawn_before_the_tag_manifest(sealed: Path) -> None:
    with Bundle.open(sealed) as b, pytest.raises(ValueError, match="only the sealed index"):
        write_index(b, io.BytesIO(), rendered_at=WHEN, seal=lambda: "0" * 64)


# --- late text in the streamed document ----------------------------------------------------------

STAND_IN = "0123456789abcdef0123456789ABCDEF"  # halves that differ


def page_with(out: io.BytesIO, *lines: str) -> tuple[Canvas, object]:
    canv = Canvas(out)
    doc = stream_to(canv, out)
    doc.defer(STAND_IN)
    for n, line in enumerate(lines):
        canv.drawString(72, 700 - 14 * n, line)
    return canv, doc


def test_late_text_is_filled_in_when_saved_and_the_page_kept_until_then(tmp_path: Path) -> None:
    out = io.BytesIO()
    canv, doc = page_with(out, f"hash: {STAND_IN}")
    canv.showPage()
    doc.flush_page()
    assert STAND_IN.encode() not in out.getvalue()  # the page's content stream is not written yet
    doc.fill(STAND_IN, "f" * 32)
    canv.save()
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(out.getvalue())
    assert "hash: " + "f" * 32 in pdftotext(pdf)
    assert run_proc(tool("qpdf"), "--check", pdf).returncode == 0


def test_late_text_never_given_stops_the_document() -> None:
    out = io.BytesIO()
    canv, doc = page_with(out, STAND_IN)
    canv.showPage()
    doc.flush_page()
    with pytest.raises(ValueError, match="never given"):
        canv.save()


def test_a_stand_in_broken_across_lines_stops_the_document() -> None:
    canv, doc = page_with(io.BytesIO(), STAND_IN[:20], STAND_IN[20:])
    canv.showPage()
    with pytest.raises(ValueError, match="broken across lines"):
        doc.flush_page()


@pytest.mark.parametrize("value", ["f" * 31, "f" * 33, "(" * 32, "é" * 32])
def test_a_late_value_must_be_plain_text_of_the_stand_ins_length(value: str) -> None:
    _, doc = page_with(io.BytesIO())
    with pytest.raises(ValueError):
        doc.fill(STAND_IN, value)
