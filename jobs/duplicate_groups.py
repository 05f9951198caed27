"""Groups of near-duplicate images from their 64-bit perceptual hashes: every pair within a Hamming distance, found by
multi-index hashing (no all-pairs comparison), joined into connected components."""

from __future__ import annotations

from itertools import combinations, pairwise

import numpy as np
import numpy.typing as npt

from db.duplicates import MAX_DISTANCE

# Three chunks of 21, 21 and 22 bits: two hashes within distance d share a chunk within d // 3 bits (pigeonhole),
# and a chunk of ~21 bits keeps the buckets of a million random hashes near empty.
CHUNKS = ((0, 21), (21, 21), (42, 22))
_EDGE_BATCH = 4_000_000  # candidate pairs verified at once (memory: a few hundred MB at most)

Ints = npt.NDArray[np.int64]


def as_unsigned(hashes: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """Signed 64-bit hashes (as the database stores them) as the unsigned bits they are."""
    return np.asarray(hashes, dtype=np.int64).view(np.uint64)


def _flips(bits: int, radius: int) -> list[int]:
    """Every mask of `bits` bits with at most `radius` bits set."""
    return [sum(1 << b for b in chosen) for r in range(radius + 1) for chosen in combinations(range(bits), r)]


def close_pairs(hashes: npt.NDArray[np.uint64], distance: int) -> tuple[Ints, Ints]:
    """Index pairs (i < j) of distinct hashes at most `distance` bits apart. Hashes should be unique (see groups):
    a bucket of identical chunks is paired whole."""
    if not 0 <= distance <= MAX_DISTANCE:
        raise ValueError(f"distance must be 0..{MAX_DISTANCE}")
    found_i: list[Ints] = []
    found_j: list[Ints] = []
    radius = distance // len(CHUNKS)
    for shift, bits in CHUNKS:
        keys = ((hashes >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int32)
        counts = np.bincount(keys, minlength=1 << bits).astype(np.int32)
        starts = (np.cumsum(counts) - counts).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        for flip in _flips(bits, radius):
            probe = keys ^ np.int32(flip)
            n = counts[probe]
            hit = np.flatnonzero(n)
            for part in _batches(n[hit]):
                i, j = _expand(hit[part], n[hit[part]], starts[probe[hit[part]]], order)
                keep = (i < j) & (np.bitwise_count(hashes[i] ^ hashes[j]) <= distance)
                found_i.append(i[keep])
                found_j.append(j[keep])
    if not found_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(found_i), np.concatenate(found_j)


def _batches(n: npt.NDArray[np.int32]) -> list[slice]:
    """Slices of the probes whose candidate pairs add up to about _EDGE_BATCH each (memory stays bounded)."""
    if n.size == 0:
        return []
    ends = np.cumsum(n, dtype=np.int64)
    if ends[-1] <= _EDGE_BATCH:
        return [slice(0, n.size)]
    cuts = np.searchsorted(ends, np.arange(_EDGE_BATCH, ends[-1], _EDGE_BATCH), side="right")
    bounds = [0, *sorted(set(int(c) for c in cuts) - {0, n.size}), n.size]
    return [slice(a, b) for a, b in pairwise(bounds)]


def _expand(hit: Ints, n: npt.NDArray[np.int32], first: Ints, order: Ints) -> tuple[Ints, Ints]:
    """Each probing hash hit[k] paired with every member of its probed bucket (n[k] members from first[k])."""
    k = np.repeat(np.arange(hit.size), n)
    within = np.arange(k.size) - np.repeat(np.cumsum(n, dtype=np.int64) - n, n)
    return hit[k], order[first[k] + within]


def components(n: int, i: Ints, j: Ints) -> Ints:
    """The smallest index of each node's connected component (edges i-j), by hooking roots and pointer jumping."""
    root = np.arange(n, dtype=np.int64)
    while i.size:
        ri, rj = root[i], root[j]
        lo, hi = np.minimum(ri, rj), np.maximum(ri, rj)
        apart = lo != hi
        if not apart.any():
            break
        np.minimum.at(root, hi[apart], lo[apart])
        while True:
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped
        i, j = i[apart], j[apart]
    return root


def groups(hashes: npt.ArrayLike, distance: int) -> Ints:
    """For each hash, the index of the first hash in its group (itself when it has no near-duplicate). Identical
    hashes are one group whatever the distance."""
    bits = as_unsigned(hashes)
    unique, inverse = np.unique(bits, return_inverse=True)
    i, j = close_pairs(unique, distance)
    unique_root = components(unique.size, i, j)
    # the group of each original hash, named by its smallest original index
    label = unique_root[inverse.ravel()]
    first = np.full(unique.size, bits.size, dtype=np.int64)
    np.minimum.at(first, label, np.arange(bits.size, dtype=np.int64))
    return first[label]
