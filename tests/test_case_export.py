"""`evidpack export case`: CASE 1.5 JSON-LD that case_validate accepts, and says what the bundle says."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rdflib
from conftest import BUILD_TIME, DEMO_KEY, DEMO_PASS, REPO, build_args, run_cli, run_proc, tool
from test_catalogue import ACCOUNT_DIR, device_bundle  # noqa: F401  (a fixture)

from evidpack.timeutil import parse_rfc3339

PREFIXES = """
PREFIX case-investigation: <https://ontology.caseontology.org/case/investigation/>
PREFIX uco-action: <https://ontology.unifiedcyberontology.org/uco/action/>
PREFIX uco-core: <https://ontology.unifiedcyberontology.org/uco/core/>
PREFIX uco-identity: <https://ontology.unifiedcyberontology.org/uco/identity/>
PREFIX uco-observable: <https://ontology.unifiedcyberontology.org/uco/observable/>
PREFIX uco-role: <https://ontology.unifiedcyberontology.org/uco/role/>
PREFIX uco-types: <https://ontology.unifiedcyberontology.org/uco/types/>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""
# rdflib's own JSON-LD parser uses a class it deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
HEX_BINARY = rdflib.XSD.hexBinary
DATE_TIME = rdflib.XSD.dateTime


def export(bundle: Path, out: Path, *extra: str) -> Path:
    r = run_cli("export", "case", bundle, "--out", out, *extra)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"wrote {out}: CASE 1.5 JSON-LD")
    return out


def graph(path: Path) -> rdflib.Graph:
    return rdflib.Graph().parse(path, format="json-ld")


def select(g: rdflib.Graph, sparql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in g.query(PREFIXES + sparql)]


def case_validate(path: Path) -> None:
    p = run_proc(tool("case_validate"), path)
    out = p.stdout.decode()
    assert p.returncode == 0, out[:4000]
    assert "Conforms: True" in out


def items_of(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / "evidpack/items.jsonl").read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example case, built and exported once: (bundle, export)."""
    d = tmp_path_factory.mktemp("example")
    bundle = d / "NC-2026-0142"
    r = run_cli(*build_args(REPO / "manifests/example-case.toml", bundle))
    assert r.exit_code == 0, r.output
    return bundle, export(bundle, d / "NC-2026-0142.jsonld")


def test_export_of_the_example_case_conforms_to_case_1_5(example: tuple[Path, Path]) -> None:
    case_validate(example[1])


def test_every_item_has_its_exhibit_number_name_size_and_both_hashes(example: tuple[Path, Path]) -> None:
    bundle, out = example
    g = graph(out)
    # Small queries joined here: rdflib plans one six-way join very badly.
    exhibits = dict((str(i), str(e)) for e, i in select(g, """
        SELECT ?exhibit ?item WHERE {
          ?record a case-investigation:ProvenanceRecord ; case-investigation:exhibitNumber ?exhibit ;
                  uco-core:object ?item . ?item a uco-observable:ObservableObject . }"""))
    files = {str(i): (str(n), int(z)) for i, n, z in select(g, """
        SELECT ?item ?name ?size WHERE {
          ?item uco-core:hasFacet ?f . ?f a uco-observable:FileFacet ;
                uco-observable:fileName ?name ; uco-observable:sizeInBytes ?size . }""")}
    hashes: dict[str, dict[str, Any]] = {}
    for i, m, v in select(g, """
        SELECT ?item ?method ?value WHERE {
          ?item uco-core:hasFacet ?c . ?c a uco-observable:ContentDataFacet ; uco-observable:hash ?h .
          ?h uco-types:hashMethod ?method ; uco-types:hashValue ?value . }"""):
        hashes.setdefault(str(i), {})[str(m)] = v
    expected = {
        rec["id"]: ((rec.get("path") or rec.get("member_path", "")).rsplit("/", 1)[-1], rec["size"], rec["sha256"],
                    rec["md5"], HEX_BINARY, HEX_BINARY)
        for rec in items_of(bundle) if rec["kind"] in ("file", "member") and "sha256" in rec  # not folders
    }
    # Sources and the sealed bundle have provenance records too; items are those with exhibit ids E….
    found = {
        exhibit: (*files[item], str(hashes[item]["SHA256"]), str(hashes[item]["MD5"]),
                  hashes[item]["SHA256"].datatype, hashes[item]["MD5"].datatype)
        for item, exhibit in exhibits.items() if exhibit.startswith("E") and item in hashes
    }
    assert found == expected
    assert "E0001" in found and len(found) == len(expected) > 0


def test_hash_method_is_a_plain_string_from_the_hash_name_vocabulary(example: tuple[Path, Path]) -> None:
    doc = json.loads(example[1].read_text("utf-8"))
    methods = {json.dumps(n["uco-types:hashMethod"]) for n in doc["@graph"] if n["@type"] == "uco-types:Hash"}
    assert methods == {'"SHA256"', '"MD5"'}  # xsd:string: UCO 1.4+ warns on any other datatype


def test_the_case_is_an_investigation_with_its_authorization(example: tuple[Path, Path]) -> None:
    rows = select(graph(example[1]), """
        SELECT ?name ?focus ?auth WHERE {
          ?i a case-investigation:Investigation ; uco-core:name ?name ; case-investigation:focus ?focus ;
             case-investigation:relevantAuthorization ?a .
          ?a a case-investigation:Authorization ; case-investigation:authorizationIdentifier ?auth .
        }""")
    assert [tuple(map(str, r)) for r in rows] == [
        ("NC-2026-0142", "Operation Example — fentanyl distribution and laundering (SYNTHETIC)", "Search warrant 26-SW-1187")]


def test_every_custody_event_is_an_investigative_action_with_performer_time_and_role(example: tuple[Path, Path]) -> None:
    bundle, out = example
    events = [json.loads(line) for line in (bundle / "evidpack/custody.jsonl").read_text("utf-8").splitlines()]
    rows = select(graph(out), """
        SELECT ?action ?who ?role ?start ?end WHERE {
          ?a a case-investigation:InvestigativeAction ; uco-core:name ?action ;
             uco-action:performer ?p ; uco-action:startTime ?start ; uco-action:endTime ?end .
          ?p a uco-identity:Identity ; uco-core:name ?who .
          ?r a uco-core:Relationship ; uco-core:source ?p ; uco-core:target ?role_node ;
             uco-core:kindOfRelationship "Has_Role" .
          ?role_node a uco-role:Role ; uco-core:name ?role .
        }""")
    assert sorted((str(a), str(w), str(r), s.toPython()) for a, w, r, s, _ in rows) == sorted(
        (e["action"], e["actor"]["name"], e["actor"]["role"], parse_rfc3339(e["at"])) for e in events)
    assert {(s.datatype, e.datatype) for *_, s, e in rows} == {(DATE_TIME, DATE_TIME)}


def test_actions_name_their_objects_and_results(example: tuple[Path, Path]) -> None:
    g = graph(example[1])
    rows = select(g, """
        SELECT ?action ?status ?statement WHERE {
          ?a a case-investigation:InvestigativeAction ; uco-core:name ?action .
          OPTIONAL { ?a uco-action:actionStatus ?status }
          OPTIONAL { ?a uco-action:result ?r . ?r a uco-core:Assertion ; uco-core:statement ?statement }
        }""")
    checks = [(str(s), str(t)) for a, s, t in rows if str(a) == "source-verified"]
    assert ("Success", "files-copied: pass: 4 file(s), 890 bytes copied and hashed in one read each") in checks
    (sealed,) = select(g, """
        SELECT ?hash (COUNT(?item) AS ?items) WHERE {
          ?a uco-core:name "sealed" ; uco-action:object ?bundle ; uco-action:result ?tm .
          ?tm uco-core:hasFacet/uco-observable:hash/uco-types:hashValue ?hash .
          ?bundle a case-investigation:ProvenanceRecord ; uco-core:object/uco-core:object ?item .
        } GROUP BY ?hash""")
    tm = (example[0] / "tagmanifest-sha256.txt").read_bytes()
    n_items = len(items_of(example[0]))
    assert (str(sealed[0]), int(sealed[1])) == (hashlib.sha256(tm).hexdigest(), n_items)
    (imported,) = select(g, """
        SELECT (COUNT(?item) AS ?n) WHERE {
          ?a uco-core:name "imported" ; uco-action:result ?record .
          ?record uco-core:object ?item . ?item a uco-observable:ObservableObject .
        }""")
    assert int(imported[0]) == n_items


def test_export_is_reproducible_and_the_same_from_a_zip(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "b/TC-0001"
    assert run_cli(*build_args(case, out, "--zip")).exit_code == 0
    one = export(out, tmp_path / "one.jsonld").read_bytes()
    two = export(out, tmp_path / "two.jsonld").read_bytes()
    zipped = export(out.with_name("TC-0001.zip"), tmp_path / "zip.jsonld").read_bytes()
    assert one == two == zipped


def test_node_ids_end_in_uuids_and_facets_follow_case_utils(example: tuple[Path, Path]) -> None:
    from case_utils.inherent_uuid import get_facet_uriref
    from case_utils.namespace import NS_UCO_OBSERVABLE

    doc = json.loads(example[1].read_text("utf-8"))
    ids = [n["@id"] for n in doc["@graph"]]
    assert len(ids) == len(set(ids))
    assert len({i[-36:] for i in ids}) == len(ids)  # no two nodes share a UUID
    ns = rdflib.Namespace(doc["@context"]["kb"])
    for node in doc["@graph"]:
        if node["@type"] == "uco-observable:ObservableObject" and "uco-core:hasFacet" in node:
            item = ns[node["@id"].removeprefix("kb:")]
            expected = get_facet_uriref(item, NS_UCO_OBSERVABLE.FileFacet, namespace=ns)
            assert "kb:" + str(expected).removeprefix(str(ns)) == node["uco-core:hasFacet"][0]["@id"]


def test_events_added_after_the_seal_are_exported_and_still_conform(bundle: Path, tmp_path: Path) -> None:
    r = run_cli("custody", "add", bundle, "--action", "transferred", "--to", "ADA M. Park",
                "--note", "sealed envelope #4471", "--key", DEMO_KEY, "--passphrase-file", DEMO_PASS)
    assert r.exit_code == 0, r.output
    out = export(bundle, tmp_path / "after.jsonld")
    rows = select(graph(out), """
        SELECT ?desc WHERE { ?a uco-core:name "transferred" ; uco-core:description ?desc ;
                                uco-action:object/a case-investigation:ProvenanceRecord }""")
    assert any("ADA M. Park" in str(d) and "#4471" in str(d) for (d,) in rows)
    case_validate(out)


def test_members_keep_their_container_as_root_exhibit(device_bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    out = export(device_bundle, tmp_path / "device.jsonld")
    rows = select(graph(out), """
        SELECT ?exhibit ?root ?path WHERE {
          ?r case-investigation:exhibitNumber ?exhibit ; case-investigation:rootExhibitNumber ?root ; uco-core:object ?m .
          ?m uco-core:hasFacet/uco-observable:filePath ?path .
          ?rel a uco-observable:ObservableRelationship ; uco-core:source ?m ; uco-core:target ?c ;
               uco-core:kindOfRelationship "Contained_Within" .
          ?cr case-investigation:exhibitNumber ?root ; uco-core:object ?c .
        }""")
    assert sorted(tuple(map(str, r)) for r in rows) == [
        ("E0001/M000001", "E0001", f"{ACCOUNT_DIR}/EnMicroMsg.db"),
        ("E0001/M000002", "E0001", f"{ACCOUNT_DIR}/image2/ab/cd/th_abcd"),
        ("E0001/M000003", "E0001", "Dump/sdcard/DCIM/IMG_0001.jpg"),
    ]
    case_validate(out)


def test_export_to_standard_output(bundle: Path) -> None:
    r = run_cli("export", "case", bundle, "--out", "-")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["@context"]["kb"] == "urn:example:evidpack:"


def test_base_sets_the_node_namespace(bundle: Path, tmp_path: Path) -> None:
    out = export(bundle, tmp_path / "x.jsonld", "--base", "http://example.org/kb/")
    assert json.loads(out.read_text("utf-8"))["@context"]["kb"] == "http://example.org/kb/"
    r = run_cli("export", "case", bundle, "--out", tmp_path / "y.jsonld", "--base", "not an iri")
    assert r.exit_code == 2 and r.stderr.startswith("evidpack: error: --base") and r.stderr.count("\n") == 1


def test_export_of_a_non_bundle_or_to_a_missing_folder_is_one_line(bundle: Path, tmp_path: Path) -> None:
    r = run_cli("export", "case", tmp_path, "--out", tmp_path / "x.jsonld")
    assert r.exit_code == 2 and r.stderr == f"evidpack: error: {tmp_path}: not an evidpack bundle (no bagit.txt)\n"
    target = tmp_path / "no/such/folder/x.jsonld"
    r = run_cli("export", "case", bundle, "--out", target)
    assert r.exit_code == 2 and r.stderr == f"evidpack: error: {target}: its folder does not exist\n"
    assert not any(p.name.startswith(".x.jsonld") for p in tmp_path.rglob("*"))


def test_a_broken_items_file_is_named(bundle: Path, tmp_path: Path) -> None:
    items = bundle / "evidpack/items.jsonl"
    items.chmod(0o644)
    items.write_bytes(items.read_bytes() + b"{broken\n")
    out = tmp_path / "x.jsonld"
    r = run_cli("export", "case", bundle, "--out", out)
    # (the seal check refuses it first: items.jsonl is a sealed tag file)
    assert r.exit_code == 1 and "evidpack/items.jsonl: changed since sealing" in r.stderr and r.stderr.count("\n") == 1
    assert not out.exists()


def test_build_time_is_the_time_of_the_build_events(example: tuple[Path, Path]) -> None:
    rows = select(graph(example[1]), """
        SELECT DISTINCT ?t WHERE { ?a a case-investigation:InvestigativeAction ; uco-action:startTime ?t }""")
    assert [t.toPython() for (t,) in rows] == [parse_rfc3339(BUILD_TIME)]
