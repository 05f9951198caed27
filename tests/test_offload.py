"""Costly GraphQL operations resolve on schema.offload's loop: the app's event loop keeps turning while a big page
is built, over HTTP and websockets, and what a costly mutation commits still reaches subscribers."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from graphql import parse
from starlette.testclient import TestClient

from schema import cost, offload
from schema.build import schema
from server import create_app
from settings import Settings
from tests.conftest import create_project, make_images
from tests.graphql_client import agql
from tests.waiting import until_ended_async

N_IMAGES, BOXES = 200, 25
BIG_PAGE = """query($p: ID!){ project(id: $p){ samples(first: 200){ edges { node { id filename status
  annotations { label kind box { x y w h } } } } } } }"""


async def _finished(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        return (await agql(http, "query($id: ID!){ job(id: $id){ status error } }", id=job_id))["job"]

    job = await until_ended_async(read, timeout=30)
    assert job["status"] == "SUCCEEDED", job
    return job


async def _busy_project(http: httpx.AsyncClient, images_dir: Path, exports: Path) -> str:
    """N_IMAGES samples with BOXES boxes each, imported as COCO."""
    names = [f"{i:03}.png" for i in range(N_IMAGES)]
    make_images(images_dir, names, size=(4, 4))
    project = (await agql(http, """mutation { createProject(input: {name: "big", taskType: DETECTION, classes: ["cat"],
        sourceVolume: "/Volumes/test/cvx/images"}) { id } }"""))["createProject"]["id"]
    scan = (await agql(http, "query($p: ID!){ jobs(projectId: $p){ id } }", p=project))["jobs"][0]["id"]
    await _finished(http, scan)
    coco = {"images": [{"id": i, "file_name": n, "width": 4, "height": 4} for i, n in enumerate(names)],
            "categories": [{"id": 1, "name": "cat"}],
            "annotations": [{"id": i * BOXES + k, "image_id": i, "category_id": 1, "bbox": [0, 0, 2, 2]}
                            for i in range(N_IMAGES) for k in range(BOXES)]}
    (exports / "big.json").write_text(json.dumps(coco))
    job = (await agql(http, """mutation($p: ID!, $i: ImportInput!){ importAnnotations(projectId: $p, input: $i){ id }
        }""", p=project, i={"path": "/Volumes/test/cvx/exports/big.json", "format": "COCO"}))["importAnnotations"]
    await _finished(http, job["id"])
    return project


async def test_a_costly_page_resolves_off_the_event_loop(settings: Settings, images_dir: Path, tmp_path: Path) -> None:
    doc = parse(BIG_PAGE)
    assert offload.OFFLOAD_COST <= cost.estimate(schema._schema, doc, None, {}) <= settings.graphql_max_cost
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=120) as http:
        project = await _busy_project(http, images_dir, tmp_path / "exports")
        await agql(http, BIG_PAGE, p=project)  # warm: caches, connections
        # CPU time, not wall time: a loaded machine stretches every gap, but it cannot move work between threads.
        loop_cpu, process_cpu = time.thread_time(), time.process_time()
        answer = await http.post("/graphql", json={"query": BIG_PAGE, "variables": {"p": project}})
        loop_cpu, process_cpu = time.thread_time() - loop_cpu, time.process_time() - process_cpu
        edges = answer.json()["data"]["project"]["samples"]["edges"]
        assert len(edges) == N_IMAGES and all(len(e["node"]["annotations"]) == BOXES for e in edges)
        # Resolved on the app's loop, building the page would be most of the process's work on this thread; off it,
        # this thread only parses the request and writes the answer.
        assert loop_cpu < process_cpu / 3, (loop_cpu, process_cpu)
        health = await http.get("/health")
        assert health.json() == {"status": "ok"}


COSTLY_CREATE = """mutation { createProject(input: {name: "p", taskType: DETECTION, classes: ["cat"],
  sourceVolume: "/Volumes/test/cvx/images"}) { id versions { id } samples(first: 100){ edges { node { id
  history { action } } } } } }"""
COSTLY_SAVE = """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "cat", kind: BBOX,
  box: {x: 0.1, y: 0.1, w: 0.2, h: 0.2}}]){ version history { action label labelBefore actor at comment
  box { x y w h } } annotations { id label box { x y w h } } } }"""


async def test_what_a_costly_mutation_commits_reaches_the_apps_loop(settings: Settings, images_dir: Path) -> None:
    """Events and the job runner's wake-up are delivered on the app's loop, which (in debug mode) refuses to be
    called from another thread."""
    for mutation in (COSTLY_CREATE, COSTLY_SAVE):
        assert cost.estimate(schema._schema, parse(mutation), None, {}) >= offload.OFFLOAD_COST
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(8, 8))
    app = create_app(settings)
    asyncio.get_running_loop().set_debug(True)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60) as http:
        pid = (await agql(http, COSTLY_CREATE))["createProject"]["id"]
        scan = (await agql(http, "query($p: ID!){ jobs(projectId: $p){ id } }", p=pid))["jobs"][0]["id"]
        await asyncio.wait_for(_finished(http, scan), 20)
        ids = await agql(http, "query($p: ID!){ project(id: $p){ samples { edges { node { id } } } } }", p=pid)
        sid = ids["project"]["samples"]["edges"][0]["node"]["id"]
        async with app.state.services.broker.subscribe(f"samples:{pid}") as events:
            saved = await agql(http, COSTLY_SAVE, s=sid)
            assert saved["saveAnnotations"]["version"] == 2
            assert str(await asyncio.wait_for(events.get(), 5)) == sid


def test_a_costly_query_over_a_websocket(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(8, 8))
    pid = create_project(client)["id"]
    query = "query($p: ID!){ project(id: $p){ samples(first: 100){ edges { node { id history { action } } } } } }"
    assert cost.estimate(schema._schema, parse(query), None, {}) >= offload.OFFLOAD_COST
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "q", "type": "subscribe", "payload": {"query": query, "variables": {"p": pid}}})
        msg = ws.receive_json()
        assert msg["type"] == "next" and len(msg["payload"]["data"]["project"]["samples"]["edges"]) == 2, msg
        assert ws.receive_json() == {"id": "q", "type": "complete"}
