"""Artifact recognisers: the registry, each WeChat/Weixin recogniser, database
summaries from private read-only copies, and adding a recogniser as one module."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import zipfile
from pathlib import Path

import pytest
from device_support import artifacts, built, gen, member, zip_of

from evidpack import artifacts as registry
from evidpack.artifacts import SQLITE_MAGIC

A = gen.ANDROID_ACCOUNT
I = gen.IOS_ACCOUNT


@pytest.mark.parametrize(
    "path, expected",
    [
        (f"Dump/data/data/com.tencent.mm/MicroMsg/{A}/EnMicroMsg.db", "wechat-android-enmicromsg"),
        (f"data/data/com.tencent.mm/MicroMsg/{A}/EnMicroMsg.db-wal", "wechat-android-enmicromsg"),
        (f"apps/com.tencent.mm/r/MicroMsg/{A}/EnMicroMsg.db-journal", "wechat-android-enmicromsg"),
        (f"/data/data/com.tencent.mm/MicroMsg/{A}/WxFileIndex.db", "wechat-android-databases"),
        ("Dump/data/data/com.tencent.mm/shared_prefs/auth_info_key_prefs.xml", "wechat-android-prefs"),
        ("apps/com.tencent.mm/sp/system_config_prefs.xml", "wechat-android-prefs"),
        (f"Dump/data/media/0/Android/data/com.tencent.mm/MicroMsg/{A}/image2/3f/a1/th_x", "wechat-android-media"),
        (f"sdcard/tencent/MicroMsg/{A}/voice2/8c/02/msg.amr", "wechat-android-media"),
        (f"AppDomain-com.tencent.xin/Documents/{I}/DB/MM.sqlite", "wechat-ios-databases"),
        (f"AppDomain-com.tencent.xin/Documents/{I}/DB/message_12.sqlite-wal", "wechat-ios-databases"),
        (f"AppDomain-com.tencent.xin/Documents/{I}/DB/WCDB_Contact.sqlite", "wechat-ios-databases"),
        (f"AppDomain-com.tencent.xin/Documents/{I}/session/session.db", "wechat-ios-databases"),
        (f"private/var/mobile/Containers/Data/Application/0A1B2C3D-0000-4000-8000-00000000000A/Documents/{I}/DB/MM.sqlite", "wechat-ios-databases"),
        ("AppDomain-com.tencent.xin/Documents/LoginInfo2.dat", "wechat-ios-login"),
        (f"AppDomain-com.tencent.xin/Documents/{I}/Img/{A}/1.pic", "wechat-ios-media"),
        (f"AppDomain-com.tencent.xin/Documents/{I}/Audio/{A}/1.aud", "wechat-ios-media"),
    ],
)
def test_each_recogniser_matches_its_paths(path: str, expected: str) -> None:
    assert [r.name for r, _ in registry.matching(path)] == [expected]


@pytest.mark.parametrize(
    "path",
    [
        "Dump/data/data/com.tencent.mm/MicroMsg/not-hex-folder/EnMicroMsg.db",
        f"Dump/data/data/com.tencent.mm/MicroMsg/{A}/EnMicroMsg.db.bak",
        f"Dump/data/data/com.example/MicroMsg/{A}/EnMicroMsg.db",
        "AppDomain-com.example/Documents/LoginInfo2.dat",
        f"AppDomain-com.tencent.xin/Documents/{I}/DB/Other.sqlite",
        "Dump/data/data/com.tencent.mm/shared_prefs/other.xml",
    ],
)
def test_lookalike_paths_are_not_recognised(path: str) -> None:
    assert registry.matching(path) == []


def test_every_recogniser_module_registers_and_describes_itself() -> None:
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(registry.__path__) if not m.name.startswith("_")}
    found = registry.recognisers()
    assert {r.handler.__module__.rsplit(".", 1)[1] for r in found} == modules
    for r in found:
        assert r.app and r.platform in ("android", "ios") and r.description and r.hint


@pytest.fixture(scope="module")
def example_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import run_cli

    root = tmp_path_factory.mktemp("artifacts")
    gen.main(root / "device")
    manifest = root / "case.toml"
    from conftest import manifest_text

    text = manifest_text('"device/pixel-7"', kind="device") + manifest_text(f'"device/iphone-backup/{gen.UDID}"', kind="device").split("[case]", 1)[1].split("\n\n", 1)[1]
    manifest.write_text(text)
    out = root / "out/B"
    r = run_cli("build", manifest, "--key", REPO_KEY, "--passphrase-file", REPO_PASS, "--out", out, "--time", "2026-11-22T08:00:00Z")
    assert r.exit_code == 0, r.output
    return out


from conftest import DEMO_KEY as REPO_KEY, DEMO_PASS as REPO_PASS  # noqa: E402


def _art(bundle: Path, sid: str, recogniser: str) -> list[dict]:
    return [a for a in artifacts(bundle, sid)["artifacts"] if a["recogniser"] == recogniser]


def test_android_enmicromsg_is_recognised_as_sqlcipher(example_bundle: Path) -> None:
    (db, wal) = _art(example_bundle, "S01", "wechat-android-enmicromsg")
    assert db["kind"] == "message-database" and db["encrypted"] is True and db["account_folder"] == A
    assert "SQLCipher" in db["why"] and "decrypts nothing" in db["why"]
    assert wal["kind"] == "database-companion" and wal["path"].endswith("EnMicroMsg.db-wal")
    m = member(example_bundle, db["path"])
    assert m["id"] == db["item"] and m["tags"] == ["android-db", "sqlcipher", "wechat"]


def test_android_uin_names_the_account_folder(example_bundle: Path) -> None:
    prefs = _art(example_bundle, "S01", "wechat-android-prefs")
    assert {u["uin"] for p in prefs for u in p["uins"]} == {gen.UIN}
    findings = artifacts(example_bundle, "S01")["findings"]
    assert findings and all(f["folder_found"] and f["account_folder"] == hashlib.md5(f"mm{gen.UIN}".encode()).hexdigest() for f in findings)


def test_android_media_folders_are_counted_not_listed(example_bundle: Path) -> None:
    groups = {g["folder"]: g for g in artifacts(example_bundle, "S01")["groups"]}
    assert set(groups) == {"image2", "voice2", "video", "emoji"}
    assert all(g["count"] == 1 and g["account_folder"] == A for g in groups.values())


def test_unencrypted_databases_get_table_names_and_row_counts(example_bundle: Path) -> None:
    dbs = {d["path"].split("/")[-1]: d for d in artifacts(example_bundle, "S01")["databases"]}
    assert {t["table"]: t["rows"] for t in dbs["WxFileIndex.db"]["tables"]} == {"FileIndexVersion": 1, "WxFileIndex3": 2}
    assert {t["table"]: t["rows"] for t in dbs["contacts2.db"]["tables"]} == {"raw_contacts": 3}
    assert dbs["WxFileIndex.db"]["page_size"] == 4096 and "EnMicroMsg.db" not in dbs
    ios = {d["path"].split("/")[-1]: d for d in artifacts(example_bundle, "S02")["databases"]}
    assert {t["table"]: t["rows"] for t in ios["MM.sqlite"]["tables"]} == {"Friend": 2, "Friend_Ext": 1}
    assert sum(t["rows"] for t in ios["message_1.sqlite"]["tables"]) == 3


def test_ios_wechat_files_are_recognised_by_backup_domain(example_bundle: Path) -> None:
    dbs = {a["database"]: a for a in _art(example_bundle, "S02", "wechat-ios-databases")}
    assert set(dbs) == {"MM.sqlite", "message_1.sqlite", "WCDB_Contact.sqlite", "session.db"}
    assert all(a["encrypted"] is False and a["account_folder"] == I and "AppDomain" in a["identified_by"] for a in dbs.values())
    (login,) = _art(example_bundle, "S02", "wechat-ios-login")
    assert login["kind"] == "login-info" and login["decoded"] is False
    assert {g["folder"] for g in artifacts(example_bundle, "S02")["groups"]} == {"Img", "Audio"}


def test_the_catalogue_holds_the_artifacts_and_table_counts(example_bundle: Path) -> None:
    con = sqlite3.connect(f"file:{example_bundle / 'evidpack/catalogue.sqlite'}?mode=ro", uri=True)
    try:
        kinds = {row[0] for row in con.execute("SELECT recogniser FROM artifacts")}
        rows = dict(con.execute("SELECT \"table\", rows FROM database_tables WHERE path LIKE '%WxFileIndex.db'"))
        sources = {row[0] for row in con.execute("SELECT DISTINCT source FROM artifacts")}
    finally:
        con.close()
    assert "wechat-android-enmicromsg" in kinds and "wechat-ios-databases" in kinds
    assert rows == {"FileIndexVersion": 1, "WxFileIndex3": 2} and sources == {"S01", "S02"}


def test_a_database_is_never_opened_in_place(cli, tmp_path: Path, monkeypatch) -> None:
    db = gen.sqlite_bytes(["CREATE TABLE t (x)", "INSERT INTO t VALUES (1)"])
    zip_of(tmp_path / "ev.zip", {"a/app.db": db})
    (tmp_path / "dump").mkdir()
    (tmp_path / "dump/b.db").write_bytes(db)
    opened: list[str] = []
    real = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda database, *a, **kw: opened.append(str(database)) or real(database, *a, **kw))
    bundle = built(cli, tmp_path, "dump")
    assert artifacts(bundle)["databases"][0]["tables"] == [{"table": "t", "rows": 1}]
    reads = [u for u in opened if not u.endswith("catalogue.sqlite")]
    assert reads and all(u.startswith("file:") and "mode=ro&immutable=1" in u and str(tmp_path) not in u for u in reads)


def test_a_plain_sqlite_enmicromsg_is_not_called_encrypted(cli, tmp_path: Path) -> None:
    path = f"Dump/data/data/com.tencent.mm/MicroMsg/{A}/EnMicroMsg.db"
    zip_of(tmp_path / "ev.zip", {path: gen.sqlite_bytes(["CREATE TABLE message (msgId INTEGER)"])})
    bundle = built(cli, tmp_path, "ev.zip")
    (db,) = _art(bundle, "S01", "wechat-android-enmicromsg")
    assert db["encrypted"] is False and "sqlcipher" not in member(bundle, path)["tags"]
    assert artifacts(bundle)["databases"][0]["tables"] == [{"table": "message", "rows": 0}]


def test_wal_beside_a_database_is_noted(cli, tmp_path: Path) -> None:
    db = gen.sqlite_bytes(["CREATE TABLE t (x)"])
    zip_of(tmp_path / "ev.zip", {"x/app.db": db, "x/app.db-wal": b"\x37\x7f\x06\x82" + bytes(28)})
    (entry,) = artifacts(built(cli, tmp_path, "ev.zip"))["databases"]
    assert entry["companions"] == ["wal"] and "not applied" in entry["note"]


def test_database_summaries_can_be_capped(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "ev.zip", {"x/app.db": gen.sqlite_bytes(["CREATE TABLE t (x)"])})
    (entry,) = artifacts(built(cli, tmp_path, "ev.zip", options={"sqlite_summary_max_bytes": 0}))["databases"]
    assert "tables" not in entry and "sqlite_summary_max_bytes" in entry["not_counted"]


def test_a_corrupt_database_is_described_not_fatal(cli, tmp_path: Path) -> None:
    zip_of(tmp_path / "ev.zip", {"x/broken.db": SQLITE_MAGIC + b"\x10\x00" + bytes(200)})
    (entry,) = artifacts(built(cli, tmp_path, "ev.zip"))["databases"]
    assert "error" in entry


def test_adding_a_recogniser_is_adding_one_module(cli, tmp_path: Path, monkeypatch) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "example_notes.py").write_text(
        '"""Example Notes (Android): its notes database."""\n'
        "from evidpack.artifacts import Artifact, Hit, recogniser\n\n\n"
        '@recogniser("example-notes-db", app="Example Notes", platform="android",\n'
        '            paths=[r"com\\.example\\.notes/databases/notes\\.db$"], hint="com.example.notes",\n'
        '            description="Example Notes database")\n'
        "def notes(hit: Hit) -> Artifact:\n"
        '    return Artifact("notes-database", ("example-notes",), {"size": hit.size})\n'
    )
    monkeypatch.setattr(registry, "__path__", [*registry.__path__, str(plugins)])
    monkeypatch.setattr(registry, "_recognisers", dict(registry._recognisers))
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setitem(sys.modules, "evidpack.artifacts.example_notes", None)
    del sys.modules["evidpack.artifacts.example_notes"]
    zip_of(tmp_path / "ev.zip", {"data/data/com.example.notes/databases/notes.db": b"n" * 10})
    bundle = built(cli, tmp_path, "ev.zip")
    (a,) = artifacts(bundle)["artifacts"]
    assert a["recogniser"] == "example-notes-db" and a["app"] == "Example Notes" and a["size"] == 10
    assert member(bundle, "data/data/com.example.notes/databases/notes.db")["tags"] == ["example-notes"]
    sys.modules.pop("evidpack.artifacts.example_notes", None)


def test_recogniser_names_are_unique() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.recogniser("wechat-ios-login", app="x", platform="ios", paths=["x"], hint="x", description="x")(lambda hit: None)


def test_a_zip_member_and_a_folder_file_are_recognised_alike(cli, tmp_path: Path) -> None:
    path = "Dump/data/data/com.tencent.mm/shared_prefs/auth_info_key_prefs.xml"
    content = b'<map><int name="_auth_uin" value="42" /></map>'
    zip_of(tmp_path / "ev.zip", {path: content})
    (tmp_path / "dump" / path).parent.mkdir(parents=True)
    (tmp_path / "dump" / path).write_bytes(content)
    from_zip = _art(built(cli, tmp_path, "ev.zip"), "S01", "wechat-android-prefs")
    import shutil

    shutil.rmtree(tmp_path / "out")
    from_folder = _art(built(cli, tmp_path, "dump"), "S01", "wechat-android-prefs")
    assert from_zip[0]["uins"] == from_folder[0]["uins"] == [{"key": "_auth_uin", "uin": "42", "account_folder": hashlib.md5(b"mm42").hexdigest()}]
    assert zipfile.is_zipfile(tmp_path / "ev.zip")
