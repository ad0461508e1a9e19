"""WeChat (Android): ``shared_prefs`` files that hold the account's uin
(``auth_info_key_prefs.xml``: ``_auth_uin``; ``system_config_prefs.xml``:
``default_uin``). The account folder ``MicroMsg/<32 hex>`` is md5("mm" + uin),
so the summary says whether a uin found here names an account folder found in
the same source."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any

from . import Artifact, Hit, recogniser, summary

_UIN_KEYS = ("_auth_uin", "default_uin", "last_login_uin")


@recogniser(
    "wechat-android-prefs",
    app="WeChat",
    platform="android",
    paths=[r"(?:^|/)com\.tencent\.mm/(?:shared_prefs|sp)/(?P<name>auth_info_key_prefs|system_config_prefs|com\.tencent\.mm_preferences)\.xml$"],
    hint="com.tencent.mm/",
    description="WeChat preferences naming the account uin",
    content=1 << 20,
)
def prefs(hit: Hit) -> Artifact:
    details: dict[str, Any] = {"prefs": hit.match["name"]}
    uins = _uins(hit.content) if hit.content is not None else None
    if uins is None:
        details["uin"] = None
        details["why"] = "not read (too large or not well-formed XML)"
    else:
        details["uins"] = uins
    return Artifact("account-prefs", ("wechat", "android-prefs"), details)


def _uins(content: bytes) -> list[dict[str, str]] | None:
    try:
        root = ET.fromstring(content)
    except ET.ParseError:
        return None
    out = []
    for el in root:
        name = el.get("name")
        if name in _UIN_KEYS and el.get("value") not in (None, "", "0"):
            uin = el.get("value", "")
            out.append({"key": name, "uin": uin, "account_folder": hashlib.md5(f"mm{uin}".encode()).hexdigest()})
    return out


@summary("wechat-android-uin")
def uin_folders(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    folders = {a["account_folder"] for a in artifacts if a.get("account_folder")}
    out = []
    for a in artifacts:
        for u in a.get("uins") or ():
            seen = u["account_folder"] in folders
            out.append(
                {
                    "finding": "wechat-uin-account-folder",
                    "item": a["item"],
                    "uin": u["uin"],
                    "account_folder": u["account_folder"],
                    "folder_found": seen,
                    "text": f"{a['path']}: {u['key']} = {u['uin']}; md5('mm' + uin) = {u['account_folder']}, "
                    + ("the account folder found in this source" if seen else "not among the account folders found"),
                }
            )
    return out
