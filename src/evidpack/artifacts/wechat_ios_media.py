"""WeChat (iOS): media folders of an account — ``Img``, ``Audio``, ``Video``,
``OpenData``, ``Emoticon`` under ``Documents/<32 hex>/``. Counted per folder."""

from __future__ import annotations

from . import Artifact, Hit, recogniser


@recogniser(
    "wechat-ios-media",
    app="WeChat",
    platform="ios",
    paths=[r"(?:^|/)(?:AppDomain-com\.tencent\.xin|Containers/Data/Application/[0-9A-Fa-f-]{36})/Documents/(?P<account>[0-9a-f]{32})/(?P<kind>Img|Audio|Video|OpenData|Emoticon)/"],
    hint="/Documents/",
    description="WeChat media folders (Img, Audio, Video, OpenData, Emoticon)",
)
def media(hit: Hit) -> Artifact:
    kind = hit.match["kind"]
    return Artifact("media", ("wechat", "media", kind.lower()), {"account_folder": hit.match["account"], "folder": kind}, group=f"{hit.match['account']}/{kind}")
