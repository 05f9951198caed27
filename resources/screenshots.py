"""The README's pictures: the demo seeded into a scratch folder, served, and opened in Debian's Chromium at 1440x900
and 1024x768. `make screenshots` writes them to resources/screenshots/."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live_server import live_server  # noqa: E402
from tests.graphql_client import gql  # noqa: E402

OUT = ROOT / "resources" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
DEMO_SIZE = (960, 640)  # volumes.demo_images draws every demo photo this size
SIZES = {"1440": (1440, 900), "1024": (1024, 768)}
# Where boxes go on the demo photo, in image fractions: two nested ones (drawn inside another) and one beside.
BOXES = [((0.08, 0.12), (0.62, 0.9)), ((0.22, 0.3), (0.45, 0.7)), ((0.7, 0.2), (0.95, 0.6))]


def _seed(env: dict[str, str]) -> None:
    for command in (["migrate"], ["demo", "--count", "12"]):
        subprocess.run([sys.executable, "server.py", *command], cwd=ROOT, env={**os.environ, **env}, check=True,
                       capture_output=True)


async def _to_page(page: Page, x: float, y: float) -> tuple[float, float]:
    """Image fractions to page pixels, by the fit the view uses (12-px margin, at most 4x)."""
    box = await page.get_by_label("image canvas").bounding_box()
    assert box is not None
    w, h = DEMO_SIZE
    scale = min(4, (box["width"] - 24) / w, (box["height"] - 24) / h)
    left = box["x"] + (box["width"] - w * scale) / 2
    top = box["y"] + (box["height"] - h * scale) / 2
    return left + x * w * scale, top + y * h * scale


async def _draw(page: Page) -> None:
    for (a, b) in BOXES:
        await page.mouse.move(*await _to_page(page, *a))
        await page.mouse.down()
        await page.mouse.move(*await _to_page(page, *b), steps=6)
        await page.mouse.up()
        await page.keyboard.press("Escape")
    await page.keyboard.press("Control+a")  # the group, selected together: the side panel shows them all


async def _shoot(base: str, detection: str, gallery: str) -> list[Path]:
    made: list[Path] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        for size, (width, height) in SIZES.items():
            page = await browser.new_page(viewport={"width": width, "height": height})
            await page.goto(f"{base}/#/projects/{gallery}")
            await page.wait_for_load_state("networkidle")
            made.append(OUT / f"project-{size}.jpg")
            await page.screenshot(path=str(made[-1]), type="jpeg", quality=82)
            await page.goto(f"{base}/#/projects/{detection}/label")
            await page.wait_for_function("window.__cvxPaint && window.__cvxPaint.sampleId")
            await _draw(page)
            await page.wait_for_timeout(300)
            made.append(OUT / f"labelling-{size}.jpg")
            await page.screenshot(path=str(made[-1]), type="jpeg", quality=82)
            await page.keyboard.press("Escape")
            await page.keyboard.press("?")
            await page.wait_for_timeout(300)
            made.append(OUT / f"keys-{size}.jpg")
            await page.screenshot(path=str(made[-1]), type="jpeg", quality=82)
            await page.close()
        await browser.close()
    return made


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cvx-shots-") as scratch:
        env = {"DATA_DIR": str(Path(scratch) / "data")}
        _seed(env)
        with live_server(env) as base:
            projects = gql(httpx.Client(base_url=base, timeout=30), "{ projects { id name taskType } }")["projects"]
            detection = next(p["id"] for p in projects if p["taskType"] == "DETECTION")
            classification = next(p["id"] for p in projects if p["taskType"] == "CLASSIFICATION")
            for path in asyncio.run(_shoot(base, detection, classification)):
                print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
