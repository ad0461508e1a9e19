"""WACZ (Web Archive Collection Zipped, 1.1): the zip is kept whole; its members
are catalogued; ``datapackage.json`` resources are checked (hash and size), as is
``datapackage-digest.json``; pages come from ``pages/pages.jsonl`` (and
``pages/extraPages.jsonl``); the WARCs under ``archive/`` are read record by
record like any WARC. A signature (``signedData`` in the digest file) is
recorded with who signed it; evidpack does not verify WACZ signatures (their
schemes vary by signing service).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..zipmembers import unsafe_name

if TYPE_CHECKING:
    from ..importers.support import ZipMember as Member
from ..timeparse import TimeProblem, read_time

PAGE_FILES = ("pages/pages.jsonl", "pages/extraPages.jsonl")
DATAPACKAGE = "datapackage.json"
DIGEST_FILE = "datapackage-digest.json"
PAGE_LIMIT = 64 * 1024 * 1024


def _hash_spec(spec: Any) -> tuple[str, str] | None:
    """``"sha256:<hex>"`` -> ("sha256", hex); None if it is not a hash evidpack computes."""
    if not isinstance(spec, str) or ":" not in spec:
        return None
    alg, _, value = spec.partition(":")
    alg = alg.lower().replace("-", "")
    if alg not in hashlib.algorithms_guaranteed:
        return None
    return alg, value.lower()


def read_json_member(zf: zipfile.ZipFile, name: str, limit: int = PAGE_LIMIT) -> Any:
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise ValueError(f"{name} is {info.file_size} bytes, more than evidpack reads ({limit})")
    return json.loads(zf.read(info))


def datapackage(zip_path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed datapackage.json, or None and why not."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            if DATAPACKAGE not in zf.namelist():
                return None, f"no {DATAPACKAGE} (not a WACZ, or damaged)"
            data = read_json_member(zf, DATAPACKAGE)
    except (ValueError, zipfile.BadZipFile, OSError, KeyError) as exc:
        return None, f"{DATAPACKAGE} cannot be read ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("resources", []), list):
        return None, f"{DATAPACKAGE} is not a data package (no resources list)"
    return data, None


def check_wacz(
    package: dict[str, Any] | None,
    members: list["Member"],
    zip_path: Path,
    problem: Callable[[str], None],
) -> dict[str, Any]:
    """Check the resources and the digest file; list pages. ``problem`` is called
    with one line per failed check. Returns the WACZ summary for the record."""
    by_name: dict[str, "Member"] = {}
    for m in members:
        by_name.setdefault(m.name, m)
    summary: dict[str, Any] = {
        "wacz_version": (package or {}).get("wacz_version"),
        "title": (package or {}).get("title"),
        "created": (package or {}).get("created"),
        "software": (package or {}).get("software"),
        "main_page": (package or {}).get("mainPageURL"),
        "resources": [],
    }
    listed = {DATAPACKAGE, DIGEST_FILE}
    for n, res in enumerate((package or {}).get("resources", [])):
        summary["resources"].append(_resource(n, res, by_name, listed, problem))
    summary["unlisted_members"] = sorted(m.name for m in members if m.name not in listed and m.record.get("member_type") == "file")
    summary["datapackage_digest"] = _digest_file(by_name, zip_path, problem)
    summary["pages"] = _pages(by_name, zip_path, summary)
    return summary


def _resource(n: int, res: Any, by_name: dict[str, "Member"], listed: set[str], problem: Callable[[str], None]) -> dict[str, Any]:
    if not isinstance(res, dict) or not isinstance(res.get("path"), str):
        problem(f"{DATAPACKAGE}: resource {n + 1} has no path")
        return {"resource": n + 1, "verdict": "fail"}
    path = res["path"]
    listed.add(path)
    out: dict[str, Any] = {"path": path, "declared_hash": res.get("hash"), "declared_bytes": res.get("bytes")}
    why = unsafe_name(path)
    member = by_name.get(path)
    if why:
        out.update(verdict="fail", reason=f"resource path {why}")
        problem(f"{DATAPACKAGE}: resource {path!r} {why}")
        return out
    if member is None:
        out.update(verdict="fail", reason="missing from the zip")
        problem(f"resource {path!r} listed in {DATAPACKAGE} is missing from the zip")
        return out
    if not member.readable:
        out.update(verdict="not-checkable", reason="member could not be read")
        return out
    out["member"] = member.record["id"]
    reasons = []
    spec = _hash_spec(res.get("hash"))
    if spec is None:
        reasons.append(f"hash {res.get('hash')!r} is not one evidpack can check")
    elif spec[0] not in member.record:
        reasons.append(f"{spec[0]} is not among the digests this bundle computes")
    elif member.record[spec[0]] != spec[1]:
        out["computed_hash"] = f"{spec[0]}:{member.record[spec[0]]}"
        problem(f"resource {path!r}: {spec[0]} differs from {DATAPACKAGE} (declared {spec[1][:16]}…, computed {member.record[spec[0]][:16]}…)")
        out.update(verdict="fail", reason="hash differs")
        return out
    size = res.get("bytes")
    if isinstance(size, int) and size != member.record["size"]:
        problem(f"resource {path!r}: {DATAPACKAGE} says {size} bytes, the member has {member.record['size']}")
        out.update(verdict="fail", reason="size differs")
        return out
    out["verdict"] = "pass" if not reasons and isinstance(size, int) else "not-checkable"
    if reasons or not isinstance(size, int):
        out["reason"] = "; ".join(reasons or ["no size declared"])
    return out


def _digest_file(by_name: dict[str, "Member"], zip_path: Path, problem: Callable[[str], None]) -> dict[str, Any]:
    member = by_name.get(DIGEST_FILE)
    if member is None:
        return {"present": False, "verdict": "not-checkable", "reason": f"no {DIGEST_FILE}", "signed": False}
    try:
        with zipfile.ZipFile(zip_path) as zf:
            digest = read_json_member(zf, DIGEST_FILE)
    except (ValueError, zipfile.BadZipFile, OSError, KeyError) as exc:
        problem(f"{DIGEST_FILE} cannot be read ({exc})")
        return {"present": True, "verdict": "fail", "reason": "unreadable", "signed": False}
    if not isinstance(digest, dict):
        digest = {}
    out: dict[str, Any] = {"present": True, "declared_hash": digest.get("hash"), "path": digest.get("path")}
    target = by_name.get(digest.get("path") or DATAPACKAGE)
    spec = _hash_spec(digest.get("hash"))
    if spec is None or target is None or not target.readable:
        out.update(verdict="not-checkable", reason="no hash evidpack can check, or the file it names is missing")
    elif target.record.get(spec[0]) == spec[1]:
        out["verdict"] = "pass"
    else:
        out.update(verdict="fail", computed_hash=f"{spec[0]}:{target.record.get(spec[0])}")
        problem(f"{DIGEST_FILE}: the hash of {target.name} differs (declared {spec[1][:16]}…, computed {str(target.record.get(spec[0]))[:16]}…)")
    signed = digest.get("signedData")
    out["signed"] = isinstance(signed, dict) and bool(signed.get("signature"))
    if isinstance(signed, dict):
        out["signature"] = {
            k: signed.get(k) for k in ("software", "created", "domain", "publicKey") if signed.get(k) is not None
        }
        out["signature"]["kind"] = "domain certificate" if signed.get("domain") else "anonymous key" if signed.get("publicKey") else "unknown"
    return out


def _pages(by_name: dict[str, "Member"], zip_path: Path, summary: dict[str, Any]) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    notes: list[str] = []
    for name in PAGE_FILES:
        member = by_name.get(name)
        if member is None or not member.readable:
            continue
        if member.record["size"] > PAGE_LIMIT:
            notes.append(f"{name}: larger than {PAGE_LIMIT} bytes; pages not listed")
            continue
        with zipfile.ZipFile(zip_path) as zf:
            lines = zf.read(zf.infolist()[member.index - 1]).decode("utf-8", "replace").splitlines()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                page = json.loads(line)
            except ValueError:
                notes.append(f"{name} line {n}: not JSON")
                continue
            if not isinstance(page, dict) or "format" in page and "url" not in page:
                continue  # the header line: {"format": "json-pages-1.0", ...}
            entry = {"list": name, "line": n, "url": page.get("url"), "title": page.get("title"), "id": page.get("id"), "ts": None}
            if page.get("ts") is not None:
                try:
                    entry["ts"] = read_time(page["ts"]).to_json()
                except TimeProblem as exc:
                    entry["ts"] = {"original": str(page["ts"]), "utc": None, "problem": str(exc)}
            pages.append(entry)
    if notes:
        summary["page_notes"] = notes
    return pages
