"""The disclosure schedule (``schedule.pdf`` in a disclosure package): what was
disclosed, to whom, from which seal, and how the recipient checks it.

Built from the same blocks as the index (page template, fonts for every script,
tables), and like it deterministic: the same disclosure gives the same bytes.
It prints only what the package itself discloses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reportlab.platypus import Flowable, Spacer

from ..timeutil import parse_rfc3339
from .cover import VALUE, VALUE_MONO, key_values
from .document import Heading, Identity, ReportDocument, body_pages
from .flowables import Column, Lines, Para, Table
from .styles import BODY, CELL_BOLD, CELL_NOTE, CELL_PATH, CODE, H1, H2, HASH, NOTE, TITLE, TextStyle

if TYPE_CHECKING:
    from ..disclose import Plan

WARNING = TextStyle("bold", 9, 12.5, (0.7, 0.1, 0.1))


def _bytes(n: int) -> str:
    return f"{n:,} bytes"


def render_schedule(p: "Plan", body: dict[str, Any], *, head: str, seq: int, withheld: int) -> bytes:
    """The schedule as PDF bytes. ``body`` is the discloser's statement (as signed
    in ``disclosure.json``); ``head`` and ``seq`` the ``disclosed`` event's."""
    m = p.master
    discloser = body["discloser"]
    identity = Identity(
        case_id=str(m.case.get("id", "")),
        tagmanifest_sha256=m.sealed.tagmanifest_sha256,
        title="Disclosure schedule",
        kind=f"Disclosure {body['package']}",
        author=str(discloser["name"]),
        created=parse_rfc3339(body["made_at"]),
    )
    story: list[Flowable] = [*_cover(p, body, head, seq, withheld), *body_pages()]
    story += [Heading("Disclosed items", H1, key="items", space_before=0), _items(p)]
    if p.redactions:
        story += [
            Heading("Redacted derivatives", H1, key="redactions"),
            Para(
                "Each file below was made by the discloser from the sealed item named, and replaces it in this disclosure. "
                "It is NOT a sealed original: its content is attested by the discloser's signature on disclosure.json, not "
                "by the seal. The sealed item's record and Merkle proof are disclosed, so that it was sealed, and with which "
                "digests, can be checked.",
                BODY,
                space_after=6,
            ),
            _redactions(p),
        ]
    story += [Heading("How to check this disclosure", H1, key="checking"), *_checking(body)]
    return ReportDocument(identity).render(story)


def _cover(p: "Plan", body: dict[str, Any], head: str, seq: int, withheld: int) -> list[Flowable]:
    m = p.master
    d = body["discloser"]
    rows: list[tuple[str, str | Lines | None]] = [
        ("Case", f"{m.case.get('id')} — {m.case.get('title', '')}"),
        ("Legal authority", m.case.get("authority")),
        ("Package", f"{body['package']}.zip — " + ("AES-256 encrypted zip" if body["encrypted"] else "zip, NOT encrypted")),
        ("Made (UTC)", body["made_at"]),
        ("Discloser", Lines.of((f"{d['name']} ({d['role']})", VALUE), (d["key"], VALUE_MONO))),
        ("Recipient", body.get("recipient") or "(not stated)"),
        ("Note", body.get("note")),
        ("Disclosed", f"{len(p.entries)} item(s): {p.files} file(s) as sealed, {len(p.redactions)} redacted derivative(s); {_bytes(p.bytes)}"),
        ("Sealed by", Lines.of((m.signer.describe().rsplit(" ", 1)[0], VALUE), (m.signer.fingerprint, VALUE_MONO))),
        ("Tag manifest SHA-256", Lines.of((m.sealed.tagmanifest_sha256, VALUE_MONO), ("the file the sealer's signature covers", NOTE))),
        ("Merkle root", Lines.of((m.root, VALUE_MONO), (f"over {len(m.leaves)} sealed item records", NOTE))),
        ("Custody", Lines.of((f"'disclosed' is event {seq}; the log's head after it:", VALUE), (head, VALUE_MONO),
                             (f"{withheld} event(s) that would describe undisclosed items are carried as their hash only" if withheld else None, NOTE))),
    ]
    return [
        Spacer(1, 18),
        Para("Disclosure schedule", TITLE, space_after=4),
        Para(f"{m.case.get('id')} — {m.case.get('title', '')}", H2, space_after=14),
        key_values(rows),
        Para("What this disclosure proves", H2, space_before=10, space_after=4),
        Para(
            "Every file listed as disclosed is, byte for byte, the item the examiner sealed: its record (name, size, SHA-256, "
            "MD5) is a leaf of the Merkle tree whose root is in the sealed seal.json, and seal.json is listed in the tag "
            "manifest the examiner signed. The recipient checks this without the rest of the bundle and without trusting the "
            "discloser. Redacted derivatives are the discloser's statement only. Nothing in this package describes an item "
            "that was not disclosed: the proofs' sibling hashes are salted and reveal nothing.",
            BODY,
        ),
    ]


def _items(p: "Plan") -> Table:
    def rows() -> Any:
        for e in p.entries:
            rec = e.item.record
            name = str(rec.get("path") or rec.get("member_path") or rec.get("original_path") or "")
            where = Lines.of((name, CELL_PATH), (f"member of {rec.get('container')}" if rec.get("kind") == "member" else None, CELL_NOTE))
            size = _bytes(int(rec["size"])) if isinstance(rec.get("size"), int) else "—"
            digests = Lines.of((rec.get("sha256") or "no digest recorded", HASH), (rec.get("md5"), HASH))
            yield [e.id, where, size, digests, Lines.of((e.file, CELL_PATH)) if e.file else Lines.of((e.note, CELL_NOTE))]

    return Table(
        [Column("Exhibit", 0.15, CELL_BOLD), Column("Sealed name", 0.26), Column("Size", 0.09), Column("SHA-256 / MD5", 0.27),
         Column("In the package", 0.23)],
        rows(),
    )


def _redactions(p: "Plan") -> Table:
    return Table(
        [Column("Derived from", 0.15, CELL_BOLD), Column("Derivative in the package", 0.26, CELL_PATH), Column("Size", 0.09),
         Column("SHA-256", 0.27, HASH), Column("Reason", 0.23)],
        ([r.of, r.member, _bytes(r.size), r.sha256, r.reason] for r in p.redactions),
    )


def _checking(body: dict[str, Any]) -> list[Flowable]:
    pw = " --password-file FILE" if body["encrypted"] else ""
    return [
        Para("Trust only public keys obtained independently of this package (from the examiner or the court), never the "
             "copies inside it. With evidpack:", BODY, space_after=4),
        Para(f"evidpack verify {body['package']}.zip --trust KEYS/{pw}", CODE, space_after=6),
        Para("It checks every disclosed file against its record, every record against the sealed root, the examiner's "
             "signature, the discloser's signature over disclosure.json, and the custody log up to this disclosure, and "
             "reports redactions as redactions. Exit code 0 means verified by trusted keys; 1 an integrity failure; 3 "
             "intact but a key is not trusted.", BODY, space_after=6),
        Para("Without evidpack, in the extracted package's master/ folder:", BODY, space_after=4),
        Para("grep '  evidpack/seal.json$' tagmanifest-sha256.txt | sha256sum -c\n"
             "openssl pkeyutl -verify -pubin -inkey EXAMINER.pub -rawin -in tagmanifest-sha256.txt "
             "-sigfile tagmanifest-sha256.txt.sig", CODE, space_after=6),
        Para("then, for each file, compare its SHA-256 with its record in items/<exhibit>.proof.json, and recompute the "
             "Merkle root from SHA-256(0x00 || record) and the audit path (RFC 9162, section 2.1.3.2); it must equal "
             "merkle.root in master/evidpack/seal.json.", BODY),
    ]
