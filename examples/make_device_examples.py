"""Generate the synthetic device extraction outputs under examples/device/.

    python examples/make_device_examples.py        # rewrites examples/device/

Everything is invented and obviously fake (names say SYNTHETIC, numbers are
placeholders); nothing comes from a real device or person. The output is
deterministic: fixed times, seeded pseudo-random bytes, stored (not deflated)
zip members and normalised SQLite headers, so rerunning gives identical bytes
(tests/test_device_examples.py checks it).

* ``pixel-7/`` — an Android full-file-system extraction as UFED writes it:
  ``EXTRACTION_FFS.zip`` and ``Pixel 7.ufd`` (UTF-16LE with BOM, CRLF) whose
  ``[SHA256]``/``[MD5]`` match the zip. Inside: WeChat's EnMicroMsg.db (fake
  SQLCipher: random bytes) with its -wal, an unencrypted WxFileIndex.db,
  shared_prefs naming the uin (md5("mm" + uin) is the account folder), media
  folders on shared storage, and an unrelated app's SQLite database.
* ``iphone-backup/<udid>/`` — a Finder/iTunes backup: Info.plist,
  Manifest.plist, Status.plist and Manifest.db mapping stored files to
  ``AppDomain-com.tencent.xin`` paths: Documents/<32 hex>/DB/MM.sqlite,
  message_1.sqlite, WCDB_Contact.sqlite, session/session.db, LoginInfo2.dat
  and media.

The builders (``sqlite_bytes``, ``write_zip``, ``ufd_text``, ``write_backup``)
are also used by the tests to make variants (bad hashes, encrypted backups...).
"""

from __future__ import annotations

import calendar
import hashlib
import os
import plistlib
import random
import shutil
import sqlite3
import struct
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "device"

ACQUIRED = datetime(2024, 7, 28, 11, 27, 27)  # UTC; the UFED clock said 07:27:27 (-4)
EPOCH = calendar.timegm(ACQUIRED.timetuple())
UIN = "987654321"  # fake
ANDROID_ACCOUNT = hashlib.md5(f"mm{UIN}".encode()).hexdigest()
IOS_WXID = "wxid_synthetic0001"  # fake
IOS_ACCOUNT = hashlib.md5(IOS_WXID.encode()).hexdigest()
UDID = "00008110-000000000000000A"  # fake


def fake_bytes(label: str, n: int) -> bytes:
    """Deterministic pseudo-random bytes (seeded by ``label``)."""
    return random.Random(label).randbytes(n)


def sqlite_bytes(statements: Iterable[str]) -> bytes:
    """A small, real, unencrypted SQLite database, byte-for-byte reproducible:
    built in a temporary file, then the header fields that record the library
    version are fixed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "db.sqlite")
        con = sqlite3.connect(path)
        con.execute("PRAGMA page_size = 4096")
        con.execute("PRAGMA journal_mode = DELETE")
        with con:
            for sql in statements:
                con.execute(sql)
        con.close()
        data = bytearray(Path(path).read_bytes())
    data[92:100] = struct.pack(">II", 1, 3_045_000)  # version-valid-for, SQLITE_VERSION_NUMBER
    return bytes(data)


def _ut_extra(mtime: int) -> bytes:
    """Info-ZIP extended timestamp (0x5455): modification time, UTC."""
    return struct.pack("<HHBi", 0x5455, 5, 1, mtime)


def write_zip(path: Path, members: Iterable[tuple[str, bytes | None, bool]]) -> None:
    """A zip of stored members: (name, data or None for a folder, with a UTC extra field)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for n, (name, data, utc) in enumerate(members):
            t = EPOCH - 86400 * 30 + n * 61
            info = zipfile.ZipInfo(name, date_time=datetime.fromtimestamp(t - 4 * 3600, timezone.utc).timetuple()[:6])
            info.create_system = 3
            info.external_attr = ((0o40755 if data is None else 0o100640) << 16) | (0x10 if data is None else 0)
            if utc:
                info.extra = _ut_extra(t)
            zf.writestr(info, data or b"")


def ufd_text(dump: str, sha256: str, md5: str) -> str:
    return "\r\n".join(
        [
            "[Crime Case]",
            "Case Identifier=NC-2026-0142",
            "Device Name / Evidence Number=EV-0007 (SYNTHETIC)",
            "Examiner Name=Det. Jane Roe",
            "Department=Example County Sheriff's Office (fictional)",
            "[DeviceInfo]",
            "Vendor=Google",
            "Model=Pixel 7 (SYNTHETIC)",
            "IMEI1=SYNTHETIC-IMEI-0000",
            "OS=Android 14",
            "SecurityPatchLevel=2024-07-05",
            "[Dumps]",
            f"FileDump={dump}",
            "[General]",
            "AcquisitionTool=UFED 4PC (synthetic example)",
            "Version=7.69.0.33",
            "ExtractionType=FullFileSystem",
            "Date=28/07/2024 07:27:27 (-4)",
            "EndTime=28/07/2024 07:59:10 (-4)",
            "GUID=00000000-0000-4000-8000-000000000000",
            "MachineName=EXAMPLE-WORKSTATION",
            "UfdVer=1.2",
            "[SHA256]",
            f"{dump}={sha256.upper()}",
            "[MD5]",
            f"{dump}={md5}",
            "[Hash]",
            f"HMAC={fake_bytes('hmac', 32).hex().upper()}",
            "",
        ]
    )


def jpeg(label: str) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + f"SYNTHETIC {label}".encode() + b"\xff\xd9"


def android_members() -> list[tuple[str, bytes | None, bool]]:
    app = "Dump/data/data/com.tencent.mm"
    acct = f"{app}/MicroMsg/{ANDROID_ACCOUNT}"
    media = f"Dump/data/media/0/Android/data/com.tencent.mm/MicroMsg/{ANDROID_ACCOUNT}"
    prefs = '<?xml version=\'1.0\' encoding=\'utf-8\' standalone=\'yes\' ?>\n<map>\n    <int name="_auth_uin" value="{}" />\n    <string name="note">SYNTHETIC</string>\n</map>\n'
    config = '<?xml version=\'1.0\' encoding=\'utf-8\' standalone=\'yes\' ?>\n<map>\n    <int name="default_uin" value="{}" />\n</map>\n'
    fileindex = sqlite_bytes(
        [
            "CREATE TABLE WxFileIndex3 (msgId INTEGER, username TEXT, msgType INTEGER, path TEXT, size INTEGER)",
            "INSERT INTO WxFileIndex3 VALUES (1, 'wxid_synthetic_a', 3, 'image2/3f/a1/th_3fa1synthetic', 64)",
            "INSERT INTO WxFileIndex3 VALUES (2, 'wxid_synthetic_b', 34, 'voice2/8c/02/msg_synthetic.amr', 40)",
            "CREATE TABLE FileIndexVersion (version INTEGER)",
            "INSERT INTO FileIndexVersion VALUES (3)",
        ]
    )
    contacts = sqlite_bytes(
        [
            "CREATE TABLE raw_contacts (_id INTEGER PRIMARY KEY, display_name TEXT)",
            "INSERT INTO raw_contacts VALUES (1, 'Example Contact A (SYNTHETIC)')",
            "INSERT INTO raw_contacts VALUES (2, 'Example Contact B (SYNTHETIC)')",
            "INSERT INTO raw_contacts VALUES (3, 'Example Contact C (SYNTHETIC)')",
        ]
    )
    return [
        ("Dump/", None, False),
        ("Dump/system/build.prop", b"# SYNTHETIC\nro.product.model=Pixel 7 (SYNTHETIC)\nro.build.version.release=14\n", False),
        (f"{app}/shared_prefs/auth_info_key_prefs.xml", prefs.format(UIN).encode(), True),
        (f"{app}/shared_prefs/system_config_prefs.xml", config.format(UIN).encode(), True),
        (f"{acct}/EnMicroMsg.db", fake_bytes("EnMicroMsg.db", 16384), True),
        (f"{acct}/EnMicroMsg.db-wal", fake_bytes("EnMicroMsg.db-wal", 4096), True),
        (f"{acct}/WxFileIndex.db", fileindex, True),
        (f"{media}/image2/3f/a1/th_3fa1synthetic", jpeg("image2"), True),
        (f"{media}/voice2/8c/02/msg_synthetic.amr", b"#!AMR\n" + fake_bytes("amr", 34), True),
        (f"{media}/video/synthetic.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + fake_bytes("mp4", 40), True),
        (f"{media}/emoji/synthetic_emoji", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", True),
        ("Dump/data/data/com.android.providers.contacts/databases/contacts2.db", contacts, True),
    ]


def make_android(folder: Path) -> None:
    folder.mkdir(parents=True)
    zpath = folder / "EXTRACTION_FFS.zip"
    write_zip(zpath, android_members())
    data = zpath.read_bytes()
    text = ufd_text(zpath.name, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    (folder / "Pixel 7.ufd").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    for p in folder.iterdir():
        os.utime(p, (EPOCH + 1800, EPOCH + 1800))


# --- iOS backup ---------------------------------------------------------------------------


def mbfile(path: str, size: int, mtime: int, mode: int = 0o100644) -> bytes:
    """The NSKeyedArchiver MBFile blob of a Manifest.db Files row."""
    archive = {
        "$version": 100000,
        "$archiver": "NSKeyedArchiver",
        "$top": {"root": plistlib.UID(1)},
        "$objects": [
            "$null",
            {"$class": plistlib.UID(3), "RelativePath": plistlib.UID(2), "Size": size, "LastModified": mtime,
             "Birth": mtime - 3600, "LastStatusChange": mtime, "Mode": mode, "UserID": 501, "GroupID": 501,
             "InodeNumber": 0, "ProtectionClass": 3, "Flags": 0},
            path,
            {"$classname": "MBFile", "$classes": ["MBFile", "NSObject"]},
        ],
    }
    return plistlib.dumps(archive, fmt=plistlib.FMT_BINARY)


def file_id(domain: str, path: str) -> str:
    return hashlib.sha1(f"{domain}-{path}".encode()).hexdigest()


def ios_files() -> list[tuple[str, str, bytes]]:
    docs = f"Documents/{IOS_ACCOUNT}"
    chat = hashlib.md5(b"wxid_synthetic_b").hexdigest()
    mm = sqlite_bytes(
        [
            "CREATE TABLE Friend (UsrName TEXT PRIMARY KEY, NickName TEXT, Type INTEGER)",
            "INSERT INTO Friend VALUES ('wxid_synthetic_a', 'Example A (SYNTHETIC)', 3)",
            "INSERT INTO Friend VALUES ('wxid_synthetic_b', 'Example B (SYNTHETIC)', 3)",
            "CREATE TABLE Friend_Ext (UsrName TEXT, ConRemark TEXT)",
            "INSERT INTO Friend_Ext VALUES ('wxid_synthetic_a', 'placeholder')",
        ]
    )
    messages = sqlite_bytes(
        [
            f"CREATE TABLE Chat_{chat} (MesLocalID INTEGER PRIMARY KEY, CreateTime INTEGER, Message TEXT, Type INTEGER, Des INTEGER)",
            f"INSERT INTO Chat_{chat} VALUES (1, {EPOCH - 7200}, 'SYNTHETIC message one', 1, 0)",
            f"INSERT INTO Chat_{chat} VALUES (2, {EPOCH - 7100}, 'SYNTHETIC message two', 1, 1)",
            f"INSERT INTO Chat_{chat} VALUES (3, {EPOCH - 7000}, 'SYNTHETIC message three', 1, 0)",
        ]
    )
    contact = sqlite_bytes(
        [
            "CREATE TABLE Friend (userName TEXT PRIMARY KEY, type INTEGER, dbContactRemark BLOB)",
            "INSERT INTO Friend VALUES ('wxid_synthetic_a', 3, X'0a0b53594e544845544943')",
            "INSERT INTO Friend VALUES ('wxid_synthetic_b', 3, X'0a0b53594e544845544943')",
        ]
    )
    session = sqlite_bytes(
        [
            "CREATE TABLE SessionAbstract (UsrName TEXT PRIMARY KEY, CreateTime INTEGER, UnreadCount INTEGER)",
            f"INSERT INTO SessionAbstract VALUES ('wxid_synthetic_b', {EPOCH - 7000}, 0)",
        ]
    )
    app = "AppDomain-com.tencent.xin"
    return [
        (app, f"{docs}/DB/MM.sqlite", mm),
        (app, f"{docs}/DB/message_1.sqlite", messages),
        (app, f"{docs}/DB/WCDB_Contact.sqlite", contact),
        (app, f"{docs}/session/session.db", session),
        (app, "Documents/LoginInfo2.dat", fake_bytes("LoginInfo2.dat", 512)),
        (app, f"{docs}/Img/{chat}/1.pic_thum", jpeg("Img")),
        (app, f"{docs}/Audio/{chat}/1.aud", b"\x02#!SILK_V3" + fake_bytes("silk", 30)),
        ("HomeDomain", "Library/Preferences/com.example.synthetic.plist", plistlib.dumps({"Note": "SYNTHETIC"}, fmt=plistlib.FMT_BINARY)),
    ]


def write_backup(folder: Path, files: list[tuple[str, str, bytes]], *, encrypted: bool = False) -> None:
    """An iTunes/Finder backup folder holding ``files`` (domain, relativePath, bytes).
    Encrypted: Manifest.db and the stored files are random bytes, as they look
    without the backup password."""
    folder.mkdir(parents=True)
    when = ACQUIRED.replace(day=29)
    lockdown = {"DeviceName": "Example iPhone (SYNTHETIC)", "ProductType": "iPhone14,5", "ProductVersion": "17.5.1",
                "BuildVersion": "21F90", "SerialNumber": "SYNTH0000001", "UniqueDeviceID": UDID}
    info = {"Build Version": "21F90", "Device Name": "Example iPhone (SYNTHETIC)", "Display Name": "Example iPhone (SYNTHETIC)",
            "GUID": "00000000000000000000000000000000", "IMEI": "SYNTHETIC-IMEI-0001", "Last Backup Date": when,
            "Phone Number": "+1 555 0100", "Product Name": "iPhone 13", "Product Type": "iPhone14,5", "Product Version": "17.5.1",
            "Serial Number": "SYNTH0000001", "Target Identifier": UDID, "Target Type": "Device", "Unique Identifier": UDID,
            "iTunes Version": "12.13.2"}
    manifest = {"BackupKeyBag": fake_bytes("keybag", 64), "Date": when, "IsEncrypted": encrypted, "Lockdown": lockdown,
                "SystemDomainsVersion": "24.0", "Version": "10.0", "WasPasscodeSet": True,
                "Applications": {"com.tencent.xin": {"CFBundleIdentifier": "com.tencent.xin", "CFBundleVersion": "8.0.49",
                                                     "ContainerContentClass": "Data/Application"}}}
    status = {"BackupState": "new", "Date": when, "IsFullBackup": False, "SnapshotState": "finished",
              "UUID": "00000000-0000-4000-8000-00000000000A", "Version": "3.3"}
    (folder / "Info.plist").write_bytes(plistlib.dumps(info, fmt=plistlib.FMT_XML))
    (folder / "Manifest.plist").write_bytes(plistlib.dumps(manifest, fmt=plistlib.FMT_BINARY))
    (folder / "Status.plist").write_bytes(plistlib.dumps(status, fmt=plistlib.FMT_BINARY))
    rows = []
    folders: set[tuple[str, str]] = set()
    for n, (domain, path, data) in enumerate(files):
        fid = file_id(domain, path)
        stored = fake_bytes(f"encrypted {fid}", len(data) + 16) if encrypted else data
        target = folder / fid[:2] / fid
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(stored)
        os.utime(target, (EPOCH + 86400, EPOCH + 86400))
        rows.append((fid, domain, path, 1, mbfile(path, len(data), EPOCH - 3600 * (n + 1))))
        parent = path.rpartition("/")[0]
        while parent:
            folders.add((domain, parent))
            parent = parent.rpartition("/")[0]
    rows += [(file_id(d, p), d, p, 2, mbfile(p, 0, EPOCH - 86400, 0o40755)) for d, p in sorted(folders)]
    db = sqlite_bytes(
        ["CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB)",
         "CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB)"]
        + [f"INSERT INTO Files VALUES ('{f}', '{d}', '{p}', {fl}, X'{b.hex()}')" for f, d, p, fl, b in sorted(rows)]
    )
    (folder / "Manifest.db").write_bytes(fake_bytes("encrypted Manifest.db", len(db)) if encrypted else db)
    for name in ("Info.plist", "Manifest.plist", "Status.plist", "Manifest.db"):
        os.utime(folder / name, (EPOCH + 86400, EPOCH + 86400))


def main(out: Path = OUT) -> None:
    if out.exists():
        shutil.rmtree(out)
    make_android(out / "pixel-7")
    write_backup(out / "iphone-backup" / UDID, ios_files())
    (out / "README.md").write_text(
        "# Synthetic device extraction outputs\n\n"
        "Generated by `examples/make_device_examples.py` (deterministic: rerun it to get the same bytes).\n"
        "Everything here is invented; see the generator's docstring for what each file stands for.\n\n"
        "- `pixel-7/` — `EXTRACTION_FFS.zip` (Android full file system, WeChat files inside) and `Pixel 7.ufd`.\n"
        f"- `iphone-backup/{UDID}/` — a Finder/iTunes backup with WeChat (`AppDomain-com.tencent.xin`) files.\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
