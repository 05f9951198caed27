"""Image and thumbnail routes: formats, EXIF orientation, caching headers, clear errors for bad files, and the
decode budget (formats by content, memory per decode, shared and bounded decodes, an unwritable cache)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, make_images

SAMPLES = """query($id: ID!){ project(id: $id){ samples(first: 50){ edges { node { id filename width height
    imageUrl thumbnailUrl(size: 128) } } } } }"""


def huge_png_header(width: int, height: int) -> bytes:
    """A tiny file whose header claims width x height pixels: a decompression bomb's calling card."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _samples(client: TestClient, project_id: str) -> dict[str, dict]:
    edges = gql(client, SAMPLES, id=project_id)["project"]["samples"]["edges"]
    return {e["node"]["filename"]: e["node"] for e in edges}


def test_thumbnail_and_image(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["wide.jpg"], size=(640, 320))
    make_images(images_dir, ["scan.tif"], size=(100, 50))
    project = create_project(client)
    s = _samples(client, project["id"])
    assert s["wide.jpg"]["width"] is None  # unknown until first decoded
    r = client.get(s["wide.jpg"]["thumbnailUrl"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-content-type-options"] == "nosniff" and "sandbox" in r.headers["content-security-policy"]
    assert Image.open(io.BytesIO(r.content)).size == (128, 64)
    again = client.get(s["wide.jpg"]["thumbnailUrl"], headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert client.get(s["wide.jpg"]["thumbnailUrl"]).content == r.content  # served from the cache
    assert _samples(client, project["id"])["wide.jpg"]["width"] == 640
    full = client.get(s["wide.jpg"]["imageUrl"])
    assert full.status_code == 200 and full.content == (images_dir / "wide.jpg").read_bytes()
    tif = client.get(s["scan.tif"]["imageUrl"])  # browsers cannot show TIFF: converted
    assert tif.headers["content-type"] in ("image/jpeg", "image/png")
    assert Image.open(io.BytesIO(tif.content)).size == (100, 50)
    assert client.get(f"/media/samples/{s['wide.jpg']['id']}/thumbnail?size=99999").status_code == 200
    assert client.get(f"/media/samples/{s['wide.jpg']['id']}/thumbnail?size=abc").status_code == 400


def test_exif_orientation_is_applied(client: TestClient, images_dir: Path) -> None:
    im = Image.new("RGB", (200, 100), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 20, 20))  # red top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    im.save(images_dir / "rotated.jpg", exif=exif.tobytes())
    project = create_project(client)
    s = _samples(client, project["id"])["rotated.jpg"]
    shown = Image.open(io.BytesIO(client.get(s["imageUrl"]).content))
    assert shown.size == (100, 200)
    r, _g, b = shown.convert("RGB").getpixel((95, 5))  # stored top-left ends up top-right
    assert r > 200 and b < 60
    assert _samples(client, project["id"])["rotated.jpg"]["width"] == 100
    thumb = Image.open(io.BytesIO(client.get(s["thumbnailUrl"]).content))  # resized first, then turned upright
    assert thumb.size == (64, 128)
    r, _g, b = thumb.convert("RGB").getpixel((60, 3))
    assert r > 200 and b < 60


def test_bad_files_get_clear_errors_and_the_gallery_keeps_working(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["good.jpg", "gone.jpg"], size=(32, 32))
    (images_dir / "bomb.png").write_bytes(huge_png_header(40_000, 40_000))
    good = (images_dir / "good.jpg").read_bytes()
    (images_dir / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (images_dir / "garbage.jpg").write_bytes(b"this is not an image at all" * 10)
    project = create_project(client)
    (images_dir / "gone.jpg").unlink()
    s = _samples(client, project["id"])
    bomb = client.get(s["bomb.png"]["thumbnailUrl"])
    assert bomb.status_code == 413 and "too large" in bomb.json()["error"].lower()
    assert client.get(s["bomb.png"]["imageUrl"]).status_code == 413
    for name in ("truncated.jpg", "garbage.jpg"):
        r = client.get(s[name]["thumbnailUrl"])
        assert r.status_code == 422 and r.json()["error"], name
    missing = client.get(s["gone.jpg"]["thumbnailUrl"])
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
    assert client.get("/media/samples/987654/thumbnail").status_code == 404
    assert client.get("/media/samples/abc/image").status_code == 404
    assert client.get(s["good.jpg"]["thumbnailUrl"]).status_code == 200
    assert len(_samples(client, project["id"])) == 5


def test_volume_thumbnails_for_the_folder_preview(client: TestClient, images_dir: Path, tmp_path: Path) -> None:
    make_images(images_dir, ["preview/a.jpg"], size=(400, 300))
    (images_dir / "preview" / "notes.txt").write_text("not an image")
    (tmp_path / "outside.jpg").write_bytes((images_dir / "preview" / "a.jpg").read_bytes())
    ok = client.get("/media/volume-thumbnail", params={"path": "/Volumes/test/cvx/images/preview/a.jpg",
                                                       "size": 96})
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(ok.content)).size == (96, 72)
    assert ok.headers["x-content-type-options"] == "nosniff"
    again = client.get("/media/volume-thumbnail", params={"path": "/Volumes/test/cvx/images/preview/a.jpg",
                                                          "size": 96}, headers={"if-none-match": ok.headers["etag"]})
    assert again.status_code == 304
    text = client.get("/media/volume-thumbnail", params={"path": "/Volumes/test/cvx/images/preview/notes.txt"})
    assert text.status_code == 400 and "not an image" in text.json()["error"]
    for bad in ("/Volumes/test/cvx/images/../../outside.jpg", str(tmp_path / "outside.jpg"),
                "/Volumes/test/cvx/images/%2e%2e/outside.jpg"):
        r = client.get("/media/volume-thumbnail", params={"path": bad})
        assert r.status_code in (400, 404), (bad, r.status_code)
        assert r.json()["code"] in ("VALIDATION", "NOT_FOUND")
    missing = client.get("/media/volume-thumbnail", params={"path": "/Volumes/test/cvx/images/preview/gone.jpg"})
    assert missing.status_code == 404


# -- decode budget: formats by content, memory per decode, one decode per thumbnail, decodes at once -----------


def _fits(width: int, height: int) -> bytes:
    """A minimal FITS file (8-bit, 2 axes): Pillow reads these, so its content must be refused here."""
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    2",
             f"NAXIS1  = {width:20d}", f"NAXIS2  = {height:20d}", "END"]
    header = "".join(c.ljust(80) for c in cards).ljust(2880).encode()
    return header + bytes(width * height).ljust(2880, b"\0")


def _saved(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_only_allow_listed_formats_are_decoded_whatever_the_name(client: TestClient, images_dir: Path) -> None:
    small = Image.new("RGB", (40, 30), (200, 30, 30))
    disguised = {"fits.jpg": _fits(40, 30), "pcx.jpg": _saved(small, "PCX"), "tga.png": _saved(small, "TGA"),
                 "eps.jpg": _saved(small, "EPS"), "ppm.webp": _saved(small, "PPM"), "sgi.tif": _saved(small, "SGI")}
    for name, data in disguised.items():
        (images_dir / name).write_bytes(data)
        Image.open(io.BytesIO(data))  # Pillow itself would take every one of them
    kept = {"jpeg.tif": _saved(small, "JPEG"), "png.jpg": _saved(small, "PNG"), "webp.png": _saved(small, "WEBP"),
            "gif.jpg": _saved(small.convert("P"), "GIF"), "bmp.jpg": _saved(small, "BMP"),
            "tiff.jpg": _saved(small, "TIFF")}
    for name, data in kept.items():  # allowed formats are found by content too, whatever the extension
        (images_dir / name).write_bytes(data)
    s = _samples(client, create_project(client)["id"])
    for name in disguised:
        for url in (s[name]["thumbnailUrl"], s[name]["imageUrl"]):
            r = client.get(url)
            assert r.status_code == 422, (name, url, r.status_code)
            assert r.json()["error"] == "The file is not a JPEG, PNG, WebP, GIF, BMP or TIFF image.", name
    for name in kept:
        r = client.get(s[name]["thumbnailUrl"])
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (40, 30), name


def test_memory_per_decode_counts_the_pixel_mode_not_only_pixels(settings: Settings, images_dir: Path) -> None:
    """A float TIFF takes four bytes a pixel before its conversion: refused (413) under a budget that a greyscale
    PNG of the same size, and a far bigger JPEG (decoded at reduced size for thumbnails), fit in."""
    Image.new("F", (2000, 2000), 0.5).save(images_dir / "float.tif", compression="tiff_deflate")  # a few KB
    Image.new("L", (2000, 2000), 128).save(images_dir / "grey.png")
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(images_dir / "photo.jpg", quality=80)
    tight = dataclasses.replace(settings, max_decode_bytes=12 * 2**20)
    with TestClient(create_app(tight)) as c:
        s = _samples(c, create_project(c)["id"])
        for url in (s["float.tif"]["thumbnailUrl"], s["float.tif"]["imageUrl"]):
            r = c.get(url)
            assert r.status_code == 413, (url, r.status_code, r.text)
            assert "MAX_DECODE_BYTES" in r.json()["error"] and "2000x2000 TIFF image (F pixels)" in r.json()["error"]
        assert c.get(s["grey.png"]["thumbnailUrl"]).status_code == 200  # 4 MB + 4 MB: one byte a pixel
        assert c.get(s["photo.jpg"]["thumbnailUrl"]).status_code == 200  # 12 MP, decoded at 1/8 scale
        assert c.get(s["photo.jpg"]["imageUrl"]).status_code == 200  # served as it is: no decode
    with TestClient(create_app(settings)) as c:  # the default budget (256 MB) takes the float TIFF
        float_tif = _samples(c, create_project(c, name="Other")["id"])["float.tif"]
        assert c.get(float_tif["thumbnailUrl"]).status_code == 200


def test_the_decode_estimates_hold_what_pillow_allocates() -> None:
    """decode_bytes is checked against Pillow's allocations: the rotated RGB copy and the premultiplied copy of
    transparent pixels count."""
    from volumes.images import _open, decode_bytes

    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = _saved(Image.new("RGB", (100, 50)), "JPEG", exif=exif.tobytes())
    im, orientation = _open(io.BytesIO(rotated), 10**9)
    assert decode_bytes(im, full=True, rotated=orientation != 1) >= 100 * 50 * (4 + 4)
    rgba, _ = _open(io.BytesIO(_saved(Image.new("RGBA", (100, 50)), "PNG")), 10**9)
    assert decode_bytes(rgba, full=False, rotated=False) >= 100 * 50 * (4 + 4)
    grey, _ = _open(io.BytesIO(_saved(Image.new("L", (100, 50)), "PNG")), 10**9)
    assert decode_bytes(grey, full=False, rotated=False) < decode_bytes(rgba, full=False, rotated=False)


def _noise_png(path: Path, size: int, seed: int) -> None:
    Image.frombytes("RGB", (size, size), random.Random(seed).randbytes(size * size * 3)).save(path, compress_level=1)


async def _concurrently(settings: Settings, urls_of: Any, n: int, name: str = "n"
                        ) -> tuple[list[httpx.Response], Any]:
    """n requests at once (the URLs in turn) through a fresh app; its Decodes afterwards."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60) as http:
        async def q(query: str, **variables: Any) -> Any:
            return (await http.post("/graphql", json={"query": query, "variables": variables})).json()["data"]

        pid = (await q("""mutation($n: String!) { createProject(input: {name: $n, taskType: DETECTION,
            classes: ["a"], sourceVolume: "/Volumes/test/cvx/images"}) { id } }""", n=name))["createProject"]["id"]
        while (await q("query($p: ID!){ jobs(projectId: $p){ status } }", p=pid))["jobs"][0]["status"] != "SUCCEEDED":
            await asyncio.sleep(0.05)
        edges = (await q(SAMPLES, id=pid))["project"]["samples"]["edges"]
        urls = urls_of({e["node"]["filename"]: e["node"] for e in edges})
        responses = await asyncio.gather(*(http.get(urls[i % len(urls)]) for i in range(n)))
        return list(responses), app.state.decodes


async def test_concurrent_requests_for_one_uncached_thumbnail_share_one_decode(settings: Settings,
                                                                               images_dir: Path) -> None:
    _noise_png(images_dir / "big.png", 1200, 1)
    responses, decodes = await _concurrently(settings, lambda s: [s["big.png"]["thumbnailUrl"]], 6)
    assert [r.status_code for r in responses] == [200] * 6
    assert len({r.content for r in responses}) == 1
    assert decodes.started == 1


async def test_decodes_at_once_are_bounded_by_a_setting(settings: Settings, images_dir: Path) -> None:
    for i in range(6):
        _noise_png(images_dir / f"n{i}.png", 1200, i)
    one = dataclasses.replace(settings, decode_concurrency=1)
    responses, decodes = await _concurrently(one, lambda s: [s[f"n{i}.png"]["thumbnailUrl"] for i in range(6)], 6)
    assert [r.status_code for r in responses] == [200] * 6
    assert decodes.started == 6 and decodes.peak == 1
    (settings.data_dir / "thumbnails").rename(settings.data_dir / "thumbnails-1")  # all uncached again
    responses, decodes = await _concurrently(settings, lambda s: [s[f"n{i}.png"]["thumbnailUrl"] for i in range(6)],
                                             6, name="two")
    assert decodes.started == 6 and decodes.peak <= 2  # DECODE_CONCURRENCY's default


def test_an_unwritable_thumbnail_cache_still_serves_thumbnails(settings: Settings, images_dir: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """The cache folder is a file (a full or read-only disk fails the same way, with OSError; as root, a read-only
    folder would not stop the writes, so this is the failure a test can cause)."""
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(300, 200))
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "thumbnails").write_text("not a folder")
    with TestClient(create_app(settings)) as c, caplog.at_level(logging.WARNING, logger="cvx.thumbnails"):
        s = _samples(c, create_project(c)["id"])
        for name in ("a.jpg", "b.jpg", "a.jpg"):
            r = c.get(s[name]["thumbnailUrl"])
            assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (128, 85), name
    warnings = [r for r in caplog.records if r.name == "cvx.thumbnails"]
    assert len(warnings) == 1 and "cannot be written" in warnings[0].getMessage()
