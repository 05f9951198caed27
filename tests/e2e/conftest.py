"""Browser-test fixtures: Debian's Chromium through Playwright, and the real server on loopback with test images."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from bench.live_server import live_server
from db import labels
from db.engine import Database
from db.records import AnnotationRecord
from tests.conftest import make_images
from tests.graphql_client import gql

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
DIST = Path(__file__).resolve().parents[2] / "client" / "dist" / "index.html"
SHOTS = Path(os.environ.get("CVX_SCREENSHOTS", "/tmp/cvx-screens"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run on the session's event loop, where the one Chromium of the session lives."""
    for item in items:
        if item.get_closest_marker("e2e") and pytest_asyncio.is_async_test(item):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for the session; each test works in browser contexts of its own (own cookies and storage)."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium (.ci/run does it)"
    assert DIST.exists(), "the client is not built: make client"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _no_context_left_open(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """A test that opened contexts of its own and failed before closing them leaves none to the next test."""
    yield
    if "browser" in request.fixturenames:
        for context in request.getfixturevalue("browser").contexts:
            await context.close()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    images = tmp_path / "images"
    make_images(images, [f"street/{i:02}.jpg" for i in range(14)], size=(320, 240))
    (images / "broken.jpg").write_bytes(b"not really a jpeg")
    (tmp_path / "exports").mkdir()
    mounts = f"/Volumes/team/vision/images={images};/Volumes/team/vision/exports={tmp_path / 'exports'}"
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "VOLUME_MOUNTS": mounts,
           "MODEL_URL_ALLOW": "127.0.0.1"}  # the tests' model backends listen on loopback
    with live_server(env, forked=True) as base:
        yield base, images


async def model_drafts(database_url: str, drafts: dict[str, list[AnnotationRecord]], model: str = "model:yolo"
                       ) -> None:
    """Store each sample's drafts as the model's, as Pre-label on labelled images does (by sample id)."""
    db = Database(database_url)
    try:
        for sid, records in drafts.items():
            await labels.replace_drafts(db, int(sid), records, model)
    finally:
        await db.dispose()


async def shot(page: Page, name: str) -> None:
    """A full-page screenshot kept as a test artifact (CVX_SCREENSHOTS, default /tmp/cvx-screens)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)



class Api:
    """GraphQL over HTTP against the live server: what a second user or a pipeline would do."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        return gql(self.http, query, **variables)

    def project(self, name: str, task: str, classes: list[str], multi: bool = False) -> dict[str, Any]:
        project = self("""mutation($i: CreateProjectInput!){ createProject(input: $i){ id } }""",
                       i={"name": name, "taskType": task, "classes": classes, "multiLabel": multi,
                          "sourceVolume": "/Volumes/team/vision/images"})["createProject"]
        deadline = time.monotonic() + 20
        while self("query($p: ID!){ jobs(projectId: $p){ status } }", p=project["id"])["jobs"][0]["status"] \
                != "SUCCEEDED":
            assert time.monotonic() < deadline, "the scan did not finish"
            time.sleep(0.1)
        return project

    def samples(self, project_id: str) -> list[dict[str, Any]]:
        return [e["node"] for e in self("""query($p: ID!){ project(id: $p){ samples(first: 100){ edges { node {
            id filename status version labeledBy annotations { label kind isDraft box { x y w h } } } } } } }""",
            p=project_id)["project"]["samples"]["edges"]]


@pytest.fixture
def api(server: tuple[str, Path]) -> Iterator[Api]:
    client = Api(server[0])
    yield client
    client.http.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A 1280x720 page that fails the test on any uncaught script error."""
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    p = await context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    await context.close()
    assert errors == [], errors


@pytest_asyncio.fixture(loop_scope="session")
async def pages(browser: Browser) -> AsyncIterator[list[Page]]:
    """Pages in separate browser contexts (separate cookies: separate people); any script error fails the test."""
    contexts, errors = [], []

    async def new() -> Page:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page

    yield [await new() for _ in range(3)]
    for c in contexts:
        await c.close()
    assert errors == [], errors
