"""Cellebrite UFED outputs: ``.ufd`` (INI text), ``.ufdx`` (XML) and the
``report.xml`` inside a ``.ufdr``.

Parsing only: the ``device`` importer decides what to check and records the
results. Everything read here is the copy already in the bundle.

``.ufd`` files are seen in UTF-8 and in UTF-16LE with a byte-order mark, with
CRLF or LF line ends. Keys are case-sensitive, sections and keys may repeat,
and file names in the hash sections may themselves hold ``=`` (the value is
after the last one). Dates such as ``28/07/2024 07:27:27 (-4)`` are kept as
written, with their offset, and converted to UTC -- unless the offset is not one
in use (outside -12:00 … +14:00, the rule of every importer:
:func:`evidpack.timeutil.unreal_offset`), or its minutes are not 0-59: then the
date is kept as written, not converted (``utc`` None), with the ``problem``.
"""

from __future__ import annotations

import codecs
import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

from ..timeutil import offset_label, unreal_offset
from ..timeutil import format_utc

HASH_SECTIONS = {"SHA256": "sha256", "SHA1": "sha1", "MD5": "md5"}
HEX_LENGTH = {"sha256": 64, "sha1": 40, "md5": 32}
UFDR_NAMESPACE = "http://pa.cellebrite.com/report/2.0"


class UfedError(Exception):
    """An UFED file that cannot be read (the message says why)."""


# --- .ufd ------------------------------------------------------------------------------


@dataclass
class Ufd:
    encoding: str
    line_endings: str
    # (section, [(key, value, line number)]) in file order; a repeated section appears twice
    sections: list[tuple[str, list[tuple[str, str, int]]]] = field(default_factory=list)

    def entries(self, section: str) -> list[tuple[str, str, int]]:
        """Every entry of every section called ``section`` (compared without case)."""
        want = section.casefold()
        return [e for name, items in self.sections if name.casefold() == want for e in items]


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding as found) of a small text file written by a Windows tool."""
    try:
        if data.startswith(codecs.BOM_UTF16_LE):
            return data[2:].decode("utf-16-le"), "UTF-16LE with BOM"
        if data.startswith(codecs.BOM_UTF16_BE):
            return data[2:].decode("utf-16-be"), "UTF-16BE with BOM"
        if data.startswith(codecs.BOM_UTF8):
            return data[3:].decode("utf-8"), "UTF-8 with BOM"
        if len(data) >= 4 and data[0] and not data[1] and data[2] and not data[3]:
            return data.decode("utf-16-le"), "UTF-16LE without BOM"
    except UnicodeDecodeError as exc:
        raise UfedError(f"not valid text in the encoding its first bytes announce ({exc.reason} at byte {exc.start})") from None
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "Windows-1252 (not valid UTF-8)"


def parse_ufd(data: bytes) -> Ufd:
    text, encoding = decode_text(data)
    crlf, lf = text.count("\r\n"), text.count("\n")
    endings = "none" if lf == 0 else "CRLF" if crlf == lf else "LF" if crlf == 0 else "mixed CRLF and LF"
    ufd = Ufd(encoding, endings)
    items: list[tuple[str, str, int]] | None = None
    section = ""
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip().lstrip("\ufeff")
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            items = []
            ufd.sections.append((section, items))
            continue
        if "=" not in line:
            continue
        if items is None:  # entries before any section
            items = []
            ufd.sections.append(("", items))
        # In the hash sections the key is a file name, which may hold '='; the value (hex) cannot.
        key, _, value = line.rpartition("=") if section.upper() in HASH_SECTIONS else line.partition("=")
        items.append((key.strip(), value.strip(), n))
    if not ufd.sections:
        raise UfedError("no [sections]: not an UFED .ufd file")
    return ufd


_DATE = re.compile(
    r"^(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<year>\d{4})\s+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[AaPp][Mm])?"
    r"\s*\(\s*(?:UTC|GMT)?\s*(?P<sign>[+-]?)(?P<oh>\d{1,2})(?:(?P<sep>[:.])(?P<om>\d{1,2}))?\s*\)\s*$"
)


def parse_ufd_date(text: str) -> dict[str, Any] | None:
    """``28/07/2024 07:27:27 (-4)`` -> the text, its offset and UTC. UFED writes
    day/month/year; when both could be a month that order is assumed (and said)."""
    m = _DATE.match(text.strip())
    if not m:
        return None
    a, b = int(m["a"]), int(m["b"])
    if b > 12 >= a:
        day, month, order = b, a, "month/day/year (the second number is over 12)"
    else:
        day, month = a, b
        order = "day/month/year" if a > 12 else "day/month/year (assumed: UFED's order; both numbers could be a month)"
    hour = int(m["h"])
    if m["ampm"]:
        hour = hour % 12 + (12 if m["ampm"].lower() == "pm" else 0)
    minutes = int(m["om"] or 0)
    if m["sep"] == ".":  # decimal hours, e.g. (+5.5)
        minutes = round(float("0." + m["om"]) * 60)
    try:
        naive = datetime(int(m["year"]), month, day, hour, int(m["mi"]), int(m["s"] or 0))
    except ValueError:  # no such date or time of day
        return None
    sign = "-" if m["sign"] == "-" else "+"
    label = f"{sign}{int(m['oh']):02d}:{minutes:02d}"
    if minutes > 59:
        return _not_read(text, label, f"zone offset {label} is out of range (minutes over 59)", order)
    why = unreal_offset(label)  # (+15): not an offset in use, as every importer rules
    if why:
        return _not_read(text, label, why, order)
    offset = timedelta(hours=int(m["oh"]), minutes=minutes) * (-1 if sign == "-" else 1)
    try:
        utc = format_utc(naive.replace(tzinfo=timezone(offset)))
    except (ValueError, OverflowError):  # outside the years 1-9999 once in UTC
        return None
    total = int(offset.total_seconds()) // 60
    return {
        "text": text.strip(),
        "utc": utc,
        "offset": f"{'-' if total < 0 else '+'}{abs(total) // 60:02d}:{abs(total) % 60:02d}",
        "order": order,
    }


def _not_read(text: str, label: str, why: str, order: str | None = None) -> dict[str, Any]:
    """A time whose stated offset is not one in use (``(+15)``: a typing error or a
    hostile value, never a zone), recorded as the other importers record it: kept as
    written, not converted (``utc`` None), with the problem (as
    :class:`evidpack.timeparse.OffsetNotInUse` words it) and, for the index, why it
    has no UTC under ``zone``."""
    out: dict[str, Any] = {"text": text.strip(), "utc": None, "offset": label}
    if order is not None:
        out["order"] = order
    out["zone"] = f"{why}: not converted to UTC"
    out["problem"] = f"{text.strip()!r}: its {why}"
    return out


def ufd_facts(ufd: Ufd, name: str) -> dict[str, Any]:
    """What a .ufd says, for sources.jsonl: its sections (hashes excepted: they are
    checked, not copied) and every date it gives, in UTC with the text beside it.

    Sections are kept under their names as written (``[General]`` and ``[GENERAL]``
    are two sections, each with its own entries; a name given twice is one section
    holding the entries of both); entries before any section (or in ``[]``) are
    under ``""``. A date is under ``"<section>.<key>"`` with the same section name:
    the parsed date of the value, or, for a key given with several values, a list
    of the values' dates in their order (``None`` for a value that is not a date)."""
    by_name: dict[str, list[tuple[str, str, int]]] = {}
    for section, items in ufd.sections:
        if section.upper() not in HASH_SECTIONS:
            by_name.setdefault(section, []).extend(items)
    sections: dict[str, dict[str, Any]] = {}
    dates: dict[str, Any] = {}
    for section, items in by_name.items():
        table = _table(items)
        sections[section] = table
        for key, value in table.items():
            where = f"{section}.{key}"
            if isinstance(value, list):
                parsed = [parse_ufd_date(v) for v in value]
                found: Any = parsed if any(parsed) else None
            else:
                found = parse_ufd_date(value)
            if found and where not in dates:  # (a "." in a name can make two the same: the first is kept)
                dates[where] = found
    return {"file": name, "encoding": ufd.encoding, "line_endings": ufd.line_endings, "sections": sections, "dates": dates}


def _table(items: list[tuple[str, str, int]]) -> dict[str, Any]:
    """Entries as a dict: a key's value, or, when it is given more than once with
    different values, the list of every value it is given, in file order."""
    values: dict[str, list[str]] = {}
    for key, value, _ in items:
        values.setdefault(key, []).append(value)
    return {key: given[0] if len(set(given)) == 1 else given for key, given in values.items()}


@dataclass(frozen=True)
class HashEntry:
    algorithm: str  # sha256 / sha1 / md5
    section: str
    name: str  # the file name exactly as written
    value: str
    line: int

    @property
    def path(self) -> str:
        """The name as a path relative to the .ufd's folder."""
        return self.name.replace("\\", "/")

    def well_formed(self) -> bool:
        return bool(re.fullmatch(r"[0-9A-Fa-f]+", self.value)) and len(self.value) == HEX_LENGTH[self.algorithm]


def hash_entries(ufd: Ufd) -> list[HashEntry]:
    out = []
    for section, items in ufd.sections:
        alg = HASH_SECTIONS.get(section.upper())
        if alg:
            out += [HashEntry(alg, section, key, value, line) for key, value, line in items]
    return out


@dataclass(frozen=True)
class Named:
    """A file a .ufd or .ufdx names: where it does (``[Dumps] FileDump (line 4)``,
    ``<Extraction Path>``) and the name exactly as written."""

    where: str
    name: str

    @property
    def path(self) -> str:
        """The name '/'-separated (relative to the folder of the file naming it, if it is a relative name)."""
        return self.name.replace("\\", "/")


def named_files(ufd: Ufd) -> list[Named]:
    """Every file the .ufd names, in file order per kind: [Dumps] values, then hash-section names."""
    out = [Named(f"[Dumps] {key} (line {line})", value) for key, value, line in ufd.entries("Dumps") if value]
    out += [Named(f"[{e.section}] {e.name} (line {e.line})", e.name) for e in hash_entries(ufd)]
    return out


def dump_names(ufd: Ufd) -> list[str]:
    """The files the .ufd says make up the extraction ([Dumps] values, hash-section names),
    '/'-separated, as written (see :func:`source_path` before using one as a path)."""
    return list(dict.fromkeys(n.path for n in named_files(ufd)))


_DRIVE = re.compile(r"^[A-Za-z]:")


def source_path(folder: str, name: str) -> str:
    """The source-relative path of the file ``name`` (as a .ufd or .ufdx in the
    source folder ``folder`` writes it: ``''`` for the top) stands for, normalised;
    or :class:`UfedError` saying why it cannot be one, completing "names 'x' ...":
    a name holding NUL, an absolute name (``/x``, ``\\x``, ``\\\\host\\x``, ``C:x``),
    or one whose ``..`` climbs out of the source folder. (Symbolic links are the
    importer's to check: this looks at the text only.)"""
    if not name:
        raise UfedError("(an empty name)")
    if "\x00" in name:
        raise UfedError("holding a NUL character")
    path = name.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        raise UfedError("outside the source folder (an absolute path)")
    joined = posixpath.normpath(posixpath.join(folder, path) if folder else path)
    if joined == ".." or joined.startswith("../"):
        raise UfedError("outside the source folder ('..' climbs out of it)")
    if joined == ".":
        raise UfedError("that is the source folder itself, not a file")
    return joined


# --- .ufdx -------------------------------------------------------------------------------


def parse_ufdx(data: bytes) -> tuple[dict[str, Any], list[Named]]:
    """(facts, the .ufd files it names, as written: see :func:`source_path`)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise UfedError(f"not well-formed XML ({exc})") from None
    extractions = []
    paths = []
    for el in root.iter():
        attrs = {k: v for k, v in el.attrib.items()}
        key, path = next(((k, v) for k, v in attrs.items() if k.lower() == "path"), ("", ""))
        if path and path.lower().endswith(".ufd"):
            extractions.append({"element": _local(el.tag), **attrs})
            paths.append(Named(f"<{_local(el.tag)} {_local(key)}>", path))
    facts = {"root": _local(root.tag), "attributes": dict(root.attrib), "extractions": extractions}
    return facts, paths


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# --- .ufdr report.xml ------------------------------------------------------------------


@dataclass
class Report:
    namespace: str
    project: dict[str, str] = field(default_factory=dict)
    extractions: list[dict[str, str]] = field(default_factory=list)
    case_information: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # member path (Local Path, '/'-separated) -> (device path, sha256, md5, size) of the
    # first tagged file (in report order) that gives it
    files: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    files_without_local_path: int = 0
    # Local Paths given by more than one tagged file -> how many more
    repeated_local_paths: dict[str, int] = field(default_factory=dict)
    # ... and those further tagged files' (device path, sha256, md5, size), in report
    # order: at most CLAIMS_KEPT - 1 per Local Path (the rest counted, above)
    more_claims: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)
    # Local Paths whose tagged files give different hashes (counting those not kept)
    disagreeing: set[str] = field(default_factory=set)
    _hashes: dict[str, list[str]] = field(default_factory=dict, repr=False)  # a repeated Local Path's first SHA-256 and MD5 given

    def claims(self, path: str) -> list[tuple[str, str, str, str]]:
        """Every tagged file kept that gives ``path`` as its Local Path, in report order."""
        first = self.files.get(path)
        return [] if first is None else [first, *self.more_claims.get(path, ())]

    def _add(self, local: str, claim: tuple[str, str, str, str]) -> None:
        first = self.files.get(local)
        if first is None:
            self.files[local] = claim
            return
        self.repeated_local_paths[local] = self.repeated_local_paths.get(local, 0) + 1
        known = self._hashes.setdefault(local, [first[1].strip().lower(), first[2].strip().lower()])
        for n, value in enumerate((claim[1].strip().lower(), claim[2].strip().lower())):
            if not known[n]:
                known[n] = value
            elif value and value != known[n]:
                self.disagreeing.add(local)
        more = self.more_claims.setdefault(local, [])
        if len(more) < CLAIMS_KEPT - 1:
            more.append(claim)

    def tagged(self, paths: Any = None) -> int:
        """How many tagged files the report lists; with ``paths``, how many of
        them give a Local Path in ``paths``."""
        if paths is None:
            return len(self.files) + sum(self.repeated_local_paths.values()) + self.files_without_local_path
        return sum(1 + self.repeated_local_paths.get(p, 0) for p in paths)

    def facts(self) -> dict[str, Any]:
        """For sources.jsonl (the importer adds ``tagged_files_in_ufdr``, the tagged
        files whose Local Path is a member of the .ufdr, once its members are read)."""
        return {
            "namespace": self.namespace,
            "project": self.project,
            "extractions": self.extractions,
            "case_information": self.case_information,
            "metadata": self.metadata,
            "tagged_files": self.tagged(),
            "tagged_files_with_local_path": self.tagged(self.files),
        }


CLAIMS_KEPT = 100  # tagged files kept per Local Path (a hostile report.xml may give one path a million times)


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?P<zone>Z|z|[+-]\d{2}:?\d{2})?$")
_NO_ZONE = re.compile(r"^\d{1,2}[/.]\d{1,2}[/.]\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp][Mm])?$")
NO_ZONE = "not stated in report.xml: not converted to UTC (evidpack never guesses a zone)"


def parse_report_date(text: str) -> dict[str, Any] | None:
    """A report.xml value that is a time: UFED's ``28/07/2024 07:27:27(UTC-4)`` (as
    :func:`parse_ufd_date`) or ISO 8601 with a zone, converted to UTC; one that
    states no zone is kept as text with ``utc`` None and ``zone`` saying so; None
    for a value that is not a time."""
    parsed = parse_ufd_date(text)
    if parsed:
        return parsed
    value = text.strip()
    m = _ISO.match(value)
    if m and m["zone"]:
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z").replace(" ", "T", 1))
            utc = format_utc(moment)
        except (ValueError, OverflowError):
            return None
        label = offset_label(moment.utcoffset() or timedelta(0))
        why = unreal_offset(label)
        if why:
            return _not_read(value, label, why)
        return {"text": value, "utc": utc, "offset": label}
    if m or _NO_ZONE.match(value):
        return {"text": value, "utc": None, "zone": NO_ZONE}
    return None


def _named_value(elem: ET.Element) -> dict[str, Any]:
    """A report.xml ``<item>``/``<field>``: its name and text, and the time it gives, if it is one."""
    value = (elem.text or "").strip()
    out: dict[str, Any] = {"name": elem.get("name", ""), "value": value}
    date = parse_report_date(value) if len(value) < 64 else None
    if date:
        out["date"] = date
    return out


_PROJECT_SECTIONS = ("Extraction Data", "Device Info", "Additional Fields")


def read_report(fh: BinaryIO) -> Report:
    """Stream-parse a UFDR ``report.xml`` (real ones are gigabytes): project and
    extraction info, and for each tagged file its device path, its path in the
    .ufdr and the hashes the report gives. Elements are dropped once read."""
    report = Report("")
    stack: list[ET.Element] = []
    section: str | None = None
    current: dict[str, Any] | None = None
    try:
        for event, elem in ET.iterparse(fh, events=("start", "end")):
            tag = _local(elem.tag)
            if event == "start":
                if not stack:
                    report.namespace = elem.tag[1:].split("}", 1)[0] if elem.tag.startswith("{") else ""
                    report.project = dict(elem.attrib)
                elif tag == "metadata":
                    section = elem.get("section")
                elif tag == "file":
                    current = {"path": elem.get("path", ""), "size": elem.get("size", ""), "items": {}}
                stack.append(elem)
                continue
            stack.pop()
            if tag == "extractionInfo":
                report.extractions.append(dict(elem.attrib))
            elif tag == "field" and any(_local(e.tag) == "caseInformation" for e in stack):
                report.case_information.append(_named_value(elem))
            elif tag == "item" and current is not None:
                current["items"][elem.get("name", "")] = (elem.text or "").strip()
            elif tag == "item" and section in _PROJECT_SECTIONS and len(stack) == 2:
                report.metadata.setdefault(section, []).append(_named_value(elem))
            elif tag == "metadata":
                section = None
            elif tag == "file" and current is not None:
                items = current["items"]
                local = items.get("Local Path", "").replace("\\", "/")
                if local:
                    report._add(local, (current["path"], items.get("SHA256", ""), items.get("MD5", ""), current["size"]))
                else:
                    report.files_without_local_path += 1
                current = None
            if stack:
                elem.clear()
                stack[-1].remove(elem)
    except ET.ParseError as exc:
        raise UfedError(f"report.xml is not well-formed XML ({exc})") from None
    return report
