"""Verification: every check named, every failure explained, nothing trusted by default.

A :class:`Report` is a list of :class:`Check` values. Verdicts:

* ``pass`` – the check succeeded;
* ``fail`` – integrity failure (exit 1);
* ``untrusted`` – intact, but the signer is not among the keys the verifier
  named with ``--trust`` (exit 3); never reported as verified;
* ``warn`` – worth a look, not a failure;
* ``skipped`` – not run (the reason says why, e.g. ``--deep`` not given).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm

from . import FORMAT, bag
from .errors import EvidpackError
from .hashing import short as _short
from .names import INCOMPLETE_MARKER, INDEX_PDF, INDEX_SIG, SIG_FILE, SSHSIG_FILE, TAGMANIFEST, UNSEALED_TAG_FILES
from .bundle import Bundle, TagFileRefused
from .custody import CUSTODY_FILE, ChainChecker, _brief, _Capped, parse_event, bundle_log, iter_raw_lines, total
from .custody import as_object as _obj, json_kind as _kind
from .keys import PublicKey, parse_public_key, verify_sshsig
from .verify_payload import Walked, check_payload

REQUIRED = (
    "bagit.txt",
    "bag-info.txt",
    "manifest-sha256.txt",
    TAGMANIFEST,
    SIG_FILE,
    SSHSIG_FILE,
    "evidpack/case.json",
    "evidpack/sources.jsonl",
    "evidpack/items.jsonl",
    "evidpack/seal.json",
    "evidpack/signer.pem",
    "evidpack/allowed_signers",
    CUSTODY_FILE,
    INDEX_PDF,
    INDEX_SIG,
)
SHOW = 20  # problems listed per check in text output (all are in --json)


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str
    reason: str
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"check": self.name, "verdict": self.verdict, "reason": self.reason, "problems": list(self.problems)}


@dataclass
class Report:
    target: str
    checks: list[Check] = field(default_factory=list)
    signer: PublicKey | None = None
    trusted_as: PublicKey | None = None
    custody_head: str | None = None
    trusted_fingerprints: tuple[str, ...] = ()
    case_id: str | None = None  # as seal.json gives it (the bundle's claim; checked by the seal check)
    tagmanifest_sha256: str | None = None

    def add(self, name: str, verdict: str, reason: str, problems: list[str] | tuple[str, ...] = ()) -> Check:
        c = Check(name, verdict, reason, tuple(problems))
        self.checks.append(c)
        return c

    def fail(self, name: str, problems: list[str], ok_reason: str, fail_reason: str | None = None) -> Check:
        if problems:
            return self.add(name, "fail", fail_reason or problems[0], problems)
        return self.add(name, "pass", ok_reason)

    @property
    def intact(self) -> bool:
        return not any(c.verdict == "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        if not self.intact:
            return 1
        if any(c.verdict == "untrusted" for c in self.checks):
            return 3
        return 0

    @property
    def summary(self) -> str:
        code = self.exit_code
        if code == 1:
            bad = ", ".join(c.name for c in self.checks if c.verdict == "fail")
            return f"NOT INTACT: integrity failure in {bad}"
        if code == 3:
            seal = next((c for c in self.checks if c.name == "signer-trusted"), None)
            if seal is None or seal.verdict != "pass":
                # (the name and role are the untrusted key's own claim: said as a claim, key first)
                who = f"{self.signer.fingerprint} (claiming to be {self.signer.name or '?'}, {self.signer.role or '?'})" if self.signer else "unknown"
                return f"INTACT BUT NOT VERIFIED: signer key {who} is not among the trusted keys{self.sealed_what}"
            others = "; ".join(c.reason for c in self.checks if c.verdict == "untrusted")
            return f"INTACT BUT NOT FULLY VERIFIED: sealed by trusted key {self.trusted_as.describe() if self.trusted_as else '?'}, but {others}"
        who = self.trusted_as.describe() if self.trusted_as else "?"
        return f"VERIFIED: intact, sealed by trusted key {who}{self.sealed_what}{self.warnings}"

    @property
    def sealed_what(self) -> str:
        """"; case X, tag manifest sha256 Y": which sealed bundle was checked, said
        with the verdict (a verdict alone does not say which case passed)."""
        parts = ([f"case {self.case_id}"] if self.case_id else []) + ([f"tag manifest sha256 {self.tagmanifest_sha256}"] if self.tagmanifest_sha256 else [])
        return "; " + ", ".join(parts) if parts else ""

    @property
    def warnings(self) -> str:
        """" (N warning(s) above)" when checks warned, else ""."""
        warned = sum(c.verdict == "warn" for c in self.checks)
        return f" ({warned} warning(s) above)" if warned else ""

    def custody_details(self) -> dict[str, Any]:
        """What a 'verified' custody event records about this verification."""
        return {
            "result": {0: "verified", 1: "integrity-failure", 3: "untrusted-signer"}[self.exit_code],
            "summary": self.summary,
            "trusted_keys": sorted({c for c in self.trusted_fingerprints}),
            "failed_checks": [c.name for c in self.checks if c.verdict == "fail"],
            # what was not re-checked (MD5 without --md5, members without --deep): the
            # event must not read as more than was done
            "skipped_checks": [c.name for c in self.checks if c.verdict == "skipped"],
            "custody_head_before": self.custody_head,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "result": {0: "verified", 1: "integrity-failure", 3: "untrusted-signer"}[self.exit_code],
            "exit_code": self.exit_code,
            "summary": self.summary,
            "signer": None
            if self.signer is None
            else {"name": self.signer.name, "role": self.signer.role, "fingerprint": self.signer.fingerprint},
            "custody_head": self.custody_head,
            "case": self.case_id,
            "tagmanifest_sha256": self.tagmanifest_sha256,
            "checks": [c.to_json() for c in self.checks],
        }



def verify_bundle(
    path: Path, trusted: list[PublicKey], *, deep: bool = False, expect_head: str | None = None, all_digests: bool = False
) -> Report:
    """Every check on a sealed bundle. Payload files are re-hashed with SHA-256;
    ``all_digests`` also recomputes the other digests the bundle lists (MD5)."""
    with Bundle.open(path) as b:
        try:
            return _verify(b, trusted, deep=deep, expect_head=expect_head, all_digests=all_digests)
        except TagFileRefused as exc:
            # Nothing evidpack writes is refused so: the bundle was altered. A failed
            # check (exit 1), not unusable input; the checks after it are not run.
            rep = Report(str(b.path), trusted_fingerprints=tuple(k.fingerprint for k in trusted))
            rep.fail("structure", [str(exc), "no other check was run: evidpack never writes such a tag file, so this bundle was altered"], "")
            return rep


def _verify(b: Bundle, trusted: list[PublicKey], *, deep: bool, expect_head: str | None, all_digests: bool) -> Report:
    rep = Report(str(b.path), trusted_fingerprints=tuple(k.fingerprint for k in trusted))
    files = b.files(payload=False)  # the tag files; the payload is only walked, never listed in memory
    fileset = set(files)
    walked = Walked(b)  # also finds special entries under data/, for the structure check

    # -- structure
    special = set(b.special)  # (named below as not regular files, never as missing)
    problems = [f"{r}: missing" for r in REQUIRED if r not in fileset and r not in special]
    bagit_txt = b.read("bagit.txt")
    if bagit_txt is not None and bagit_txt != bag.BAGIT_TXT:
        problems.append("bagit.txt: not 'BagIt-Version: 1.0' with UTF-8 tag files")
    if INCOMPLETE_MARKER in fileset:
        problems.append(f"{INCOMPLETE_MARKER}: present: the build that made this bundle did not finish")
    problems += [f"{s}: not a regular file (symlink or special file) inside the bundle" for s in b.special]
    rep.fail("structure", problems, "BagIt 1.0 bag with every evidpack tag file")
    _note_outside_seal(b, rep)

    # -- signature
    tm = b.read(TAGMANIFEST) or b""
    signer = None
    pem = b.read("evidpack/signer.pem")
    sig_problems: list[str] = []
    if pem is not None:
        try:
            signer = parse_public_key(pem, "evidpack/signer.pem")
        except EvidpackError as exc:  # a clear line naming the file
            sig_problems.append(str(exc))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # e.g. a key type the library does not know
            sig_problems.append(f"evidpack/signer.pem: not a usable Ed25519 public key ({type(exc).__name__}: {exc})")
    else:
        sig_problems.append("evidpack/signer.pem: missing, cannot check the signature")
    rep.signer = signer
    if signer is not None:
        raw = b.read(SIG_FILE)
        if raw is None or not signer.verify(raw, tm):
            sig_problems.append(f"{SIG_FILE}: Ed25519 signature does not match {TAGMANIFEST} and signer.pem")
        armored = b.read(SSHSIG_FILE)
        why = "missing" if armored is None else verify_sshsig(armored, tm, signer)
        if why:
            sig_problems.append(f"{SSHSIG_FILE}: {why}")
    rep.fail(
        "signature",
        sig_problems,
        f"Ed25519 signature (raw and SSHSIG) over {TAGMANIFEST} is valid for signer.pem ({signer.fingerprint if signer else '?'})",
    )

    # -- signer trusted
    if signer is None:
        rep.add("signer-trusted", "untrusted", "no readable signer key in the bundle")
    elif not trusted:
        rep.add(
            "signer-trusted",
            "untrusted",
            f"no --trust given: the key inside the bundle ({signer.fingerprint}) proves nothing by itself",
        )
    else:
        match = trusted_key(signer, trusted)
        if match:
            rep.trusted_as = match
            rep.add("signer-trusted", "pass", f"signer is trusted key {match.describe()}")
        else:
            rep.add(
                "signer-trusted",
                "untrusted",
                f"signer {signer.fingerprint} is not among the {len(trusted)} trusted key(s)",
            )

    # -- tag manifest
    tm_entries, tm_bad = bag.parse_manifest(tm, TAGMANIFEST)
    problems = [p.text for p in tm_bad] + tag_file_problems(b, tm_entries, files)
    tag_manifest_ok = rep.fail("tag-manifest", problems, f"{len(tm_entries)} tag files match {TAGMANIFEST}").verdict == "pass"

    # -- payload manifests, Payload-Oxum, item records
    leaves = check_payload(b, rep, files, walked, all_digests=all_digests, streamed=tag_manifest_ok)
    info = bag.parse_bag_info(b.read("bag-info.txt") or b"")

    seal_probs: list[str] = []  # reported by the seal check
    seal = _json_object(b, "evidpack/seal.json", seal_probs)
    root_hex = leaves.root().hex()
    probs = []
    merkle_rec = seal.get("merkle")
    if "merkle" in seal and not isinstance(merkle_rec, dict):
        probs.append(f"evidpack/seal.json: merkle is {_kind(merkle_rec)}, not a JSON object")
    merkle_rec = _obj(merkle_rec)
    sealed_root = merkle_rec.get("root")
    if sealed_root != root_hex:
        probs.append(f"items.jsonl gives Merkle root {_short(root_hex)}, seal.json says {_short(str(sealed_root))}")
    if merkle_rec.get("leaves") != leaves.size:
        probs.append(f"seal.json counts {merkle_rec.get('leaves')} leaves, items.jsonl has {leaves.size}")
    if (info.get("Evidpack-Seal-Root") or [""])[0] != root_hex:
        probs.append("bag-info.txt Evidpack-Seal-Root differs from the Merkle root of items.jsonl")
    rep.fail("merkle-root", probs, f"Merkle root {root_hex} over {leaves.size} items matches seal.json")

    # -- seal.json agrees with the rest
    probs = seal_probs
    case = _json_object(b, "evidpack/case.json", probs)
    if "signer" in seal and not isinstance(seal.get("signer"), dict):
        probs.append(f"evidpack/seal.json: signer is {_kind(seal.get('signer'))}, not a JSON object")
    if seal.get("format") != FORMAT:
        probs.append(f"seal.json format is {seal.get('format')!r}, expected {FORMAT!r}")
    if seal.get("case") != case.get("id") or (info.get("External-Identifier") or [""])[0] != case.get("id"):
        probs.append("case id differs between seal.json, case.json and bag-info.txt")
    if signer is not None and _obj(seal.get("signer")).get("fingerprint") != signer.fingerprint:
        probs.append("seal.json names a different signer fingerprint than signer.pem")
    rep.fail("seal", probs, f"seal.json ({FORMAT}) agrees with case.json, bag-info.txt and signer.pem")
    rep.case_id = seal.get("case") if isinstance(seal.get("case"), str) else None
    rep.tagmanifest_sha256 = hashlib.sha256(tm).hexdigest()
    _note_sealed_checks(b, rep)

    # -- the PDF index: outside the tag manifest, so signed on its own
    check_index_pdf(b, rep, signer)

    # -- custody chain
    check_custody(b, rep, signer, trusted, hashlib.sha256(tm).hexdigest(), expect_head)

    if deep:
        from .members import check_members

        check_members(b, rep)
    else:
        rep.add("container-members", "skipped", "not checked: give --deep to re-hash every member of every container")
    return rep


def trusted_key(signer: PublicKey, trusted: list[PublicKey]) -> PublicKey | None:
    """The ``--trust`` key that is ``signer`` (the same Ed25519 key), or None."""
    return next((k for k in trusted if k.raw == signer.raw), None)


def tag_file_problems(b: Bundle, entries: dict[str, str], files: list[str], *, compared: frozenset[str] = frozenset()) -> list[str]:
    """Each tag file listed in the tag manifest (``entries``) against its SHA-256 there,
    except those already ``compared``; and each of the bundle's tag files (``files``)
    that the tag manifest does not cover. Only the tag manifest itself, the files
    listed as unsealed and the unfinished-build marker (the structure check's) may
    lie outside it: another "tagmanifest-*" file is not part of the format, and
    nothing vouches for its bytes."""
    problems = []
    for rel, want in sorted(entries.items()):
        if rel in compared:
            continue
        if rel.startswith("data/"):
            problems.append(f"{rel}: payload file listed in the tag manifest")
            continue
        got = b.sha256(rel)
        if got is None:
            problems.append(f"{rel}: listed in {TAGMANIFEST} but missing")
        elif got != want:
            problems.append(f"{rel}: changed since sealing (sha256 {_short(got)}, sealed {_short(want)})")
    for rel in files:
        if rel.startswith("data/") or rel in entries or rel == TAGMANIFEST or rel in UNSEALED_TAG_FILES or rel == INCOMPLETE_MARKER:
            continue
        problems.append(f"{rel}: tag file not covered by the seal (not in {TAGMANIFEST})")
    return problems


def _note_outside_seal(b: Bundle, rep: Report) -> None:
    """Warn of what the bundle holds that no digest covers and evidpack never
    writes: empty folders (BagIt lists files only) and, in a zip, a comment or
    bytes outside its entries. None of it can change a sealed byte, so it is not
    a failure; but someone added it after the build."""
    extras = [f"{f}/: an empty folder; a bag lists files only, so no digest covers it" for f in sorted(set(b.empty_folders))]
    extras += [f"{b.path.name}: {o}, outside the bag: no digest covers it" for o in b.outside]
    if extras:
        rep.add("outside-seal", "warn", f"{extras[0]} (evidpack writes none; it changes no sealed byte)", extras)


def _note_sealed_checks(b: Bundle, rep: Report) -> None:
    """What the build itself recorded as failed or warned (``--keep-going``
    records bad input as failed checks; the importers warn of what a reader
    must know): listed in every verification, never left in sources.jsonl
    unseen. They are facts of the evidence, sealed with it, not failures of
    this bundle's integrity: a ``warn`` when the build recorded a failure, a
    ``note`` for warnings alone."""
    data = b.read("evidpack/sources.jsonl")
    if not data:
        return
    failed: list[str] = []
    warned: list[str] = []
    for line in data.splitlines():
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            return  # (the tag manifest and items checks name a damaged file)
        checks = _obj(row).get("checks")
        for c in checks if isinstance(checks, list) else ():
            c = _obj(c)
            verdict = c.get("verdict")
            if verdict in ("fail", "warn"):
                text = f"{_brief(_obj(row).get('id'))} {_brief(c.get('check'))}: {_brief(c.get('detail'), limit=300)}"
                (failed if verdict == "fail" else warned).append(text)
    if not failed and not warned:
        return
    said = " and ".join(f"{n} {what}" for n, what in ((len(failed), "failed"), (len(warned), "warning")) if n)
    first = (failed or warned)[0]
    first = first if len(first) <= 140 else first[:139] + "…"  # (each is whole in the list: --json)
    rep.add(
        "sealed-checks",
        "warn" if failed else "note",
        f"the build recorded {said} check(s), sealed with the evidence (first: {first})",
        failed + warned,
    )


def check_index_pdf(b: Bundle, rep: Report, signer: PublicKey | None) -> None:
    """evidpack/index.pdf is signed by the sealing key (index.pdf.sig) and is the
    file whose SHA-256 the signed 'sealed' custody event records."""
    with b.mapped(INDEX_PDF) as pdf:  # tens of MiB for a large case: mapped, not read
        if pdf is None:
            rep.add("index-pdf", "fail", f"{INDEX_PDF}: missing")
            return
        digest = hashlib.sha256(pdf).hexdigest()
        probs = []
        sig = b.read(INDEX_SIG)
        if sig is None:
            probs.append(f"{INDEX_SIG}: missing")
        elif signer is None:
            probs.append(f"{INDEX_PDF}: its signature cannot be checked without evidpack/signer.pem")
        elif not signer.verify(sig, pdf):
            probs.append(f"{INDEX_PDF}: changed, or not signed by the sealing key ({INDEX_SIG} does not match it and signer.pem)")
    sealed = first_sealed_event(b)
    details = (sealed or {}).get("details")
    recorded = _obj(details).get("index_pdf_sha256")
    if sealed is not None and not isinstance(details, dict):
        probs.append(f"{INDEX_PDF}: the 'sealed' event in {CUSTODY_FILE} (seq {_brief(sealed.get('seq'))}) has details that are {_kind(details)}, not a JSON object")
    elif recorded is None:
        probs.append(f"{INDEX_PDF}: the 'sealed' event in {CUSTODY_FILE} records no index_pdf_sha256 for it")
    elif recorded != digest:
        probs.append(f"{INDEX_PDF}: changed (sha256 {_short(digest)}, sealed {_short(str(recorded))})")
    rep.fail("index-pdf", probs, f"{INDEX_PDF} (sha256 {_short(digest)}) is signed by the sealing key and is the one the 'sealed' event records")


def first_sealed_event(b: Bundle) -> dict[str, Any] | None:
    """The first 'sealed' event of the custody log (None if there is none), read as a
    stream up to it: memory does not grow with the log."""
    with bundle_log(b) as read:
        for raw in iter_raw_lines(read) if read is not None else ():
            event, _ = parse_event(raw, CUSTODY_FILE)
            if event is not None and event.get("action") == "sealed":
                return event
    return None


def check_custody(b: Bundle, rep: Report, signer: PublicKey | None, trusted: list[PublicKey], tm_hash: str, expect_head: str | None) -> None:
    """The custody chain: links, order, signatures, the seal event, and who signed.

    The log is read as a stream, one line at a time (memory stays flat however long
    it is): of each kind of problem the first ``ChainChecker.MAX_KEPT`` are listed,
    and how many more there are is said."""
    with bundle_log(b) as read:
        if read is None:
            what = "not a regular file (symlink or special file), never followed or read" if CUSTODY_FILE in b.special else "missing"
            rep.add("custody", "fail", f"{CUSTODY_FILE}: {what}")
            rep.add("custody-signers", "fail", f"{CUSTODY_FILE}: {what}, so no custody signature was checked")
            return
        scan = _CustodyScan(signer, tm_hash, expect_head)
        for raw in iter_raw_lines(read):
            scan.feed(raw)
    chain = scan.checker.done()
    rep.custody_head = chain.head
    probs = list(chain.problems)
    if not scan.lines:
        probs.append(f"{CUSTODY_FILE}: empty, the bundle's custody history is missing")
    if scan.sealed_count != 1:
        probs.append(f"{CUSTODY_FILE}: has {scan.sealed_count} 'sealed' events, expected exactly one")
    else:
        sealed = scan.sealed
        # (the chain check has named any subject, details or actor that is not a JSON object)
        if _obj(sealed.get("subject")).get("tagmanifest_sha256") != tm_hash:
            probs.append(f"{CUSTODY_FILE}: event seq {_brief(sealed.get('seq'))}: 'sealed' names another tag manifest than this bundle's ({_short(tm_hash)})")
        probs += scan.before_seal
        probs += scan.after_seal
    dropped = total(chain.problems) - len(chain.problems)
    if scan.sealed_count == 1:
        dropped += total(scan.before_seal) - len(scan.before_seal) + total(scan.after_seal) - len(scan.after_seal)
    if dropped:
        probs.append(f"{CUSTODY_FILE}: and {dropped} more problem(s), not listed (the first {ChainChecker.MAX_KEPT} of each kind are)")
    probs += receipt_and_identity_problems([expect_head.lower()] if scan.receipt_found else [], chain.signers, trusted, expect_head, rep)
    receipt = f"; receipt {expect_head.lower()} found" if expect_head and not probs else ""
    repaired = ""
    if scan.repaired and not probs:  # (a torn last line moved out of the log by `custody repair`: said, never hidden)
        first = scan.repaired[0]
        repaired = (
            f"; {len(scan.repaired)} 'repaired' event(s): an incomplete last line was moved out of the log "
            f"(first: seq {first[0]}, {first[1]} bytes, sha256 {first[2]})"
        )
    rep.fail("custody", probs, f"{chain.count} custody events: links, order and signatures intact{receipt}{repaired}; head {chain.head}")
    if chain.future:  # (this computer's clock may be the wrong one: not an integrity failure)
        rep.add("custody-times", "warn", f"{chain.future[0]} (no event can be appended after it)", chain.future)
    add_custody_signers_check(
        rep, chain.signers, trusted, "every custody event is signed by a trusted key",
        unverified=chain.unverified, events=scan.lines,
    )


class _CustodyScan:
    """What :func:`check_custody` needs of the log besides the chain check, gathered line
    by line: the 'sealed' events, build events not signed by the sealer, later events
    about another bundle, whether the receipt is there, and 'repaired' events."""

    def __init__(self, signer: PublicKey | None, tm_hash: str, expect_head: str | None) -> None:
        self.checker = ChainChecker(keep_events=False)
        self.signer = signer.fingerprint if signer is not None else None
        self.tm_hash = tm_hash
        self.want = expect_head.lower() if expect_head is not None else None
        self.receipt_found = False
        self.lines = 0
        self.sealed_count = 0
        self.sealed: dict[str, Any] = {}
        # (only used when there is exactly one 'sealed' event: then the events up to and
        # including it are build events, those after it post-seal events)
        self.before_seal: list[str] = _Capped(ChainChecker.MAX_KEPT)
        self.after_seal: list[str] = _Capped(ChainChecker.MAX_KEPT)
        self.repaired: list[tuple[str, str, str]] = []

    def feed(self, raw: Any) -> None:
        self.lines += 1
        if raw.digest == self.want:
            self.receipt_found = True
        e = self.checker.feed(raw)
        if e is None:
            return
        action = e.get("action")
        if action == "sealed":
            self.sealed_count += 1
            if self.sealed_count == 1:
                self.sealed = e
        if self.sealed_count > 1:
            return  # (the count is the problem then: no event is judged against either seal)
        if self.sealed_count == 0 or e is self.sealed:
            if self.signer is not None and _obj(e.get("actor")).get("key") != self.signer:
                self.before_seal.append(f"{CUSTODY_FILE}: event seq {_brief(e.get('seq'))}: written at build time but not signed by the sealer's key")
        elif _obj(e.get("subject")).get("tagmanifest_sha256") != self.tm_hash:
            self.after_seal.append(f"{CUSTODY_FILE}: event seq {_brief(e.get('seq'))}: is about another sealed bundle (tag manifest differs)")
        if action == "repaired" and len(self.repaired) < 100:
            d = _obj(e.get("details"))
            self.repaired.append((_brief(e.get("seq")), _brief(d.get("torn_bytes")), _short(str(d.get("torn_sha256")))))


def _json_object(b: Bundle, rel: str, probs: list[str]) -> dict[str, Any]:
    """A tag file that must hold one JSON object; {} (and a named problem) when it does not.
    A missing file is the structure check's to name."""
    data = b.read(rel)
    if data is None:
        return {}
    try:
        value = json.loads(data)
    except RecursionError:  # hostile nesting: the decoder's depth limit
        probs.append(f"{rel}: not JSON (nested too deeply)")
        return {}
    except ValueError as exc:  # includes UnicodeDecodeError
        probs.append(f"{rel}: not JSON ({exc})")
        return {}
    if not isinstance(value, dict):
        probs.append(f"{rel}: {_kind(value)}, not a JSON object")
        return {}
    return value


def receipt_and_identity_problems(
    line_hashes: list[str], signers: dict[str, PublicKey], trusted: list[PublicKey], expect_head: str | None, rep: Report
) -> list[str]:
    """A receipt that is no longer in the log (a problem, returned). A trusted key
    whose events name another person or role than the --trust file does is a
    ``custody-identity`` check in ``rep``: the key is the trusted one and no byte
    differs, but the names disagree: "untrusted" (exit 3, intact but not fully
    verified), never an integrity failure."""
    probs = []
    if expect_head is not None and expect_head.lower() not in line_hashes:
        probs.append(f"receipt {_short(expect_head)} is not the hash of any event in the log: the log was cut or rewritten")
    by_fp = {k.fingerprint: k for k in trusted}
    named = []
    for fp, key in sorted(signers.items()):
        t = by_fp.get(fp)
        if t is not None and t.name and (key.name, key.role) != (t.name, t.role):
            named.append(
                f"key {fp} is trusted as {t.name} ({t.role or 'no role'}) but its events name its holder {key.name} ({key.role or 'no role'})"
            )
    if named:
        rep.add("custody-identity", "untrusted", f"{named[0]}: the same key, named differently (check which name is right)", named)
    return probs


def add_custody_signers_check(
    rep: Report,
    signers: dict[str, PublicKey],
    trusted: list[PublicKey],
    all_trusted: str,
    *,
    unverified: list[str] | tuple[str, ...] = (),
    events: int | None = None,
) -> None:
    """The custody-signers verdict: which event signers are not among the --trust keys.

    It speaks only of signatures that were checked: with no event whose signature
    verified, or any event (``unverified``, named) whose signature was not checked or
    did not verify, it fails and never passes."""
    if unverified:
        n = total(unverified)  # (a streamed check lists the first of them only)
        of = f" of {events}" if events is not None else ""
        rep.add("custody-signers", "fail",
                f"{n}{of} custody event(s) carry no signature that verifies, so their signers are unknown (first: {unverified[0]})",
                list(unverified))
        return
    if not signers or events == 0:
        rep.add("custody-signers", "fail", f"{CUSTODY_FILE} holds no event whose signature verified: no custody signer is established")
        return
    trusted_fps = {k.fingerprint for k in trusted}
    others = sorted(fp for fp in signers if fp not in trusted_fps)
    if not others:
        rep.add("custody-signers", "pass" if trusted else "untrusted",
                all_trusted if trusted else "no --trust given: custody signers not trusted")
    else:
        # (the name and role are the untrusted key's own claim: said as a claim, key first)
        names = ", ".join(f"{fp} (claiming to be {signers[fp].name or '?'}, {signers[fp].role or '?'}: unverified)" for fp in others)
        rep.add("custody-signers", "untrusted", f"custody events signed by key(s) not in --trust: {names}")


