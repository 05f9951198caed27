"""PostgreSQL's binary COPY output read by numpy when every column is fixed-width and never NULL: after the header,
each row is a field count and, per field, its length and its bytes, so the rows are records of one numpy dtype
(network byte order) and a million of them are read without a Python step per row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from db.errors import Invalid

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = len(SIGNATURE) + 8  # the signature, the flags and the header extension's length
TRAILER = b"\xff\xff"
CHUNK_BYTES = 4 << 20  # rows turned into an array at once


def row_dtype(columns: list[tuple[str, str]]) -> np.dtype[Any]:
    """A row: the field count, then each field's length and value."""
    fields: list[tuple[str, str]] = [("_count", ">i2")]
    for name, kind in columns:
        fields += [(f"_{name}_length", ">i4"), (name, kind)]
    return np.dtype(fields)


def fixed_rows(blocks: Iterable[Any], columns: list[tuple[str, str]]) -> Iterator[np.ndarray]:
    """The rows of a binary COPY ... TO STDOUT (blocks: a psycopg Copy), a few MB at a time, each checked: every row
    has every field at its width. A NULL (length -1) or any other shape is refused, never misread."""
    dtype = row_dtype(columns)
    size = dtype.itemsize
    buffer = bytearray()
    started = False
    for block in blocks:
        buffer += block
        if not started:
            if len(buffer) < HEADER:
                continue
            if not buffer.startswith(SIGNATURE):
                raise Invalid("The database's COPY output is not in binary format.")
            skip = HEADER + int.from_bytes(buffer[HEADER - 4:HEADER], "big")
            if len(buffer) < skip:
                continue
            del buffer[:skip]
            started = True
        if len(buffer) >= CHUNK_BYTES:
            whole = len(buffer) // size * size
            yield _checked(np.frombuffer(bytes(buffer[:whole]), dtype), columns)
            del buffer[:whole]
    if not started or not buffer.endswith(TRAILER) or (len(buffer) - len(TRAILER)) % size:
        raise Invalid("The database's COPY output is not made of whole fixed-width rows (a NULL?).")
    if len(buffer) > len(TRAILER):
        yield _checked(np.frombuffer(bytes(buffer[:-len(TRAILER)]), dtype), columns)


def _checked(rows: np.ndarray, columns: list[tuple[str, str]]) -> np.ndarray:
    if (rows["_count"] != len(columns)).any() or any(
            (rows[f"_{name}_length"] != np.dtype(kind).itemsize).any() for name, kind in columns):
        raise Invalid("The database's COPY output is not made of whole fixed-width rows (a NULL?).")
    return rows
