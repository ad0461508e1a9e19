"""WACZ (Web Archive Collection Zipped, 1.1): the zip is kept whole; its members
are catalogued; ``datapackage.json`` resources are checked (hash and size), as is
``datapackage-digest.json``; pages come from ``pages/pages.jsonl`` (and
``pages/extraPages.jsonl``); the WARCs under ``archive/`` are read record by
record like any WARC. A signature (``signedData`` in the digest file) is
recorded with who signed it; evidpack does not verify WACZ signatures (their
schemes vary by signing service).

A WACZ is hostile input. Only members the catalogue found sound are read, each by
its place in the zip (never by name: a name may appear twice), in chunks and up to
a cap whatever the zip's directory declares; a control file (``datapackage.json``,
``datapackage-digest.json``, a pages list) present more than once is a failure and
none of its copies is read. JSON is read strictly (no NaN or Infinity, nesting
within limits, values of the expected types), and every string taken from it has
its lone surrogates (``\\ud800``: valid JSON, not Unicode text) written as escapes.
Pages lists are read line by line; at most :data:`PAGE_ROWS` lines are read, the
rest are counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import lzma
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..importers.containers import MEMBER_WARNINGS
from ..zipmembers import unsafe_name

if TYPE_CHECKING:
    from ..importers.support import ZipMember as Member
from ..timeparse import TimeProblem, read_time

PAGE_FILES = ("pages/pages.jsonl", "pages/extraPages.jsonl")
DATAPACKAGE = "datapackage.json"
DIGEST_FILE = "datapackage-digest.json"
CONTROL_FILES = (DATAPACKAGE, DIGEST_FILE, *PAGE_FILES)
JSON_LIMIT = 4 << 20  # datapackage.json and datapackage-digest.json are read up to this size
LINE_LIMIT = 1 << 20  # one line of a pages list
PAGE_ROWS = 10_000  # lines of pages lists read per WACZ; the rest are counted
PAGE_BYTES = 16 << 20  # bytes of pages lists read per WACZ; the rest are counted
RESOURCE_LIMIT = 10_000  # resources of datapackage.json checked
KEPT = 20  # problems and notes of one kind kept word for word (the rest are counted)
TS_CHARS = 100  # a page ts longer than this is not a time
JSON_DEPTH = 64  # arrays and objects nested deeper are refused (the record that holds them must stay writable and readable)

# What zipfile (and the codecs under it) raise for a member it cannot read.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, RuntimeError, OSError)
_SURROGATE = re.compile("[\ud800-\udfff]")

Problem = Callable[..., None]  # problem(text, check="wacz-resources")


class MemberUnreadable(OSError):
    """A member zipfile cannot read (damaged, encrypted, an unsupported method); the message says which and why."""


class JsonProblem(ValueError):
    """JSON evidpack does not read: not JSON, NaN or Infinity, nested too deeply, not UTF-8."""


# --- reading members -------------------------------------------------------------------------------


def why_not_read(member: "Member") -> str | None:
    """Why a member is not read (the catalogue found it bad or could not read it), or None."""
    bad = [p for p in member.record.get("problems") or [] if str(p).split(":", 1)[0] not in MEMBER_WARNINGS]
    if bad:
        return f"the catalogue found it bad: {bad[0]}"
    if not member.readable:
        return str(member.record.get("not_read") or "the catalogue could not read it")
    return None


class _Guarded:
    """A member stream whose read errors are :class:`MemberUnreadable`."""

    def __init__(self, fh: BinaryIO, name: str) -> None:
        self._fh, self._name = fh, name

    def read(self, size: int = -1) -> bytes:
        try:
            return self._fh.read(size)
        except ZIP_ERRORS as exc:
            raise MemberUnreadable(f"member {self._name!r} cannot be read ({_one_line(exc)})") from None


@contextlib.contextmanager
def open_member(zip_path: Path, index: int, name: str) -> Iterator[BinaryIO]:
    """A member of a copied zip, by its 1-based place in the central directory,
    inflated as it is read; what zipfile raises becomes :class:`MemberUnreadable`."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except ZIP_ERRORS as exc:
        raise MemberUnreadable(f"the zip cannot be opened to read member {name!r} ({_one_line(exc)})") from None
    with zf:
        try:
            fh = zf.open(zf.infolist()[index - 1])
        except (*ZIP_ERRORS, IndexError) as exc:
            raise MemberUnreadable(f"member {name!r} cannot be read ({_one_line(exc)})") from None
        with fh:
            yield _Guarded(fh, name)  # type: ignore[misc]


def read_member(zip_path: Path, member: "Member", limit: int) -> bytes:
    """A member's bytes, read in chunks: never more than ``limit`` + 1 bytes are
    inflated, whatever the zip's directory says (the caller sees a longer one)."""
    out = bytearray()
    with open_member(zip_path, member.index, member.name) as fh:
        while len(out) <= limit:
            chunk = fh.read(min(1 << 16, limit + 1 - len(out)))
            if not chunk:
                break
            out += chunk
    return bytes(out)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# --- JSON ---------------------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large for a number")
    return value


def loads(data: bytes | str) -> Any:
    """JSON as evidpack reads a capture's: UTF-8 text, no NaN, Infinity or numbers
    too large to hold (1e999), arrays and objects nested at most
    :data:`JSON_DEPTH` deep. JsonProblem if not."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JsonProblem(f"not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise JsonProblem("nested too deeply") from None
    except ValueError as exc:
        raise JsonProblem(_one_line(exc)) from None
    stack = [(value, 1)]
    while stack:  # (without recursion)
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= JSON_DEPTH:
                    raise JsonProblem(f"nested too deeply (more than {JSON_DEPTH} levels)")
                stack.append((child, depth + 1))
    return value


def _escape(text: str) -> str:
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _bad(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def escape_surrogates(value: Any) -> tuple[Any, int]:
    """``value`` (parsed JSON) with each lone surrogate in its strings (keys too)
    written as its escape, ``\\ud800`` (JSON may hold one; UTF-8 cannot); and how
    many strings held one. Containers are changed in place, without recursion."""
    if isinstance(value, str):
        return (_escape(value), 1) if _bad(value) else (value, 0)
    count = 0
    stack = [value]
    while stack:
        node = stack.pop()
        items = enumerate(node) if isinstance(node, list) else list(node.items()) if isinstance(node, dict) else ()
        for key, item in items:
            if isinstance(item, str):
                if _bad(item):
                    node[key], count = _escape(item), count + 1
            elif isinstance(item, dict):
                if any(_bad(k) for k in item):
                    count += sum(_bad(k) for k in item)
                    item = node[key] = {_escape(k): v for k, v in item.items()}
                stack.append(item)
            elif isinstance(item, list):
                stack.append(item)
    if isinstance(value, dict) and any(_bad(k) for k in value):
        count += sum(_bad(k) for k in value)
        fixed = {_escape(k): v for k, v in value.items()}
        value.clear()
        value.update(fixed)
    return value, count


def surrogate_note(where: str, count: int) -> str:
    return f"{where}: {count} string(s) held a lone surrogate (\\ud800…, valid JSON but not Unicode text); each is written as its escape"


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "an array" if isinstance(value, list) else "an object"


class _Said:
    """Messages of one kind: the first :data:`KEPT` kept word for word, all counted."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.count = 0

    def add(self, text: str) -> None:
        self.count += 1
        if len(self.kept) < KEPT:
            self.kept.append(text)

    def lines(self) -> list[str]:
        more = self.count - len(self.kept)
        return self.kept + ([f"… and {more:,} more"] if more else [])


# --- the package ---------------------------------------------------------------------------------------


def _hash_spec(spec: Any) -> tuple[str, str] | None:
    """``"sha256:<hex>"`` -> ("sha256", hex); None if it is not a hash evidpack computes."""
    if not isinstance(spec, str) or ":" not in spec:
        return None
    alg, _, value = spec.partition(":")
    alg = alg.lower().replace("-", "")
    if alg not in hashlib.algorithms_guaranteed:
        return None
    return alg, value.lower()


def _control(members: list["Member"], problem: Problem) -> dict[str, "Member"]:
    """The member of each WACZ control file. One present more than once is a
    failure: which copy a reader uses is ambiguous, so none is used."""
    found: dict[str, list["Member"]] = {}
    for m in members:
        if m.name in CONTROL_FILES:
            found.setdefault(m.name, []).append(m)
    out: dict[str, "Member"] = {}
    for name in CONTROL_FILES:
        copies = found.get(name, [])
        if len(copies) == 1:
            out[name] = copies[0]
        elif copies:
            where = ", ".join(f"#{m.index}" for m in copies)
            problem(f"{name} appears {len(copies)} times in the zip (members {where}): which copy a reader uses is ambiguous; none is read", check="wacz")
    return out


def _json_member(zip_path: Path, member: "Member", notes: list[str]) -> Any:
    """A JSON control file, read strictly; JsonProblem says why it cannot be."""
    why = why_not_read(member)
    if why:
        raise JsonProblem(f"not read: {why}")
    if member.record.get("size", 0) > JSON_LIMIT:
        raise JsonProblem(f"it is {member.record['size']} bytes, more than evidpack reads ({JSON_LIMIT})")
    try:
        data = read_member(zip_path, member, JSON_LIMIT)
    except MemberUnreadable as exc:
        raise JsonProblem(str(exc)) from None
    if len(data) > JSON_LIMIT:
        raise JsonProblem(f"it inflates to more than {JSON_LIMIT} bytes, more than evidpack reads")
    value, count = escape_surrogates(loads(data))
    if count:
        notes.append(surrogate_note(member.name, count))
    return value


def read_wacz(zip_path: Path, members: list["Member"], problem: Problem) -> tuple[dict[str, Any], bool]:
    """Check the data package, its resources and the digest file; list pages.
    ``problem(text, check=...)`` is called with one line per failed check.
    Returns the WACZ summary for the record and whether datapackage.json was read."""
    notes: list[str] = []
    control = _control(members, problem)
    package: dict[str, Any] | None = None
    if DATAPACKAGE in control:
        try:
            data = _json_member(zip_path, control[DATAPACKAGE], notes)
            if not isinstance(data, dict) or not isinstance(data.get("resources", []), list):
                raise JsonProblem("not a data package (no resources list)")
            package = data
        except JsonProblem as exc:
            problem(f"{DATAPACKAGE} cannot be read ({exc})", check="wacz")
    elif not any(m.name == DATAPACKAGE for m in members):
        problem(f"no {DATAPACKAGE} (not a WACZ, or damaged)", check="wacz")
    summary: dict[str, Any] = {
        key: _text_field(package, name, problem) for key, name in (
            ("wacz_version", "wacz_version"), ("title", "title"), ("created", "created"), ("software", "software"), ("main_page", "mainPageURL"),
        )
    }
    summary["created"] = _created(summary["created"], problem)
    summary["resources"] = []
    by_name: dict[str, list["Member"]] = {}
    for m in members:
        by_name.setdefault(m.name, []).append(m)
    listed = {DATAPACKAGE, DIGEST_FILE}
    resources = (package or {}).get("resources", [])
    said = _Said()

    def resource_problem(text: str) -> None:
        said.add(text)
        if said.count <= KEPT:
            problem(text)

    for n, res in enumerate(resources[:RESOURCE_LIMIT]):
        summary["resources"].append(_resource(n, res, by_name, listed, resource_problem))
    if said.count > KEPT:
        problem(f"{DATAPACKAGE}: {said.count - KEPT:,} more resource problem(s), not listed one by one")
    if len(resources) > RESOURCE_LIMIT:
        summary["resources_not_checked"] = len(resources) - RESOURCE_LIMIT
        problem(f"{DATAPACKAGE} lists {len(resources):,} resources; evidpack checks at most {RESOURCE_LIMIT:,}, so {len(resources) - RESOURCE_LIMIT:,} were not checked")
    summary["unlisted_members"] = sorted(m.name for m in members if m.name not in listed and m.record.get("member_type") == "file")
    warcs = [n for n in summary["unlisted_members"] if n.startswith("archive/") and n.lower().endswith((".warc", ".warc.gz", ".warc.gzip"))]
    if package is not None and warcs:
        more = f" (and {len(warcs) - 1:,} more WARC member(s) likewise)" if len(warcs) > 1 else ""
        problem(f"member {warcs[0]!r} is not listed among the resources of {DATAPACKAGE}: no hash is declared for it{more}")
    summary["datapackage_digest"] = _digest_file(control, members, zip_path, problem, notes)
    summary["pages"] = _pages(control, zip_path, summary, problem, notes)
    if notes:
        summary["notes"] = notes
    return summary, package is not None


def _text_field(package: dict[str, Any] | None, name: str, problem: Problem) -> str | None:
    value = (package or {}).get(name)
    if value is None or isinstance(value, str):
        return value
    problem(f"{DATAPACKAGE}: {name!r} is {type_name(value)}, not text; not recorded", check="wacz")
    return None


def _created(value: str | None, problem: Problem) -> dict[str, Any] | None:
    """``created`` of datapackage.json as a time object (UTC), its text kept as
    ``original``; one that cannot be read without guessing (no zone, not a time)
    is kept as written with ``utc: null`` and the reason, and is a failure."""
    if value is None:
        return None
    try:
        if len(value) > TS_CHARS:
            raise TimeProblem(f"{len(value)} characters long: not a time")
        return read_time(value).to_json()
    except TimeProblem as exc:
        shown = value if len(value) <= TS_CHARS else value[:TS_CHARS] + "…"
        problem(f"{DATAPACKAGE}: created {shown!r}: {exc}", check="wacz")
        return {"original": value, "utc": None, "problem": str(exc)}


def _resource(n: int, res: Any, by_name: dict[str, list["Member"]], listed: set[str], problem: Callable[[str], None]) -> dict[str, Any]:
    if not isinstance(res, dict) or not isinstance(res.get("path"), str):
        problem(f"{DATAPACKAGE}: resource {n + 1} has no path")
        return {"resource": n + 1, "verdict": "fail"}
    path = res["path"]
    listed.add(path)
    out: dict[str, Any] = {"path": path, "declared_hash": res.get("hash"), "declared_bytes": res.get("bytes")}
    why = unsafe_name(path)
    copies = by_name.get(path, [])
    if why:
        out.update(verdict="fail", reason=f"resource path {why}")
        problem(f"{DATAPACKAGE}: resource {path!r} {why}")
        return out
    if not copies:
        out.update(verdict="fail", reason="missing from the zip")
        problem(f"resource {path!r} listed in {DATAPACKAGE} is missing from the zip")
        return out
    if len(copies) > 1:
        out.update(verdict="fail", reason="more than one member of that name")
        problem(f"resource {path!r}: {len(copies)} members of that name are in the zip; which one the hash describes is ambiguous")
        return out
    member = copies[0]
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


def _digest_file(control: dict[str, "Member"], members: list["Member"], zip_path: Path, problem: Problem, notes: list[str]) -> dict[str, Any]:
    member = control.get(DIGEST_FILE)
    if member is None:
        if any(m.name == DIGEST_FILE for m in members):  # present more than once, or not a file: already a failure
            return {"present": True, "verdict": "fail", "reason": "ambiguous or not a file", "signed": False}
        return {"present": False, "verdict": "not-checkable", "reason": f"no {DIGEST_FILE}", "signed": False}
    try:
        digest = _json_member(zip_path, member, notes)
    except JsonProblem as exc:
        problem(f"{DIGEST_FILE} cannot be read ({exc})")
        return {"present": True, "verdict": "fail", "reason": "unreadable", "signed": False}
    if not isinstance(digest, dict):
        problem(f"{DIGEST_FILE} is {type_name(digest)}, not an object")
        return {"present": True, "verdict": "fail", "reason": "not an object", "signed": False}
    path, declared = digest.get("path"), digest.get("hash")
    out: dict[str, Any] = {"present": True, "declared_hash": declared, "path": path}
    target = control.get(DATAPACKAGE)  # the very entry whose data package is used
    spec = _hash_spec(declared)
    if path is not None and path != DATAPACKAGE:
        out.update(verdict="fail", reason=f"it names {path!r}, not {DATAPACKAGE}")
        shown = repr(path) if isinstance(path, str) else type_name(path)
        problem(f"{DIGEST_FILE}: its path is {shown}, not {DATAPACKAGE!r}: it vouches for nothing evidpack uses")
    elif declared is not None and not isinstance(declared, str):
        out.update(verdict="fail", reason="hash is not text")
        problem(f"{DIGEST_FILE}: its hash is {type_name(declared)}, not text")
    elif spec is None or target is None or not target.readable:
        out.update(verdict="not-checkable", reason="no hash evidpack can check, or the file it names is missing or ambiguous")
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
    elif signed is not None:
        problem(f"{DIGEST_FILE}: signedData is {type_name(signed)}, not an object")
    return out


# --- pages -------------------------------------------------------------------------------------------


class _Lines:
    """The lines of a stream, one at a time, none longer than :data:`LINE_LIMIT`
    kept (a longer one is given as None); :meth:`count_rest` counts what is left
    without keeping it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.buf = b""
        self.pos = 0
        self.n = 0
        self.ended = False

    def __iter__(self) -> Iterator[tuple[int, bytes | None]]:
        pending = bytearray()
        too_long = False
        while True:
            end = self.buf.find(b"\n", self.pos)
            if end >= 0:
                piece, self.pos = self.buf[self.pos : end], end + 1
            else:
                piece, self.pos = self.buf[self.pos :], len(self.buf)
            if not too_long:
                pending += piece
                if len(pending) > LINE_LIMIT:
                    too_long, pending = True, bytearray()
            if end >= 0 or (self.ended and (pending or too_long)):
                self.n += 1
                line = None if too_long else bytes(pending)
                pending, too_long = bytearray(), False
                yield self.n, line
                continue
            if self.ended:
                return
            self.buf, self.pos = self.fh.read(1 << 16), 0
            self.ended = not self.buf

    def count_rest(self) -> int:
        """Lines not yet given (a last line without a newline counts)."""
        count, open_line = 0, False  # open_line: text after the last newline so far
        chunk = self.buf[self.pos :]
        while True:
            newlines = chunk.count(b"\n")
            count += newlines
            if newlines:
                open_line = bool(chunk[chunk.rindex(b"\n") + 1 :].strip())
            else:
                open_line = open_line or bool(chunk.strip())
            if self.ended:
                break
            chunk = self.fh.read(1 << 20)
            self.ended = not chunk
        self.buf, self.pos = b"", 0
        return count + open_line


def _pages(control: dict[str, "Member"], zip_path: Path, summary: dict[str, Any], problem: Problem, notes: list[str]) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    page_notes: list[str] = []
    bad = _Said()
    surrogates = _Said()
    read_lines = read_bytes = not_read = 0
    for name in PAGE_FILES:
        member = control.get(name)
        if member is None:
            continue
        why = why_not_read(member)
        if why:
            page_notes.append(f"{name}: not read ({why})")
            continue
        try:
            with open_member(zip_path, member.index, name) as fh:
                lines = _Lines(fh)
                for n, line in lines:
                    if read_lines >= PAGE_ROWS or read_bytes >= PAGE_BYTES:
                        not_read += 1 + lines.count_rest()
                        break
                    read_lines += 1  # (blank lines too: a flood of them is read no further than any other)
                    if line is None:
                        read_bytes += LINE_LIMIT
                        bad.add(f"{name} line {n}: longer than {LINE_LIMIT} bytes; not read")
                        continue
                    read_bytes += len(line) + 1
                    if not line.strip():
                        continue
                    entry = _page(name, n, line, bad, surrogates)
                    if entry is not None:
                        pages.append(entry)
        except MemberUnreadable as exc:
            bad.add(f"{name}: {exc}; the lines after it were not read")
    if not_read:
        summary["pages_not_listed"] = not_read
        page_notes.append(
            f"{not_read:,} more line(s) of the pages lists not read: evidpack reads at most {PAGE_ROWS:,} lines ({PAGE_BYTES >> 20} MiB) of them per WACZ"
        )
    if surrogates.count:
        notes += [f"{text}: held a lone surrogate (\\ud800…, valid JSON but not Unicode text); written as its escape" for text in surrogates.lines()]
    if bad.count:
        summary["page_problems"] = bad.lines()
        problem(bad.kept[0] + (f" (and {bad.count - 1:,} more problem(s) in the pages lists)" if bad.count > 1 else ""), check="wacz-pages")
    if page_notes:
        summary["page_notes"] = page_notes
    return pages


def _page(name: str, n: int, line: bytes, bad: _Said, surrogates: _Said) -> dict[str, Any] | None:
    """One line of a pages list as a page entry; None for the header line or a line that is not a page."""
    where = f"{name} line {n}"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad.add(f"{where}: not UTF-8 text (byte {exc.start})")
        return None
    try:
        page = loads(text)
    except JsonProblem as exc:
        bad.add(f"{where}: not JSON ({exc})")
        return None
    if not isinstance(page, dict):
        bad.add(f"{where}: {type_name(page)}, not a page (a JSON object)")
        return None
    if "format" in page and "url" not in page:
        return None  # the header line: {"format": "json-pages-1.0", ...}
    url = page.get("url")
    if not isinstance(url, str):
        bad.add(f"{where}: not a page: " + ("no \"url\"" if url is None else f"its url is {type_name(url)}, not text"))
        return None
    entry: dict[str, Any] = {"list": name, "line": n, "url": url, "title": None, "id": None, "ts": None}
    for key in ("title", "id"):
        value = page.get(key)
        if value is None or isinstance(value, str):
            entry[key] = value
        else:
            bad.add(f"{where}: its {key} is {type_name(value)}, not text; not recorded")
    for key in ("url", "title", "id"):
        if isinstance(entry[key], str) and _bad(entry[key]):
            entry[key] = _escape(entry[key])
            surrogates.add(f"{where}: {key}")
    ts = page.get("ts")
    if ts is None:
        return entry
    if not isinstance(ts, str):
        bad.add(f"{where}: its ts is {type_name(ts)}, not text; not recorded")
        return entry
    if _bad(ts):
        ts = _escape(ts)
        surrogates.add(f"{where}: ts")
    try:
        if len(ts) > TS_CHARS:
            raise TimeProblem(f"{len(ts)} characters long: not a time")
        entry["ts"] = read_time(ts).to_json()
    except TimeProblem as exc:
        entry["ts"] = {"original": ts[:TS_CHARS], "utc": None, "problem": str(exc)}
        bad.add(f"{where}: ts {ts[:TS_CHARS]!r}: {exc}")
    return entry
