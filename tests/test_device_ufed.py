"""Cellebrite UFED outputs: .ufd (INI, UTF-8 or UTF-16LE with BOM, CRLF or LF),
.ufdx (XML naming .ufd files) and .ufdr (a zip with report.xml)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from device_support import artifacts, build, built, checks, device_case, gen, items, member, one_line_error, source, verify_deep

from evidpack.importers import ufed

ZIP = "EXTRACTION_FFS.zip"


def android(tmp_path: Path) -> tuple[Path, bytes]:
    gen.make_android(tmp_path / "ev")
    return tmp_path / "ev", (tmp_path / "ev" / ZIP).read_bytes()


def write_ufd(folder: Path, lines: list[str], encoding: str = "utf-8", newline: str = "\n") -> None:
    data = newline.join(lines + [""]).encode(encoding)
    if encoding == "utf-16-le":
        data = b"\xff\xfe" + data
    (folder / "Pixel 7.ufd").write_bytes(data)


def test_the_example_ufd_utf16_crlf_is_parsed_and_its_hashes_match(cli, tmp_path: Path) -> None:
    folder, data = android(tmp_path)
    bundle = built(cli, tmp_path, "ev")
    (sha,) = checks(bundle, "ufd-sha256")
    (md5,) = checks(bundle, "ufd-md5")
    assert sha["verdict"] == "pass" and hashlib.sha256(data).hexdigest() in sha["detail"] and sha["subject"] == ZIP
    assert md5["verdict"] == "pass"
    (facts,) = source(bundle)["facts"]["ufd"]
    assert facts["encoding"] == "UTF-16LE with BOM" and facts["line_endings"] == "CRLF"
    assert facts["sections"]["DeviceInfo"]["Model"] == "Pixel 7 (SYNTHETIC)"
    assert facts["sections"]["Crime Case"]["Examiner Name"] == "Det. Jane Roe"
    assert facts["sections"]["Dumps"]["FileDump"] == ZIP
    assert "SHA256" not in facts["sections"]  # hashes are checked, not copied into the facts
    assert facts["dates"]["General.Date"] == {
        "text": "28/07/2024 07:27:27 (-4)", "utc": "2024-07-28T11:27:27Z", "offset": "-04:00", "order": "day/month/year",
    }
    assert facts["dates"]["General.EndTime"]["utc"] == "2024-07-28T11:59:10Z"


def test_hmac_cannot_be_recomputed_and_says_so(cli, tmp_path: Path) -> None:
    android(tmp_path)
    (hmac,) = checks(built(cli, tmp_path, "ev"), "ufd-hmac")
    assert hmac["verdict"] == "not-checkable" and "cannot be recomputed" in hmac["detail"]


def test_utf8_lf_lowercase_hex_sha1_and_a_name_holding_equals(cli, tmp_path: Path) -> None:
    folder, data = android(tmp_path)
    (folder / ZIP).rename(folder / "dump=1.zip")
    write_ufd(folder, [
        "[General]", "AcquisitionTool=UFED", "Date=01/02/2024 10:00:00 (+5:30)",
        "[SHA256]", f"dump=1.zip={hashlib.sha256(data).hexdigest()}",
        "[SHA1]", f"dump=1.zip={hashlib.sha1(data).hexdigest().upper()}",
    ])
    bundle = built(cli, tmp_path, "ev")
    assert [c["verdict"] for c in checks(bundle, "ufd-sha256") + checks(bundle, "ufd-sha1")] == ["pass", "pass"]
    container = next(i for i in items(bundle) if i.get("original_path") == "dump=1.zip")
    assert container["sha1"] == hashlib.sha1(data).hexdigest()  # computed in the same read as the copy
    (facts,) = source(bundle)["facts"]["ufd"]
    assert facts["encoding"] == "UTF-8" and facts["line_endings"] == "LF"
    assert facts["dates"]["General.Date"]["utc"] == "2024-02-01T04:30:00Z"
    assert facts["dates"]["General.Date"]["order"].startswith("day/month/year (assumed")


def test_names_are_matched_exactly(cli, tmp_path: Path) -> None:
    folder, data = android(tmp_path)
    write_ufd(folder, ["[SHA256]", f"extraction_ffs.zip={hashlib.sha256(data).hexdigest()}"])
    r = build(cli, device_case(tmp_path, "ev"), tmp_path / "out/B")
    one_line_error(r, "Pixel 7.ufd", "[SHA256] extraction_ffs.zip", "missing dump")


def test_repeated_keys_and_sections_are_all_kept_and_checked(cli, tmp_path: Path) -> None:
    folder, data = android(tmp_path)
    good = hashlib.sha256(data).hexdigest()
    write_ufd(folder, ["[DeviceInfo]", "IMEI=111", "IMEI=222", "[SHA256]", f"{ZIP}={good}", "[SHA256]", f"{ZIP}={'cd' * 32}"])
    out = tmp_path / "out/B"
    assert build(cli, device_case(tmp_path, "ev"), out, "--keep-going").exit_code == 0
    assert [c["verdict"] for c in checks(out, "ufd-sha256")] == ["pass", "fail"]
    assert source(out)["facts"]["ufd"][0]["sections"]["DeviceInfo"]["IMEI"] == ["111", "222"]


def test_a_ufd_value_that_is_not_hex_is_a_failed_check(cli, tmp_path: Path) -> None:
    folder, _ = android(tmp_path)
    write_ufd(folder, ["[MD5]", f"{ZIP}=not-a-digest"])
    one_line_error(build(cli, device_case(tmp_path, "ev"), tmp_path / "out/B"), "[MD5]", "is not a MD5 value")


def test_the_ufd_as_the_source_brings_the_files_it_names(cli, tmp_path: Path) -> None:
    android(tmp_path)
    bundle = built(cli, tmp_path, "ev/Pixel 7.ufd")
    names = sorted(i["original_path"] for i in items(bundle) if i["kind"] == "file")
    assert names == [ZIP, "Pixel 7.ufd"] and checks(bundle, "ufd-sha256")[0]["verdict"] == "pass"
    assert next(i for i in items(bundle) if i.get("original_path") == ZIP)["container_format"] == "zip"


def test_ufdx_names_ufd_files_and_brings_them(cli, tmp_path: Path) -> None:
    android(tmp_path)
    (tmp_path / "ev/EvidenceCollection.ufdx").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<EvidenceCollection EvidenceID="EV-0007" Vendor="Google" Model="Pixel 7 (SYNTHETIC)">'
        '<Extractions><Extraction Type="FileSystem" Path="Pixel 7.ufd" /></Extractions></EvidenceCollection>\n', "utf-8")
    bundle = built(cli, tmp_path, "ev/EvidenceCollection.ufdx")
    assert sorted(i["original_path"] for i in items(bundle) if i["kind"] == "file") == ["EXTRACTION_FFS.zip", "EvidenceCollection.ufdx", "Pixel 7.ufd"]
    (c,) = checks(bundle, "ufdx-extraction-present")
    assert c["verdict"] == "pass"
    (facts,) = source(bundle)["facts"]["ufdx"]
    assert facts["attributes"]["EvidenceID"] == "EV-0007" and facts["extractions"][0]["Path"] == "Pixel 7.ufd"
    assert checks(bundle, "ufd-sha256")[0]["verdict"] == "pass"


def test_ufdx_naming_a_missing_ufd_fails(cli, tmp_path: Path) -> None:
    android(tmp_path)
    (tmp_path / "ev/EvidenceCollection.ufdx").write_text('<EvidenceCollection><Extraction Path="Other\\Phone.ufd"/></EvidenceCollection>')
    one_line_error(build(cli, device_case(tmp_path, "ev"), tmp_path / "out/B"), "EvidenceCollection.ufdx", "'Other/Phone.ufd'", "not in the source")


@pytest.mark.parametrize(
    "text, utc, order",
    [
        ("28/07/2024 07:27:27 (-4)", "2024-07-28T11:27:27Z", "day/month/year"),
        ("07/28/2024 07:27:27 (-4)", "2024-07-28T11:27:27Z", "month/day/year (the second number is over 12)"),
        ("28/07/2024 07:27:27 PM (+8)", "2024-07-28T11:27:27Z", "day/month/year"),
        ("28/07/2024 07:27 (+5.5)", "2024-07-28T01:57:00Z", "day/month/year"),
        ("28/07/2024 07:27:27 (UTC+0)", "2024-07-28T07:27:27Z", "day/month/year"),
    ],
)
def test_ufd_dates_keep_their_text_and_offset(text: str, utc: str, order: str) -> None:
    parsed = ufed.parse_ufd_date(text)
    assert parsed is not None and parsed["utc"] == utc and parsed["order"] == order and parsed["text"] == text


def test_a_date_without_an_offset_is_not_guessed() -> None:
    assert ufed.parse_ufd_date("28/07/2024 07:27:27") is None


@pytest.mark.parametrize("text", ["01/01/0001 00:00 (+5)", "31/12/9999 23:59 (-5)"])
def test_a_date_outside_the_years_1_to_9999_in_utc_is_not_read(text: str) -> None:
    # (it was an uncaught overflow: the whole build stopped with an internal error)
    assert ufed.parse_ufd_date(text) is None


# --- .ufdr --------------------------------------------------------------------------------


ACCOUNT = gen.ANDROID_ACCOUNT


def report_xml(files: list[tuple[str, str, bytes, str | None, str | None]]) -> bytes:
    """A small report.xml: (device path, local path, data, sha256 to report or None for the real one, md5 likewise)."""
    parts = []
    for n, (device, local, data, sha256, md5) in enumerate(files):
        s = hashlib.sha256(data).hexdigest() if sha256 is None else sha256
        m = hashlib.md5(data).hexdigest() if md5 is None else md5
        parts.append(
            f'<file fs="Data" fsid="0" path="{escape(device)}" size="{len(data)}" id="f{n}" extractionId="0" deleted="Intact">'
            f'<accessInfo><timestamp name="ModifyTime">2024-07-28T07:00:00-04:00</timestamp></accessInfo>'
            f'<metadata section="File"><item name="Local Path"><![CDATA[{local.replace("/", chr(92))}]]></item>'
            f'<item name="SHA256"><![CDATA[{s}]]></item><item name="MD5"><![CDATA[{m}]]></item></metadata></file>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<project id="00000000-0000-4000-8000-000000000001" name="Pixel 7 (SYNTHETIC)" reportVersion="7.69.0.33" '
        'xmlns="http://pa.cellebrite.com/report/2.0">'
        '<sourceExtractions><extractionInfo id="0" name="File System" type="FileDump" deviceName="Pixel 7 (SYNTHETIC)" /></sourceExtractions>'
        '<caseInformation><field name="Examiner name" fieldType="ExaminerName">Det. Jane Roe</field></caseInformation>'
        '<metadata section="Extraction Data"><item name="DeviceInfoExtractionStartDateTime" sourceExtraction="0">28/07/2024 07:27:27(UTC-4)</item></metadata>'
        '<metadata section="Device Info"><item name="DeviceInfoSelectedDeviceName" sourceExtraction="0">Pixel 7 (SYNTHETIC)</item></metadata>'
        f'<taggedFiles>{"".join(parts)}</taggedFiles><decodedData /></project>\n'
    ).encode("utf-8")


def ufdr(tmp_path: Path, files: list[tuple[str, str, bytes, str | None, str | None]], with_report: bool = True) -> str:
    with zipfile.ZipFile(tmp_path / "Pixel 7.ufdr", "w") as zf:
        for _device, local, data, _s, _m in files:
            zf.writestr(local, data)
        if with_report:
            zf.writestr("report.xml", report_xml(files))
    return "Pixel 7.ufdr"


DB = f"/data/data/com.tencent.mm/MicroMsg/{ACCOUNT}/EnMicroMsg.db"


def test_ufdr_report_hashes_are_cross_checked_and_device_paths_recorded(cli, tmp_path: Path) -> None:
    files = [
        (DB, "files/Database/EnMicroMsg.db", gen.fake_bytes("db", 4096), None, None),
        ("/sdcard/DCIM/a.jpg", "files/Image/a.jpg", gen.jpeg("a"), "", ""),
    ]
    bundle = built(cli, tmp_path, ufdr(tmp_path, files))
    (c,) = checks(bundle, "ufdr-reported-hashes")
    assert c["verdict"] == "pass" and "1 matched, 0 mismatched, 1 not checkable" in c["detail"]
    m = member(bundle, "files/Database/EnMicroMsg.db")
    assert m["device_path"] == DB and {"wechat", "sqlcipher"} <= set(m["tags"])  # recognised by its device path
    (facts,) = source(bundle)["facts"]["ufdr"]
    assert facts["project"]["name"] == "Pixel 7 (SYNTHETIC)" and facts["namespace"] == ufed.UFDR_NAMESPACE
    assert facts["extractions"][0]["type"] == "FileDump" and facts["case_information"][0]["value"] == "Det. Jane Roe"
    assert facts["metadata"]["Device Info"][0]["value"] == "Pixel 7 (SYNTHETIC)"
    assert any(a["path"] == DB for a in artifacts(bundle)["artifacts"])
    assert verify_deep(cli, bundle).exit_code == 0


def test_ufdr_with_no_hashes_given_is_not_checkable(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, ufdr(tmp_path, [("/sdcard/a.txt", "files/Text/a.txt", b"a", "", "")]))
    (c,) = checks(bundle, "ufdr-reported-hashes")
    assert c["verdict"] == "not-checkable"


def test_ufdr_hash_mismatch_is_a_problem_naming_the_member(cli, tmp_path: Path) -> None:
    name = ufdr(tmp_path, [("/sdcard/a.txt", "files/Text/a.txt", b"a", "ab" * 32, None)])
    r = build(cli, device_case(tmp_path, name), tmp_path / "out/B")
    one_line_error(r, "Pixel 7.ufdr", "1 mismatched", "files/Text/a.txt (/sdcard/a.txt)", "report.xml sha256")


def test_ufdr_without_report_xml(cli, tmp_path: Path) -> None:
    name = ufdr(tmp_path, [("/sdcard/a.txt", "files/Text/a.txt", b"a", None, None)], with_report=False)
    one_line_error(build(cli, device_case(tmp_path, name), tmp_path / "out/B"), "Pixel 7.ufdr", "holds no report.xml")


def test_report_xml_is_stream_parsed_with_flat_memory() -> None:
    """Elements are dropped once read: a report with many files keeps only the small per-file tuple."""
    import io

    files = [(f"/sdcard/f{i}", f"files/f{i}", b"x", None, None) for i in range(2000)]
    report = ufed.read_report(io.BytesIO(report_xml(files)))
    assert len(report.files) == 2000 and report.files["files/f1999"][0] == "/sdcard/f1999"
