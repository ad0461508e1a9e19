"""RFC 6962 / RFC 9162 Merkle tree: root and inclusion proofs.

leaf hash = SHA-256(0x00 || leaf bytes); node = SHA-256(0x01 || left || right).
The tree over n leaves splits at the largest power of two below n; building it
level by level and carrying an unpaired last node up unchanged gives the same root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    if not leaf_hashes:
        return hashlib.sha256(b"").digest()
    level = list(leaf_hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class RootBuilder:
    """The same root as :func:`root`, from leaf hashes added one at a time, in
    O(log n) memory: a stack of the perfect subtrees so far (largest first),
    merged like a binary counter; the last, unpaired ones are folded in from the
    right at the end, which is RFC 6962's split at the largest power of two."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (leaves under it, hash)

    def add(self, leaf: bytes) -> None:
        self.size += 1
        node, width = leaf, 1
        stack = self._stack
        while stack and stack[-1][0] == width:
            node = node_hash(stack.pop()[1], node)
            width *= 2
        stack.append((width, node))

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()
        node = self._stack[-1][1]
        for _width, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path for leaf ``index`` (RFC 9162 section 2.1.3), bottom up."""
    if not 0 <= index < len(leaf_hashes):
        raise IndexError(f"leaf {index} out of range for a tree of {len(leaf_hashes)}")
    path: list[bytes] = []
    level = list(leaf_hashes)
    i = index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        nxt = [node_hash(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        i //= 2
    return path


def root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Recompute the root from a leaf hash and its audit path (RFC 9162 2.1.3.2).

    Raises ValueError when the proof has the wrong length for ``index``/``size``.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ValueError("inclusion proof is longer than the tree is deep")
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof is shorter than the tree is deep")
    return r
