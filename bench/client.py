"""Client figures, measured in Debian's Chromium against the real server: next-image paint after a key press,
canvas frame time with 1,000 boxes under pan/zoom, the app's JS size, and the dashboard's time to interactive."""

from __future__ import annotations

import asyncio
import gzip
import random
import shutil
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw
from playwright.async_api import Page, async_playwright

from bench.figures import Figure, percentile
from bench.live_server import live_server
from tests.graphql_client import gql

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "client"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
N_IMAGES = 60


def _photos(folder: Path) -> None:
    """Camera-sized JPEGs (2400x1600) with some structure, so decoding costs what real photos cost."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    for i in range(N_IMAGES):
        im = Image.new("RGB", (2400, 1600), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        d = ImageDraw.Draw(im)
        for _ in range(80):
            x, y = rng.randrange(2400), rng.randrange(1600)
            d.ellipse((x, y, x + rng.randrange(40, 400), y + rng.randrange(40, 400)),
                      fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        im.save(folder / f"photo{i:03}.jpg", quality=88)


def _project(http: httpx.Client) -> tuple[str, list[str]]:
    pid = gql(http, """mutation { createProject(input: {name: "client bench", taskType: DETECTION,
        classes: ["a", "b", "c", "d", "e"], sourceVolume: "/Volumes/bench/client/images"}) { id } }""")[
        "createProject"]["id"]
    while gql(http, "query($p: ID!){ jobs(projectId: $p){ status } }", p=pid)["jobs"][0]["status"] != "SUCCEEDED":
        time.sleep(0.1)
    ids = [e["node"]["id"] for e in gql(http, "query($p: ID!){ project(id: $p){ samples(first: 100){ edges { node "
                                               "{ id } } } } }", p=pid)["project"]["samples"]["edges"]]
    rng = random.Random(5)
    boxes = []
    for i in range(1000):
        w, h = rng.uniform(0.01, 0.08), rng.uniform(0.01, 0.08)
        boxes.append({"label": "abcde"[i % 5], "kind": "BBOX",
                      "box": {"x": rng.uniform(0, 1 - w), "y": rng.uniform(0, 1 - h), "w": w, "h": h}})
    gql(http, "mutation($s: ID!, $a: [AnnotationInput!]!){ saveAnnotations(sampleId: $s, annotations: $a){ id } }",
         s=ids[-1], a=boxes)
    return pid, ids


async def _paint(page: Page, previous: str | None, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = await page.evaluate("window.__cvxPaint || null")
        if got and got["sampleId"] != previous:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError("the next image was not painted")
        await asyncio.sleep(0.005)


async def _next_image(page: Page, base: str, pid: str, ids: list[str], presses: int = 40) -> list[float]:
    await page.goto(f"{base}/#/projects/{pid}/label/{ids[0]}")
    painted = await _paint(page, None)
    times = []
    for _ in range(presses):
        await asyncio.sleep(0.4)  # a labeller looks at an image for a while; the next ones prefetch meanwhile
        await page.keyboard.press("ArrowRight")
        painted = await _paint(page, painted["sampleId"])
        times.append(painted["ms"])
    return times


async def _frames(page: Page, base: str, pid: str, sample_id: str) -> list[float]:
    await page.goto(f"{base}/#/projects/{pid}/label/{sample_id}")
    await _paint(page, None)
    await page.evaluate("window.__cvxFlush = true; window.__cvxFrames = []")
    box = await page.get_by_label("image canvas").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(cx, cy)
    for i in range(60):  # zoom in and out at the pointer
        await page.mouse.wheel(0, -60 if (i // 15) % 2 == 0 else 60)
        await asyncio.sleep(0.02)
    await page.keyboard.down("Space")  # pan with space-drag
    await page.mouse.down()
    for i in range(60):
        await page.mouse.move(cx + 200 * ((i % 20) / 20 - 0.5), cy + 100 * ((i % 10) / 10 - 0.5))
        await asyncio.sleep(0.02)
    await page.mouse.up()
    await page.keyboard.up("Space")
    frames = await page.evaluate("window.__cvxFrames")
    assert len(frames) >= 60, len(frames)
    return frames


async def _dashboard(page: Page, base: str, pid: str, runs: int = 5) -> list[float]:
    times = []
    for _ in range(runs):
        await page.goto("about:blank")
        await page.goto(f"{base}/#/projects/{pid}")
        await page.locator(".card").first.wait_for()
        await page.locator(".tile img").first.wait_for()
        await page.wait_for_function("[...document.querySelectorAll('.tile img')].slice(0, 6).every(i => i.complete)")
        times.append(await page.evaluate("performance.now()"))
    return times


def js_size_kb() -> float:
    return sum(len(gzip.compress(p.read_bytes(), 9)) for p in (ROOT / "client" / "dist" / "assets").glob("*.js")) / 1024


async def _measure(base: str, pid: str, ids: list[str]) -> tuple[list[float], list[float], list[float]]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        nav = await _next_image(page, base, pid, ids)
        frames = await _frames(page, base, pid, ids[-1])
        dash = await _dashboard(page, base, pid)
        await browser.close()
    return nav, frames, dash


def run() -> list[Figure]:
    shutil.rmtree(WORK, ignore_errors=True)
    _photos(WORK / "images")
    env = {"DATABASE_URL": f"sqlite:///{WORK / 'client.db'}", "DATA_DIR": str(WORK / "data"),
           "VOLUME_MOUNTS": f"/Volumes/bench/client/images={WORK / 'images'}"}
    with live_server(env) as base, httpx.Client(base_url=base, timeout=60) as http:
        pid, ids = _project(http)
        nav, frames, dash = asyncio.run(_measure(base, pid, ids))
    shutil.rmtree(WORK, ignore_errors=True)
    return [
        Figure("key press -> next image painted (prefetched, 2400x1600 JPEG), p95", percentile(nav, 95), "ms", 50),
        Figure("canvas with 1,000 boxes: pan/zoom frame time (paint + raster), p95", percentile(frames, 95), "ms",
               16),
        Figure("built app's JavaScript, gzipped", js_size_kb(), "KB", 250),
        Figure("dashboard interactive (cards + first thumbnails), loopback, median", percentile(dash, 50), "ms",
               1000),
    ]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
