"""Image and thumbnail routes: formats, EXIF orientation, caching headers, and clear errors for bad files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image
from starlette.testclient import TestClient

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
