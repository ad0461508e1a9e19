"""WeChat (iOS, ``com.tencent.xin``): the databases of an account folder
``Documents/<32 hex>/`` — ``DB/MM.sqlite``, ``DB/message_<n>.sqlite``,
``DB/WCDB_Contact.sqlite``, ``session/session.db`` — and their companions. In
an iTunes/Finder backup they are found by domain (``AppDomain-com.tencent.xin``);
in a full file system by the path's shape under an app container."""

from __future__ import annotations

from . import Artifact, Hit, recogniser

_KINDS = {"MM.sqlite": "main-database", "WCDB_Contact.sqlite": "contact-database", "session.db": "session-database"}


@recogniser(
    "wechat-ios-databases",
    app="WeChat",
    platform="ios",
    paths=[
        r"(?:^|/)(?P<where>AppDomain-com\.tencent\.xin|Containers/Data/Application/[0-9A-Fa-f-]{36})/Documents/(?P<account>[0-9a-f]{32})/"
        r"(?:DB/(?P<db>MM\.sqlite|message_\d+\.sqlite|WCDB_Contact\.sqlite)|session/(?P<session>session\.db))(?P<companion>-wal|-shm|-journal)?$"
    ],
    hint="/Documents/",
    description="WeChat databases (MM.sqlite, message_N.sqlite, WCDB_Contact.sqlite, session.db)",
)
def ios_database(hit: Hit) -> Artifact:
    name = hit.match["db"] or hit.match["session"]
    details = {
        "account_folder": hit.match["account"],
        "database": name,
        "identified_by": "backup domain AppDomain-com.tencent.xin"
        if hit.match["where"].startswith("AppDomain")
        else "path shape only (the app container is not confirmed as WeChat)",
    }
    if hit.match["companion"]:
        return Artifact("database-companion", ("wechat", "ios-db"), {**details, "companion_of": name})
    encrypted = hit.encrypted_database
    details["encrypted"] = encrypted
    tags = ("wechat", "ios-db") + (("encrypted-db",) if encrypted else ())
    return Artifact(_KINDS.get(name, "message-database"), tags, details)
