"""Merkle tree: RFC 6962 shape, inclusion proofs for every leaf of many tree sizes."""

from __future__ import annotations

import hashlib

import pytest

from evidpack import merkle


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written as the RFC defines it (recursive split)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return merkle.node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def test_rfc6962_leaf_and_node_prefixes() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@pytest.mark.parametrize("n", list(range(0, 34)) + [100, 257])
def test_root_matches_rfc_definition(n: int) -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(n)]
    assert merkle.root(leaves) == reference_mth(leaves)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 16, 17, 31])
def test_every_inclusion_proof_verifies_and_tampering_fails(n: int) -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(n)]
    root = merkle.root(leaves)
    for i in range(n):
        proof = merkle.inclusion_proof(leaves, i)
        assert merkle.root_from_proof(leaves[i], i, n, proof) == root
        if proof:
            bad = list(proof)
            bad[0] = bytes(32)
            assert merkle.root_from_proof(leaves[i], i, n, bad) != root
        other = merkle.leaf_hash(b"not in the tree")
        assert merkle.root_from_proof(other, i, n, proof) != root


def test_proof_of_wrong_length_is_rejected() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(8)]
    proof = merkle.inclusion_proof(leaves, 3)
    with pytest.raises(ValueError):
        merkle.root_from_proof(leaves[3], 3, 8, proof[:-1])
    with pytest.raises(ValueError):
        merkle.root_from_proof(leaves[3], 3, 8, proof + [bytes(32)])


def test_streaming_root_matches_the_tree_for_every_size_up_to_130():
    from evidpack.merkle import RootBuilder, leaf_hash, root

    leaves = [leaf_hash(str(i).encode()) for i in range(130)]
    for n in range(131):
        b = RootBuilder()
        for leaf in leaves[:n]:
            b.add(leaf)
        assert b.size == n
        assert b.root() == root(leaves[:n]), n
