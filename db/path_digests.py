"""A set of paths kept as 16-byte BLAKE2b digests in one numpy array: what a scan or a table sync found, so it can
tell afterwards which of the project's samples it did not see. Ten million paths take 160 MB this way, where a
Python set of the strings took about 1.5 GB. Two different paths share a digest with a chance of about 1 in 10^24
at ten million paths (a 128-bit hash); the cost of such a collision would be one vanished file not marked missing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import blake2b

import numpy as np

DIGEST = np.dtype("S16")


def _joined(paths: Iterable[str]) -> bytes:
    return b"".join([blake2b(p.encode(), digest_size=16).digest() for p in paths])


def digests(paths: Iterable[str]) -> np.ndarray:
    return np.frombuffer(_joined(paths), dtype=DIGEST)



class PathDigests:
    """Paths added a batch at a time into one growing buffer; then `contains` answers for many paths at once from
    the buffer sorted in place (no copy of it is ever made: at ten million paths a copy is another 160 MB)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._sorted: np.ndarray | None = None  # a view of the buffer, while it is sorted

    def add(self, paths: Iterable[str]) -> None:
        self._sorted = None  # the view goes first: a buffer with a view of it cannot grow
        self._buffer += _joined(paths)

    def _view(self) -> np.ndarray:
        if self._sorted is None:
            self._sorted = np.frombuffer(self._buffer, dtype=DIGEST)
            self._sorted.sort()
        return self._sorted

    def __len__(self) -> int:
        """How many distinct paths were added."""
        known = self._view()
        return int(len(known) and 1 + np.count_nonzero(known[1:] != known[:-1]))

    def contains(self, paths: Sequence[str]) -> np.ndarray:
        """For each path, whether it was added (a boolean array)."""
        known, wanted = self._view(), digests(paths)
        if not len(known):
            return np.zeros(len(wanted), dtype=bool)
        at = np.minimum(np.searchsorted(known, wanted), len(known) - 1)
        return np.asarray(known[at] == wanted)


class KnownPaths:
    """A project's samples when a rescan begins: their paths' digests, sorted, with each sample's id and whether it
    is marked missing. `new` marks the paths a listing holds as seen and tells which are no sample yet, so only
    those are inserted (a batch of known paths cost a rescan as much as inserting them); `vanished` and `back` then
    come from the marks, with no second read of the samples. The arrays are sized up front from the samples' count
    and ids are kept as offsets from the first (4 bytes while the ids span less than 2^32): 22 bytes a sample, 30
    while they are sorted (300 MB at ten million)."""

    def __init__(self, count: int, first_id: int, last_id: int) -> None:
        self._keys = np.empty(count, dtype=DIGEST)
        self._base = first_id
        self._ids = np.empty(count, dtype=np.uint32 if last_id - first_id < 2**32 else np.int64)
        self._missing = np.empty(count, dtype=bool)
        self._filled = 0
        self._seen: np.ndarray | None = None

    def add(self, paths: Iterable[str], ids: Sequence[int], missing: Sequence[bool]) -> None:
        """Samples read a chunk at a time (before the first `new`); no more than `count` in all."""
        k, n = self._filled, len(ids)
        self._keys[k:k + n] = np.frombuffer(_joined(paths), dtype=DIGEST)
        self._ids[k:k + n] = np.asarray(ids, dtype=np.int64) - self._base
        self._missing[k:k + n] = missing
        self._filled += n

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._seen is None:
            n = self._filled  # fewer than counted if some were deleted meanwhile
            keys = self._keys[:n]
            order = np.argsort(keys)
            self._ids = self._ids[:n][order]
            self._missing = self._missing[:n][order]
            del order
            keys.sort()  # in place: the order `order` gave, the paths being distinct
            self._keys, self._seen = keys, np.zeros(n, dtype=bool)
        return self._keys, self._seen

    def __len__(self) -> int:
        return len(self._sorted()[0])

    def new(self, paths: Sequence[str]) -> np.ndarray:
        """For each path, whether no sample has it (a boolean array); the others are marked seen."""
        (keys, seen), wanted = self._sorted(), digests(paths)
        if not len(keys):
            return np.ones(len(wanted), dtype=bool)
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        hit = keys[at] == wanted
        seen[at[hit]] = True
        return np.asarray(~hit)

    def _ids_where(self, mask: np.ndarray) -> list[int]:
        return sorted((self._ids[mask].astype(np.int64) + self._base).tolist())

    def vanished(self) -> list[int]:
        """Samples not seen and not marked missing yet: their file is gone."""
        _, seen = self._sorted()
        return self._ids_where(~seen & ~self._missing)

    def back(self) -> list[int]:
        """Samples marked missing that were seen again."""
        _, seen = self._sorted()
        return self._ids_where(seen & self._missing)
