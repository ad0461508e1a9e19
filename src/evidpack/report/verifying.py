"""How to verify: the exact commands, with this bundle's values filled in —
with evidpack, and with stock tools alone (coreutils, OpenSSL, OpenSSH).

Every command is printed so that it can be copied from the PDF and run: in the
fixed-width font, on one line if it fits, else broken only between arguments
(an option stays with its value), each line but the last ending in `` \\``
(the shell's line continuation) and the next indented. Fingerprints and
digests are printed in the fixed-width font too, where ``l`` and ``I`` differ.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reportlab.platypus import CondPageBreak, Flowable

from . import fonts
from .document import Entry
from .flowables import Para
from .styles import BODY, CODE, FRAME_WIDTH, H3, NOTE, PANEL

if TYPE_CHECKING:
    from .index import IndexInput

CODE_INDENT = 5.0  # a command panel's text from its left edge
CONTINUATION = "    "  # how a continued command line is indented
_SLACK = 2  # characters kept free at the end of a line


@dataclass(frozen=True)
class Command:
    """A shell command as the words (or word groups, such as an option and its
    value, never broken apart) it may be broken between, and a comment printed
    after it (or, if that does not fit, on its own line before it)."""

    words: tuple[str, ...]
    comment: str = ""

    @classmethod
    def of(cls, *words: str, comment: str = "") -> "Command":
        return cls(tuple(words), comment)

    @property
    def text(self) -> str:
        """The command on one line, as a shell reads it."""
        return " ".join(self.words)


def line_chars() -> int:
    """How many characters of :data:`CODE` a command panel's line holds."""
    advance = fonts.fixed_advance(CODE.role)
    assert advance is not None, "commands are set in a fixed-width font"
    return int((FRAME_WIDTH - CODE_INDENT) // (advance * CODE.size)) - _SLACK


def shell_lines(command: Command, width: int) -> list[str]:
    """``command`` as lines of at most ``width`` characters that a shell reads
    as the command itself: broken only between its words, every line but the
    last ending in `` \\`` and the next one indented. A single word longer than
    a line is left whole on a line of its own (never broken inside)."""
    lines: list[str] = []
    line = ""
    last = len(command.words) - 1
    for i, word in enumerate(command.words):
        room = width if i == last else width - 2  # a line that is not the last ends in " \\"
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= room:
            line += " " + word
        else:
            lines.append(line + " \\")
            line = CONTINUATION + word
    lines.append(line)
    if command.comment:
        comment = "# " + command.comment
        if len(lines[-1]) + 2 + len(comment) <= width:
            lines[-1] += "  " + comment
        else:
            lines.insert(0, comment)
    return lines


def output_lines(text: str, width: int) -> list[str]:
    """What a tool prints, its long lines broken at spaces and continued
    indented (so a continuation does not read as a line of its own)."""
    lines: list[str] = []
    for line in text.split("\n"):
        while len(line) > width:
            at = line.rfind(" ", len(line) - len(line.lstrip(" ")) + 1, width + 1)  # not in the indent
            if at < 0:
                break  # one word longer than a line: left whole
            lines.append(line[:at])
            line = CONTINUATION + line[at + 1 :]
        lines.append(line)
    return lines


def _aligned(commands: list[Command], width: int) -> list[str]:
    """The lines of ``commands``, their comments aligned where they all fit on one line."""
    if all(c.comment for c in commands) and all(len(c.text) + 4 + len(c.comment) <= width for c in commands):
        column = max(len(c.text) for c in commands) + 2
        if all(column + 2 + len(c.comment) <= width for c in commands):
            return [f"{c.text.ljust(column)}# {c.comment}" for c in commands]
    return [line for c in commands for line in shell_lines(c, width)]


def section(data: "IndexInput") -> tuple[Entry, list[Entry], list[Flowable]]:
    bundle = shlex.quote(data.case_id)  # the bundle's folder, named after the case by convention
    signer = data.signer
    fingerprint = str(signer.get("fingerprint", "?"))
    principal = str(signer.get("principal") or "evidpack-signer")
    md5 = "md5" in data.digests
    width = line_chars()
    story: list[Flowable] = []

    def commands(lines: list[Command], space_after: float = 3) -> Para:
        return Para("\n".join(_aligned(lines, width)), CODE, indent=CODE_INDENT, background=PANEL, space_after=space_after)

    def mono(text: str, space_after: float = 4) -> Para:
        """Output as a tool prints it, a fingerprint or a digest: in the fixed-width font
        (it may hold the tag manifest's hash, printed late: document.LateDigest)."""
        return Para("\n".join(output_lines(text, width)), CODE, indent=CODE_INDENT, space_after=space_after)

    def step(title: str, intro: str, lines: list[Command], expect: str, output: str | None = None) -> None:
        story.extend(
            [
                CondPageBreak(90),
                Para(title, H3, space_before=8, space_after=3),
                Para(intro, BODY, space_after=4),
                commands(lines),
                Para(expect, NOTE, space_after=4 if output is None else 2),
            ]
        )
        if output is not None:
            story.append(mono(output))

    story += [
        Para(
            "Trust comes from outside the bundle: obtain the examiner's public key (or at least its fingerprint) "
            "from them directly, and check that its fingerprint is this one (the signer's, as on the cover):",
            BODY,
            space_after=3,
        ),
        mono(fingerprint),
        Para("The key inside the bundle (evidpack/signer.pem) only says which key signed.", BODY, space_after=4),
    ]
    verify = ("evidpack", "verify", bundle, "--trust examiner.pub")
    step(
        "With evidpack",
        f"Every check at once, trusting only the examiner's public key file you obtained (here examiner.pub). The bundle "
        f"is a folder or a .zip; here it is called {data.case_id}, after the case:",
        [
            Command.of(*verify),
            Command.of(*verify, "--md5", comment="also recompute every MD5"),
            Command.of(*verify, "--deep", comment="also re-hash every container member"),
        ],
        "Expected: exit code 0 and a last line beginning VERIFIED, naming the key with the fingerprint above. Exit code 1 "
        "means something differs from what was sealed; 3 means intact but the signer is not among the trusted keys.",
    )
    story.append(Para("With stock tools, in the bundle folder", H3, space_before=10, space_after=3))
    story.append(commands([Command.of("cd", bundle)], space_after=4))
    step(
        "1. The signature over the tag manifest",
        "The tag manifest must be the one sealed, and signed by the examiner's key:",
        [
            Command.of("sha256sum", "tagmanifest-sha256.txt"),
            Command.of(
                "openssl", "pkeyutl", "-verify", "-pubin", "-inkey evidpack/signer.pem", "-rawin",
                "-in tagmanifest-sha256.txt", "-sigfile tagmanifest-sha256.txt.sig",
            ),
            Command.of(
                "ssh-keygen", "-Y verify", "-f evidpack/allowed_signers", f"-I {shlex.quote(principal)}", "-n evidpack",
                "-s tagmanifest-sha256.txt.sshsig", "< tagmanifest-sha256.txt",
            ),
            Command.of("awk", "'{print $3, $4}'", "evidpack/allowed_signers", "|", "ssh-keygen", "-lf", "-"),
        ],
        "Expected: openssl prints 'Signature Verified Successfully'; ssh-keygen, a good signature by the key with the "
        "fingerprint above, and that fingerprint (below). Replace evidpack/signer.pem (and "
        "evidpack/allowed_signers) with the examiner's public key you obtained to check against it instead. "
        "The first command prints this SHA-256, the tag manifest's, as on the cover:",
        data.tagmanifest_sha256,
    )
    story += [
        Para("and ssh-keygen prints, for the signature and for the key:", NOTE, space_after=2),
        mono(f'Good "evidpack" signature for {principal} with ED25519 key {fingerprint}\n256 {fingerprint} no comment (ED25519)'),
    ]
    step(
        "2. Every tag file and every evidence file",
        "The tag manifest lists the records and the payload manifests; the payload manifests list every evidence file:",
        [
            Command.of("sha256sum", "-c", "tagmanifest-sha256.txt"),
            Command.of("sha256sum", "-c", "manifest-sha256.txt"),
            *([Command.of("md5sum", "-c", "manifest-md5.txt")] if md5 else []),
        ],
        "Expected: every line ends in OK. Any FAILED line names a file that differs from what was sealed; "
        "a file not listed at all is found by evidpack verify (or bagit.py --validate).",
    )
    step(
        "3. This index",
        "This PDF is signed by the same key, and its SHA-256 is recorded in the signed 'sealed' custody event:",
        [
            Command.of(
                "openssl", "pkeyutl", "-verify", "-pubin", "-inkey evidpack/signer.pem", "-rawin",
                "-in evidpack/index.pdf", "-sigfile evidpack/index.pdf.sig",
            ),
            Command.of("sha256sum", "evidpack/index.pdf"),
            Command.of("grep", "-o", "'\"index_pdf_sha256\":\"[0-9a-f]*\"'", "evidpack/custody.jsonl"),
        ],
        "Expected: 'Signature Verified Successfully', and the same SHA-256 twice.",
    )
    story += [
        Para(
            "The Merkle root over the item records is in evidpack/seal.json and bag-info.txt, both covered by the tag "
            "manifest; evidpack verify recomputes it, and an inclusion proof (evidpack proof) proves a single item "
            "without disclosing the others. The root, as on the cover:",
            NOTE,
            space_before=6,
            space_after=2,
        ),
        mono(str((data.seal.get("merkle") or {}).get("root", "?"))),
    ]
    return Entry("How to verify", "verify"), [], story
