"""Security figures: with the GraphQL limits on, a 10,000-alias query is refused fast, and normal saves from another
client keep their p99 while a second process sends that query back-to-back."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.figures import Figure, percentile
from bench.http_load import _read_response, _request, post_latencies
from bench.labelling import _ok, _save_body, _server

ALIASES = orjson.dumps({"query": "{" + " ".join(f"a{i}: __typename" for i in range(10_000)) + "}"})


async def _hammer(base: str, done: Callable[[], bool]) -> list[float]:
    """The 10,000-alias query back-to-back on one keep-alive connection until done(); milliseconds per refusal."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    out: list[float] = []
    try:
        while not done():
            t0 = time.perf_counter()
            writer.write(_request(url.netloc, "POST", "/graphql", ALIASES))
            status, payload = await _read_response(reader)
            out.append((time.perf_counter() - t0) * 1000)
            assert status == 200 and b'"VALIDATION"' in payload and b'"data":null' in payload, payload[:300]
    finally:
        writer.close()
    return out


def _attacker(base: str, stop: Any, results: Any) -> None:
    results.put(asyncio.run(_hammer(base, stop.is_set)))


def run(saves: int = 1500) -> list[Figure]:
    with _server("sqlite") as (base, _pid, ids):
        bodies = [_save_body(ids, i) for i in range(saves)]
        asyncio.run(post_latencies(base, "/graphql", bodies[:200], _ok))  # warm-up
        quiet = asyncio.run(post_latencies(base, "/graphql", bodies, _ok))
        deadline = time.perf_counter() + 3
        alone = asyncio.run(_hammer(base, lambda: time.perf_counter() > deadline))
        mp = multiprocessing.get_context("spawn")
        stop, results = mp.Event(), mp.Queue()
        attacker = mp.Process(target=_attacker, args=(base, stop, results))  # its own process, as another client
        attacker.start()
        time.sleep(1.5)  # the interpreter starts, then the attack is under way before the first save
        loaded = asyncio.run(post_latencies(base, "/graphql", bodies, _ok))
        stop.set()
        refusals = results.get(timeout=60)
        attacker.join(30)
    return [
        Figure("10,000-alias query (190 KB) refused with VALIDATION, HTTP round trip, p99, alone",
               percentile(alone, 99), "ms", 100),
        Figure("the same while saves run: p99", percentile(refusals, 99), "ms", 100),
        Figure("saveAnnotations (3 boxes), sequential, SQLite, no attack: p50", percentile(quiet, 50), "ms", 5),
        Figure("... its p99", percentile(quiet, 99), "ms", 20),
        Figure("saveAnnotations (3 boxes), sequential, SQLite, while another client sends the 10,000-alias query "
               "back-to-back: p99", percentile(loaded, 99), "ms", 20),
        Figure("... its p50", percentile(loaded, 50), "ms", 5),
        Figure("alias queries refused during the loaded run (reported)", len(refusals), "", 0, higher_is_better=True),
    ]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
