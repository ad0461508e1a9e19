"""iTunes/Finder backups (Manifest.db maps stored files to domains and paths)
and Android .ab backups (header parsed, file kept, tar members listed)."""

from __future__ import annotations

import io
import sqlite3
import tarfile
import zlib
from pathlib import Path

from device_support import FOLDER, build, built, checks, device_case, gen, items, members, one_line_error, source, verify_deep

UDID = gen.UDID


def backup(tmp_path: Path, encrypted: bool = False) -> str:
    gen.write_backup(tmp_path / "backup" / UDID, gen.ios_files(), encrypted=encrypted)
    return f"backup/{UDID}"


def stored(domain: str, path: str) -> str:
    fid = gen.file_id(domain, path)
    return f"{fid[:2]}/{fid}"


def test_stored_files_are_mapped_to_domain_and_path(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, backup(tmp_path))
    path = f"Documents/{gen.IOS_ACCOUNT}/DB/MM.sqlite"
    rec = next(i for i in items(bundle) if i.get("original_path") == stored("AppDomain-com.tencent.xin", path))
    assert rec["backup_domain"] == "AppDomain-com.tencent.xin" and rec["backup_path"] == path
    assert rec["backup_file_id"] == gen.file_id("AppDomain-com.tencent.xin", path)
    assert rec["path"] == f"{FOLDER}/{stored('AppDomain-com.tencent.xin', path)}"  # copied as stored, byte for byte
    assert rec["device_mtime"].endswith("Z") and rec["device_size"] == rec["size"]
    assert {"wechat", "ios-db", "sqlite"} <= set(rec["tags"])
    by = {c["check"]: c for c in source(bundle)["checks"]}
    assert by["itunes-manifest"]["verdict"] == "pass" and "maps 8 stored file(s)" in by["itunes-manifest"]["detail"]
    assert by["itunes-file-ids"]["verdict"] == "pass"


def test_plists_are_recorded_as_facts(cli, tmp_path: Path) -> None:
    (facts,) = source(built(cli, tmp_path, backup(tmp_path)))["facts"]["itunes_backups"]
    assert facts["encrypted"] is False and facts["manifest_db"] == "read"
    assert facts["info"]["Device Name"] == "Example iPhone (SYNTHETIC)" and facts["info"]["Last Backup Date"] == "2024-07-29T11:27:27Z"
    assert facts["manifest"]["Lockdown"]["ProductVersion"] == "17.5.1" and facts["manifest"]["Applications"] == ["com.tencent.xin"]
    assert facts["status"]["SnapshotState"] == "finished"
    assert facts["manifest_db_entries"] == {"file": 8, "directory": 10}
    assert "BackupKeyBag" not in facts["manifest"]


def test_manifest_db_is_read_from_a_private_copy_never_the_evidence(cli, tmp_path: Path, monkeypatch) -> None:
    rel = backup(tmp_path)
    opened: list[str] = []
    real = sqlite3.connect

    def spy(database, *a, **kw):
        opened.append(str(database))
        return real(database, *a, **kw)

    monkeypatch.setattr(sqlite3, "connect", spy)
    built(cli, tmp_path, rel)
    evidence = [u for u in opened if not u.endswith("evidpack/catalogue.sqlite")]  # the catalogue is evidpack's own output
    assert evidence and all(u.startswith("file:") and "mode=ro" in u and "immutable=1" in u for u in evidence)
    assert not any(str(tmp_path) in u for u in evidence)  # neither the source nor the bundle's copy


def test_an_encrypted_backup_is_kept_and_catalogued_as_encrypted(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, backup(tmp_path, encrypted=True))
    files = [i for i in items(bundle) if i["kind"] == "file" and "/" in i["original_path"]]
    assert len(files) == 8 and all(i["backup_encrypted"] is True and "encrypted" in i["tags"] for i in files)
    assert not any("backup_domain" in i for i in files)
    (c,) = checks(bundle, "itunes-manifest")
    assert c["verdict"] == "not-checkable" and "IsEncrypted" in c["detail"]
    assert source(bundle)["facts"]["itunes_backups"][0]["manifest_db"] == "encrypted"
    assert verify_deep(cli, bundle).exit_code == 0


def test_a_stored_file_missing_from_the_folder_is_a_problem(cli, tmp_path: Path) -> None:
    rel = backup(tmp_path)
    victim = tmp_path / rel / stored("AppDomain-com.tencent.xin", "Documents/LoginInfo2.dat")
    victim.unlink()
    r = build(cli, device_case(tmp_path, rel), tmp_path / "out/B")
    one_line_error(r, UDID, "Manifest.db lists 1 file(s) the backup folder does not hold", "Documents/LoginInfo2.dat")


def test_an_unlisted_stored_file_is_a_warning(cli, tmp_path: Path) -> None:
    rel = backup(tmp_path)
    extra = tmp_path / rel / "ab" / ("ab" + "0" * 38)
    extra.parent.mkdir()
    extra.write_bytes(b"?")
    (c,) = checks(built(cli, tmp_path, rel), "itunes-files-present")
    assert c["verdict"] == "warn" and "not listed in Manifest.db" in c["detail"]


def test_a_backup_inside_a_larger_folder_is_found(cli, tmp_path: Path) -> None:
    backup(tmp_path)
    (tmp_path / "backup/notes.txt").write_text("examiner's note")
    bundle = built(cli, tmp_path, "backup")
    assert source(bundle)["facts"]["itunes_backups"][0]["root"] == UDID
    assert any(i.get("backup_domain") == "HomeDomain" for i in items(bundle))


# --- Android .ab -----------------------------------------------------------------------------


def ab(tmp_path: Path, encryption: str = "none", compressed: bool = True) -> str:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (("apps/com.example.notes/_manifest", b"manifest"), ("apps/com.example.notes/db/notes.db", b"x" * 600)):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), gen.EPOCH
            tf.addfile(ti, io.BytesIO(data))
    body = zlib.compress(raw.getvalue()) if compressed else raw.getvalue()
    header = f"ANDROID BACKUP\n5\n{int(compressed)}\n{encryption}\n"
    if encryption == "AES-256":
        header += "0A" * 32 + "\n" + "0B" * 32 + "\n10000\n" + "0C" * 16 + "\n" + "0D" * 96 + "\n"
        body = gen.fake_bytes("encrypted ab", 2048)
    (tmp_path / "backup.ab").write_bytes(header.encode() + body)
    return "backup.ab"


def test_ab_header_is_parsed_and_its_tar_members_listed(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, ab(tmp_path))
    container = items(bundle)[0]
    assert container["container_format"] == "android-backup"
    assert container["android_backup"] == {"version": 5, "compressed": True, "encryption": "none"}
    assert [m["member_path"] for m in members(bundle)] == ["apps/com.example.notes/_manifest", "apps/com.example.notes/db/notes.db"]
    assert verify_deep(cli, bundle).exit_code == 0


def test_uncompressed_ab(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, ab(tmp_path, compressed=False))
    assert items(bundle)[0]["android_backup"]["compressed"] is False and len(members(bundle)) == 2


def test_encrypted_ab_is_kept_with_its_header_but_not_listed(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, ab(tmp_path, "AES-256"))
    header = items(bundle)[0]["android_backup"]
    assert header["encryption"] == "AES-256" and header["pbkdf2_rounds"] == 10000 and header["user_password_salt"] == "0A" * 32
    assert members(bundle) == []
    (c,) = checks(bundle, "android-backup-members")
    assert c["verdict"] == "not-checkable" and "decrypts nothing" in c["detail"]


def test_bytes_after_an_ab_compressed_stream_are_reported(cli, tmp_path: Path) -> None:
    # The tar's end marker is inside the zlib stream: bytes appended after the stream
    # were never looked at, and the container was said to be "read to its end".
    name = ab(tmp_path)
    path = tmp_path / name
    clean = path.read_bytes()
    path.write_bytes(clean + b"HIDDEN AFTER THE STREAM" + bytes(range(256)) * 40)
    bundle = built(cli, tmp_path, name)
    (trailing,) = checks(bundle, "container-trailing-data")
    assert trailing["verdict"] == "warn"
    assert f"{23 + 256 * 40} byte(s) follow the end of the backup's compressed (zlib) stream, from offset {len(clean)}" in trailing["detail"]
    assert len(members(bundle)) == 2
    assert verify_deep(cli, bundle).exit_code == 0


def test_an_ab_without_bytes_after_its_stream_reports_none(cli, tmp_path: Path) -> None:
    bundle = built(cli, tmp_path, ab(tmp_path))
    assert checks(bundle, "container-trailing-data") == [] and checks(bundle, "container-readable")[0]["verdict"] == "pass"
