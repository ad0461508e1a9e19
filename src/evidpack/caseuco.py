"""CASE 1.5 / UCO JSON-LD export of a bundle (``evidpack export case``).

What the bundle records, in the vocabulary other forensic tools read:

* the case: a ``case-investigation:Investigation`` (name = case id, focus =
  title) with its ``case-investigation:Authorization`` and the agency;
* every item and member record: an ``uco-observable:ObservableObject`` with a
  ``FileFacet`` (name, path, size, modified time) and a ``ContentDataFacet``
  (size, media type, SHA-256 and MD5 as ``uco-types:Hash``), a
  ``case-investigation:ProvenanceRecord`` naming its exhibit number
  (``E0001``, ``E0001/M000017``; a member's root exhibit is its container), and
  for a member a ``Contained_Within`` relationship to its container;
* each source as acquired (an ``ObservableObject``) and as imported (a
  ``ProvenanceRecord`` of its items), and the sealed bundle (a
  ``ProvenanceRecord`` of its sources, and its signed tag manifest);
* every custody event, including those added after the seal: a
  ``case-investigation:InvestigativeAction`` (name = the action) with its
  performer (a ``uco-identity:Identity`` holding a ``uco-role:Role``), start
  and end time, instrument, objects, result and status.

Node IRIs end in UUIDv5s derived from the case id, the seal's Merkle root and
the exhibit numbers (or custody line hashes), so exporting the same bundle
twice gives the same file, and two exports of one case share the
investigation's node. Facet IRIs follow case-utils' ``inherent_uuid`` scheme.
The output is written as it is produced: memory stays flat however many
items there are.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
import secrets
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .bundle import Bundle
from .catalogue import read_custody
from .custody import history_problems, line_hash, refuse_unsealed, seal_problems
from .errors import EvidpackError
from .timeutil import format_utc, parse_rfc3339

CASE_VERSION = "1.5.0"
DEFAULT_BASE = "urn:example:evidpack:"
UCO = "https://ontology.unifiedcyberontology.org/uco/"
PREFIXES = {
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": UCO + "action/",
    "uco-core": UCO + "core/",
    "uco-identity": UCO + "identity/",
    "uco-observable": UCO + "observable/",
    "uco-role": UCO + "role/",
    "uco-tool": UCO + "tool/",
    "uco-types": UCO + "types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
HASH_METHODS = {"sha256": "SHA256", "md5": "MD5", "sha1": "SHA1", "sha512": "SHA512"}
# ActionStatusTypeVocab values for the outcomes evidpack records.
STATUS = {
    "pass": "Success",
    "fail": "Fail",
    "warn": "Complete/Finish",
    "not-checkable": "Unknown",
    "verified": "Success",
    "integrity-failure": "Fail",
    "untrusted-signer": "Complete/Finish",
}
BUILD_ACTIONS = frozenset({"created", "acquired", "imported", "source-verified", "sealed"})
_XSD_DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_BASE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*[/#:]$")


@dataclass(frozen=True)
class ExportSummary:
    items: int
    events: int
    nodes: int


# --- node IRIs -------------------------------------------------------------------------


class _Ids:
    """Deterministic node IRIs: ``kb:<Class>-<UUIDv5>``.

    Case-level nodes (the investigation, its authorization, roles) hang off the
    case id; everything recorded by one seal (items, records, actions) off the
    case id and the seal's Merkle root, because exhibit numbers are only
    meaningful within one sealed bundle."""

    def __init__(self, case_id: str, merkle_root: str) -> None:
        self.case_ns = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:evidpack:case:{case_id}")
        self.seal_ns = uuid.uuid5(self.case_ns, f"seal:{merkle_root}")

    def case(self, cls: str, name: str) -> str:
        return f"kb:{cls}-{uuid.uuid5(self.case_ns, _text(f'{cls}:{name}'))}"

    def seal(self, cls: str, name: str) -> str:
        return f"kb:{cls}-{uuid.uuid5(self.seal_ns, _text(f'{cls}:{name}'))}"

    @staticmethod
    def identity(key: str) -> str:
        """One node per signing key, shared by every export that key appears in."""
        return f"kb:Identity-{uuid.uuid5(uuid.NAMESPACE_URL, _text(f'urn:evidpack:key:{key}'))}"

    @staticmethod
    def inherent(owner: str, prefixed_class: str) -> str:
        """A facet (or other inherent node) of ``owner``: case-utils' scheme,
        UUIDv5(owner's UUID, full class IRI)."""
        prefix, local = prefixed_class.split(":", 1)
        return f"kb:{local}-{uuid.uuid5(uuid.UUID(owner[-36:]), PREFIXES[prefix] + local)}"


def _text(value: str) -> str:
    """``value`` as text UTF-8 can hold: a lone surrogate (``\\ud800``: legal in JSON
    text, so possible in the unsealed custody log, but no Unicode character) is written
    as its escape, ``\\ud800``, as `evidpack verify` prints it."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _clean(value: Any) -> Any:
    """Every string (keys too) in a JSON value, as :func:`_text`."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _dumps(value: Any, **kw: Any) -> str:
    """JSON text that encodes as UTF-8 whatever strings ``value`` holds."""
    text = json.dumps(value, ensure_ascii=False, **kw)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(_clean(value), ensure_ascii=False, **kw)


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


def _refs(iris: Iterable[str]) -> list[dict[str, str]]:
    return [_ref(i) for i in iris]


def _datetime(text: Any) -> dict[str, str] | None:
    """An RFC 3339 time as an xsd:dateTime literal (None when it is not a time)."""
    if not isinstance(text, str):
        return None
    if not _XSD_DATETIME.match(text):
        try:
            text = format_utc(parse_rfc3339(text))
        except ValueError:
            return None
    return {"@type": "xsd:dateTime", "@value": text}


def _drop_empty(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if v not in (None, [], "")}


# --- reading the bundle -----------------------------------------------------------------


def _object(text: bytes, where: str) -> dict[str, Any]:
    """One JSON object, or an error naming where it came from."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise EvidpackError(f"{where}: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise EvidpackError(f"{where}: not a JSON object")
    return obj


def _read_json(b: Bundle, rel: str, label: Path) -> dict[str, Any]:
    data = b.read(rel)
    if data is None:
        raise EvidpackError(f"{label}: no {rel}; not an evidpack bundle?")
    return _object(data, f"{label}: {rel}")


def _jsonl(b: Bundle, rel: str, label: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines file, streamed (a zipped bundle too)."""
    if not b.exists(rel):
        raise EvidpackError(f"{label}: no {rel}; not an evidpack bundle?")
    stream = b.open_stream(rel)
    with io.BufferedReader(stream) if isinstance(stream, io.RawIOBase) else stream as fh:
        for n, line in enumerate(fh, 1):
            yield _object(line, f"{label}: {rel} line {n}")


# --- the graph --------------------------------------------------------------------------


class _Graph:
    """Builds the export's nodes, in a fixed order, from one open bundle."""

    def __init__(self, b: Bundle, label: Path) -> None:
        self.b = b
        self.label = label
        self.case = _read_json(b, "evidpack/case.json", label)
        self.seal = _read_json(b, "evidpack/seal.json", label)
        self.sources = list(_jsonl(b, "evidpack/sources.jsonl", label))
        self.events = read_custody(b, label)
        case_id = str(self.case.get("id", ""))
        root = str((self.seal.get("merkle") or {}).get("root", ""))
        if not case_id or not root:
            raise EvidpackError(f"{label}: case.json has no id or seal.json no Merkle root")
        self.ids = _Ids(case_id, root)
        self.investigation = self.ids.case("Investigation", "investigation")
        self.bundle_record = self.ids.seal("ProvenanceRecord", "bundle")
        self.tag_manifest = self.ids.seal("ObservableObject", "tagmanifest-sha256.txt")
        self.tool = self.ids.seal("Tool", "evidpack")
        self.items = 0

    # -- each part ------------------------------------------------------------

    def nodes(self) -> Iterator[dict[str, Any]]:
        yield from self._case_nodes()
        yield from self._people_nodes()
        yield from self._bundle_nodes()
        for source in self.sources:
            yield from self._source_nodes(source)
        for record in _jsonl(self.b, "evidpack/items.jsonl", self.label):
            self.items += 1
            yield from self._item_nodes(record)
        for line, event in self.events:
            yield from self._action_nodes(line, event)

    def _case_nodes(self) -> Iterator[dict[str, Any]]:
        c = self.case
        authorization = self.ids.case("Authorization", "authorization")
        agency = self.ids.case("Organization", "agency")
        contents = [agency, self.bundle_record]
        contents += [self._source_record(s) for s in self.sources]
        contents += [self._action(line) for line, _ in self.events]
        yield _drop_empty({
            "@id": self.investigation,
            "@type": "case-investigation:Investigation",
            "uco-core:name": c.get("id"),
            "case-investigation:focus": c.get("title"),
            "case-investigation:investigationForm": "case",
            "uco-core:description": [f"{k.capitalize()}: {c[k]}" for k in ("examiner", "description", "notes") if c.get(k)],
            "case-investigation:relevantAuthorization": [_ref(authorization)],
            "uco-core:object": _refs(contents),
        })
        yield _drop_empty({
            "@id": authorization,
            "@type": "case-investigation:Authorization",
            "uco-core:name": c.get("authority"),
            "case-investigation:authorizationIdentifier": c.get("authority"),
        })
        yield _drop_empty({"@id": agency, "@type": "uco-identity:Organization", "uco-core:name": c.get("agency")})
        tool = self.seal.get("tool") or {}
        yield _drop_empty({
            "@id": self.tool,
            "@type": "uco-tool:Tool",
            "uco-core:name": tool.get("name", "evidpack"),
            "uco-tool:version": tool.get("version"),
        })
        for name in sorted({str(t) for s in self.sources if (t := (s.get("acquisition") or {}).get("tool"))}):
            yield {"@id": self.ids.case("Tool", f"tool:{name}"), "@type": "uco-tool:Tool", "uco-core:name": name}

    def _people_nodes(self) -> Iterator[dict[str, Any]]:
        """Everyone who signed a custody event, and the roles they signed in."""
        people: dict[str, dict[str, Any]] = {}
        roles: dict[str, set[str]] = {}
        for _, event in self.events:
            actor = _actor(event)
            iri = self._identity(actor)
            people.setdefault(iri, actor)
            if actor.get("role"):
                roles.setdefault(iri, set()).add(str(actor["role"]))
        for iri, actor in people.items():
            yield _drop_empty({
                "@id": iri,
                "@type": "uco-identity:Identity",
                "uco-core:name": actor.get("name"),
                "uco-core:description": f"Ed25519 signing key {actor['key']}" if actor.get("key") else None,
            })
        for name in sorted(set().union(*roles.values())):
            yield {"@id": self._role(name), "@type": "uco-role:Role", "uco-core:name": name}
        for iri, names in roles.items():
            for name in sorted(names):
                yield {
                    "@id": f"kb:Relationship-{uuid.uuid5(uuid.UUID(iri[-36:]), f'Has_Role:{name}')}",
                    "@type": "uco-core:Relationship",
                    "uco-core:source": [_ref(iri)],
                    "uco-core:target": _ref(self._role(name)),
                    "uco-core:kindOfRelationship": "Has_Role",
                    "uco-core:isDirectional": True,
                }

    def _role(self, name: str) -> str:
        return self.ids.case("Role", f"role:{name}")

    def _identity(self, actor: dict[str, Any]) -> str:
        return _Ids.identity(str(actor.get("key") or f"name:{actor.get('name', '')}"))

    def _bundle_nodes(self) -> Iterator[dict[str, Any]]:
        merkle = self.seal.get("merkle") or {}
        yield _drop_empty({
            "@id": self.bundle_record,
            "@type": "case-investigation:ProvenanceRecord",
            "uco-core:name": f"evidpack bundle {self.case.get('id')}",
            "uco-core:description": [
                f"Sealed {self.seal.get('sealed_at')} ({self.seal.get('format')}); "
                f"Merkle root {merkle.get('root')} over {merkle.get('leaves')} item record(s)"
            ],
            "uco-core:object": _refs(self._source_record(s) for s in self.sources),
        })
        tm = self.b.read("tagmanifest-sha256.txt")
        if tm is None:
            raise EvidpackError(f"{self.label}: no tagmanifest-sha256.txt; not a sealed bundle")
        yield from self._observable(
            self.tag_manifest,
            name="tagmanifest-sha256.txt",
            path="tagmanifest-sha256.txt",
            size=len(tm),
            hashes={"sha256": hashlib.sha256(tm).hexdigest()},
            description="The bundle's tag manifest, signed by the sealer (tagmanifest-sha256.txt.sig, .sshsig)",
        )

    def _source_object(self, source: dict[str, Any]) -> str:
        return self.ids.seal("ObservableObject", f"source:{source.get('id')}")

    def _source_record(self, source: dict[str, Any]) -> str:
        return self.ids.seal("ProvenanceRecord", f"source:{source.get('id')}")

    def _source_nodes(self, source: dict[str, Any]) -> Iterator[dict[str, Any]]:
        sid = source.get("id")
        location = source.get("location")
        yield _drop_empty({
            "@id": self._source_object(source),
            "@type": "uco-observable:ObservableObject",
            "uco-core:name": f"{sid} {source.get('label', '')}".strip(),
            "uco-core:description": [
                f"Source {sid} ({source.get('kind')}) as acquired"
                + (f", from {json.dumps(location, ensure_ascii=False)}" if location else "")
            ],
        })
        yield _drop_empty({
            "@id": self._source_record(source),
            "@type": "case-investigation:ProvenanceRecord",
            "uco-core:name": f"{sid} {source.get('label', '')}".strip(),
            "uco-core:description": [f"The items imported from source {sid} into {source.get('folder')}"],
            "uco-core:object": _Lazy(self._items_of(sid)),
        })

    def _items_of(self, source_id: Any) -> Iterator[dict[str, str]]:
        for record in _jsonl(self.b, "evidpack/items.jsonl", self.label):
            if record.get("source") == source_id and record.get("id"):
                yield _ref(self.ids.seal("ObservableObject", f"item:{record['id']}"))

    def _item_nodes(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        exhibit = record.get("id")
        if not isinstance(exhibit, str):
            raise EvidpackError(f"{self.label}: evidpack/items.jsonl: a record has no exhibit id")
        item = self.ids.seal("ObservableObject", f"item:{exhibit}")
        where = record.get("member_path") or record.get("path") or record.get("original_path")
        notes = [f"{record.get('kind', 'item')} record {exhibit} of evidpack bundle {self.case.get('id')}"]
        if record.get("reason"):
            notes.append(f"Not copied: {record['reason']}")
        yield from self._observable(
            item,
            name=posixpath.basename(str(where).rstrip("/")) if where else None,
            path=where,
            size=record.get("size"),
            hashes={alg: record.get(alg) for alg in HASH_METHODS},
            mtime=record.get("mtime"),
            media_type=record.get("media_type"),
            tags=record.get("tags"),
            description=" ".join(notes),
        )
        container = record.get("container")
        yield _drop_empty({
            "@id": self.ids.seal("ProvenanceRecord", f"item:{exhibit}"),
            "@type": "case-investigation:ProvenanceRecord",
            "case-investigation:exhibitNumber": exhibit,
            "case-investigation:rootExhibitNumber": container if isinstance(container, str) else None,
            "uco-core:object": [_ref(item)],
        })
        if isinstance(container, str):
            yield {
                "@id": self.ids.seal("ObservableRelationship", f"contained:{exhibit}"),
                "@type": "uco-observable:ObservableRelationship",
                "uco-core:source": [_ref(item)],
                "uco-core:target": _ref(self.ids.seal("ObservableObject", f"item:{container}")),
                "uco-core:kindOfRelationship": "Contained_Within",
                "uco-core:isDirectional": True,
            }

    def _observable(
        self,
        iri: str,
        *,
        name: str | None,
        path: Any,
        size: Any,
        hashes: dict[str, Any],
        mtime: Any = None,
        media_type: Any = None,
        tags: Any = None,
        description: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """A file-like observable with its FileFacet, ContentDataFacet and Hashes."""
        size = size if isinstance(size, int) and not isinstance(size, bool) else None
        file_facet = _drop_empty({
            "@id": _Ids.inherent(iri, "uco-observable:FileFacet"),
            "@type": "uco-observable:FileFacet",
            "uco-observable:fileName": name,
            "uco-observable:filePath": path if isinstance(path, str) else None,
            "uco-observable:sizeInBytes": size,
            "uco-observable:modifiedTime": _datetime(mtime),
        })
        content_iri = _Ids.inherent(iri, "uco-observable:ContentDataFacet")
        hash_nodes = [
            {
                "@id": f"kb:Hash-{uuid.uuid5(uuid.UUID(content_iri[-36:]), method)}",
                "@type": "uco-types:Hash",
                "uco-types:hashMethod": method,
                "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value},
            }
            for alg, method in HASH_METHODS.items()
            if isinstance(value := hashes.get(alg), str) and re.fullmatch(r"[0-9a-fA-F]+", value) and len(value) % 2 == 0
        ]
        facets = [file_facet]
        if hash_nodes or size is not None or media_type:
            facets.append(_drop_empty({
                "@id": content_iri,
                "@type": "uco-observable:ContentDataFacet",
                "uco-observable:sizeInBytes": size,
                "uco-observable:mimeType": media_type if isinstance(media_type, str) else None,
                "uco-observable:hash": _refs(h["@id"] for h in hash_nodes),
            }))
        yield _drop_empty({
            "@id": iri,
            "@type": "uco-observable:ObservableObject",
            "uco-core:description": [description] if description else None,
            "uco-core:tag": [str(t) for t in tags] if isinstance(tags, list) else None,
            "uco-core:hasFacet": _refs(f["@id"] for f in facets),
        })
        yield from facets
        yield from hash_nodes

    # -- custody events ------------------------------------------------------------

    def _action(self, line: bytes) -> str:
        return self.ids.seal("InvestigativeAction", f"custody:{line_hash(line)}")

    def _action_nodes(self, line: bytes, event: dict[str, Any]) -> Iterator[dict[str, Any]]:
        action = str(event.get("action", ""))
        details = event.get("details") if isinstance(event.get("details"), dict) else {}
        subject = event.get("subject") if isinstance(event.get("subject"), dict) else {}
        objects, results = self._objects_and_results(action, subject)
        statement, status = _outcome(action, details)
        if statement is not None:
            assertion = self.ids.seal("Assertion", f"result:{line_hash(line)}")
            results.append(assertion)
        when = _datetime(event.get("at"))
        notes = [f"evidpack custody event {event.get('seq')} (line SHA-256 {line_hash(line)}, previous {event.get('prev')})"]
        if details:
            notes.append("Details: " + json.dumps(details, ensure_ascii=False, sort_keys=True))
        yield _drop_empty({
            "@id": self._action(line),
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": action,
            "uco-core:description": notes,
            "uco-action:performer": _ref(self._identity(_actor(event))),
            "uco-action:startTime": when,
            "uco-action:endTime": when,
            "uco-action:instrument": _refs(self._instruments(action, details)),
            "uco-action:object": _refs(objects),
            "uco-action:result": _refs(results),
            "uco-action:actionStatus": status,
        })
        if statement is not None:
            yield {"@id": assertion, "@type": "uco-core:Assertion", "uco-core:statement": statement}

    def _objects_and_results(self, action: str, subject: dict[str, Any]) -> tuple[list[str], list[str]]:
        """What an event acted on and what came of it, in this graph's nodes."""
        source = next((s for s in self.sources if s.get("id") == subject.get("source")), None)
        if action == "created":
            return [], [self.investigation]
        if source is not None and action == "acquired":
            return [self._source_object(source)], []
        if source is not None and action == "imported":
            return [self._source_object(source)], [self._source_record(source)]
        if source is not None:
            return [self._source_record(source)], []
        if action == "sealed":
            return [self.bundle_record], [self.tag_manifest]
        return [self.bundle_record], []

    def _instruments(self, action: str, details: dict[str, Any]) -> list[str]:
        if action == "acquired" and details.get("tool"):
            return [self.ids.case("Tool", f"tool:{details['tool']}")]
        return [self.tool] if action in BUILD_ACTIONS else []


class _Lazy:
    """A list value written element by element as the file is written."""

    def __init__(self, items: Iterator[Any]) -> None:
        self.items = items


def _actor(event: dict[str, Any]) -> dict[str, Any]:
    actor = event.get("actor")
    return actor if isinstance(actor, dict) else {}


def _outcome(action: str, details: dict[str, Any]) -> tuple[str | None, str | None]:
    """(statement of the result, ActionStatusTypeVocab value) for the events that
    carry an outcome: source checks and verifications."""
    if action == "source-verified" and "verdict" in details:
        text = f"{details.get('check')}: {details['verdict']}" + (f": {details['detail']}" if details.get("detail") else "")
        return text, STATUS.get(str(details["verdict"]))
    if action == "verified" and "result" in details:
        text = str(details.get("summary") or details["result"])
        return text, STATUS.get(str(details["result"]))
    return None, None


# --- writing ----------------------------------------------------------------------------


def _write_node(fh: IO[str], node: dict[str, Any]) -> None:
    """One node, indented; a :class:`_Lazy` list is streamed in place."""
    lazy = {k: v for k, v in node.items() if isinstance(v, _Lazy)}
    marks = {k: f"\u0000lazy:{k}" for k in lazy}
    text = _dumps({k: marks.get(k, v) for k, v in node.items()}, indent=2)
    text = text.replace("\n", "\n    ")
    for key, mark in marks.items():
        before, text = text.split(json.dumps(mark), 1)
        fh.write(before + "[")
        for n, item in enumerate(lazy[key].items):
            fh.write(("," if n else "") + "\n        " + _dumps(item))
        fh.write("\n      ]")
    fh.write(text)


def write_jsonld(nodes: Iterable[dict[str, Any]], fh: IO[str], base: str) -> int:
    """The JSON-LD document: a context and the nodes as its @graph. Returns
    the number of nodes written."""
    context = {"kb": base, **PREFIXES}
    fh.write('{\n  "@context": ' + json.dumps(context, indent=2).replace("\n", "\n  ") + ',\n  "@graph": [')
    count = 0
    for count, node in enumerate(nodes, 1):
        fh.write(("," if count > 1 else "") + "\n    ")
        _write_node(fh, node)
    fh.write("\n  ]\n}\n")
    return count


def export_case(bundle: Path, out: Path, *, base: str = DEFAULT_BASE) -> ExportSummary:
    """Export a bundle (folder or zip) as CASE 1.5 JSON-LD to ``out`` ('-' for
    standard output). The file appears whole or not at all.

    ``out`` must be outside the bundle and must not exist (nothing is overwritten).
    The export presents items.jsonl, seal.json and the tag manifest as sealed, so
    first the seal is checked (:func:`evidpack.custody.seal_problems`: the tag
    manifest's signatures by signer.pem and every tag file it lists), then the
    custody log and index.pdf (:func:`evidpack.custody.history_problems`: the
    events exported are the ones signed); a bundle that fails is refused (IntegrityError). The payload is not re-hashed: nothing
    of it is exported but what items.jsonl records."""
    if not _BASE.match(base):
        raise EvidpackError(f"--base {base!r}: must be an absolute IRI ending in '/', '#' or ':'")
    to_stdout = str(out) == "-"
    with Bundle.open(bundle) as b:
        if not to_stdout:
            _check_out(Path(bundle), Path(out))
        refuse_unsealed(bundle, seal_problems(b) or history_problems(b), "export")
        graph = _Graph(b, bundle)
        if to_stdout:
            nodes = write_jsonld(graph.nodes(), sys.stdout, base)
        else:
            nodes = _write_atomically(out, lambda fh: write_jsonld(graph.nodes(), fh, base))
    return ExportSummary(graph.items, len(graph.events), nodes)


def _check_out(bundle: Path, out: Path) -> None:
    """The rule `evidpack index` applies (a bundle holds only what was sealed: nothing is
    written inside it), and no existing file is replaced."""
    if bundle.is_dir() and out.resolve().is_relative_to(bundle.resolve()):
        raise EvidpackError(f"{out}: is inside the bundle; write the export elsewhere (a bundle holds only what was sealed)")
    from .cli import refuse_inside_any_bundle

    refuse_inside_any_bundle(out, "write the export elsewhere")
    if out.is_dir():
        raise EvidpackError(f"{out}: is a folder; give a file name for --out")
    if out.exists() or out.is_symlink():
        raise EvidpackError(f"{out}: already exists; evidpack never overwrites it: remove it or choose another name")


def _write_atomically(out: Path, write: Callable[[IO[str]], int]) -> int:
    """Write to a hidden sibling file, then link it to ``out``, which must not exist
    (a file created meanwhile is not replaced)."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial-{secrets.token_hex(4)}")
    try:
        fh = open(tmp, "x", encoding="utf-8")
    except FileNotFoundError:
        raise EvidpackError(f"{out}: its folder does not exist") from None
    except OSError as exc:
        raise EvidpackError(f"{out}: cannot write ({exc.strerror})") from None
    try:
        with fh:
            result = write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, out)
        except FileExistsError:
            raise EvidpackError(f"{out}: already exists; evidpack never overwrites it: remove it or choose another name") from None
        except OSError:  # a file system without hard links: rename, after one more look
            if out.exists() or out.is_symlink():
                raise EvidpackError(f"{out}: already exists; evidpack never overwrites it: remove it or choose another name") from None
            os.rename(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return result
