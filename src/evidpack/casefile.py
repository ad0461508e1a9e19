"""The case manifest (TOML) -> a typed case and its sources, with clear errors."""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from .errors import EvidpackError, read_input
from .timeutil import format_utc, offset_label, parse_rfc3339, unreal_offset


@dataclass(frozen=True)
class Acquisition:
    tool: str
    by: str
    at: datetime
    at_text: str
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tool": self.tool, "by": self.by, "at": format_utc(self.at), "declared": True}
        if self.at_text != out["at"]:
            out["at_original"] = self.at_text
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Source:
    id: str  # S01
    kind: str
    label: str
    slug: str
    paths: tuple[Path, ...]  # resolved
    written: tuple[str, ...]  # as written in the manifest
    is_list: bool
    acquisition: Acquisition
    notes: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return f"{self.id}-{self.slug}"


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    agency: str
    authority: str
    examiner: str
    manifest_path: Path
    sources: tuple[Source, ...]
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "title": self.title,
            "agency": self.agency,
            "authority": self.authority,
            "examiner": self.examiner,
        }
        out.update(self.extra)
        return out


@cache
def schema() -> dict[str, Any]:
    text = resources.files("evidpack").joinpath("schemas/case-manifest.schema.json").read_text("utf-8")
    return json.loads(text)


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:40].rstrip("-") or "source"


def _where(path: list[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load(manifest: Path) -> Case:
    raw = read_input(manifest, "case manifest", limit=16 << 20)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EvidpackError(f"{manifest}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvidpackError(f"{manifest}: invalid TOML: {exc}") from None
    text = raw.decode("utf-8")
    _zoned_times_as_text(manifest, text, data)
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        path, message, others, line_path = _first_problem(errors)
        more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
        raise EvidpackError(f"{_at(manifest, text, line_path)}: {_where(path)}: {message}{more}")
    base = manifest.resolve().parent
    c = data["case"]
    sources = tuple(_source(manifest, base, i, s) for i, s in enumerate(data["sources"]))
    extra = {k: c[k] for k in ("contact", "description", "notes") if k in c}
    return Case(c["id"], c["title"], c["agency"], c["authority"], c["examiner"], manifest, sources, extra)


def _first_problem(errors: list[jsonschema.ValidationError]) -> tuple[list[Any], str, int, list[Any]]:
    """The problem to report -- where, what --, how many more there are, and the path
    whose line to name (an unknown field's own line). An unknown
    field comes first, named, with the known field it most looks like: a misspelt
    ``lable`` is the cause of ``'label' is required``, which is then not counted."""
    unknown = [e for e in errors if e.validator == "additionalProperties" and isinstance(e.instance, dict)]
    if not unknown:
        path = list(errors[0].absolute_path)
        return path, _message(errors[0]), len(errors) - 1, path
    err = unknown[0]
    path = list(err.absolute_path)
    known = list(err.schema.get("properties", {}))
    names = [k for k in err.instance if k not in known]
    parts, meant = [], set()
    for name in names[:3]:
        guess = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
        parts.append(_quoted(name) + (f" (did you mean '{guess[0]}'?)" if guess else ""))
        meant.update(guess)
    listed = ", ".join(parts) + (f" and {len(names) - 3:,} more" if len(names) > 3 else "")
    message = f"unknown field{'s' if len(names) > 1 else ''} {listed}"
    if not meant:
        message += f" (known: {', '.join(known)})" if len(known) <= 12 else ""
    caused = [
        e for e in errors
        if e.validator == "required" and list(e.absolute_path) == path and _missing(e) in meant
    ]
    return path, message, len(errors) - 1 - len(caused), path + names[:1]


def _missing(err: jsonschema.ValidationError) -> str | None:
    """The property a ``required`` error is about."""
    for name in err.validator_value:
        if isinstance(err.instance, dict) and name not in err.instance and repr(name) in err.message:
            return str(name)
    return None


def _quoted(name: object) -> str:
    text = str(name)
    return repr(text) if len(text) <= _SHOWN else f"{text[:_SHOWN]!r}… ({len(text):,} characters)"


def _message(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        return err.message.replace("Additional properties are not allowed", "unknown field(s)")
    if err.validator == "type" and isinstance(err.instance, (datetime, date, time)):
        return f"is a TOML {_toml_kind(err.instance)}, not text: write it in quotes, e.g. \"{err.instance.isoformat()}\""
    if err.validator == "required":
        return err.message.replace("is a required property", "is required")
    if err.validator == "pattern" and err.schema.get("pattern") == schema()["$defs"]["line"]["pattern"]:
        return "must be one line" + _line_break(err.instance)
    if err.validator == "pattern" and isinstance(err.instance, str) and isinstance(err.validator_value, str):
        # (shown with $ for the schema's end-of-text (?![\s\S]), which $ is not in Python: see $defs/line)
        pattern = err.validator_value.removesuffix(_END_OF_TEXT) + ("$" if err.validator_value.endswith(_END_OF_TEXT) else "")
        return f"{_quoted(err.instance)} does not match {pattern!r}{_line_break(err.instance)}"
    if err.validator == "maxLength" and isinstance(err.instance, str):
        return f"is too long: {len(err.instance):,} characters, at most {err.validator_value:,}"
    message = err.message
    if isinstance(err.instance, str) and len(err.instance) > _SHOWN:
        message = message.replace(repr(err.instance), f"{err.instance[:_SHOWN]!r}… ({len(err.instance):,} characters)")
    if len(message) > 4 * _SHOWN:  # (a long table or list, printed whole by the schema library)
        message = message[: 4 * _SHOWN] + "…"
    return message


_SHOWN = 80  # characters of a value an error message quotes
_END_OF_TEXT = "(?![\\s\\S])"  # the schema's patterns end so: in Python, $ also matches before a final newline


def _toml_kind(value: datetime | date | time) -> str:
    if isinstance(value, datetime):
        return "date-time" if value.tzinfo is not None else "local date-time (no zone)"
    return "date" if isinstance(value, date) else "time"


def _rfc3339_text(value: datetime) -> str:
    """An aware TOML date-time as the RFC 3339 text it was written as (``Z`` for a zero
    offset, which TOML does not tell apart from ``+00:00``)."""
    frac = f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""
    offset = value.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    zone = "Z" if minutes == 0 else f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}{frac}{zone}")


# The line breaks a one-line field may not hold (those str.splitlines splits at), named.
_BREAKS = {"\n": "LF", "\r": "CR", "\v": "VT", "\f": "FF", "\x1c": "FS", "\x1d": "GS", "\x1e": "RS",
           "\x85": "NEL", "\u2028": "U+2028", "\u2029": "U+2029"}


def _line_break(value: Any) -> str:
    """``: it holds a line break (LF, at its end)`` for a value that must be one line."""
    if not isinstance(value, str):
        return ""
    at = next((i for i, c in enumerate(value) if c in _BREAKS), None)
    if at is None:
        return ""
    where = "at its end" if not value[at:].strip("".join(_BREAKS)) else f"after {at:,} character{'s' if at != 1 else ''}"
    return f": it holds a line break ({_BREAKS[value[at]]}, {where})"


_TIME_REF = "#/$defs/time"


@cache
def time_fields() -> tuple[tuple[tuple[Any, ...], tuple[tuple[Any, ...], str] | None], ...]:
    """Every time-valued field of the manifest, found in the schema (each refers to
    ``$defs/time``): its path (``"*"`` for any element of a list) and, for a field
    that is one only for a kind of source, ``(path of that source, kind)``. Today:
    ``sources[*].acquisition.at`` and, for ``wechat-production``,
    ``sources[*].options.request.sent_at`` and ``.received_at``."""
    root = schema()
    found: list[tuple[tuple[Any, ...], tuple[tuple[Any, ...], str] | None]] = []

    def walk(node: Any, path: tuple[Any, ...], when: tuple[tuple[Any, ...], str] | None, depth: int) -> None:
        if not isinstance(node, dict) or depth > 32:
            return
        ref = node.get("$ref")
        if ref == _TIME_REF:
            found.append((path, when))
            return
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            walk(root["$defs"].get(ref.removeprefix("#/$defs/")), path, when, depth + 1)
        for key, sub in node.get("properties", {}).items():
            walk(sub, path + (key,), when, depth + 1)
        if "items" in node:
            walk(node["items"], path + ("*",), when, depth + 1)
        for branch in node.get("allOf", []):
            kind = branch.get("if", {}).get("properties", {}).get("kind", {}).get("const")
            walk(branch.get("then"), path, (path, kind) if isinstance(kind, str) else when, depth + 1)

    walk(root, (), None, 0)
    return tuple(found)


def _values_at(data: Any, pattern: tuple[Any, ...], path: tuple[Any, ...] = ()) -> list[tuple[list[Any], dict[str, Any]]]:
    """(concrete path, the table holding it) of each value at ``pattern`` in ``data``."""
    if not pattern:
        return []
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if not isinstance(data, list):
            return []
        return [hit for i, v in enumerate(data) for hit in _values_at(v, rest, path + (i,))]
    if not isinstance(data, dict) or head not in data:
        return []
    if not rest:
        return [(list(path + (head,)), data)]
    return _values_at(data[head], rest, path + (head,))


def _get(data: Any, path: list[Any]) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _zoned_times_as_text(manifest: Path, text: str, data: dict[str, Any]) -> None:
    """``at = 2026-03-02T10:00:00Z`` without quotes is a TOML date-time: with its zone
    (``Z`` or an offset) it is taken as the same RFC 3339 text in quotes. A local
    date-time, a date or a time has no zone, and evidpack never guesses one: refused,
    one line naming the field. So for every time field of the manifest
    (:func:`time_fields`: ``acquisition.at``, a WeChat production's
    ``options.request.sent_at`` and ``received_at``)."""
    for pattern, when in time_fields():
        for path, table in _values_at(data, pattern):
            if when is not None:
                owner = _get(data, path[: len(when[0])])
                if not isinstance(owner, dict) or owner.get("kind") != when[1]:
                    continue
            key = path[-1]
            value = table[key]
            if isinstance(value, datetime) and value.tzinfo is not None:
                table[key] = _rfc3339_text(value)
            elif isinstance(value, (datetime, date, time)):
                example = (value.isoformat() if isinstance(value, datetime) else "2026-03-02T10:00:00") + "Z"
                raise EvidpackError(
                    f"{_at(manifest, text, path)}: {_where(path)}: {value.isoformat()} is a TOML {_toml_kind(value)}: "
                    f"give the time with Z or an offset, e.g. {example} or ...+08:00 (evidpack never guesses a zone)"
                )


# --- where in the manifest: a line number, when the TOML text shows it plainly ---------

_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(_BARE_OR_QUOTED)


def _keys(dotted: str) -> list[str]:
    out = []
    for part in _PART.findall(dotted):
        if part[:1] == '"':
            part = json.loads(part) if "\\" in part else part[1:-1]
        elif part[:1] == "'":
            part = part[1:-1]
        out.append(part)
    return out


def _line_of(text: str, path: list[Any]) -> int | None:
    """The line of ``path`` (``["sources", 1, "label"]``) in the TOML ``text``: the line
    of its key, else of the deepest table or key above it. A best effort (tables and
    keys as people write them; inline tables give the line of their key), and None
    when unsure."""
    want = tuple(path)
    arrays: dict[tuple[Any, ...], int] = {}  # array-of-tables path -> its last index
    table: tuple[Any, ...] = ()
    best: tuple[int, int] | None = None  # (depth matched, line)
    in_string: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if in_string is not None:  # inside a multi-line string: nothing here is a key
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        found: tuple[Any, ...] | None = None
        header = _HEADER.match(line)
        if header:
            keys, resolved = _keys(header.group(2)), []
            for j, key in enumerate(keys):
                resolved.append(key)
                last = j == len(keys) - 1
                if last and header.group(1) == "[[":
                    arrays[tuple(resolved)] = arrays.get(tuple(resolved), -1) + 1
                    resolved.append(arrays[tuple(resolved)])
                elif tuple(resolved) in arrays:
                    resolved.append(arrays[tuple(resolved)])
            table = found = tuple(resolved)
        else:
            key = _KEY.match(line)
            if key:
                found = table + tuple(_keys(key.group(1)))
                rest = line[key.end():]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_string = quote
                        break
        if found and isinstance(found[-1], int) and found[:-1] == want:
            found = want  # [[sources]] itself: the line of the first one
        if found and want[: len(found)] == found and (best is None or len(found) > best[0]):
            best = (len(found), n)
    return best[1] if best else None


def _at(manifest: Path, text: str, path: list[Any]) -> str:
    """``case.toml`` or ``case.toml: line 12`` for the problem at ``path``."""
    try:
        line = _line_of(text, path) if path else None
    except (ValueError, RecursionError):
        line = None
    return f"{manifest}: line {line}" if line else f"{manifest}"


def _plain_options(value: Any, where: str) -> None:
    """Options are recorded in sources.jsonl as JSON: TOML dates and times (which
    carry no explicit zone rules evidpack could keep) must be quoted strings."""
    if isinstance(value, dict):
        for k, v in value.items():
            _plain_options(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _plain_options(v, f"{where}[{i}]")
    elif isinstance(value, (datetime, date, time)):
        example = value.isoformat() + ("+00:00" if isinstance(value, datetime) and value.tzinfo is None else "")
        raise EvidpackError(f"{where}: write dates and times as quoted strings, e.g. \"{example}\" (a TOML date-time is not kept as written)")
    elif isinstance(value, float) and value != value:
        raise EvidpackError(f"{where}: NaN is not a value")


def _source(manifest: Path, base: Path, index: int, s: dict[str, Any]) -> Source:
    sid = f"S{index + 1:02d}"
    where = f"{manifest}: sources[{index}]"
    acq = s["acquisition"]
    try:
        at = parse_rfc3339(acq["at"])
    except ValueError as exc:
        raise EvidpackError(f"{where}.acquisition.at: {exc}") from None
    if unreal := unreal_offset(offset_label(at.utcoffset())):  # type: ignore[arg-type]
        raise EvidpackError(f"{where}.acquisition.at: {acq['at']!r}: {unreal}")
    extra = {k: acq[k] for k in ("location", "reference", "notes") if k in acq}
    _plain_options(s.get("options", {}), f"{where}.options")
    is_list = isinstance(s["path"], list)
    written = tuple(s["path"]) if is_list else (s["path"],)
    for n, w in enumerate(written):
        if "\0" in w:  # (no file system holds such a name)
            at = f"{where}.path[{n}]" if is_list else f"{where}.path"
            raise EvidpackError(f"{at}: contains a NUL character, which no file name can hold")
    paths = tuple(base / Path(p) for p in written)
    return Source(
        id=sid,
        kind=s["kind"],
        label=s["label"],
        slug=s.get("slug") or slugify(s["label"]),
        paths=paths,
        written=written,
        is_list=is_list,
        acquisition=Acquisition(acq["tool"], acq["by"], at, acq["at"], extra),
        notes=s.get("notes", ""),
        options=dict(s.get("options", {})),
    )
