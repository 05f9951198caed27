"""Thumbnail figures for 12-megapixel JPEGs: cold (decode + resize, one core) and warm (cached, over HTTP)."""

from __future__ import annotations

import asyncio
import io
import shutil
import time
from pathlib import Path

import httpx
from PIL import Image, ImageFilter
from skimage import data as skdata

from bench.figures import Figure
from bench.http_load import get_rate
from bench.live_server import live_server
from volumes.images import render_thumbnail

WORK = Path(__file__).resolve().parent / ".work" / "thumbnails"
MAX_PIXELS = 100_000_000
SIZE = 256


def _camera_jpegs(folder: Path, n: int) -> list[Path]:
    """n distinct 4000x3000 JPEGs made from a real photo (upscaled, shifted, lightly blurred), like camera output."""
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.fromarray(skdata.astronaut()).resize((4000, 3000), Image.Resampling.BICUBIC)
    base = base.filter(ImageFilter.GaussianBlur(1.5))
    paths = []
    for i in range(n):
        path = folder / f"cam{i:03}.jpg"
        shifted = base.rotate(i * 3 % 360) if i else base
        shifted.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def cold_figure(paths: list[Path]) -> Figure:
    """One thread, every image decoded for the first time (no cache), as the route's cold path does."""
    blobs = [p.read_bytes() for p in paths]
    render_thumbnail(io.BytesIO(blobs[0]), SIZE, MAX_PIXELS)  # warm up the code, not the data
    t0 = time.perf_counter()
    for blob in blobs:
        out = render_thumbnail(io.BytesIO(blob), SIZE, MAX_PIXELS)
        assert max(out.width, out.height) == 4000
    rate = len(blobs) / (time.perf_counter() - t0)
    return Figure("256-px thumbnail of a 12-MP JPEG, cold, one core", rate, "/s", 40, higher_is_better=True)


def warm_figure(folder: Path) -> Figure:
    """Cached thumbnails through the real server and HTTP (no ETag revalidation: every response carries bytes)."""
    env = {"DATABASE_URL": f"sqlite:///{WORK / 'thumbs.db'}", "DATA_DIR": str(WORK / "data"),
           "VOLUME_MOUNTS": f"/Volumes/bench/thumbs/images={folder}"}
    with live_server(env) as base, httpx.Client(base_url=base, timeout=60) as http:
        def gql(query: str) -> dict:
            return http.post("/graphql", json={"query": query}).json()["data"]

        pid = gql('mutation { createProject(input: {name: "thumbs", taskType: CLASSIFICATION, classes: ["a"], '
                  'sourceVolume: "/Volumes/bench/thumbs/images"}) { id } }')["createProject"]["id"]
        while gql(f'{{ jobs(projectId: "{pid}") {{ status }} }}')["jobs"][0]["status"] != "SUCCEEDED":
            time.sleep(0.1)
        edges = gql(f'{{ project(id: "{pid}") {{ samples(first: 100) {{ edges {{ node {{ '
                    f'thumbnailUrl(size: {SIZE}) }} }} }} }} }}')["project"]["samples"]["edges"]
        urls = [e["node"]["thumbnailUrl"] for e in edges]
        for url in urls:  # fill the cache
            assert http.get(url).status_code == 200
        rate = asyncio.run(get_rate(base, urls, seconds=5))
    return Figure("256-px thumbnail, warm (cached), HTTP, one server process", rate, "/s", 1500,
                  higher_is_better=True)


def run() -> list[Figure]:
    shutil.rmtree(WORK, ignore_errors=True)
    paths = _camera_jpegs(WORK / "images", 40)
    figures = [cold_figure(paths), warm_figure(WORK / "images")]
    shutil.rmtree(WORK, ignore_errors=True)
    return figures


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
