"""Names of the files a bundle holds outside its payload (see docs/format.md).

Kept apart from the code that writes them, so readers (verify, proofs,
disclosure) need not load the builder.
"""

from __future__ import annotations

BAGIT_TXT_FILE = "bagit.txt"
CUSTODY_FILE = "evidpack/custody.jsonl"
INCOMPLETE_MARKER = "evidpack/.incomplete"
SIG_FILE = "tagmanifest-sha256.txt.sig"
SSHSIG_FILE = "tagmanifest-sha256.txt.sshsig"
TAGMANIFEST = "tagmanifest-sha256.txt"
INDEX_PDF = "evidpack/index.pdf"
INDEX_SIG = "evidpack/index.pdf.sig"
DISCLOSURE_FILE = "disclosure.json"
# Tag files outside the tag manifest: the signatures over it, the custody log
# (appended to after sealing; it protects itself by its own chain and signatures),
# and the PDF index, which prints the tag manifest's hash (it is signed on its own,
# and its SHA-256 is in the signed 'sealed' custody event).
UNSEALED_TAG_FILES = frozenset({SIG_FILE, SSHSIG_FILE, CUSTODY_FILE, INDEX_PDF, INDEX_SIG})
