"""BagIt 1.0 (RFC 8493): manifests, tag manifests, bag-info, bagit.txt.

Paths in manifests are relative to the bag root with ``/`` separators; only
CR, LF and ``%`` are percent-encoded (RFC 8493 section 2.1.3).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


def encode_path(path: str) -> str:
    if "%" not in path and "\r" not in path and "\n" not in path:
        return path  # (the usual case, checked first: a manifest has a line per file)
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(text: str) -> str:
    return text.replace("%0A", "\n").replace("%0a", "\n").replace("%0D", "\r").replace("%0d", "\r").replace("%25", "%")


def manifest_line(digest: str, path: str) -> bytes:
    # Two spaces, as sha256sum writes: `sha256sum -c` then reads it as text mode.
    return f"{digest}  {encode_path(path)}\n".encode("utf-8")


@dataclass(frozen=True)
class ManifestProblem:
    line: int
    text: str


def inside(path: str) -> bool:
    """Whether a manifest path names a file inside the bag: relative, no '.', '..'
    or empty parts, no NUL. (A manifest of a hostile bag could name any file of
    the verifier's machine otherwise; an importer's name, any place outside the
    bundle.) Cheap for the usual path: it runs once per file."""
    if path[:1] in ("/", ".", "") or path[-1:] == "/" or "//" in path or "\0" in path:
        return path[:1] == "." and path not in (".", "..") and not path.startswith(("./", "../")) and posixpath.normpath(path) == path and "\0" not in path
    return "/." not in path or posixpath.normpath(path) == path


def parse_manifest(data: bytes, name: str) -> tuple[dict[str, str], list[ManifestProblem]]:
    """``{path: digest}`` and the lines that could not be read."""
    entries: dict[str, str] = {}
    problems: list[ManifestProblem] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {}, [ManifestProblem(0, f"{name} is not UTF-8 (byte {exc.start})")]
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1) if " " in line or "\t" in line else [line]
        if len(parts) != 2 or not all(c in "0123456789abcdefABCDEF" for c in parts[0]):
            problems.append(ManifestProblem(n, f"{name} line {n}: not '<digest> <path>'"))
            continue
        digest, path = parts[0].lower(), decode_path(parts[1].lstrip("*").lstrip())
        if not inside(path):
            problems.append(ManifestProblem(n, f"{name} line {n}: {path!r} is not a path inside the bag (absolute, '..', '.' or empty parts); not opened"))
            continue
        if path in entries:
            problems.append(ManifestProblem(n, f"{name} line {n}: {path} is listed twice"))
            continue
        entries[path] = digest
    return entries, problems


def bag_info(fields: list[tuple[str, str]]) -> bytes:
    return "".join(f"{k}: {v}\n" for k, v in fields).encode("utf-8")


def parse_bag_info(data: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    last: str | None = None
    for line in data.decode("utf-8", "replace").splitlines():
        if line[:1] in (" ", "\t") and last is not None:
            out[last][-1] += " " + line.strip()
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            last = k.strip()
            out.setdefault(last, []).append(v.strip())
    return out
