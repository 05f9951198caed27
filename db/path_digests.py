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
    come from the marks, with no second read of the samples. 26 bytes a sample (260 MB at ten million), 40 while
    they are sorted."""

    def __init__(self) -> None:
        self._digests = bytearray()
        self._ids: list[np.ndarray] = []
        self._missing: list[np.ndarray] = []
        self._keys: np.ndarray | None = None

    def add(self, paths: Iterable[str], ids: Sequence[int], missing: Sequence[bool]) -> None:
        """Samples read a chunk at a time (before the first `new`)."""
        self._digests += _joined(paths)
        self._ids.append(np.asarray(ids, dtype=np.int64))
        self._missing.append(np.asarray(missing, dtype=bool))

    def _sorted(self) -> np.ndarray:
        if self._keys is None:
            keys = np.frombuffer(self._digests, dtype=DIGEST)
            order = np.argsort(keys)
            ids, self._ids = np.concatenate([np.empty(0, np.int64), *self._ids]), []  # the chunks go at once
            self._ids_sorted = ids[order]
            del ids
            self._missing_sorted = np.concatenate([np.empty(0, bool), *self._missing])[order]
            self._missing = []
            del order
            keys.sort()  # in place, in the buffer: the order `order` gave, the paths being distinct
            self._keys, self._seen = keys, np.zeros(len(keys), dtype=bool)
        return self._keys

    def __len__(self) -> int:
        return len(self._sorted())

    def new(self, paths: Sequence[str]) -> np.ndarray:
        """For each path, whether no sample has it (a boolean array); the others are marked seen."""
        keys, wanted = self._sorted(), digests(paths)
        if not len(keys):
            return np.ones(len(wanted), dtype=bool)
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        hit = keys[at] == wanted
        self._seen[at[hit]] = True
        return np.asarray(~hit)

    def vanished(self) -> list[int]:
        """Samples not seen and not marked missing yet: their file is gone."""
        self._sorted()
        return sorted(self._ids_sorted[~self._seen & ~self._missing_sorted].tolist())

    def back(self) -> list[int]:
        """Samples marked missing that were seen again."""
        self._sorted()
        return sorted(self._ids_sorted[self._seen & self._missing_sorted].tolist())
