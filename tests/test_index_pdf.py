"""The court-ready PDF index (evidpack/index.pdf): what it says, that it says it
exactly (pdftotext), that it is well formed (qpdf, pdfinfo, pdffonts), signed,
reproducible, and re-rendered for reading without touching the sealed one."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from conftest import BUILD_TIME, DEMO_KEY, DEMO_PASS, REPO, SAMPLE_FILES, build_args, run_cli, run_proc, tool, write_tree

from evidpack.build import INDEX_PDF, INDEX_SIG, TAGMANIFEST
from evidpack.report import fonts, layout
from evidpack.report.styles import CELL_PATH, HASH

CASE_ID = "TC-PDF-7"
NAMES = {  # file names and nicknames that must come back out of pdftotext exactly
    "cjk_emoji": "小龙🐉",
    "arabic": "محمد علي",
    "hebrew": "שרה כהן",
    "zwj_emoji": "👨‍👩‍👧 Family",
    "cyrillic": "Ярослав",
}
PRODUCTION = f"""WeChat ID,Nickname,Linked Mobile,Email,Registration Country,Registration Time (UTC+8)
wxid_cjk_emoji,{NAMES['cjk_emoji']},+86 131 2345 6789,,CN,2019-05-01 10:00:00
wxid_arabic,{NAMES['arabic']},+971 50 123 4567,,AE,2020-01-02 03:04:05
wxid_hebrew,{NAMES['hebrew']},+972 52 712 3456,,IL,2021-02-03 04:05:06
wxid_family,{NAMES['zwj_emoji']},+1 202-555-0143,,US,2022-03-04 05:06:07
wxid_cyrillic,{NAMES['cyrillic']},+7 912 345-67-89,,RU,2023-04-05 06:07:08
"""
LOGINS = """Time (UTC+8),WeChat ID,IP Address,Event
2026-03-11 14:02:09,wxid_cjk_emoji,203.0.113.7:52311,login
"""
MANIFEST = f"""
[case]
id = "{CASE_ID}"
title = "PDF index test (synthetic)"
agency = "Test Agency"
authority = "Warrant T-7"
examiner = "Det. Test"

[[sources]]
kind = "files"
path = "evidence"
label = "Loose files"
[sources.acquisition]
tool = "Manual copy"
by = "Det. Test"
at = "2026-03-02T10:00:00Z"

[[sources]]
kind = "wechat-production"
path = "production"
label = "WeChat International production"
[sources.acquisition]
tool = "WeChat International law-enforcement portal"
by = "Det. Test"
at = "2026-03-11T09:45:00Z"
[sources.options]
zone = "+08:00"
[sources.options.request]
type = "preservation"
reference = "WCI-TEST-1"
sent_at = "2026-03-10T09:00:00+08:00"
received_at = "2026-03-11T17:30:00+08:00"
"""
BIDI_MARKS = dict.fromkeys(map(ord, "\u202a\u202b\u202c"))  # LRE, RLE, PDF: pdftotext adds them around RTL runs


def make_case(root: Path) -> Path:
    write_tree(root / "evidence", {**SAMPLE_FILES, f"{NAMES['arabic']}.txt": "a\n", f"{NAMES['hebrew']}.txt": "h\n"})
    write_tree(root / "production", {"subscribers.csv": PRODUCTION, "ip-log.csv": LOGINS})
    manifest = root / "case.toml"
    manifest.write_text(MANIFEST, "utf-8")
    return manifest


def build(manifest: Path, out: Path, *extra: str) -> Path:
    r = run_cli(*build_args(manifest, out, *extra))
    assert r.exit_code == 0, r.output
    return out


def pdftotext(pdf: Path, *args: str) -> str:
    """pdftotext's text, without the directional marks it wraps right-to-left runs in."""
    r = run_proc(tool("pdftotext"), "-enc", "UTF-8", *args, pdf, "-")
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8").translate(BIDI_MARKS)


def pages_of(pdf: Path) -> list[str]:
    return pdftotext(pdf).split("\f")[:-1]


def page_count(pdf: Path) -> int:
    out = run_proc(tool("pdfinfo"), pdf).stdout.decode()
    return int(re.search(r"^Pages:\s+(\d+)$", out, re.M).group(1))


def items(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / "evidpack/items.jsonl").read_bytes().splitlines()]


def sealed_event(bundle: Path) -> dict:
    events = [json.loads(line) for line in (bundle / "evidpack/custody.jsonl").read_bytes().splitlines()]
    return next(e for e in events if e["action"] == "sealed")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_case(tmp_path_factory.mktemp("pdfcase"))


@pytest.fixture(scope="module")
def sealed(manifest: Path) -> Path:
    """A bundle with loose files (CJK, emoji and RTL names) and a WeChat production, built once."""
    return build(manifest, manifest.parent / "bundles" / CASE_ID)


@pytest.fixture(scope="module")
def text(sealed: Path) -> str:
    return pdftotext(sealed / INDEX_PDF)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example case: device extractions, a WeChat production and OSINT captures."""
    out = tmp_path_factory.mktemp("example") / "NC-2026-0142"
    return build(REPO / "manifests/example-case.toml", out)


# --- the sealed index -----------------------------------------------------------------------


def test_build_writes_the_index_signed_and_outside_the_tag_manifest(sealed: Path) -> None:
    pdf = (sealed / INDEX_PDF).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert INDEX_PDF not in (sealed / TAGMANIFEST).read_text() and INDEX_SIG not in (sealed / TAGMANIFEST).read_text()
    assert sealed_event(sealed)["details"]["index_pdf_sha256"] == hashlib.sha256(pdf).hexdigest()
    r = run_proc(tool("openssl"), "pkeyutl", "-verify", "-pubin", "-inkey", "evidpack/signer.pem", "-rawin",
                 "-in", INDEX_PDF, "-sigfile", INDEX_SIG, cwd=sealed)
    assert r.returncode == 0, r.stderr


def test_verify_checks_the_index(cli, sealed: Path) -> None:
    r = cli("verify", sealed, "--trust", REPO / "keys/trusted")
    assert r.exit_code == 0, r.output
    assert re.search(r"PASS\s+index-pdf\s+evidpack/index.pdf", r.output)


def test_a_changed_index_fails_verify_naming_it(cli, sealed: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / CASE_ID
    shutil.copytree(sealed, copy)
    pdf = copy / INDEX_PDF
    pdf.chmod(0o644)
    pdf.write_bytes(pdf.read_bytes().replace(b"Evidence index", b"Evidence indey", 1))
    r = cli("verify", copy, "--trust", REPO / "keys/trusted")
    assert r.exit_code == 1, r.output
    assert re.search(r"FAIL\s+index-pdf\s+evidpack/index.pdf: changed", r.output)
    assert "NOT INTACT: integrity failure in index-pdf" in r.output


def test_the_readme_stock_tool_lines_catch_a_changed_index(sealed: Path, tmp_path: Path) -> None:
    import shutil

    from test_interop import readme_block, sh

    lines = [c for c in readme_block("### Verify without evidpack") if "evidpack/index.pdf" in c]
    assert len(lines) == 2  # the signature, and the hash the 'sealed' event records
    assert all(sh(c, sealed) == 0 for c in lines)
    copy = tmp_path / CASE_ID
    shutil.copytree(sealed, copy)
    pdf = copy / INDEX_PDF
    pdf.chmod(0o644)
    pdf.write_bytes(pdf.read_bytes() + b"\n")
    assert all(sh(c, copy) != 0 for c in lines)


def test_a_missing_index_fails_verify(cli, sealed: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / CASE_ID
    shutil.copytree(sealed, copy)
    (copy / INDEX_PDF).unlink()
    r = cli("verify", copy, "--trust", REPO / "keys/trusted")
    assert r.exit_code == 1
    assert "evidpack/index.pdf: missing" in r.output


def test_every_item_id_and_digest_is_printed_in_full(sealed: Path, text: str) -> None:
    records = items(sealed)
    assert records
    for rec in records:
        assert rec["id"] in text
        assert rec["sha256"] in text, rec["id"]  # one line each: searchable, never cut
        assert rec["md5"] in text, rec["id"]


def test_names_in_every_script_come_back_out_exactly(text: str) -> None:
    for name in NAMES.values():
        assert name in text, name
    assert "小龙🐉 transcript.txt" in text
    assert f"{NAMES['arabic']}.txt" in text and f"{NAMES['hebrew']}.txt" in text


def test_every_page_carries_case_id_tag_manifest_hash_and_page_n_of_m(sealed: Path) -> None:
    pdf = sealed / INDEX_PDF
    pages = pages_of(pdf)
    total = page_count(pdf)
    assert len(pages) == total > 5
    short = hashlib.sha256((sealed / TAGMANIFEST).read_bytes()).hexdigest()[:16]
    for n, page in enumerate(pages, 1):
        assert f"{CASE_ID} · {short} · Page {n} of {total}" in page, n


def test_the_pdf_is_well_formed(sealed: Path) -> None:
    r = run_proc(tool("qpdf"), "--check", sealed / INDEX_PDF)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert b"No syntax or stream encoding errors" in r.stdout


def test_every_font_is_embedded(sealed: Path) -> None:
    out = run_proc(tool("pdffonts"), sealed / INDEX_PDF).stdout.decode().splitlines()[2:]
    assert out
    names = [line.split()[0] for line in out]
    for line in out:
        emb, sub, uni = line.split()[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), line
    assert any("DejaVuSans" in n for n in names) and any("DroidSansFallback" in n for n in names)


def test_same_inputs_and_time_give_a_byte_identical_index(manifest: Path, sealed: Path, tmp_path: Path) -> None:
    again = build(manifest, tmp_path / "elsewhere" / "another-name")
    assert (again / INDEX_PDF).read_bytes() == (sealed / INDEX_PDF).read_bytes()
    assert (again / "evidpack/custody.jsonl").read_bytes() == (sealed / "evidpack/custody.jsonl").read_bytes()


def test_the_cover_states_the_seal(sealed: Path) -> None:
    cover = pages_of(sealed / INDEX_PDF)[0]
    seal = json.loads((sealed / "evidpack/seal.json").read_bytes())
    for value in (CASE_ID, "PDF index test (synthetic)", "Test Agency", "Warrant T-7", "Det. Test", BUILD_TIME,
                  hashlib.sha256((sealed / TAGMANIFEST).read_bytes()).hexdigest(), seal["merkle"]["root"],
                  seal["signer"]["fingerprint"], seal["signer"]["name"], "What the seal means", "evidpack 0.1.0"):
        assert value in cover, value
    assert "READING COPY" not in cover


def test_the_contents_give_the_page_of_every_section(sealed: Path) -> None:
    pages = pages_of(sealed / INDEX_PDF)
    contents = pdftotext(sealed / INDEX_PDF, "-layout", "-f", "2", "-l", "2")
    for title in ("Sources", "S01 — Loose files", "S02 — WeChat International production", "Item schedule", "Custody log", "How to verify"):
        m = re.search(rf"^\s*{re.escape(title)}[ .]*(\d+)$", contents, re.M)
        assert m, title
        assert title in pages[int(m.group(1)) - 1], title


def test_sources_show_acquisition_and_every_check_with_its_verdict(sealed: Path, text: str) -> None:
    for source in (json.loads(line) for line in (sealed / "evidpack/sources.jsonl").read_bytes().splitlines()):
        assert source["acquisition"]["tool"] in text
        for check in source["checks"]:
            assert check["check"] in text
    assert "PASS" in text and "WARN" in text  # the +86 account is a jurisdiction warning


def test_the_wechat_section_has_the_timeline_jurisdiction_note_and_logins(text: str) -> None:
    assert "Request timeline" in text and "1 d 8 h 30 min" in text
    assert "Jurisdiction note: +86 accounts" in text and "wxid_cjk_emoji (+8613123456789)" in text
    assert "2026-03-11T06:02:09Z" in text and "2026-03-11 14:02:09" in text  # UTC, and the time as produced


def test_the_custody_log_runs_up_to_the_seal(sealed: Path, text: str) -> None:
    events = [json.loads(line) for line in (sealed / "evidpack/custody.jsonl").read_bytes().splitlines()]
    section = text.split("Custody log", 2)[-1]
    assert "The seal: the tag manifest below is signed" in section
    assert hashlib.sha256((sealed / TAGMANIFEST).read_bytes()).hexdigest() in section.replace("\n", "")
    for e in events[:-1]:
        assert e["action"] in section
    assert events[-1]["action"] == "sealed"


def test_how_to_verify_gives_this_bundles_commands_and_values(sealed: Path, text: str) -> None:
    section = text.split("How to verify")[-1]
    seal = json.loads((sealed / "evidpack/seal.json").read_bytes())
    assert f"evidpack verify {CASE_ID} --trust examiner.pub" in section
    assert "sha256sum -c manifest-sha256.txt" in section and "md5sum -c manifest-md5.txt" in section
    assert "openssl pkeyutl -verify" in section and "ssh-keygen -Y verify" in section
    assert seal["signer"]["fingerprint"] in section
    assert hashlib.sha256((sealed / TAGMANIFEST).read_bytes()).hexdigest() in section


# --- the reading copy -----------------------------------------------------------------------


def test_evidpack_index_renders_the_events_since_the_seal_and_leaves_the_sealed_index(cli, sealed: Path, tmp_path: Path) -> None:
    import shutil

    bundle = tmp_path / CASE_ID
    shutil.copytree(sealed, bundle)
    before = (bundle / INDEX_PDF).read_bytes()
    r = cli("custody", "add", bundle, "--action", "transferred", "--to", "ADA M. Park", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS)
    assert r.exit_code == 0, r.output
    out = tmp_path / "reading.pdf"
    r = cli("index", bundle, "--out", out, "--time", "2026-11-23T09:00:00Z")
    assert r.exit_code == 0, r.output
    assert (bundle / INDEX_PDF).read_bytes() == before
    reading = pdftotext(out)
    assert "READING COPY" in reading and "Reading copy — not the sealed index" in reading
    assert "transferred" in reading and "ADA M. Park" in reading and "after the seal" in reading
    assert cli("verify", bundle, "--trust", REPO / "keys/trusted").exit_code == 0
    again = tmp_path / "again.pdf"
    assert cli("index", bundle, "--out", again, "--time", "2026-11-23T09:00:00Z").exit_code == 0
    assert again.read_bytes() == out.read_bytes()


def test_evidpack_index_reads_a_zipped_bundle(cli, tmp_path: Path) -> None:
    bundle = build(make_case(tmp_path), tmp_path / "b" / CASE_ID, "--zip")
    out = tmp_path / "from-zip.pdf"
    r = cli("index", bundle.with_name(CASE_ID + ".zip"), "--out", out)
    assert r.exit_code == 0, r.output
    assert NAMES["arabic"] in pdftotext(out)


def test_evidpack_index_never_writes_inside_the_bundle(cli, sealed: Path) -> None:
    r = cli("index", sealed, "--out", sealed / "evidpack/index.pdf")
    assert r.exit_code == 2
    assert "is inside the bundle" in r.output


# --- source kinds (the example case) -------------------------------------------------------------


def test_device_sections_show_the_tool_hashes_containers_and_artifacts(example: Path) -> None:
    text = pdftotext(example / INDEX_PDF)
    assert "Device and extraction, as the .ufd states (Pixel 7.ufd)" in text
    assert "The tool's hashes against the copy" in text
    assert "Containers and their members" in text
    assert "Artifacts recognised (WeChat/Weixin and others)" in text and "EnMicroMsg.db" in text
    assert "iTunes/Finder backup" in text
    container = next(r for r in items(example) if r.get("container_format"))
    assert f"Members of {container['id']}" in text


def test_osint_sections_list_every_capture_and_show_each_screenshot(example: Path) -> None:
    pdf = example / INDEX_PDF
    text = pdftotext(pdf)
    record = json.loads((example / "evidpack/records/S03-osint.json").read_bytes())
    assert f"Captures ({len(record['captures'])})" in text
    shots = [c for c in record["captures"] if c.get("format") in ("png", "jpeg")]
    assert shots and f"Screenshots ({len(shots)})" in text
    images = run_proc(tool("pdfimages"), "-list", pdf).stdout.decode().splitlines()[2:]
    assert len(images) >= len(shots)


def test_members_are_listed_under_their_container(example: Path) -> None:
    text = pdftotext(example / INDEX_PDF)
    container = next(r for r in items(example) if r.get("container_format"))
    cid = container["id"]
    schedule = text[text.index(" item records: ") :]
    assert schedule.index(container["sha256"]) < schedule.index(f"Members of {cid}") < schedule.index(f"{cid}/M000001")


# --- PAdES ------------------------------------------------------------------------------------


def make_ca(root: Path) -> tuple[Path, Path, Path, Path]:
    """A throwaway root CA and a signing certificate it issued: (root, cert, key, passphrase file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Agency (throwaway)"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def usage(**on: bool) -> x509.KeyUsage:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                               "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(**{**flags, **on})

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(name("Test Root CA")).issuer_name(name("Test Root CA")).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(start).not_valid_after(start + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(name("Det. Test")).issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(2).not_valid_before(start).not_valid_after(start + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True, content_commitment=True), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = root / "root.pem", root / "cert.pem", root / "key.pem", root / "key.pass"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"throwaway pdf key")))
    paths[3].write_text("throwaway pdf key\n")
    return paths


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def pades(ca, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pades")
    _, cert, key, passphrase = ca
    return build(make_case(root), root / "b" / CASE_ID, "--pdf-cert", cert, "--pdf-key", key, "--pdf-key-passphrase-file", passphrase)


def test_pdf_cert_signs_the_index_as_pades_valid_for_pyhanko(pades: Path, ca) -> None:
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO((pades / INDEX_PDF).read_bytes()))
    (signature,) = reader.embedded_signatures
    assert signature.field_name == "evidpack-seal"
    status = validate_pdf_signature(signature, ValidationContext(trust_roots=[load_cert_from_pemder(ca[0])]))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage.name == "ENTIRE_FILE"
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"


def test_pdf_cert_signature_is_valid_for_pdfsig(pades: Path) -> None:
    r = run_proc(tool("pdfsig"), pades / INDEX_PDF)
    out = r.stdout.decode()
    assert "Signature Type: ETSI.CAdES.detached" in out
    assert "Signature Validation: Signature is Valid." in out
    assert "Signer Certificate Common Name: Det. Test" in out


def test_a_pades_signed_index_still_verifies_and_is_recorded(cli, pades: Path) -> None:
    assert cli("verify", pades, "--trust", REPO / "keys/trusted").exit_code == 0
    details = sealed_event(pades)["details"]
    assert details["index_pdf_sha256"] == hashlib.sha256((pades / INDEX_PDF).read_bytes()).hexdigest()
    assert "Det. Test" in details["index_pdf_pades"]["certificate_subject"]
    assert "This PDF also carries a PAdES signature" in pdftotext(pades / INDEX_PDF, "-l", "1")


def test_pdf_key_without_cert_is_a_usage_error(cli, tmp_path: Path, ca) -> None:
    r = cli(*build_args(make_case(tmp_path), tmp_path / "out", "--pdf-key", ca[2]))
    assert r.exit_code == 2
    assert "--pdf-cert and --pdf-key go together" in r.output
    assert not (tmp_path / "out").exists()


def test_a_wrong_pdf_key_passphrase_stops_before_building(cli, tmp_path: Path, ca) -> None:
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not it\n")
    r = cli(*build_args(make_case(tmp_path), tmp_path / "out", "--pdf-cert", ca[1], "--pdf-key", ca[2], "--pdf-key-passphrase-file", wrong))
    assert r.exit_code == 2
    assert f"{ca[2]}: wrong passphrase" in r.output
    assert not (tmp_path / "out").exists()


def test_a_pdf_key_that_is_not_the_certificates_is_refused(cli, tmp_path: Path, ca) -> None:
    other = make_ca(tmp_path)
    r = cli(*build_args(make_case(tmp_path), tmp_path / "out", "--pdf-cert", ca[1], "--pdf-key", other[2], "--pdf-key-passphrase-file", other[3]))
    assert r.exit_code == 2
    assert "does not belong to the certificate" in r.output


# --- the text machinery ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["محمد (علي)", "עברית (בדיקה)", "invoice\u202etxt.exe", "小龙\u200b🐉", "𠀀 rare"],
    ids=["mirrored-brackets-arabic", "mirrored-brackets-hebrew", "bidi-override", "zero-width-space", "no-font"],
)
def test_hard_names_are_drawn_and_read_back_exactly(tmp_path: Path, name: str) -> None:
    from reportlab.pdfgen.canvas import Canvas

    pdf = tmp_path / "t.pdf"
    canv = Canvas(str(pdf), invariant=1)
    fonts.register()
    fonts.draw(canv, 72, 700, name, "sans", 11)
    canv.save()
    assert pdftotext(pdf).strip("\n\f") == name


def test_invisible_and_overriding_characters_are_shown_as_markers() -> None:
    runs = fonts.runs("invoice\u202etxt.exe")
    assert [r.text for r in runs] == ["invoice", "[U+202E]", "txt.exe"]  # shown, and never obeyed
    assert [r.text for r in fonts.runs("a\u200bb")] == ["a", "[U+200B]", "b"]
    assert all(not r.marker for r in fonts.runs("👨\u200d👩\u200d👧"))  # joiners in emoji are ordinary


@pytest.mark.parametrize("text", ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" * 3,
                                  "Dump/data/data/com.tencent.mm/MicroMsg/9f86d081884c7d659a2feaa0c55ad015/image2/微信图片_20240728.jpg",
                                  "👨\u200d👩\u200d👧👨\u200d👩\u200d👧👨\u200d👩\u200d👧 مُحَمَّد" * 4])
def test_wrapping_never_loses_or_splits_a_character(text: str) -> None:
    for style in (HASH, CELL_PATH):
        lines = layout.wrap(text, style, 90)
        assert "".join(lines) == text
        assert all(fonts.width(line, style.role, style.size) <= 90 or len(line) == 1 for line in lines)
        assert not any(line.startswith(("\u200d", "\u0651", "\u064f")) for line in lines)
