"""The case manifest (TOML) -> a typed case and its sources, with clear errors."""

from __future__ import annotations

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
from .timeutil import format_utc, parse_rfc3339


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
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        err = errors[0]
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise EvidpackError(f"{manifest}: {_where(list(err.absolute_path))}: {_message(err)}{more}")
    base = manifest.resolve().parent
    c = data["case"]
    sources = tuple(_source(manifest, base, i, s) for i, s in enumerate(data["sources"]))
    extra = {k: c[k] for k in ("contact", "description", "notes") if k in c}
    return Case(c["id"], c["title"], c["agency"], c["authority"], c["examiner"], manifest, sources, extra)


def _message(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        return err.message.replace("Additional properties are not allowed", "unknown field(s)")
    if err.validator == "required":
        return err.message.replace("is a required property", "is required")
    if err.validator == "pattern" and err.schema.get("pattern", "").startswith("^[^\\r\\n]"):
        return "must be one line"
    if err.validator == "maxLength" and isinstance(err.instance, str):
        return f"is too long: {len(err.instance):,} characters, at most {err.validator_value:,}"
    message = err.message
    if isinstance(err.instance, str) and len(err.instance) > _SHOWN:
        message = message.replace(repr(err.instance), f"{err.instance[:_SHOWN]!r}… ({len(err.instance):,} characters)")
    if len(message) > 4 * _SHOWN:  # (a long table or list, printed whole by the schema library)
        message = message[: 4 * _SHOWN] + "…"
    return message


_SHOWN = 80  # characters of a value an error message quotes


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
