"""HTTP handlers for image bytes: a sample's displayable image and its cached thumbnail."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from pathlib import PurePosixPath
from typing import BinaryIO

from starlette.requests import Request
from starlette.responses import Response

from db import samples as sample_rows
from db.errors import Invalid
from routes.decodes import Decodes
from routes.identity import user_of
from schema.access import Access
from schema.ids import parse_id
from schema.reach import Reach
from schema.samples import clamp_thumb
from schema.services import Services
from volumes.base import FileStat
from volumes.images import (
    IMAGE_EXTENSIONS,
    Rendered,
    browser_mime,
    render_display,
    render_thumbnail,
    shown_as_is,
)
from volumes.paths import VolumePath, parse

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}
CACHE_CONTROL = "private, max-age=600"
PATHS_CACHED = 100_000


class SamplePaths:
    """sample id -> (volume path, known size?); ids are never reused, so entries never go stale."""

    def __init__(self) -> None:
        self._d: OrderedDict[int, tuple[VolumePath, bool]] = OrderedDict()

    async def get(self, services: Services, sample_id: int) -> tuple[VolumePath, bool]:
        hit = self._d.get(sample_id)
        if hit is not None:
            return hit
        row = await services.db.read(sample_rows.get_sample, sample_id)
        entry = (parse(row.path), row.width is not None)
        self._d[sample_id] = entry
        if len(self._d) > PATHS_CACHED:
            self._d.popitem(last=False)
        return entry

    def mark_sized(self, sample_id: int) -> None:
        if sample_id in self._d:
            self._d[sample_id] = (self._d[sample_id][0], True)



async def _record_size(
    services: Services, paths: SamplePaths, sample_id: int, sized: bool, width: int, height: int
) -> None:
    if not sized:
        await services.db.write(sample_rows.record_size, sample_id, width, height)
        paths.mark_sized(sample_id)


def _render_thumbnail(services: Services, path: VolumePath, thumb_size: int, key: str) -> Rendered:
    """On a worker thread: one decode, kept in the thumbnail cache."""
    with services.volumes.open(path) as fp:
        out = render_thumbnail(fp, thumb_size, services.max_pixels, services.max_decode_bytes)
    services.thumbnails.put(key, out.data)
    return out


def _headers(path: VolumePath, mtime_ns: int, size: int, thumb_size: int | None) -> dict[str, str]:
    etag = '"' + hashlib.sha1(f"{path.text}|{mtime_ns}|{size}|{thumb_size}".encode()).hexdigest()[:24] + '"'
    return {"ETag": etag, "Cache-Control": CACHE_CONTROL, **SECURITY_HEADERS}


async def _thumbnail(request: Request, path: VolumePath, mtime_ns: int, size: int,
                     thumb_size: int) -> tuple[bytes, Rendered | None]:
    """The cached thumbnail, or a fresh one (then also returned, with the image's size): one decode however many
    requests want it at once."""
    services: Services = request.app.state.services
    key = services.thumbnails.key(path.text, mtime_ns, size, thumb_size)
    data = services.thumbnails.get(key)
    if data is not None:
        return data, None
    decodes: Decodes = request.app.state.decodes
    out = await decodes.once(key, _render_thumbnail, services, path, thumb_size, key)
    return out.data, out


async def _stat(services: Services, path: VolumePath) -> FileStat:
    """The one stat a request makes; on a worker thread only when it is a network round trip (a remote volume),
    since the hop costs more than a local stat or a remembered one."""
    st = services.volumes.stat_nowait(path)
    return st if st is not None else await asyncio.to_thread(services.volumes.stat, path)


async def _serve(request: Request, thumb_size: int | None) -> Response:
    services: Services = request.app.state.services
    paths: SamplePaths = request.app.state.sample_paths
    sample_id = parse_id(request.path_params["sample_id"], "Sample")
    await Access(services.db, await user_of(request)).sample(sample_id, "viewer")
    path, sized = await paths.get(services, sample_id)
    st = await _stat(services, path)
    headers = _headers(path, st.mtime_ns, st.size, thumb_size)
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    if thumb_size is not None:
        data, fresh = await _thumbnail(request, path, st.mtime_ns, st.size, thumb_size)
        if fresh is not None:
            await _record_size(services, paths, sample_id, sized, fresh.width, fresh.height)
        return Response(data, media_type="image/jpeg", headers=headers)
    out = await _display(request, path)
    await _record_size(services, paths, sample_id, sized, out.width, out.height)
    return Response(out.data, media_type=out.content_type, headers=headers)


def _as_is(services: Services, path: VolumePath) -> tuple[Rendered | None, BinaryIO | None]:
    """On a worker thread: the file's bytes when a browser can show it as it is, else the open file to convert.
    One read of the file, which for a remote volume is one download."""
    fp = services.volumes.open(path)
    try:
        info = shown_as_is(fp, services.max_pixels)
        fp.seek(0)
        if info is None:
            return None, fp
        data = fp.read()
    except BaseException:
        fp.close()
        raise
    fp.close()
    return Rendered(data, browser_mime(info.format), info.width, info.height), None


def _converted(fp: BinaryIO, max_pixels: int, max_bytes: int) -> Rendered:
    with fp:  # closed here, by the thread that decodes it
        return render_display(fp, max_pixels, max_bytes)


async def _display(request: Request, path: VolumePath) -> Rendered:
    """What a browser can show: the file as it is, or a conversion (TIFF, EXIF rotation), which is a decode."""
    services: Services = request.app.state.services
    out, fp = await asyncio.to_thread(_as_is, services, path)
    if out is not None:
        return out
    assert fp is not None  # a request that goes away before its turn leaves fp to the garbage collector
    decodes: Decodes = request.app.state.decodes
    return await decodes.run(_converted, fp, services.max_pixels, services.max_decode_bytes)


async def image(request: Request) -> Response:
    return await _serve(request, None)


def _thumb_size(request: Request) -> int:
    raw = request.query_params.get("size", "256")
    try:
        return clamp_thumb(int(raw))
    except ValueError:
        raise Invalid(f"size={raw!r} is not a whole number.") from None


async def thumbnail(request: Request) -> Response:
    size = _thumb_size(request)
    return await _serve(request, size)


async def volume_thumbnail(request: Request) -> Response:
    """A thumbnail of an image file the caller may reach (the folder preview when creating a project)."""
    services: Services = request.app.state.services
    reach = Reach(services, await user_of(request))
    size = _thumb_size(request)
    path = parse(request.query_params.get("path", ""))
    await reach.read(path, "preview")
    if PurePosixPath(path.text).suffix.lower() not in IMAGE_EXTENSIONS:
        raise Invalid(f"{path.text} is not an image file.")
    st = await _stat(services, path)
    headers = _headers(path, st.mtime_ns, st.size, size)
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    data, _ = await _thumbnail(request, path, st.mtime_ns, st.size, size)
    return Response(data, media_type="image/jpeg", headers=headers)
