"""How to verify: the exact commands, with this bundle's values filled in —
with evidpack, and with stock tools alone (coreutils, OpenSSL, OpenSSH)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from reportlab.platypus import CondPageBreak, Flowable

from .document import Entry
from .flowables import Para
from .styles import BODY, CODE, H3, NOTE, PANEL

if TYPE_CHECKING:
    from .index import IndexInput


def section(data: "IndexInput") -> tuple[Entry, list[Entry], list[Flowable]]:
    bundle = shlex.quote(data.case_id)  # the bundle's folder, named after the case by convention
    signer = data.signer
    fingerprint = signer.get("fingerprint", "?")
    principal = shlex.quote(str(signer.get("principal") or "evidpack-signer"))
    md5 = "md5" in data.digests
    story: list[Flowable] = []

    def step(title: str, intro: str, commands: list[str], expect: str, output: str | None = None) -> None:
        story.extend(
            [
                CondPageBreak(90),
                Para(title, H3, space_before=8, space_after=3),
                Para(intro, BODY, space_after=4),
                Para("\n".join(commands), CODE, indent=5, background=PANEL, space_after=3),
                Para(expect, NOTE, space_after=4 if output is None else 2),
            ]
        )
        if output is not None:  # in a fixed-width font: it may hold the tag manifest's hash (document.LateDigest)
            story.append(Para(output, CODE, indent=5, space_after=4))

    story.append(
        Para(
            "Trust comes from outside the bundle: obtain the examiner's public key (or at least its fingerprint) "
            f"from them directly, and check that it is {fingerprint}. The key inside the bundle (evidpack/signer.pem) "
            "only says which key signed.",
            BODY,
            space_after=4,
        )
    )
    step(
        "With evidpack",
        f"Every check at once, trusting only the examiner's public key file you obtained (here examiner.pub). The bundle "
        f"is a folder or a .zip; here it is called {bundle}, after the case:",
        [
            f"evidpack verify {bundle} --trust examiner.pub",
            f"evidpack verify {bundle} --trust examiner.pub --md5     # also recompute every MD5",
            f"evidpack verify {bundle} --trust examiner.pub --deep    # also re-hash every container member",
        ],
        f"Expected: exit code 0 and a last line beginning VERIFIED, naming the key {fingerprint}. Exit code 1 means "
        "something differs from what was sealed; 3 means intact but the signer is not among the trusted keys.",
    )
    story.append(Para("With stock tools, in the bundle folder", H3, space_before=10, space_after=3))
    story.append(Para(f"cd {bundle}", CODE, indent=5, background=PANEL, space_after=4))
    step(
        "1. The signature over the tag manifest",
        "The tag manifest must be the one sealed, and signed by the examiner's key:",
        [
            "sha256sum tagmanifest-sha256.txt",
            "openssl pkeyutl -verify -pubin -inkey evidpack/signer.pem -rawin -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig",
            f"ssh-keygen -Y verify -f evidpack/allowed_signers -I {principal} -n evidpack -s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt",
            "awk '{print $3, $4}' evidpack/allowed_signers | ssh-keygen -lf -",
        ],
        f"Expected: 'Signature Verified Successfully'; "
        f"'Good \"evidpack\" signature for {signer.get('principal')} with ED25519 key {fingerprint}'; and the fingerprint "
        f"{fingerprint}. Replace evidpack/signer.pem with the examiner's public key file you obtained to check against it instead. "
        "The first command prints this SHA-256, the tag manifest's, as on the cover:",
        data.tagmanifest_sha256,
    )
    step(
        "2. Every tag file and every evidence file",
        "The tag manifest lists the records and the payload manifests; the payload manifests list every evidence file:",
        ["sha256sum -c tagmanifest-sha256.txt", "sha256sum -c manifest-sha256.txt", *(["md5sum -c manifest-md5.txt"] if md5 else [])],
        "Expected: every line ends in OK. Any FAILED line names a file that differs from what was sealed; "
        "a file not listed at all is found by evidpack verify (or bagit.py --validate).",
    )
    step(
        "3. This index",
        "This PDF is signed by the same key, and its SHA-256 is recorded in the signed 'sealed' custody event:",
        [
            "openssl pkeyutl -verify -pubin -inkey evidpack/signer.pem -rawin -in evidpack/index.pdf -sigfile evidpack/index.pdf.sig",
            "sha256sum evidpack/index.pdf",
            "grep -o '\"index_pdf_sha256\":\"[0-9a-f]*\"' evidpack/custody.jsonl",
        ],
        "Expected: 'Signature Verified Successfully', and the same SHA-256 twice.",
    )
    story.append(
        Para(
            f"The Merkle root over the item records ({(data.seal.get('merkle') or {}).get('root', '?')}) is in "
            "evidpack/seal.json and bag-info.txt, both covered by the tag manifest; evidpack verify recomputes it, and "
            "an inclusion proof (evidpack proof) proves a single item without disclosing the others.",
            NOTE,
            space_before=6,
        )
    )
    return Entry("How to verify", "verify"), [], story
