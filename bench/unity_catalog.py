"""Unity Catalog figures against the local workspace emulator (tests/databricks_emulator.py), through the real
server with VOLUMES_BACKEND=unity_catalog: a gallery page of thumbnails, and scanning a folder of 100,000 files."""

from __future__ import annotations

import asyncio
import io
import shutil
import statistics
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
from PIL import Image
from skimage import data as skdata

from bench.figures import Figure, percentile
from bench.http_load import fetch_all
from bench.live_server import live_server
from tests.databricks_emulator import DatabricksEmulator
from tests.graphql_client import gql

WORK = Path(__file__).resolve().parent / ".work" / "unity_catalog"
PHOTOS = "/Volumes/bench/uc/photos"
PAGE_LOADS = 30


@contextmanager
def _server(name: str, **env: str) -> Iterator[httpx.Client]:
    env = {"DATABASE_URL": f"sqlite:///{WORK / f'{name}.db'}", "DATA_DIR": str(WORK / f"data-{name}"),
           "VOLUME_MOUNTS": "", **env}
    with live_server(env) as base, httpx.Client(base_url=base, timeout=120) as http:
        yield http


def _uc_server(emu: DatabricksEmulator, name: str) -> AbstractContextManager[httpx.Client]:
    return _server(name, VOLUMES_BACKEND="unity_catalog", DATABRICKS_HOST=emu.url, DATABRICKS_TOKEN=emu.token)


def _create_and_scan(http: httpx.Client, folder: str) -> tuple[str, float]:
    """Project id and seconds from createProject to its scan's SUCCEEDED."""
    t0 = time.perf_counter()
    pid = gql(http, 'mutation($f: String!) { createProject(input: {name: "uc", taskType: CLASSIFICATION, '
                     'classes: ["a"], sourceVolume: $f}) { id } }', f=folder)["createProject"]["id"]
    while True:
        job = gql(http, "query($p: ID!) { jobs(projectId: $p) { status error } }", p=pid)["jobs"][0]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            assert job["status"] == "SUCCEEDED", job["error"]
            return pid, time.perf_counter() - t0
        time.sleep(0.05)


def _photos(n: int) -> list[bytes]:
    """n distinct 1600x1200 JPEGs (a real photo, rotated), the size a phone or a dataset export holds."""
    base = Image.fromarray(skdata.astronaut()).resize((1600, 1200), Image.Resampling.BICUBIC)
    out = []
    for i in range(n):
        buf = io.BytesIO()
        (base.rotate(i * 3.6) if i else base).save(buf, "JPEG", quality=88)
        out.append(buf.getvalue())
    return out


def _page_urls(http: httpx.Client, folder: str) -> list[str]:
    pid, _ = _create_and_scan(http, folder)
    edges = gql(http, 'query($p: ID!) { project(id: $p) { samples(first: 100) { edges { node { '
                       'thumbnailUrl(size: 256) } } } } }', p=pid)["project"]["samples"]["edges"]
    assert len(edges) == 100
    return [e["node"]["thumbnailUrl"] for e in edges]


def _local_p50(photos: list[bytes]) -> float:
    """The same page from a local mount, in the same run: what the machine does without Unity Catalog."""
    folder = WORK / "local-photos"
    folder.mkdir()
    for i, data in enumerate(photos):
        (folder / f"{i:03}.jpg").write_bytes(data)
    with _server("local", VOLUME_MOUNTS=f"/Volumes/bench/local/photos={folder}") as http:
        urls = _page_urls(http, "/Volumes/bench/local/photos")
        base = str(http.base_url).rstrip("/")
        asyncio.run(fetch_all(base, urls))
        return statistics.median(asyncio.run(fetch_all(base, urls)) * 1000 for _ in range(PAGE_LOADS))


def gallery_figures() -> list[Figure]:
    """One gallery page (100 thumbnails) over six keep-alive connections, as a browser loads it; local thumbnail
    cache warm. Measured while the file stats are remembered, and after a restart (one HEAD per thumbnail)."""
    photos = _photos(100)
    with DatabricksEmulator() as emu:
        emu.add_volume(PHOTOS)
        for i, data in enumerate(photos):
            emu.put_file(f"{PHOTOS}/{i:03}.jpg", data)
        with _uc_server(emu, "gallery") as http:
            urls = _page_urls(http, PHOTOS)
            base = str(http.base_url).rstrip("/")
            cold = asyncio.run(fetch_all(base, urls)) * 1000  # downloads, decodes and caches every thumbnail
            downloads = len(emu.calls("GET", "/api/2.0/fs/files"))
            before = len(emu.calls(path_prefix="/api/"))
            warm = [asyncio.run(fetch_all(base, urls)) * 1000 for _ in range(PAGE_LOADS)]
            remembered_calls = len(emu.calls(path_prefix="/api/")) - before
        with _uc_server(emu, "gallery") as http:  # restarted (or another replica): thumbnails on disk, stats unknown
            base = str(http.base_url).rstrip("/")
            before = len(emu.calls(path_prefix="/api/"))
            restarted = asyncio.run(fetch_all(base, urls)) * 1000
            restart_calls = len(emu.calls(path_prefix="/api/")) - before
        assert len(emu.calls("GET", "/api/2.0/fs/files")) == downloads, "a warm page downloaded an original"
    local = _local_p50(photos)
    print(f"  gallery: cold {cold:.0f} ms; warm p50 {statistics.median(warm):.1f} ms with {remembered_calls} "
          f"workspace calls over {PAGE_LOADS} loads; first load after a restart {restarted:.1f} ms "
          f"({restart_calls} workspace calls); local mount p50 {local:.1f} ms")
    return [
        Figure("UC gallery page, 100 thumbnails, warm local cache, 6 connections: p50", percentile(warm, 50), "ms",
               30),
        Figure("the same page after a server restart: thumbnails on disk, 100 HEADs (reported)", restarted, "ms", 0,
               higher_is_better=True),
        Figure("the same page from a local mount, same run: p50 (reported)", local, "ms", 0, higher_is_better=True),
        Figure("the same page, first view: 100 downloads of 1600x1200 JPEGs + thumbnails (reported)", cold, "ms", 0,
               higher_is_better=True),
    ]


def scan_figure(n: int = 100_000) -> Figure:
    """A project from a UC folder of n files: createProject (folder check) + SCAN listing 1,000 entries a call."""
    folder = PHOTOS + "/many"
    with DatabricksEmulator() as emu:
        emu.add_volume(PHOTOS)
        stamp = time.time()
        for i in range(n):
            emu.put_file(f"{folder}/{i // 1000:03}_{i:06}.jpg", b"\xff\xd8 not decoded by a scan", mtime=stamp)
        with _uc_server(emu, "scan") as http:
            pid, elapsed = _create_and_scan(http, folder)
            total = gql(http, "query($p: ID!) { project(id: $p) { samples(first: 1) { totalCount } } }",
                         p=pid)["project"]["samples"]["totalCount"]
            pages = emu.calls("GET", "/api/2.0/fs/directories" + folder)
    assert total == n, total
    print(f"  scan: {n:,} files in {elapsed:.1f} s, {len(pages)} list calls "
          f"(page_size {pages[0].params.get('page_size')})")
    return Figure(f"project from a UC folder of {n:,} files (list 1,000 a call + scan), SQLite", elapsed, "s", 20)


def run() -> list[Figure]:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    try:
        return [*gallery_figures(), scan_figure()]
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
