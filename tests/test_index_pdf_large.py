"""The PDF index of larger cases: written page by page (memory does not grow
with the case), every item in it, every page numbered, links and bookmarks
right, signable, reproducible — and the fast ways of laying out the schedule
give exactly what the general one does.

The bundles are bench/index_pdf.py's synthetic ones (loose files and two
containers of members; names in Latin, Chinese, Arabic and Hebrew), small
enough to render in a second."""

from __future__ import annotations

import gc
import importlib.util
import io
import json
import random
import re
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import REPO, run_proc, tool
from test_index_exact import exact_forms
from test_index_pdf import make_ca, page_count, pdftotext

from evidpack.bundle import Bundle
from evidpack.report import fonts, layout, render_index, rtl, write_index
from evidpack.report.flowables import Table
from evidpack.report.pdfstream import WRITTEN, StreamingDocument
from evidpack.report.schedule import _ItemTable
from evidpack.report.styles import BODY, CELL, CELL_PATH, CODE, HASH

AT = datetime(2026, 11, 22, 8, tzinfo=timezone.utc)
ITEMS = 1500


def _bench():
    spec = importlib.util.spec_from_file_location("bench_index_pdf", REPO / "bench/index_pdf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_bundle(root: Path, items: int) -> Path:
    _bench().make_bundle(root, items)
    return root


def render(bundle: Path, out: Path) -> Path:
    with Bundle.open(bundle) as b, open(out, "wb") as fh:
        write_index(b, fh, rendered_at=AT)
    return out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("large") / "bundle", ITEMS)


@pytest.fixture(scope="module")
def pdf(bundle: Path) -> Path:
    return render(bundle, bundle.parent / "index.pdf")


@pytest.fixture(scope="module")
def pages(pdf: Path) -> list[str]:
    return pdftotext(pdf).split("\f")[:-1]


def records(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / "evidpack/items.jsonl").read_bytes().splitlines()]


# --- memory ------------------------------------------------------------------------------------


def test_pages_are_written_as_they_are_finished_and_nothing_per_page_is_kept(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int, int, int]] = []  # per page: pages held, objects held, names known, bytes written
    flush = StreamingDocument.flush_page

    def spy(doc: StreamingDocument) -> None:
        flush(doc)
        held = sum(1 for obj in doc.idToObject.values() if obj is not WRITTEN)
        seen.append((len(doc.Pages.pages), held, len(doc.idToObjectNumberAndVersion), doc._out.tell()))

    monkeypatch.setattr(StreamingDocument, "flush_page", spy)
    pdf = render(bundle, tmp_path / "spied.pdf")
    assert len(seen) == page_count(pdf) > 60
    assert all(kept == 0 for kept, _, _, _ in seen)  # no page waits for the end
    quarter, last = seen[len(seen) // 4], seen[-1]
    assert last[1] == quarter[1]  # the schedule's pages leave no object behind (fonts and forms are shared)
    assert last[2] - quarter[2] == len(seen) - len(seen) // 4 - 1  # one name per page: its object number
    assert 0 < quarter[3] < seen[len(seen) // 2][3] < last[3] < pdf.stat().st_size  # written as it goes


def test_memory_does_not_grow_with_the_case_or_its_output(tmp_path: Path) -> None:
    # Both cases are large enough to fill the per-document memos (row formats, up to 256 kinds of
    # row): what is left to grow is a few bytes per item (its offset in items.jsonl) and per page
    # (its object number). Measured here: about 40 bytes per item in all, from 1,200 to 9,600 items.
    sizes_items = (1200, 4 * 1200)
    small, large = (make_bundle(tmp_path / f"case{n}", n) for n in sizes_items)
    render(large, tmp_path / "warm.pdf")  # fonts parsed, caches filled
    peaks, sizes = [], []
    for bundle in (small, large):
        gc.collect()
        tracemalloc.start()
        out = render(bundle, tmp_path / f"{bundle.name}.pdf")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        sizes.append(out.stat().st_size)
    assert sizes[1] - sizes[0] > 500_000  # four times the items: a much larger PDF...
    per_item = (peaks[1] - peaks[0]) / (sizes_items[1] - sizes_items[0])
    assert per_item < 64, f"{per_item:.0f} bytes of peak memory per item added"  # ...but not the memory


# --- what it says ------------------------------------------------------------------------------


def test_every_item_and_member_is_in_the_schedule_with_its_digests_in_full(bundle: Path, pdf: Path) -> None:
    text = pdftotext(pdf)
    flat = text.replace("\n", "")  # a long path wraps; ids and digests never do
    exact = set(exact_forms(text))  # pdftotext reorders "…/محادثة 0.txt" its own way: its exact form follows it
    for rec in records(bundle):
        assert rec["id"] in text and rec["sha256"] in text and rec["md5"] in text, rec["id"]
        path = rec.get("path") or rec["member_path"]
        assert (path in flat) != (path in exact), rec["id"]  # one or the other: never an exact form for a path that reads back
    assert exact
    containers = [r for r in records(bundle) if r.get("container_format")]
    for c in containers:
        members = sum(1 for r in records(bundle) if r.get("container") == c["id"])
        assert f"Members of {c['id']} ({c['path'].rsplit('/', 1)[-1]}): {members:,}" in text
        assert re.search(rf"container \(zip\):\s+{members:,}\s+members", text)


def test_first_and_last_pages_are_numbered_page_n_of_m(pdf: Path, pages: list[str]) -> None:
    total = page_count(pdf)
    assert len(pages) == total
    assert re.search(rf"· Page 1 of {total}\b", pages[0])
    assert re.search(rf"· Page {total} of {total}\b", pages[-1])
    assert all(f"· Page {n} of {total}" in page for n, page in enumerate(pages, 1))


def test_bookmarks_and_contents_links_lead_to_their_pages(pdf: Path, pages: list[str]) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf.read_bytes()))
    tree = reader.root["/Pages"]["/Kids"]
    kids = [tree.raw_get(i).idnum for i in range(len(tree))]

    def page_of(target) -> int:  # a destination: [page, /XYZ, left, top, zoom]
        return kids.index(target.get_object().raw_get("/Dest").raw_get(0).idnum)

    def siblings(entry):
        while entry is not None:
            entry = entry.get_object()
            yield entry
            entry = entry.get("/Next")

    marks = {}
    for entry in siblings(reader.root["/Outlines"]["/First"]):
        marks[str(entry["/Title"])] = page_of(entry)
        for child in siblings(entry.get("/First")):
            marks[str(child["/Title"])] = page_of(child)
    for title in ("Contents", "Item schedule", "S01 — Loose files", "S02 — Pixel 7", "Custody log", "How to verify"):
        assert title in pages[marks[title]], title
    targets = {page_of(link) for link in tree[1]["/Annots"]}  # the contents page's links
    assert {marks["Item schedule"], marks["S02 — Pixel 7"], marks["Custody log"]} <= targets


def test_the_pdf_is_well_formed_with_every_font_embedded(pdf: Path) -> None:
    r = run_proc(tool("qpdf"), "--check", pdf)
    assert r.returncode == 0 and b"No syntax or stream encoding errors" in r.stdout, r.stdout.decode() + r.stderr.decode()
    fonts_listed = run_proc(tool("pdffonts"), pdf).stdout.decode().splitlines()[2:]
    assert len(fonts_listed) >= 4
    assert all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts_listed)


def test_a_streamed_index_can_be_pades_signed(pdf: Path, tmp_path: Path) -> None:
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from evidpack.report import pades

    root, cert, key, passphrase = make_ca(tmp_path)
    signed = pades.load(cert, key, passphrase.read_bytes().strip()).sign(pdf.read_bytes())
    (signature,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    status = validate_pdf_signature(signature, ValidationContext(trust_roots=[load_cert_from_pemder(root)]))
    assert status.intact and status.valid and status.coverage.name == "ENTIRE_FILE"


def test_the_same_bundle_and_time_give_the_same_bytes_streamed_or_not(bundle: Path, pdf: Path, tmp_path: Path) -> None:
    assert render(bundle, tmp_path / "again.pdf").read_bytes() == pdf.read_bytes()
    with Bundle.open(bundle) as b:
        assert render_index(b, rendered_at=AT) == pdf.read_bytes()


# --- the fast ways give what the general one does -------------------------------------------------


def test_the_schedule_laid_out_the_general_way_reads_the_same(bundle: Path, pdf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ItemTable, "_lay_item", lambda self, rec, canv: None)  # every record as cells
    monkeypatch.setattr(Table, "_lay_text", lambda self, row, canv: None)  # every row drawn line by line
    general = render(bundle, tmp_path / "general.pdf")
    assert general.read_bytes() != pdf.read_bytes()
    assert pdftotext(general, "-layout") == pdftotext(pdf, "-layout")


def test_a_row_filled_into_its_kind_of_row_is_the_row_its_shape_gives(bundle: Path) -> None:
    from reportlab.pdfgen.canvas import Canvas

    from evidpack.report import index, schedule
    from evidpack.report.styles import FRAME_WIDTH

    fonts.register()
    with Bundle.open(bundle) as b:
        table = schedule.section(index.load(b, custody_lines=None, rendered_at=AT, pdf_signer=None))[2][1]
        canv = Canvas(io.BytesIO())
        table.canv = canv
        table._set_widths(FRAME_WIDTH)
        file = next(r for r in table._rows if type(r) is dict and r["kind"] == "file")
        member = next(r for r in table._rows if type(r) is dict and r["kind"] == "member")
    odd = [
        {"size": 7}, {"size": 10}, {"size": -5}, {"size": 123_456}, {"size": -12_345}, {"size": 10**30}, {"size": True}, {"size": "12"},
        {"path": file["path"] + " (1)"}, {"path": "data/S01-scene/a  b.txt"}, {"path": "a b"}, {"path": "data/S01-scene/" + "sub/" * 40 + "f.txt"},
        {"path": "data/S01-scene/100%.txt"}, {"path": "data/S01-scene/tab\tname"}, {"path": "data/S01-scene/WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW.jpg"},
        {"media_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}, {"media_type": "text/50%"}, {"media_type": ""},
        {"tags": ["wechat", "media"]}, {"tags": []}, {"tags": "ab"}, {"original_path": "elsewhere.jpg"}, {"original_path": ""},
        {"sha256": "a" * 128}, {"md5": ""}, {"md5": 5}, {"id": "E" + "9" * 30}, {"encrypted": True}, {"encrypted": False}, {"extra": 1},
    ]
    for base in (file, member):
        for change in [{}, *odd]:
            rec = {**base, **change}
            fast, shaped = table._lay_item(rec, canv), table._lay_shaped(rec, canv)
            assert (fast is None) == (shaped is None), change
            assert fast is None or (fast.ops, fast.height, fast.ink) == (shaped.ops, shaped.height, shaped.ink), change


@pytest.mark.parametrize("style", [CELL_PATH, CELL, BODY, CODE, HASH], ids=["path", "words", "prose", "code", "chars"])
def test_printable_ascii_is_wrapped_as_any_text_is(style) -> None:
    rng = random.Random(style.wrap)
    alphabet = "abcdefghij klmnopqrstuvwxyz  ABCXYZ0123456789/_.-: ,;=&?()\\"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 160)))
        width = rng.choice([4, 20, 57, 90, 150, 280])
        lines = layout.wrap(text, style, width)
        if style.wrap == "chars":  # the general way may end a line after a hyphen here; this one never does
            assert "".join(lines) == text
            assert not any(line.endswith("-") and len(line) > 1 and set(line) != {"-"} for line in lines[:-1]), (text, lines)
            continue
        assert lines == layout._wrap_paragraph(text, style, width), (text, width)


def test_plain_text_is_measured_exactly() -> None:
    rng = random.Random(1)
    for role in ("sans", "bold", "mono"):
        for _ in range(500):
            text = "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(0, 90)))
            assert fonts.plain_width(text, role, 7.5) == pytest.approx(sum(fonts.char_widths(text, role, 7.5)), abs=1e-9)


# --- robustness ------------------------------------------------------------------------------------


def test_a_row_taller_than_a_page_is_split_between_its_lines(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "tall", 40)
    items_file = bundle / "evidpack/items.jsonl"
    lines = items_file.read_bytes().splitlines()
    record = json.loads(lines[3])
    record["path"] = "data/S01-scene/" + "/".join(f"seg{i:05d}" for i in range(2500)) + "/end.txt"
    lines[3] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    items_file.write_bytes(b"\n".join(lines) + b"\n")
    pages = pdftotext(render(bundle, tmp_path / "tall.pdf")).split("\f")[:-1]
    holding = [n for n, page in enumerate(pages) if "seg0" in page]
    assert len(holding) >= 3 and holding == list(range(holding[0], holding[-1] + 1))  # on consecutive pages
    text = "".join(pages[n] for n in holding)
    assert all(f"seg{i:05d}/" in text for i in range(2500)) and "end.txt" in text
    assert record["id"] in text and record["sha256"] in text and record["md5"] in text


def test_a_joiner_the_shaping_library_trips_on_is_drawn_unshaped_not_a_crash(tmp_path: Path) -> None:
    from reportlab.pdfgen.canvas import Canvas

    name = "\u200dلا علي"  # arabic-reshaper raises IndexError on a ZWJ before lam-alef
    assert rtl.visual(name, fonts.must_show_as_marker, lambda ch: True)
    canv = Canvas(str(tmp_path / "t.pdf"), invariant=1)
    fonts.register()
    fonts.draw(canv, 72, 700, name, "sans", 11)
    canv.save()
    assert "علي" in pdftotext(tmp_path / "t.pdf")


@pytest.mark.parametrize("bad", [b"[1, 2]", b'{"id": "E0002", "kind": "fi'], ids=["not-an-object", "cut-short"])
def test_an_item_line_that_is_not_a_record_is_named_not_a_crash(tmp_path: Path, bad: bytes) -> None:
    from conftest import run_cli

    bundle = make_bundle(tmp_path / "bad", 30)
    items_file = bundle / "evidpack/items.jsonl"
    lines = items_file.read_bytes().splitlines()
    lines[1] = bad
    items_file.write_bytes(b"\n".join(lines) + b"\n")
    r = run_cli("index", bundle, "--out", tmp_path / "bad.pdf")
    assert r.exit_code == 2, r.output
    assert f"evidpack/items.jsonl: the line at byte {len(lines[0]) + 1:,} is not a JSON object" in r.output


def test_a_form_used_but_never_defined_stops_the_document(tmp_path: Path) -> None:
    from reportlab.pdfgen.canvas import Canvas

    from evidpack.report.pdfstream import stream_to

    with open(tmp_path / "t.pdf", "wb") as out:
        canv = Canvas(out)
        doc = stream_to(canv, out)
        canv.doForm("never-defined")
        canv.showPage()
        doc.flush_page()
        with pytest.raises(ValueError, match="never-defined"):
            canv.save()
