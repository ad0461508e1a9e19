"""WeChat (iOS): ``Documents/LoginInfo2.dat``, a binary record of the accounts
that logged in on the device. Recorded, not decoded."""

from __future__ import annotations

from . import Artifact, Hit, recogniser


@recogniser(
    "wechat-ios-login",
    app="WeChat",
    platform="ios",
    paths=[r"(?:^|/)(?:AppDomain-com\.tencent\.xin|Containers/Data/Application/[0-9A-Fa-f-]{36})/Documents/LoginInfo2\.dat$"],
    hint="LoginInfo2.dat",
    description="WeChat login record LoginInfo2.dat",
)
def login_info(hit: Hit) -> Artifact:
    return Artifact("login-info", ("wechat", "ios-login"), {"size": hit.size, "decoded": False})
