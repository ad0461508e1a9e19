"""The cover: who, what and when, the values the seal rests on, and what the seal means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportlab.platypus import Flowable, Spacer

from ..timeutil import format_utc
from .flowables import Column, Lines, Para, Table
from .styles import BODY, H2, LABEL, NOTE, TITLE, TextStyle, digest_name

if TYPE_CHECKING:
    from .index import IndexInput

KEY = TextStyle("bold", 8.5, 12, LABEL.colour)
VALUE = TextStyle("sans", 9, 12, exact=True)  # recorded values: names are printed exactly
VALUE_MONO = TextStyle("mono", 8.5, 12, wrap="chars")


def key_values(rows: list[tuple[str, str | Lines | None]], key_width: float = 0.27) -> Table:
    """A two-column table of labels and values (values that are None are left out)."""
    return Table(
        [Column("", key_width, KEY), Column("", 1 - key_width, VALUE)],
        ([k, v] for k, v in rows if v),
        header=False,
        zebra=False,
    )


def page(data: "IndexInput") -> list[Flowable]:
    case, seal, signer = data.case, data.seal, data.signer
    merkle = seal.get("merkle") or {}
    payload = seal.get("payload") or {}
    sealed_at = seal.get("sealed_at", "")
    rows: list[tuple[str, str | Lines | None]] = [
        ("Case", data.case_id),
        ("Title", case.get("title")),
        ("Agency", case.get("agency")),
        ("Legal authority", case.get("authority")),
        ("Examiner", case.get("examiner")),
        ("Built and sealed (UTC)", sealed_at),
        ("Tool", data.tool),
        ("Tag manifest SHA-256", Lines.of((data.tagmanifest_sha256, VALUE_MONO), ("SHA-256 of tagmanifest-sha256.txt, the file the signature covers", NOTE))),
        ("Merkle root", Lines.of((merkle.get("root"), VALUE_MONO), (f"over {merkle.get('leaves', '?')} item records ({merkle.get('alg', '?')})", NOTE))),
        ("Payload", f"{payload.get('files', '?'):,} files, {payload.get('bytes', '?'):,} bytes; digests {', '.join(digest_name(a) for a in data.digests)}"),
        ("Signer", f"{signer.get('name', '?')} ({signer.get('role', '?')})"),
        ("Signer key fingerprint", Lines.of((signer.get("fingerprint"), VALUE_MONO))),
    ]
    if data.pdf_signer:
        rows.append(("PDF signature", f"This PDF also carries a PAdES signature by {data.pdf_signer}"))
    story: list[Flowable] = [
        Spacer(1, 18),
        Para("Evidence index", TITLE, space_after=4),
        Para(f"{data.case_id} — {case.get('title', '')}", H2, space_after=14),
        key_values(rows),
        Spacer(1, 6),
        Para("What the seal means", H2, space_before=6, space_after=4),
        Para(statement(data), BODY, space_after=8),
    ]
    if not data.at_seal:
        story.append(
            Para(
                f"READING COPY. Rendered {format_utc(data.rendered_at)} by evidpack index from the bundle. It is not the "
                "sealed index (evidpack/index.pdf) and is not signed. Its custody log shows every event in the bundle's "
                "log when it was rendered, including those recorded after the seal.",
                TextStyle("bold", 9, 12.5, (0.7, 0.1, 0.1)),
                space_before=4,
            )
        )
    return story


def statement(data: "IndexInput") -> str:
    signer = data.signer
    return (
        f"On {data.seal.get('sealed_at', '?')} the examiner's key with fingerprint {signer.get('fingerprint', '?')} "
        f"({signer.get('name', '?')}) signed the tag manifest whose SHA-256 is printed above. The tag manifest lists the "
        "SHA-256 of every record in the bundle: the payload manifests, which list the digest of every evidence file; the "
        "item records, one for every file and every member of a container, whose Merkle root is printed above; the "
        "sources with their acquisition details and checks; and the case file. If any evidence file or record is "
        "changed, added or removed after sealing, verification fails, and the custody log shows everything recorded since. "
        "The seal proves integrity since sealing and which key sealed; it does not by itself prove that the key belongs to "
        "the person named (compare the fingerprint with one obtained from them), nor anything about the evidence before "
        "it was acquired (see each source's acquisition details and checks). This index is not listed in the tag manifest, "
        "because it prints the manifest's hash; it is signed by the same key (evidpack/index.pdf.sig), and its SHA-256 is "
        "recorded in the signed 'sealed' event of the custody log."
    )

