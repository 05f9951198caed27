"""Labelling figures: sequential saves (SQLite, PostgreSQL), 20 concurrent savers, commit -> stats event latency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import websockets

from bench.figures import Figure, percentile
from bench.http_load import post_latencies, post_rate
from bench.live_server import live_server
from bench.scratch_databases import scratch_database
from tests.graphql_client import gql as post_gql

WORK = Path(__file__).resolve().parent / ".work" / "labelling"
SAVE = """mutation($id: ID!, $a: [AnnotationInput!]!) {
  saveAnnotations(sampleId: $id, annotations: $a) { id version } }"""
BOXES = [{"label": c, "kind": "BBOX", "box": {"x": 0.1 * i, "y": 0.1, "w": 0.2, "h": 0.3}}
         for i, c in enumerate(["cat", "dog", "car"], start=1)]
STATS_SUB = "subscription($p: ID!){ projectStats(projectId: $p){ total labeled } }"


def _database(backend: str) -> Iterator[str]:
    """A new database of `backend` for this module's benchmarks (and those that share its SQLite file)."""
    return scratch_database(backend, WORK / "bench.db")


@contextlib.contextmanager
def _server(backend: str, n_images: int = 2000, workers: int = 1) -> Iterator[tuple[str, str, list[str]]]:
    shutil.rmtree(WORK, ignore_errors=True)
    images = WORK / "images"
    images.mkdir(parents=True)
    for i in range(n_images):
        (images / f"{i:05}.jpg").touch()
    with _database(backend) as url, live_server({
        "DATABASE_URL": url, "DATA_DIR": str(WORK / "data"), "VOLUME_MOUNTS": f"/Volumes/bench/l/images={images}",
        "WORKERS": str(workers),
    }) as base, httpx.Client(base_url=base, timeout=30) as http:
        def gql(query: str, **variables: object) -> dict:
            return post_gql(http, query, **variables)

        pid = gql("""mutation { createProject(input: {name: "bench", taskType: DETECTION, classes: ["cat", "dog",
            "car"], sourceVolume: "/Volumes/bench/l/images"}) { id } }""")["createProject"]["id"]
        while gql("query($p: ID!){ jobs(projectId: $p){ status } }", p=pid)["jobs"][0]["status"] != "SUCCEEDED":
            time.sleep(0.1)
        ids: list[str] = []
        after = None
        while True:
            page = gql("query($p: ID!, $a: String){ project(id: $p){ samples(first: 500, after: $a){ "
                       "pageInfo { hasNextPage endCursor } edges { node { id } } } } }", p=pid, a=after)
            ids += [e["node"]["id"] for e in page["project"]["samples"]["edges"]]
            if not page["project"]["samples"]["pageInfo"]["hasNextPage"]:
                break
            after = page["project"]["samples"]["pageInfo"]["endCursor"]
        yield base, pid, ids
    shutil.rmtree(WORK, ignore_errors=True)


def _save_body(ids: list[str], i: int) -> bytes:
    return orjson.dumps({"query": SAVE, "variables": {"id": ids[i % len(ids)], "a": BOXES}})


def _ok(status: int, body: bytes) -> bool:
    return status == 200 and b'"errors"' not in body


def sequential_saves(backend: str, n: int = 600) -> list[Figure]:
    """One save after another over one keep-alive connection (the lean client of bench/http_load.py)."""
    with _server(backend) as (base, _pid, ids):
        times = asyncio.run(post_latencies(base, "/graphql", [_save_body(ids, i) for i in range(n)], _ok))[50:]
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    return [Figure(f"saveAnnotations (3 boxes) via HTTP, sequential, {label}: p50", percentile(times, 50), "ms", 5),
            Figure(f"saveAnnotations (3 boxes) via HTTP, sequential, {label}: p99", percentile(times, 99), "ms", 20)]


def concurrent_saves(backend: str = "sqlite") -> Figure:
    """20 clients, each on its own keep-alive connection, saving different samples as fast as answers come."""
    with _server(backend) as (base, _pid, ids):
        rate = asyncio.run(post_rate(base, "/graphql", lambda i: _save_body(ids, i), 6.0, 20, _ok))
    return Figure(f"20 concurrent clients saving, one server process ({backend})", rate, "saves/s", 400,
                  higher_is_better=True)


async def _stats_latency(base: str, pid: str, ids: list[str], subscribers: int, saves: int) -> list[float]:
    ws_url = base.replace("http://", "ws://") + "/graphql"
    sockets = []
    for _ in range(subscribers):
        ws = await websockets.connect(ws_url, subprotocols=["graphql-transport-ws"], max_size=None)
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": STATS_SUB, "variables": {"p": pid}}}))
        await ws.recv()  # the immediate emission
        sockets.append(ws)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base) as http:
        for i in range(saves):
            await asyncio.sleep(0.3)  # past the per-subscriber throttle: every save is its own event
            t0 = time.perf_counter()
            send = asyncio.create_task(http.post("/graphql", json={"query": SAVE, "variables": {
                "id": ids[i], "a": BOXES}}))

            async def receive(ws: websockets.ClientConnection, t0: float = t0) -> float:
                await ws.recv()
                return (time.perf_counter() - t0) * 1000

            latencies += await asyncio.gather(*(receive(ws) for ws in sockets))
            await send
    for ws in sockets:
        await ws.close()
    return latencies


def stats_event_latency(subscribers: int = 100, saves: int = 20) -> Figure:
    with _server("sqlite", n_images=100) as (base, pid, ids):
        latencies = asyncio.run(_stats_latency(base, pid, ids, subscribers, saves))
    return Figure(f"save -> projectStats event at {subscribers} subscribers, p99 (includes the save request)",
                  percentile(latencies, 99), "ms", 100)


def run() -> list[Figure]:
    return [*sequential_saves("sqlite"), *sequential_saves("postgresql"), concurrent_saves("sqlite"),
            concurrent_saves("postgresql"), stats_event_latency()]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
