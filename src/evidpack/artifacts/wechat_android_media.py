"""WeChat (Android): media folders of an account — ``image2``, ``voice2``,
``video``, ``emoji`` under ``MicroMsg/<32 hex>/`` (in app data or on shared
storage, ``Android/data/com.tencent.mm/`` or the older ``tencent/``). Counted
per folder rather than listed."""

from __future__ import annotations

from . import Artifact, Hit, recogniser


@recogniser(
    "wechat-android-media",
    app="WeChat",
    platform="android",
    paths=[r"(?:^|/)(?:com\.tencent\.mm|tencent)/(?:r/)?MicroMsg/(?P<account>[0-9a-f]{32})/(?P<kind>image2|voice2|video|emoji)/"],
    hint="MicroMsg/",
    description="WeChat media folders (image2, voice2, video, emoji)",
)
def media(hit: Hit) -> Artifact:
    kind = hit.match["kind"]
    return Artifact("media", ("wechat", "media", kind), {"account_folder": hit.match["account"], "folder": kind}, group=f"{hit.match['account']}/{kind}")
