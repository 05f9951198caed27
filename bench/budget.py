"""Request budget figures: what the GraphQL cost check costs, and the real server's peak memory (VmHWM) and /health
latency while hostile queries and images arrive back-to-back: deep nesting, aliased big pages, a page at the
budget, huge float TIFFs, one uncached thumbnail asked four times at once, files that only pretend to be images."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
from graphql import parse
from PIL import Image

from bench.figures import Figure, percentile
from bench.http_load import _read_response, _request
from bench.live_server import live_server
from schema.build import schema
from schema.cost import estimate
from tests.client_queries import client_queries
from tests.graphql_client import gql as post_gql

WORK = Path(__file__).resolve().parent / ".work" / "budget"
N_SAMPLES, BOXES, VERSIONS = 600, 20, 5
ROUND_SECONDS = 4.0
NESTED = "{ projects { " + "versions { " * 8 + "id name" + " }" * 8 + " } }"
SAMPLES_X3 = "query($p: ID!){ " + " ".join(
    f"a{i}: project(id: $p){{ samples(first: 500){{ edges {{ node {{ id filename annotations {{ id label box "
    f"{{ x y w h }} }} history {{ action label actor at }} }} }} }} }}" for i in range(3)) + " }"
AT_BUDGET = """query($p: ID!){ project(id: $p){ samples(first: 180){ edges { node { id filename status width height
  version annotations { id label kind box { x y w h } isDraft confidence createdBy } } } } } }"""
MANY_ALIASES = "query($p: ID!){ " + " ".join(
    f"a{i}: project(id: $p){{ samples(first: 500){{ edges {{ node {{ annotations {{ id }} history {{ action }} }} "
    "} } }" for i in range(60)) + " }"


def _images(folder: Path) -> None:
    folder.mkdir(parents=True)
    for i in range(N_SAMPLES):
        Image.new("RGB", (8, 8), (i % 256, 90, 160)).save(folder / f"s{i:04}.png")
    hostile = folder / "hostile"
    hostile.mkdir()
    Image.new("F", (10_000, 10_000), 0.5).save(hostile / "float100mp.tif", compression="tiff_deflate")
    Image.new("F", (6_000, 6_000), 0.25).save(hostile / "float36mp.tif", compression="tiff_deflate")
    small = Image.new("RGB", (64, 48), (200, 40, 40))
    small.save(hostile / "eps.jpg", "EPS")
    small.save(hostile / "pcx.jpg", "PCX")


def _seed(http: httpx.Client, folder: Path) -> str:
    def gql(query: str, **variables: object) -> dict:
        return post_gql(http, query, **variables)

    def finished(job_id: str) -> None:
        while (job := gql("query($j: ID!){ job(id: $j){ status error } }", j=job_id)["job"])["status"] not in (
                "SUCCEEDED", "FAILED"):
            time.sleep(0.1)
        assert job["status"] == "SUCCEEDED", job

    pid = gql("""mutation { createProject(input: {name: "budget", taskType: DETECTION, classes: ["cat", "dog"],
        sourceVolume: "/Volumes/bench/budget/images"}) { id } }""")["createProject"]["id"]
    finished(gql("query($p: ID!){ jobs(projectId: $p){ id } }", p=pid)["jobs"][0]["id"])
    names = [f"s{i:04}.png" for i in range(N_SAMPLES)]
    for label in ("cat", "dog"):  # twice: the second import replaces the first, so history doubles
        coco = {"images": [{"id": i, "file_name": n, "width": 8, "height": 8} for i, n in enumerate(names)],
                "categories": [{"id": 1, "name": label}],
                "annotations": [{"id": i * BOXES + k, "image_id": i, "category_id": 1, "bbox": [1, 1, 2, 2]}
                                for i in range(N_SAMPLES) for k in range(BOXES)]}
        (folder / "coco.json").write_text(json.dumps(coco))
        job = gql("""mutation($p: ID!, $i: ImportInput!){ importAnnotations(projectId: $p, input: $i){ id } }""",
                  p=pid, i={"path": "/Volumes/bench/budget/images/coco.json", "format": "COCO"})
        finished(job["importAnnotations"]["id"])
    for _ in range(VERSIONS):
        gql("mutation($p: ID!){ cloneProject(id: $p){ id } }", p=pid)
    return pid


def check_cost_figures() -> list[Figure]:
    """The cost estimate alone (in process), for the client's most costly query and a hostile 60-alias one."""
    largest = max(client_queries(), key=lambda q: estimate(schema._schema, parse(q.document), None, q.numbers))
    out = []
    for name, doc, variables in (("the client's most costly query (gallery page)", largest.document, largest.numbers),
                                 ("a hostile query: 60 aliases of a 500-sample page with history",
                                  MANY_ALIASES, {})):
        parsed = parse(doc)
        times = []
        for _ in range(2000):
            t0 = time.perf_counter()
            estimate(schema._schema, parsed, None, variables)
            times.append((time.perf_counter() - t0) * 1000)
        out.append(Figure(f"GraphQL cost check, {name}: p99", percentile(times, 99), "ms", 5))
    return out


async def _health_while(base: str, attack: Callable[[], Awaitable[None]], seconds: float) -> tuple[list[float], int]:
    """/health latencies (ms) probed every 5 ms while attack() runs again and again; and how many attacks ran."""
    url = urlsplit(base)
    stop = time.perf_counter() + seconds
    rounds = 0

    async def attacker() -> None:
        nonlocal rounds
        while time.perf_counter() < stop:
            await attack()
            rounds += 1

    async def prober() -> list[float]:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        out = []
        try:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                writer.write(_request(url.netloc, "GET", "/health", None))
                status, _ = await _read_response(reader)
                out.append((time.perf_counter() - t0) * 1000)
                assert status == 200
                await asyncio.sleep(0.005)
        finally:
            writer.close()
        return out

    probe = asyncio.create_task(prober())
    await asyncio.sleep(0.2)  # the prober is connected before the first attack
    await attacker()
    return await probe, rounds


def _post(base: str, query: str, variables: dict, expect: bytes) -> Callable[[], Awaitable[None]]:
    url = urlsplit(base)
    body = orjson.dumps({"query": query, "variables": variables})

    async def once() -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            writer.write(_request(url.netloc, "POST", "/graphql", body))
            status, payload = await _read_response(reader)
            assert status == 200 and expect in payload, payload[:300]
        finally:
            writer.close()

    return once


def _gets(base: str, paths: Callable[[int], list[str]], expect: int) -> Callable[[], Awaitable[None]]:
    url = urlsplit(base)
    turn = iter(range(10**9))

    async def one(path: str) -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            writer.write(_request(url.netloc, "GET", path, None))
            status, payload = await _read_response(reader)
            assert status == expect, (path, status, payload[:300])
        finally:
            writer.close()

    async def once() -> None:
        await asyncio.gather(*(one(p) for p in paths(next(turn))))

    return once


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def live_figures() -> list[Figure]:
    shutil.rmtree(WORK, ignore_errors=True)
    folder = WORK / "images"
    _images(folder)
    procs: list[subprocess.Popen] = []
    env = {"DATABASE_URL": f"sqlite:///{WORK / 'budget.db'}", "DATA_DIR": str(WORK / "data"),
           "VOLUME_MOUNTS": f"/Volumes/bench/budget/images={folder}"}
    figures: list[Figure] = []
    with live_server(env, procs=procs) as base, httpx.Client(base_url=base, timeout=120) as http:
        pid = _seed(http, folder)
        sample = http.post("/graphql", json={"query": "query($p: ID!){ project(id: $p){ samples(first: 1){ edges { "
                                                      "node { id } } } } }", "variables": {"p": pid}}).json()
        assert sample["data"], sample
        hostile = "/media/volume-thumbnail?path=/Volumes/bench/budget/images/hostile/"
        before = _vm_hwm_mb(procs[0].pid)
        attacks = [
            ("8-deep projects { versions { versions ... } } (refused)", _post(base, NESTED, {}, b"GRAPHQL_MAX_COST")),
            ("three aliases of samples(first: 500) with annotations and history (refused)",
             _post(base, SAMPLES_X3, {"p": pid}, b"GRAPHQL_MAX_COST")),
            ("a page just under the budget (180 samples x 20 boxes), resolved off the event loop",
             _post(base, AT_BUDGET, {"p": pid}, b'"data":{"project"')),
            ("a 100-MP float TIFF's thumbnail (690 KB file; refused by MAX_DECODE_BYTES)",
             _gets(base, lambda _: [hostile + "float100mp.tif"], 413)),
            ("a 36-MP float TIFF's uncached thumbnail, asked 4 times at once",
             _gets(base, lambda i: [f"{hostile}float36mp.tif&size={40 + i % 900}"] * 4, 200)),
            ("EPS and PCX files named .jpg (refused)",
             _gets(base, lambda _: [hostile + "eps.jpg", hostile + "pcx.jpg"], 422)),
        ]
        async def idle() -> None:
            await asyncio.sleep(0.05)

        quiet, _ = asyncio.run(_health_while(base, idle, ROUND_SECONDS))
        figures.append(Figure("/health p99 with nothing else running (for comparison)", percentile(quiet, 99), "ms",
                              100))
        for name, attack in attacks:
            latencies, rounds = asyncio.run(_health_while(base, attack, ROUND_SECONDS))
            figures.append(Figure(f"/health p99 while {name} runs back-to-back ({rounds} runs)",
                                  percentile(latencies, 99), "ms", 100))
        peak = _vm_hwm_mb(procs[0].pid)
    figures.append(Figure(f"server peak memory (VmHWM) through all of the above (before them: {before:,.0f} MB)",
                          peak, "MB", 1024))
    shutil.rmtree(WORK, ignore_errors=True)
    return figures


def run() -> list[Figure]:
    return check_cost_figures() + live_figures()


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
