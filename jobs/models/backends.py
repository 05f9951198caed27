"""Choosing and running the configured model: the local ONNX file (MODEL_PATH), a Databricks Model Serving
endpoint (SERVING_ENDPOINT_URL) or a Label Studio ML backend (MODEL_BACKEND_URL), in that order. All answer per
image, so one bad image never fails its neighbours."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from db.errors import DomainError, Invalid, Unavailable
from jobs.models import ModelError, Prediction
from jobs.models.config import ModelConfig
from jobs.models.egress import AllowList
from jobs.models.labelstudio import LabelStudioBackend, LsProject
from jobs.models.onnx_local import OnnxModel
from jobs.models.serving import ServingClient, WorkspaceAuth
from volumes.base import Volumes
from volumes.images import ImageError, load_rgb, render_thumbnail
from volumes.paths import parse

NOT_CONFIGURED = ("No model is configured: give the project its own (Model… on its page, or setModelSettings), or "
                  "set the server's default: MODEL_PATH to an .onnx file in a volume, SERVING_ENDPOINT_URL to a "
                  "Databricks Model Serving endpoint, or MODEL_BACKEND_URL to a Label Studio ML backend.")


@dataclass(frozen=True)
class ImageRef:
    sample_id: int
    path: str  # volume path of the image
    url: str  # where an HTTP model fetches it


Answer = list[Prediction] | ModelError


class Backend(Protocol):
    async def predict_each(self, images: list[ImageRef]) -> list[Answer]: ...

    async def close(self) -> None: ...


async def one_by_one(items: list[Any], call: Callable[[list[Any]], Awaitable[list[list[Prediction]]]]
                     ) -> list[Answer]:
    """Each item sent alone, so a batch's failure is pinned on the image that caused it."""
    out: list[Answer] = []
    for item in items:
        try:
            out.append((await call([item]))[0])
        except ModelError as exc:
            out.append(exc)
    return out


class HttpBackend:
    """A Label Studio ML backend: the batch in one request; when it fails, each image alone."""

    def __init__(self, url: str, allow: AllowList, project: LsProject | None = None) -> None:
        self.client = LabelStudioBackend(url, allow, project)

    async def predict_each(self, images: list[ImageRef]) -> list[Answer]:
        tasks = [{"id": i.sample_id, "data": {"image": i.url}} for i in images]
        try:
            return list(await self.client.predict(tasks))
        except ModelError:
            return await one_by_one(tasks, self.client.predict)

    async def close(self) -> None:
        await self.client.close()


_LOADED: dict[tuple[str, int, int, tuple[str, ...]], OnnxModel] = {}  # one session per file version, reused


class LocalBackend:
    """The ONNX file, loaded once per file version and run off the event loop."""

    def __init__(self, model: OnnxModel, volumes: Volumes, max_pixels: int) -> None:
        self.model, self.volumes, self.max_pixels = model, volumes, max_pixels

    def _one(self, image: ImageRef) -> Answer:
        try:
            with self.volumes.open(parse(image.path)) as fp:
                picture = load_rgb(fp, self.max_pixels)
        except (ImageError, DomainError) as exc:
            return ModelError(f"the image cannot be read ({exc.message})")
        try:
            return self.model.predict(picture)
        except ModelError as exc:
            return exc

    async def predict_each(self, images: list[ImageRef]) -> list[Answer]:
        return [await asyncio.to_thread(self._one, i) for i in images]

    async def close(self) -> None:
        pass


class ServingBackend:
    """A Databricks Model Serving endpoint: the images as JPEGs no longer than `max_side` on their longer side (as
    displayed, EXIF applied), in as few requests as the payload limit allows; when a batch fails, each image alone
    (unless the endpoint never answered: then they all fail with that reason)."""

    def __init__(self, client: ServingClient, volumes: Volumes, max_pixels: int, max_side: int = 1024,
                 classes: tuple[str, ...] = ()) -> None:
        self.client, self.volumes, self.max_pixels, self.max_side = client, volumes, max_pixels, max_side
        self.classes = classes  # the project's: bare class indices, and a text-prompted detector's prompts

    def _read(self, image: ImageRef) -> tuple[bytes, tuple[int, int]] | ModelError:
        """The JPEG sent, and its size (pixel boxes in the answer are relative to it)."""
        try:
            with self.volumes.open(parse(image.path)) as fp:
                data = render_thumbnail(fp, self.max_side, self.max_pixels).data
        except (ImageError, DomainError) as exc:
            return ModelError(f"the image cannot be read ({exc.message})")
        with Image.open(io.BytesIO(data)) as sent:
            return data, sent.size

    async def predict_each(self, images: list[ImageRef]) -> list[Answer]:
        payloads = [await asyncio.to_thread(self._read, i) for i in images]
        good = [p for p in payloads if not isinstance(p, ModelError)]
        answers: list[list[Prediction]] | None = None
        try:
            answers = await self.client.invoke(good, self.classes) if good else []
        except ModelError as exc:  # a failed batch is retried image by image below, unless nobody answers
            if exc.retryable:
                return [p if isinstance(p, ModelError) else exc for p in payloads]
        out: list[Answer] = []
        it = iter(answers or [])
        for p in payloads:
            if isinstance(p, ModelError):
                out.append(p)
            elif answers is not None:
                out.append(next(it))
            else:
                out += await one_by_one([p], lambda one: self.client.invoke(one, self.classes))
        return out

    async def close(self) -> None:
        await self.client.close()


def serving_client(config: ModelConfig) -> ServingClient:
    auth = WorkspaceAuth.of(config.workspace_headers, config.serving_token)
    return ServingClient(config.serving_url, auth, config.serving_format, allow=config.allow,
                         cold_start_seconds=config.serving_timeout_seconds)


def serving_state_url(invocation_url: str) -> str:
    """`https://<host>/serving-endpoints/<name>/invocations` -> `https://<host>/api/2.0/serving-endpoints/<name>`."""
    base, _, rest = invocation_url.partition("/serving-endpoints/")
    return f"{base}/api/2.0/serving-endpoints/{rest.split('/')[0]}"


def _load_onnx(volumes: Volumes, path: str, classes: tuple[str, ...]) -> OnnxModel:
    vp = parse(path)
    st = volumes.stat(vp)
    key = (vp.text, st.mtime_ns, st.size, classes)
    if key not in _LOADED:
        with volumes.open(vp) as fp:
            _LOADED[key] = OnnxModel(fp.read(), list(classes) or None)
    return _LOADED[key]


async def make_backend(config: ModelConfig, volumes: Volumes, project: LsProject | None = None,
                       classes: tuple[str, ...] = ()) -> Backend:
    """The configured model; VALIDATION with what to set when there is none or it cannot be loaded. A Label Studio
    backend is introduced to the project first (POST /setup); UNAVAILABLE if it refuses."""
    if config.path:
        try:
            model = await asyncio.to_thread(_load_onnx, volumes, config.path, config.classes)
        except ModelError as exc:
            raise Invalid(f"MODEL_PATH {config.path}: {exc}") from None
        return LocalBackend(model, volumes, config.max_pixels)
    if config.serving_url:
        return ServingBackend(serving_client(config), volumes, config.max_pixels, config.serving_image_max_side,
                              classes)
    if config.backend_url:
        backend = HttpBackend(config.backend_url, config.allow, project)
        if project is not None:
            try:
                await backend.client.setup()
            except ModelError as exc:
                await backend.close()
                raise Unavailable(f"The model backend did not accept the project (POST /setup): {exc}") from None
        return backend
    raise Invalid(NOT_CONFIGURED)

