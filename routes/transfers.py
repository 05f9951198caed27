"""HTTP handlers for files that are too big for GraphQL: uploading an import file from the browser or a script,
and downloading a finished export as a zip that is streamed, never built in memory."""

from __future__ import annotations

import os
import re
import uuid
import zipfile
from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from db import jobs as job_rows
from db import projects as project_rows
from db.errors import Invalid, NotFound, TooLarge
from routes.identity import user_of
from schema.access import Access
from schema.ids import parse_id
from schema.services import Services
from volumes.paths import VolumePath, parse

CHUNK = 1 << 16
UPLOAD_NAME_CHARS = 100


async def upload(request: Request) -> Response:
    """POST /uploads/{project_id}?name=<file name>, the file as the raw body (application/octet-stream).
    Answers {"path": <volume path>} to pass to importAnnotations; the body is capped at IMPORT_MAX_BYTES."""
    services: Services = request.app.state.services
    project_id = parse_id(request.path_params["project_id"], "Project")
    await Access(services.db, await user_of(request)).project(project_id, "owner")
    await services.db.read(project_rows.get_project, project_id)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/octet-stream":
        raise Invalid("Send the file as the request body with Content-Type: application/octet-stream.")
    name = _safe_name(request.query_params.get("name", ""))
    if not name.strip("._"):
        raise Invalid("Give the file's name: /uploads/<project id>?name=<file name>.")
    limit = services.upload_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"The file is {int(declared) / 2**20:.1f} MB; uploads take at most {limit / 2**20:.0f} MB "
                       "(IMPORT_MAX_BYTES).")
    path = parse(f"{services.uploads_volume}/{project_id}/{uuid.uuid4().hex[:12]}-{name}")
    size = 0
    with services.volumes.writer(path) as fp:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"The upload passed {limit / 2**20:.0f} MB (IMPORT_MAX_BYTES); nothing was kept.")
            fp.write(chunk)
        if size == 0:
            raise Invalid("The upload is empty.")
    return JSONResponse({"path": path.text, "size": size})


def _safe_name(name: str) -> str:
    """The base name in letters, digits, `.`, `_` and `-`; a long one keeps its first 100 characters and its
    extension (imports read the format from it), so the stored name stays far below the file system's 255 bytes."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(name))
    if len(name) <= UPLOAD_NAME_CHARS:
        return name
    stem, ext = os.path.splitext(name)
    ext = ext if len(ext) <= 16 else ""
    return stem[:UPLOAD_NAME_CHARS - len(ext)] + ext


class _Sink:
    """A write-only file for zipfile that hands out what was written so far."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _zip_stream(services: Services, folder: VolumePath) -> Iterator[bytes]:
    sink = _Sink()
    prefix = len(folder.text) + 1
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED,  # type: ignore[call-overload]  # write-only
                         compresslevel=1) as z:
        for entry in services.volumes.walk_files(folder):
            name = entry.path[prefix:]
            stored = name.lower().endswith((".jpg", ".jpeg", ".png", ".webp", ".gif"))  # already compressed
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with services.volumes.open(parse(entry.path)) as src, z.open(info, "w", force_zip64=True) as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    if sink.offset and len(sink.parts) > 16:
                        yield sink.take()
            yield sink.take()
    yield sink.take()


async def export_zip(request: Request) -> Response:
    """GET /exports/{job_id}.zip: a finished export's folder as one zip, for the project's owners."""
    services: Services = request.app.state.services
    job_id = parse_id(request.path_params["job_id"], "Job")
    await Access(services.db, await user_of(request)).job(job_id, "owner")
    job = await services.db.read(job_rows.get_job, job_id)
    if job.kind != "EXPORT" or job.status != "SUCCEEDED" or not job.result:
        raise NotFound(f"Job {job_id} is not a finished export.")
    folder = parse(job.result["path"])
    name = folder.parts[-1] + ".zip"
    services.volumes.list(folder)  # NOT_FOUND now rather than a broken stream later
    return StreamingResponse(_zip_stream(services, folder), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "X-Content-Type-Options": "nosniff"})
