"""What a device extraction's tool files say, as sealed and as the index shows
it: every value of a repeated .ufd key (each date in UTC), .ufd sections as
written, an encrypted Android backup never said to be read to its end (and its
header shown), a .ufdr's tagged files counted as named and its times in UTC,
and facts with many keys laid out so they can be read."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

from conftest import run_proc, tool
from device_support import build, built, checks, device_case, source
from test_device_itunes import ab
from test_device_ufed import report_xml

INDEX_PDF = "evidpack/index.pdf"


def pdf_text(bundle: Path) -> str:
    return run_proc(tool("pdftotext"), "-layout", "-enc", "UTF-8", bundle / INDEX_PDF, "-").stdout.decode("utf-8")


def squeezed(text: str) -> str:
    """The text with runs of spaces made one (a row's label and value, side by side)."""
    return re.sub(r"[ \t]+", " ", text)


def ufd_folder(tmp_path: Path, lines: list[str]) -> str:
    folder = tmp_path / "ev"
    folder.mkdir()
    (folder / "dump.bin").write_bytes(b"data\n")
    md5 = hashlib.md5(b"data\n").hexdigest()
    (folder / "x.ufd").write_bytes("\r\n".join([*lines, "[MD5]", f"dump.bin={md5}", ""]).encode("utf-8"))
    return "ev"


# --- .ufd ---------------------------------------------------------------------------------------


def test_every_value_of_a_repeated_ufd_key_is_kept_and_shown_each_date_in_utc(cli, tmp_path: Path) -> None:
    name = ufd_folder(tmp_path, ["[General]", "Date=28/07/2024 07:27:27 (-4)", "Date=garbage", "Date=30/07/2024 09:00:00 (-4)"])
    bundle = built(cli, tmp_path, name)
    (facts,) = source(bundle)["facts"]["ufd"]
    assert facts["sections"]["General"]["Date"] == ["28/07/2024 07:27:27 (-4)", "garbage", "30/07/2024 09:00:00 (-4)"]
    first, second, third = facts["dates"]["General.Date"]  # one per value, in their order
    assert first["utc"] == "2024-07-28T11:27:27Z" and second is None and third["utc"] == "2024-07-30T13:00:00Z"
    text = squeezed(pdf_text(bundle))
    assert "General / Date (value 1 of 3) 2024-07-28T11:27:27Z" in text
    assert "as given: 28/07/2024 07:27:27 (-4)" in text
    assert "General / Date (value 2 of 3) garbage" in text
    assert "General / Date (value 3 of 3) 2024-07-30T13:00:00Z" in text


def test_ufd_sections_are_kept_as_written_and_a_date_before_any_section_is_in_utc(cli, tmp_path: Path) -> None:
    name = ufd_folder(tmp_path, ["Date=01/08/2024 10:00:00 (+2)", "[General]", "Vendor=Google", "[GENERAL]", "Model=Pixel", "[General]", "Empty="])
    bundle = built(cli, tmp_path, name)
    (facts,) = source(bundle)["facts"]["ufd"]
    assert facts["sections"] == {
        "": {"Date": "01/08/2024 10:00:00 (+2)"},
        "General": {"Vendor": "Google", "Empty": ""},
        "GENERAL": {"Model": "Pixel"},
    }
    assert facts["dates"] == {".Date": {"text": "01/08/2024 10:00:00 (+2)", "utc": "2024-08-01T08:00:00Z", "offset": "+02:00",
                                        "order": "day/month/year (assumed: UFED's order; both numbers could be a month)"}}
    text = squeezed(pdf_text(bundle))
    assert "(no section name) / Date 2024-08-01T08:00:00Z" in text and "order assumed" not in text
    assert "day/month/year (assumed" in text
    assert text.count("General / Vendor Google") == 1 and text.count("GENERAL / Model Pixel") == 1
    assert "General / Model" not in text and "GENERAL / Vendor" not in text
    assert "General / Empty (empty)" in text  # an empty value is shown, not left out


# --- Android .ab --------------------------------------------------------------------------------


def test_an_encrypted_ab_is_not_said_to_be_read_to_its_end_and_its_header_is_shown(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, ab(tmp_path, "AES-256"))
    (readable,) = checks(bundle, "container-readable")
    (count,) = checks(bundle, "member-count")
    assert readable["verdict"] == "not-checkable" and "not read to its end" in readable["detail"] and "encrypted (AES-256)" in readable["detail"]
    assert count["verdict"] == "not-checkable" and "members not known" in count["detail"]
    (container,) = source(bundle)["facts"]["containers"]
    assert container["readable"] is None and "only its header was read" in container["not_read"]
    assert container["android_backup"]["pbkdf2_rounds"] == 10000
    text = pdf_text(bundle)
    assert "read to its end as android-backup" not in text and "0 member(s)" not in text
    flat = squeezed(text)
    row = next(line for line in flat[flat.index("Containers and their members"):].splitlines() if line.startswith("E0001"))
    assert " not known not known" in row and row.endswith(" NOT CHECKABLE"), row  # members and member bytes not known, not "0 ... PASS"
    assert "Android backup header of E0001" in flat
    assert "Encryption AES-256" in flat and "PBKDF2 rounds 10,000" in flat and "Format version 5" in flat
    assert "0A" * 32 in text and "0B" * 32 in text and "0C" * 16 in text


def test_an_unencrypted_ab_is_read_to_its_end_and_its_header_is_shown(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, ab(tmp_path))
    assert [c["verdict"] for c in checks(bundle, "container-readable") + checks(bundle, "member-count")] == ["pass", "pass"]
    (container,) = source(bundle)["facts"]["containers"]
    assert container["readable"] is True and container["android_backup"] == {"version": 5, "compressed": True, "encryption": "none"}
    flat = squeezed(pdf_text(bundle))
    assert "Android backup header of E0001" in flat and "Encryption none" in flat and "Compressed (zlib) yes" in flat


# --- .ufdr --------------------------------------------------------------------------------------


def _ufdr(tmp_path: Path, xml: bytes, present: list[tuple[str, bytes]]) -> str:
    with zipfile.ZipFile(tmp_path / "P.ufdr", "w") as zf:
        for local, data in present:
            zf.writestr(local, data)
        zf.writestr("report.xml", xml)
    return "P.ufdr"


def test_ufdr_tagged_files_are_counted_as_named_and_its_times_given_in_utc(cli, tmp_path: Path) -> None:
    files = [("/sdcard/a.txt", "files/Text/a.txt", b"a", None, None), ("/sdcard/b.txt", "files/Text/b.txt", b"b", None, None),
             ("/sdcard/gone.txt", "files/Text/gone.txt", b"g", None, None)]
    xml = report_xml(files).decode().replace(
        '</metadata><metadata section="Device Info">',
        '<item name="DeviceInfoExtractionEndDateTime" sourceExtraction="0">28/07/2024 07:59:10</item></metadata><metadata section="Device Info">',
    ).encode()
    name = _ufdr(tmp_path, xml, [(local, data) for _d, local, data, _s, _m in files[:2]])
    out = tmp_path / "out/B"
    assert build(cli, device_case(tmp_path, name), out, "--keep-going").exit_code == 0
    (facts,) = source(out)["facts"]["ufdr"]
    assert (facts["tagged_files"], facts["tagged_files_with_local_path"], facts["tagged_files_in_ufdr"]) == (3, 3, 2)
    start, end = facts["metadata"]["Extraction Data"]
    assert start["date"] == {"text": "28/07/2024 07:27:27(UTC-4)", "utc": "2024-07-28T11:27:27Z", "offset": "-04:00", "order": "day/month/year"}
    assert end["date"]["utc"] is None and "not stated" in end["date"]["zone"]  # no zone: never guessed
    flat = squeezed(pdf_text(out))
    assert "Files tagged in report.xml 3" in flat
    assert "… with a copy in the .ufdr 2" in flat and "… Local Path not in the .ufdr 1" in flat
    assert "DeviceInfoExtractionStartDateTime 2024-07-28T11:27:27Z" in flat and "as given: 28/07/2024 07:27:27(UTC-4)" in flat
    assert "DeviceInfoExtractionEndDateTime 28/07/2024 07:59:10" in flat and "zone not stated in report.xml" in flat
    assert "tagged_files_in_ufdr" not in flat


def test_facts_with_many_keys_are_drawn_as_key_value_rows(cli, tmp_path: Path) -> None:
    xml = report_xml([("/sdcard/a.txt", "files/Text/a.txt", b"a", None, None)]).decode()
    attrs = " ".join(f'attribute{i:02d}="value number {i} \u202eevil\u202c"' for i in range(60))
    xml = xml.replace('<extractionInfo id="0"', f'<extractionInfo {attrs} id="0"')
    bundle = built(cli, tmp_path, _ufdr(tmp_path, xml.encode(), [("files/Text/a.txt", b"a")]))
    (facts,) = source(bundle)["facts"]["ufdr"]
    assert len(facts["extractions"][0]) == 64
    text = pdf_text(bundle)
    rows = re.findall(r"^\s*(attribute\d\d)\s+value number (\d+) ", text, re.M)
    assert sorted(rows) == [(f"attribute{i:02d}", str(i)) for i in range(60)]  # each key beside its value, on one line
    assert "entry 1 of 1" in text
