"""Bounded reading for import files: a byte budget that every stream of one import spends as it is read (so a file
that grows after it was measured, or a zip member that inflates past its header, stops at the limit), and lines
that are refused once they pass the row limit, before the rest of them is read."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import BinaryIO

from db.errors import TooLarge

CHUNK = 1 << 16
YIELD_EVERY = 1024  # rows


def breathe(n: int) -> None:
    """Called once per row: every YIELD_EVERY rows the reading thread hands the GIL and its CPU over
    (sched_yield releases both), so the event loop never waits long behind a CPU-bound import."""
    if n % YIELD_EVERY == 0:
        os.sched_yield()


class Budget:
    """Bytes one import may still read, across all its files."""

    def __init__(self, max_bytes: int, what: str = "The import") -> None:
        self.max_bytes, self.left, self.what = max_bytes, max_bytes, what

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise TooLarge(f"{self.what} passes {self.max_bytes / 2**20:,.0f} MB of data; imports take at most "
                           f"{self.max_bytes / 2**20:,.0f} MB (IMPORT_MAX_BYTES).")


class Metered(io.RawIOBase):
    """A readable stream that charges what it reads to a Budget."""

    def __init__(self, source: BinaryIO, budget: Budget) -> None:
        self.source, self.budget = source, budget

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.source.close()
        super().close()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.source.read(len(buffer))
        self.budget.spend(len(data))
        buffer[: len(data)] = data
        return len(data)


def metered(source: BinaryIO, budget: Budget) -> io.BufferedReader:
    return io.BufferedReader(Metered(source, budget), CHUNK)


def lines(fp: io.BufferedReader, max_bytes: int, name: str) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a text stream; a line longer than max_bytes stops the import after reading at most
    max_bytes + 1 of it."""
    n = 0
    while line := fp.readline(max_bytes + 1):
        n += 1
        breathe(n)
        if len(line) > max_bytes and not line.endswith(b"\n"):
            raise TooLarge(f"Line {n} of {name} is longer than {max_bytes:,} bytes; lines take at most "
                           f"{max_bytes:,} (IMPORT_MAX_ROW_BYTES).")
        yield n, line
