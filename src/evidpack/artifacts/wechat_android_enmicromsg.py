"""WeChat (Android): the account's message database ``EnMicroMsg.db`` and its
``-wal``/``-shm``/``-journal`` companions, in
``/data/data/com.tencent.mm/MicroMsg/<32 hex>/`` (the folder name is
md5("mm" + uin)). The database is SQLCipher-encrypted, so it does not start
with the SQLite header; evidpack records that and decrypts nothing."""

from __future__ import annotations

from . import Artifact, Hit, recogniser


@recogniser(
    "wechat-android-enmicromsg",
    app="WeChat",
    platform="android",
    paths=[r"(?:^|/)com\.tencent\.mm/(?:r/)?MicroMsg/(?P<account>[0-9a-f]{32})/EnMicroMsg\.db(?P<companion>-wal|-shm|-journal)?$"],
    hint="EnMicroMsg.db",
    description="WeChat message database EnMicroMsg.db (SQLCipher) and its -wal/-shm/-journal companions",
)
def enmicromsg(hit: Hit) -> Artifact:
    details = {"account_folder": hit.match["account"]}
    companion = hit.match["companion"]
    if companion:
        return Artifact("database-companion", ("wechat", "android-db"), {**details, "companion_of": "EnMicroMsg.db"})
    encrypted = hit.encrypted_database
    tags = ("wechat", "android-db") + (("sqlcipher",) if encrypted else ())
    details["encrypted"] = encrypted
    if encrypted:
        details["why"] = "does not start with the SQLite header: encrypted (SQLCipher); evidpack decrypts nothing"
    return Artifact("message-database", tags, details)
