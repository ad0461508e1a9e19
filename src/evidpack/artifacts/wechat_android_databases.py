"""WeChat (Android): the other databases in an account folder
``MicroMsg/<32 hex>/`` (e.g. ``WxFileIndex.db``, ``SnsMicroMsg.db``, FTS
indexes) — SQLCipher-encrypted or plain SQLite, told apart by their first bytes."""

from __future__ import annotations

from . import Artifact, Hit, recogniser


@recogniser(
    "wechat-android-databases",
    app="WeChat",
    platform="android",
    paths=[r"(?:^|/)com\.tencent\.mm/(?:r/)?MicroMsg/(?P<account>[0-9a-f]{32})/(?!EnMicroMsg\.db)(?P<name>[^/]+\.db)$"],
    hint="MicroMsg/",
    description="Other WeChat account databases (file index, moments, search index)",
)
def account_database(hit: Hit) -> Artifact:
    encrypted = hit.encrypted_database
    tags = ("wechat", "android-db") + (("sqlcipher",) if encrypted else ())
    return Artifact("account-database", tags, {"account_folder": hit.match["account"], "database": hit.match["name"], "encrypted": encrypted})
