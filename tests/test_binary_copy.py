"""PostgreSQL's binary COPY read by numpy: rows come out exact whatever the blocks' sizes, and anything that is not
whole fixed-width rows (a NULL, a cut stream, a text COPY) is refused, never misread; against the real server too."""

from __future__ import annotations

import random
import struct

import numpy as np
import psycopg
import pytest

from db import binary_copy
from db.errors import Invalid
from tests.conftest import BACKENDS, PG_ADMIN_URL

COLUMNS = [("id", ">i8"), ("label", ">i4"), ("x", ">f8")]


def _stream(rows: list[tuple[int, int, float]], extension: bytes = b"") -> bytes:
    out = binary_copy.SIGNATURE + struct.pack(">ii", 0, len(extension)) + extension
    for i, label, x in rows:
        out += struct.pack(">hiqiiid", 3, 8, i, 4, label, 8, x)
    return out + binary_copy.TRAILER


def _read(data: bytes, rng: random.Random) -> np.ndarray:
    cuts = sorted(rng.sample(range(1, len(data)), min(40, len(data) - 1)))
    blocks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    parts = list(binary_copy.fixed_rows(blocks, COLUMNS))
    return np.concatenate(parts) if parts else np.zeros(0, binary_copy.row_dtype(COLUMNS))


@pytest.mark.parametrize("seed", range(5))
def test_rows_come_out_exact_whatever_the_blocks(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binary_copy, "CHUNK_BYTES", 100)  # many chunks
    rng = random.Random(seed)
    rows = [(rng.randrange(-2**62, 2**62), rng.randrange(-5, 5), rng.uniform(-1e9, 1e9)) for _ in range(300)]
    got = _read(_stream(rows, extension=b"x" * rng.randrange(3)), rng)
    assert [(int(r["id"]), int(r["label"]), float(r["x"])) for r in got] == rows
    assert len(_read(_stream([]), rng)) == 0


def test_a_null_a_cut_stream_or_text_is_refused() -> None:
    rng = random.Random(1)
    good = _stream([(1, 2, 0.5), (3, 4, 1.5)])
    null = good.replace(struct.pack(">id", 8, 1.5), struct.pack(">i", -1))
    for bad in (null, good[:-1], good[:-3] + binary_copy.TRAILER, b"1\t2\t0.5\n", good[:10]):
        with pytest.raises(Invalid, match="COPY output"):
            _read(bad, rng)


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="the PostgreSQL leg is not configured")
def test_the_real_server_s_output_reads_back_and_a_null_is_refused() -> None:
    with psycopg.connect(PG_ADMIN_URL) as conn, conn.cursor() as cur:
        query = ("SELECT g::int8, (g % 7)::int4, g * 0.1::float8 FROM generate_series(1, 20000) g{} ORDER BY g")
        with cur.copy(f"COPY ({query.format('')}) TO STDOUT (FORMAT BINARY)") as copy:
            rows = np.concatenate(list(binary_copy.fixed_rows(copy, COLUMNS)))
        assert rows["id"].tolist() == list(range(1, 20001)) and rows["label"][:8].tolist() == [1, 2, 3, 4, 5, 6, 0, 1]
        assert rows["x"][-1] == 20000 * 0.1
        nulls = "SELECT g::int8, NULLIF(g % 7, 3)::int4, g * 0.1::float8 FROM generate_series(1, 20) g"
        with pytest.raises(Invalid, match="COPY output"), cur.copy(f"COPY ({nulls}) TO STDOUT (FORMAT BINARY)") as copy:
            list(binary_copy.fixed_rows(copy, COLUMNS))
