"""The payload checks of ``verify``: each payload manifest, Payload-Oxum, and
the item records against both. Two ways to the same verdicts:

* **streamed** — a folder bundle whose tag manifest checked out (so
  ``items.jsonl`` and the manifests are exactly as sealed, and the builder
  wrote them in one order): the records and every manifest are read in step,
  each listed file is hashed as its line is read, and only 8 bytes per file are
  kept (a hash of its path, to name files nobody listed). Memory stays flat
  however many files the bundle holds.
* **in memory** — a zip bundle, or one whose records or manifests are not in
  step (altered, or not written by evidpack): every manifest is read into a
  table first, so each problem can be named exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import bag, canonical, merkle
from .hashing import short as _short

if TYPE_CHECKING:
    from .bundle import Bundle
    from .verify import Report

ITEMS = "evidpack/items.jsonl"


def path_key(rel: str) -> int:
    """64 bits of a path's hash: what the streamed check keeps per file."""
    return int.from_bytes(hashlib.blake2b(rel.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")


class Walked:
    """The payload as found on disk: how many files, their bytes (as the file
    system gives their sizes: Payload-Oxum's terms) and their path keys."""

    def __init__(self, b: "Bundle") -> None:
        self.keys = array("Q")
        self.bytes = 0
        for rel, size in b.walk_payload():
            self.keys.append(path_key(rel))
            self.bytes += size
        self.count = len(self.keys)


class OutOfStep(Exception):
    """items.jsonl and the manifests do not list the same files in the same order."""


def check_payload(
    b: "Bundle", rep: "Report", tags: list[str], walked: Walked, *, all_digests: bool, streamed: bool
) -> merkle.RootBuilder:
    """Add the payload-manifest-ALG, payload-oxum and items checks; return the
    Merkle tree of items.jsonl (for the merkle-root check)."""
    algs: list[str] = []
    for rel in tags:
        if rel.startswith("manifest-") and rel.endswith(".txt"):
            alg = rel[len("manifest-") : -4]
            if alg not in hashlib.algorithms_guaranteed:
                rep.add(f"payload-manifest-{alg}", "fail", f"{rel}: unknown digest algorithm")
                continue
            algs.append(alg)
    algs.sort(key=lambda a: (a != "sha256", a))
    # SHA-256 is what the seal rests on (the Merkle leaves, the tag manifest, the
    # signatures); other digests are recomputed only on request (--md5). Their
    # manifests are still covered by the signed tag manifest and checked to list
    # exactly the payload.
    recompute = tuple(a for a in algs if a == "sha256" or all_digests) or ("sha256",)
    if streamed and "sha256" in algs and not b.is_zip:
        try:
            return _Streamed(b, rep, tuple(algs), recompute, walked).run()
        except OutOfStep:
            pass  # named exactly below
    return _in_memory(b, rep, tuple(algs), recompute, walked)


def _manifest_done(rep: "Report", alg: str, recompute: tuple[str, ...], entries: int, probs: list[str]) -> None:
    if any(c.name == f"payload-manifest-{alg}" for c in rep.checks):
        return
    if alg in recompute or probs:
        rep.fail(f"payload-manifest-{alg}", probs, f"{entries} payload files match manifest-{alg}.txt")
    else:
        rep.add(
            f"payload-manifest-{alg}",
            "skipped",
            f"lists the same {entries} payload files; {alg.upper()} values not recomputed (SHA-256 was, for every file): give --md5 to recompute them",
        )


def _oxum(b: "Bundle", rep: "Report", walked: Walked) -> None:
    info = bag.parse_bag_info(b.read("bag-info.txt") or b"")
    oxum = (info.get("Payload-Oxum") or [""])[0]
    want = f"{walked.bytes}.{walked.count}"
    if oxum == want:
        rep.add("payload-oxum", "pass", f"Payload-Oxum {oxum} ({walked.bytes} bytes in {walked.count} files)")
    else:
        rep.add("payload-oxum", "fail", f"Payload-Oxum is {oxum or '(none)'}, payload has {want}")


class _Records:
    """items.jsonl read line by line: the Merkle tree, and the checks that need
    one record at a time (JSON object, canonical form, unique ids)."""

    def __init__(self, b: "Bundle", problems: list[str]) -> None:
        self.b = b
        self.problems = problems
        self.leaves = merkle.RootBuilder()

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for n, line in enumerate(self.b.lines(ITEMS), 1):
            self.leaves.add(merkle.leaf_hash(line))
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
            except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: hostile nesting
                self.problems.append(f"items.jsonl line {n}: not a JSON object")
                continue
            try:
                canonical_form = canonical.dumps(rec) == line  # parsed once, re-encoded to compare
            except (ValueError, RecursionError):
                canonical_form = False
            if not canonical_form:
                self.problems.append(f"items.jsonl line {n}: not canonical JSON")
            wrong = [k for k in ("id", "kind", "path") if k in rec and not isinstance(rec[k], str)]
            if wrong:  # the checks below compare and index these as strings
                self.problems.append(f"items.jsonl line {n}: {', '.join(wrong)} not a string")
                continue
            yield n, rec


class _Streamed:
    def __init__(self, b: "Bundle", rep: "Report", algs: tuple[str, ...], recompute: tuple[str, ...], walked: Walked) -> None:
        self.b, self.rep, self.algs, self.recompute, self.walked = b, rep, algs, recompute, walked
        self.item_probs: list[str] = []
        self.records = _Records(b, self.item_probs)
        self.listed = array("Q")
        self.ids = array("Q")

    def _manifest(self, alg: str) -> Iterator[tuple[str, str]]:
        name = f"manifest-{alg}.txt"
        for line in self.b.lines(name):
            if not line.strip():
                continue
            entries, bad = bag.parse_manifest(line, name)
            if bad or len(entries) != 1:
                raise OutOfStep
            yield next(iter(entries.items()))

    def _listed(self) -> Iterator[tuple[str, dict[str, str], Any, Any]]:
        manifests = {alg: self._manifest(alg) for alg in self.algs}
        for _n, rec in self.records:
            self.ids.append(path_key(str(rec.get("id"))))
            if rec.get("kind") != "file":
                continue
            path, rid = rec.get("path", ""), rec.get("id")
            want: dict[str, str] = {}
            for alg, lines in manifests.items():
                entry = next(lines, None)
                if entry is None or entry[0] != path:
                    raise OutOfStep
                want[alg] = entry[1]
                if rec.get(alg) != entry[1]:
                    self.item_probs.append(f"{rid} {path}: {alg} in items.jsonl differs from manifest-{alg}.txt")
            self.listed.append(path_key(path))
            yield path, want, rec.get("size"), rid
        for lines in manifests.values():
            if next(lines, None) is not None:
                raise OutOfStep  # a manifest line without an item record

    def run(self) -> merkle.RootBuilder:
        b, algs, recompute = self.b, self.algs, self.recompute
        absent: list[str] = []  # listed, but not there or not readable
        changed: dict[str, list[str]] = {alg: [] for alg in recompute}
        present = 0
        for (path, want, size, rid), got in b.hash_stream(self._listed(), lambda t: t[0], recompute):
            if isinstance(got, str):
                if _is_regular(b.path / path):  # a symlink or device is not the payload file (structure names it)
                    present += 1
                    absent.append(f"{path}: {got}")
                else:
                    absent.append(f"{path}: missing (listed in manifest-ALG.txt)")
                continue
            present += 1
            for alg in recompute:
                if got.hex[alg] != want[alg]:
                    changed[alg].append(f"{path}: changed ({alg} {_short(got.hex[alg])}, sealed {_short(want[alg])})")
            if got.size != size:
                self.item_probs.append(f"{rid} {path}: size {got.size} differs from recorded {size}")
        if _has_repeats(self.listed):
            raise OutOfStep  # a path listed twice: named exactly by the in-memory check
        extra = self._extra(present)
        for alg in algs:
            probs = [p.replace("manifest-ALG.txt", f"manifest-{alg}.txt") for p in sorted(absent)]
            probs += sorted(changed.get(alg, ()))
            probs += [f"{rel}: extra file, not in manifest-{alg}.txt" for rel in extra]
            _manifest_done(self.rep, alg, recompute, len(self.listed), probs)
        _oxum(b, self.rep, self.walked)
        if _has_repeats(self.ids):
            self.item_probs.extend(_repeated_ids(b))
        self.rep.fail("items", self.item_probs, f"{self.records.leaves.size} item records agree with the payload manifests")
        return self.records.leaves

    def _extra(self, present: int) -> list[str]:
        """Payload files no manifest lists, by name."""
        if self.walked.count == present:
            return []
        listed = sorted(self.listed)
        unlisted = {k for k in self.walked.keys if not _contains(listed, k)}
        names = sorted(rel for rel, _size in self.b.walk_payload() if path_key(rel) in unlisted)
        self.b.special = list(dict.fromkeys(self.b.special))  # walked twice: each special entry once
        more = self.walked.count - present - len(names)
        if more > 0:  # two names with the same 64-bit key: count what cannot be named
            names.append(f"{more} more file(s) in data/ (not named: their path keys coincide with listed files')")
        return names


def _is_regular(path: "os.PathLike[str]") -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _contains(sorted_keys: list[int], key: int) -> bool:
    import bisect

    i = bisect.bisect_left(sorted_keys, key)
    return i < len(sorted_keys) and sorted_keys[i] == key


def _has_repeats(keys: array) -> bool:
    ordered = sorted(keys)
    return any(a == b for a, b in zip(ordered, ordered[1:]))


def _repeated_ids(b: "Bundle") -> list[str]:
    """The exact 'appears twice' problems (only when the keys say there may be some)."""
    seen: set[str] = set()
    out = []
    for n, line in enumerate(b.lines(ITEMS), 1):
        try:
            rid = json.loads(line).get("id")
        except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
            continue
        if not isinstance(rid, str):
            continue
        if rid in seen:
            out.append(f"items.jsonl line {n}: exhibit id {rid} appears twice")
        seen.add(rid)
    return out



def _in_memory(b: "Bundle", rep: "Report", algs: tuple[str, ...], recompute: tuple[str, ...], walked: Walked) -> merkle.RootBuilder:
    special = list(b.special)
    payload = sorted(rel for rel, _size in b.walk_payload())
    b.special = special
    manifests: dict[str, dict[str, str]] = {}
    for alg in algs:
        rel = f"manifest-{alg}.txt"
        entries, bad = bag.parse_manifest(b.read(rel) or b"", rel)
        manifests[alg] = entries
        if bad:
            rep.add(f"payload-manifest-{alg}", "fail", bad[0].text, [p.text for p in bad])
    sizes: dict[str, int] = {}  # what the item records are checked against: sizes only, not digests
    unreadable: dict[str, str] = {}
    changed: dict[str, list[str]] = {alg: [] for alg in recompute}
    for rel, result in b.hash_files(payload, recompute):
        if isinstance(result, str):
            unreadable[rel] = result
            continue
        sizes[rel] = result.size
        for alg in recompute:
            want = manifests.get(alg, {}).get(rel)
            if want is not None and result.hex[alg] != want:
                changed[alg].append(f"{rel}: changed ({alg} {_short(result.hex[alg])}, sealed {_short(want)})")
    payload_set = set(payload)
    for alg in algs:
        entries = manifests[alg]
        probs = []
        for rel in sorted(entries):
            if rel not in payload_set:
                probs.append(f"{rel}: missing (listed in manifest-{alg}.txt)")
            elif rel in unreadable:
                probs.append(f"{rel}: {unreadable[rel]}")
        probs.extend(sorted(changed.get(alg, ())))
        probs += [f"{rel}: extra file, not in manifest-{alg}.txt" for rel in payload if rel not in entries]
        _manifest_done(rep, alg, recompute, len(entries), probs)
    _oxum(b, rep, walked)

    probs = []
    records = _Records(b, probs)
    seen_paths: set[str] = set()
    ids: set[str] = set()
    sha = manifests.get("sha256", {})
    for n, rec in records:
        rid = rec.get("id")
        if rid in ids:
            probs.append(f"items.jsonl line {n}: exhibit id {rid} appears twice")
        ids.add(rid)
        if rec.get("kind") != "file":
            continue
        path = rec.get("path", "")
        seen_paths.add(path)
        if path not in sha:
            probs.append(f"{rid} {path}: not in manifest-sha256.txt")
            continue
        for alg in algs:
            if rec.get(alg) != manifests[alg].get(path):
                probs.append(f"{rid} {path}: {alg} in items.jsonl differs from manifest-{alg}.txt")
        got = sizes.get(path)
        if got is not None and got != rec.get("size"):
            probs.append(f"{rid} {path}: size {got} differs from recorded {rec.get('size')}")
    for path in sorted(set(sha) - seen_paths):
        probs.append(f"{path}: in manifest-sha256.txt but has no item record")
    rep.fail("items", probs, f"{records.leaves.size} item records agree with the payload manifests")
    return records.leaves
