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
