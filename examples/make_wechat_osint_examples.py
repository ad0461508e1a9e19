#!/usr/bin/env python3
"""Generate the synthetic WeChat International production and OSINT captures
under examples/wechat-production/ and examples/osint/.

Everything is invented: WeChat IDs are ``wxid_example_…``; phone numbers are the
phonenumbers library's example number for China and numbers from ranges kept
for fiction (Australia 0491 570 156–159, US 555-0100–0199); IP addresses are
from the documentation ranges (RFC 5737, RFC 3849); URLs are example.org /
example.com. Times are fixed, so running this again gives the same bytes (the
PDF with reportlab's invariant mode, the zips with fixed member times).

    .venv/bin/python examples/make_wechat_osint_examples.py
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import struct
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
WECHAT = HERE / "wechat-production"
OSINT = HERE / "osint"
ZIP_TIME = (2026, 3, 11, 9, 30, 0)
REFERENCE = "WCI-LE-2026-000123"


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"{path.relative_to(HERE.parent)}  {len(data)} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}…")


def repack(data: bytes, replace: dict[str, bytes] | None = None) -> bytes:
    """The same zip with fixed member times and order, so it is byte-identical on every run."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = (replace or {}).get(info.filename, src.read(info))
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=ZIP_TIME), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


# --- WeChat International production --------------------------------------------------------------

ACCOUNTS = [
    # WeChat ID, nickname (CJK, a zero-width space and an emoji), linked mobile, email, country, registered (UTC+8)
    ("wxid_example_dragon", "小龙\u200b🐉", "+86 131 2345 6789", "", "CN", "2019-05-01 10:00:00"),
    ("wxid_example_plum", "Mei 梅花🌸", "+61 491 570 156", "plum@example.com", "AU", "2021-08-15 21:30:00"),
    ("wxid_example_kestrel", "Kestrel 🦅", "+1 202-555-0143", "kestrel@example.org", "US", "2023-02-01 08:05:00"),
]

LOGINS = [
    # login time (UTC+8, naive spreadsheet date cells; one written as text, day first), WeChat ID, IP, device, event
    (datetime(2026, 3, 11, 14, 2, 9), "wxid_example_dragon", "203.0.113.7:52311", "iPhone 14 (iOS 17.3)", "login"),
    (datetime(2026, 3, 10, 18, 45, 0), "wxid_example_dragon", "[2001:db8:85a3::8a2e:370:7334]:443", "iPhone 14 (iOS 17.3)", "login"),
    ("03/02/2026 10:15:00", "wxid_example_plum", "198.51.100.23", "Pixel 7 (Android 14)", "login"),
    (datetime(2026, 3, 11, 9, 0, 0), "wxid_example_kestrel", "192.0.2.55", "Windows PC (WeChat 3.9)", "logout"),
]


def subscriber_csv() -> bytes:
    lines = [
        "WeChat International Pte. Ltd. - Law Enforcement Response (SYNTHETIC EXAMPLE)",
        f"Request reference: {REFERENCE}",
        "Registration times are shown in UTC+8.",
        "",
        "WeChat ID,Nickname,Linked Mobile,Email,Registration Country,Registration Time (UTC+8)",
    ]
    lines += [",".join(row) for row in ACCOUNTS]
    # UTF-8 with a byte-order mark and CRLF line ends, as spreadsheet exports are.
    return "\ufeff".encode() + ("\r\n".join(lines) + "\r\n").encode("utf-8")


def ip_log_xlsx() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "IP log"
    ws.append(["Login Time", "WeChat ID", "IP Address", "Device", "Event"])
    for row in LOGINS:
        ws.append(list(row))
    for cell in ws["A"][1:]:
        if isinstance(cell.value, datetime):
            cell.number_format = "yyyy-mm-dd hh:mm:ss"
    notes = wb.create_sheet("Notes")
    notes.append(["Times in this workbook are local time in Singapore (UTC+8). SYNTHETIC EXAMPLE."])
    fixed = datetime(2026, 3, 11, 9, 30, 0)
    wb.properties.creator = "WeChat International (synthetic example)"
    wb.properties.created = fixed
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        core = zf.read("docProps/core.xml")
    core = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-03-11T09:30:00Z", core)
    return repack(data, {"docProps/core.xml": core})


def cover_letter_pdf() -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    c.setTitle(f"Response to {REFERENCE} (SYNTHETIC)")
    c.setAuthor("WeChat International Pte. Ltd. (synthetic example)")
    text = c.beginText(56, 780)
    text.setFont("Helvetica", 11)
    for line in [
        "WeChat International Pte. Ltd. (SYNTHETIC EXAMPLE - not a real production)",
        "",
        "To: Det. Jane Roe, Example County Sheriff's Office (fictional)",
        f"Your reference: 26-SW-1187      Our reference: {REFERENCE}",
        "Date: 11 March 2026",
        "",
        "In response to your preservation request of 10 March 2026 we provide,",
        "for the accounts named in the request:",
        "  - subscriber-information.csv: WeChat ID, nickname, linked mobile number,",
        "    email, registration country and registration time (UTC+8);",
        "  - ip-log.xlsx: login IP addresses and devices (times in UTC+8).",
        "",
        "WeChat International does not hold, and cannot produce, data for Weixin",
        "accounts (mainland China). Message content is not produced.",
    ]:
        text.textLine(line)
    c.drawText(text)
    c.showPage()
    c.save()
    return buf.getvalue()


# --- OSINT captures --------------------------------------------------------------------------------

PROFILE_URL = "https://example.org/profile/wxid_example_dragon"
PROFILE_HTML = (
    "<!doctype html><html><head><meta charset='utf-8'><title>小龙🐉 — profile (synthetic)</title></head>"
    "<body><h1>小龙🐉</h1><p>Public profile of a fictional account, wxid_example_dragon.</p>"
    "<img src='https://example.org/avatar.png'></body></html>"
).encode("utf-8")


def png(width: int, height: int, text: dict[str, str], itext: dict[str, str] | None = None) -> bytes:
    """A small RGB PNG (a plain pattern) with tEXt and iTXt chunks."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(
        b"\x00" + b"".join(bytes(((x * 4) % 256, (y * 6) % 256, 0x90)) for x in range(width)) for y in range(height)
    )
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    for key, value in text.items():
        out += chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
    for key, value in (itext or {}).items():
        out += chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))
    out += chunk(b"tIME", struct.pack(">HBBBBB", 2026, 3, 11, 6, 10, 0))
    out += chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    return out


AVATAR = png(16, 16, {"Comment": "synthetic avatar"})


def warc_gz(records_filename: str) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True, warc_version="1.1")

    def ids(n: int, date: str) -> dict[str, str]:
        return {"WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>", "WARC-Date": date}

    info = w.create_warcinfo_record(records_filename, {"software": "ExampleCapture 1.0 (fictional)", "format": "WARC File Format 1.1", "operator": "Det. Jane Roe"})
    for key, value in ids(1, "2026-03-11T06:02:08Z").items():
        info.rec_headers.replace_header(key, value)
    w.write_record(info)
    req_headers = StatusAndHeaders("GET /profile/wxid_example_dragon HTTP/1.1", [("Host", "example.org"), ("User-Agent", "ExampleCapture/1.0")], is_http_request=True)
    w.write_record(w.create_warc_record(PROFILE_URL, "request", http_headers=req_headers, warc_headers_dict={**ids(2, "2026-03-11T06:02:09Z"), "WARC-Concurrent-To": "<urn:uuid:00000000-0000-4000-8000-000000000003>"}))
    html_headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(PROFILE_HTML)))], protocol="HTTP/1.1")
    w.write_record(w.create_warc_record(PROFILE_URL, "response", payload=io.BytesIO(PROFILE_HTML), http_headers=html_headers, warc_headers_dict={**ids(3, "2026-03-11T06:02:09Z"), "WARC-IP-Address": "192.0.2.80"}))
    png_headers = StatusAndHeaders("200 OK", [("Content-Type", "image/png"), ("Content-Length", str(len(AVATAR)))], protocol="HTTP/1.1")
    w.write_record(w.create_warc_record("https://example.org/avatar.png", "response", payload=io.BytesIO(AVATAR), http_headers=png_headers, warc_headers_dict={**ids(4, "2026-03-11T06:02:10Z"), "WARC-IP-Address": "192.0.2.80"}))
    digest = "sha1:" + base64.b32encode(hashlib.sha1(PROFILE_HTML).digest()).decode()
    revisit = w.create_revisit_record(PROFILE_URL, digest, PROFILE_URL, "2026-03-11T06:02:09Z", http_headers=html_headers)
    for key, value in ids(5, "2026-03-11T06:05:00Z").items():
        revisit.rec_headers.replace_header(key, value)
    w.write_record(revisit)
    note = "Captured for case NC-2026-0142 (synthetic).\n".encode()
    w.write_record(w.create_warc_record("urn:example:capture-notes", "metadata", payload=io.BytesIO(note), warc_headers_dict={**ids(6, "2026-03-11T06:05:01Z"), "Content-Type": "text/plain"}))
    return buf.getvalue()


def wacz() -> bytes:
    from warcio.archiveiterator import ArchiveIterator

    warc = warc_gz("data.warc.gz")
    cdx = []
    it = ArchiveIterator(io.BytesIO(warc))
    for record in it:
        if record.rec_type == "response":
            uri = record.rec_headers.get_header("WARC-Target-URI")
            stamp = record.rec_headers.get_header("WARC-Date").replace("-", "").replace(":", "").replace("T", "").rstrip("Z")
            record.content_stream().read()
            key = "org,example)" + uri.split("example.org", 1)[1]
            fields = {"url": uri, "mime": record.http_headers.get_header("Content-Type").split(";")[0], "status": "200",
                      "digest": record.rec_headers.get_header("WARC-Payload-Digest"), "length": str(it.get_record_length()),
                      "offset": str(it.get_record_offset()), "filename": "data.warc.gz"}
            cdx.append(f"{key} {stamp} {json.dumps(fields, separators=(',', ':'))}")
    files = {
        "archive/data.warc.gz": warc,
        "indexes/index.cdxj": ("\n".join(sorted(cdx)) + "\n").encode(),
        "pages/pages.jsonl": (
            json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}) + "\n"
            + json.dumps({"id": "page-0001", "url": PROFILE_URL, "ts": "2026-03-11T06:02:09Z", "title": "小龙🐉 — profile (synthetic)"}, ensure_ascii=False) + "\n"
        ).encode("utf-8"),
    }
    package = {
        "profile": "data-package",
        "wacz_version": "1.1.1",
        "title": "Profile capture (synthetic)",
        "created": "2026-03-11T06:06:00Z",
        "software": "ExampleCapture 1.0 (fictional)",
        "mainPageURL": PROFILE_URL,
        "resources": [
            {"name": name.rsplit("/", 1)[-1], "path": name, "hash": "sha256:" + hashlib.sha256(body).hexdigest(), "bytes": len(body)}
            for name, body in files.items()
        ],
    }
    package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
    digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, body in [*files.items(), ("datapackage.json", package_bytes), ("datapackage-digest.json", json.dumps(digest, indent=2).encode())]:
            # WARCs are stored (already compressed, and replay tools seek into them); the rest deflated.
            kind = zipfile.ZIP_STORED if name.endswith(".gz") else zipfile.ZIP_DEFLATED
            zf.writestr(zipfile.ZipInfo(name, date_time=ZIP_TIME), body, kind)
    return out.getvalue()


def mhtml() -> bytes:
    boundary = "----MultipartBoundary--example00000000000000000000000000000000----"
    avatar = base64.encodebytes(AVATAR).decode().replace("\n", "\r\n")
    html = PROFILE_HTML.decode()
    text = (
        "From: <Saved by Blink>\r\n"
        f"Snapshot-Content-Location: {PROFILE_URL}\r\n"
        "Subject: =?utf-8?Q?=E5=B0=8F=E9=BE=99=F0=9F=90=89_=E2=80=94_profile_(synthetic)?=\r\n"
        "Date: Wed, 11 Mar 2026 06:08:00 -0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/related;\r\n"
        '\ttype="text/html";\r\n'
        f'\tboundary="{boundary}"\r\n'
        "\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/html\r\n"
        "Content-ID: <frame-0@mhtml.blink>\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        f"Content-Location: {PROFILE_URL}\r\n"
        "\r\n"
        f"{html}\r\n"
        f"--{boundary}\r\n"
        "Content-Type: image/png\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Location: https://example.org/avatar.png\r\n"
        "\r\n"
        f"{avatar}"
        f"--{boundary}--\r\n"
    )
    return text.encode("utf-8")


def main() -> None:
    write(WECHAT / f"{REFERENCE}-cover-letter.pdf", cover_letter_pdf())
    write(WECHAT / "subscriber-information.csv", subscriber_csv())
    write(WECHAT / "ip-log.xlsx", ip_log_xlsx())
    write(OSINT / "profile-capture.warc.gz", warc_gz("profile-capture.warc.gz"))
    write(OSINT / "profile-capture.wacz", wacz())
    write(OSINT / "profile-page.mhtml", mhtml())
    shot = png(160, 90, {"Software": "ExampleCapture 1.0 (fictional)", "Source": PROFILE_URL}, {"Title": "小龙🐉 — profile (synthetic)"})
    write(OSINT / "profile-screenshot.png", shot)
    sidecar = {
        "url": PROFILE_URL,
        "captured_at": "2026-03-11T14:10:00+08:00",
        "tool": "ExampleCapture 1.0 (fictional)",
        "operator": "Det. Jane Roe",
        "sha256": hashlib.sha256(shot).hexdigest(),
    }
    write(OSINT / "profile-screenshot.png.json", (json.dumps(sidecar, indent=2) + "\n").encode())


if __name__ == "__main__":
    main()
