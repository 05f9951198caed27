"""Several server processes on one PostgreSQL database: 20 concurrent savers against `serve` with WORKERS=1 and
WORKERS=2 (the same clients, the same machine), and the ratio of the two rates."""

from __future__ import annotations

import asyncio

from bench.figures import Figure
from bench.http_load import post_rate
from bench.labelling import _ok, _save_body, _server


def _rate(workers: int) -> float:
    with _server("postgresql", workers=workers) as (base, _pid, ids):
        return asyncio.run(post_rate(base, "/graphql", lambda i: _save_body(ids, i), 6.0, 20, _ok))


def run() -> list[Figure]:
    one, two = _rate(1), _rate(2)
    return [Figure("20 concurrent clients saving, PostgreSQL, one server process (reported)", one, "saves/s", 0,
                   higher_is_better=True),
            Figure("... the same, serve --workers 2 (reported)", two, "saves/s", 0, higher_is_better=True),
            Figure("two server processes' save rate, as a share of one's", 100 * two / one, "%", 160,
                   higher_is_better=True)]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
