"""Databricks Model Serving: the endpoint's data-plane invocation URL called over httpx with workspace auth
(a bearer token), request `{"dataframe_records": [{"image": <base64>}]}`, response read with configurable keys.

The response is `{"predictions": [...]}` with one entry per record: a list of objects (or an object with a list
under `detections`) carrying a label, a confidence and, for detectors, a bbox in normalised xywh or pixel xyxy; a
classifier may answer a plain class name or an integer index into the project's classes instead.

A text-prompted detector (SERVING_REQUEST=text_prompt, the kind of endpoint SAM 3.x is served as) gets one record
per image and project class, `{"input": "<JSON of {\"image\": <base64>, \"prompt\": <class>}>"}`, and answers per
record `{"boxes": [[x0, y0, x1, y1], ...], "scores": [...], "image_size": [w, h]}` in pixels: every box it finds
for a prompt gets that prompt's class.
Databricks' REST API cannot be reached from here: tests speak these documented shapes through respx.

Model Serving refuses request bodies over 16 MB: images are sent resized (backends.ServingBackend) and a batch is
split so that no request carries more than PAYLOAD_BUDGET. An endpoint scaled to zero takes minutes to start: busy
or starting answers (429, 503, 504, no answer yet) are retried with growing pauses until `cold_start_seconds`
(SERVING_TIMEOUT_SECONDS) have passed, then the images fail with a message naming that limit."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from jobs.models import ModelError, Prediction, one_list, post_json, refused, unreachable
from jobs.models.egress import AllowList, model_client

PAYLOAD_LIMIT = 16 * 2**20  # Model Serving's largest request body
PAYLOAD_BUDGET = 12 * 2**20  # what one request carries at most: room under the limit for JSON and headers
RECORD_OVERHEAD = 16  # {"image": "…"}, per record
# A cold endpoint may hold a request for minutes before answering: the read timeout of one try is long, and the
# whole wait is bounded by cold_start_seconds.
TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=10.0)
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 15.0
ENDPOINT_STATES = ("READY", "NOT_READY")  # the workspace API's values for state.ready


@dataclass(frozen=True)
class ServingFormat:
    label_key: str = "label"
    confidence_key: str = "confidence"
    bbox_key: str = "bbox"
    bbox_format: str = "xywh_norm"  # or "xyxy_pixel"
    request: str = "image"  # or "text_prompt": a record per image and class (see above)


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelError(f"{what} is not a finite number: {value!r}")
    return float(value)


def _class_answer(raw: str | int, classes: tuple[str, ...]) -> list[Prediction]:
    """A classifier's bare answer: a class name, or an index into the project's classes."""
    if isinstance(raw, str):
        return [Prediction(raw, "CLASSIFICATION", None, None)]
    if not 0 <= raw < len(classes):
        raise ModelError(f"class index {raw} is not one of the project's {len(classes)} classes (0 to "
                         f"{len(classes) - 1})")
    return [Prediction(classes[raw], "CLASSIFICATION", None, None)]


def parse_prediction(raw: Any, fmt: ServingFormat, size: tuple[int, int],
                     classes: tuple[str, ...] = ()) -> list[Prediction]:
    """One record's answer: boxes normalised to the image (pixel xyxy divided by its displayed size); a bare class
    name or index is a classification."""
    if isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool)):
        return _class_answer(raw, classes)
    items = raw.get("detections", raw.get("predictions", [raw])) if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise ModelError("a prediction is neither a list nor an object")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get(fmt.label_key), str):
            raise ModelError(f"a prediction has no string {fmt.label_key!r}")
        conf = item.get(fmt.confidence_key)
        confidence = None if conf is None else _finite(conf, fmt.confidence_key)
        box = item.get(fmt.bbox_key)
        if box is None:
            out.append(Prediction(item[fmt.label_key], "CLASSIFICATION", None, confidence))
            continue
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise ModelError(f"{fmt.bbox_key!r} must be 4 numbers")
        a, b, c, d = (_finite(v, fmt.bbox_key) for v in box)
        if fmt.bbox_format == "xyxy_pixel":
            w, h = size
            a, b, c, d = a / w, b / h, (c - a) / w, (d - b) / h
        out.append(Prediction(item[fmt.label_key], "BBOX", (a, b, c, d), confidence))
    return out


def parse_prompted(raw: Any, prompt: str, size: tuple[int, int]) -> list[Prediction]:
    """A text-prompted detector's answer for one prompt: pixel corner boxes, normalised by the image size it
    reports (else the size sent), each labelled with the prompt."""
    if not isinstance(raw, dict) or not isinstance(raw.get("boxes"), list):
        raise ModelError("a text-prompted answer has no list under 'boxes'")
    boxes, scores = raw["boxes"], raw.get("scores")
    if scores is not None and (not isinstance(scores, list) or len(scores) != len(boxes)):
        raise ModelError("'scores' must hold one number per box")
    reported = raw.get("image_size")
    if reported is not None:
        if not isinstance(reported, list | tuple) or len(reported) != 2:
            raise ModelError("'image_size' must be [width, height]")
        size = (_finite(reported[0], "image_size"), _finite(reported[1], "image_size"))  # type: ignore[assignment]
    w, h = size
    if w <= 0 or h <= 0:
        raise ModelError("'image_size' must be positive")
    out = []
    for i, box in enumerate(boxes):
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise ModelError("each box must be 4 numbers [x0, y0, x1, y1]")
        x0, y0, x1, y1 = (_finite(v, "boxes") for v in box)
        confidence = None if scores is None else _finite(scores[i], "scores")
        out.append(Prediction(prompt, "BBOX", (x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h), confidence))
    return out


class WorkspaceAuth(httpx.Auth):
    """Fresh workspace credentials on every request: databricks-sdk's `Config.authenticate` (OAuth tokens it
    refreshes itself) or a fixed personal access token."""

    def __init__(self, headers: Callable[[], dict[str, str]]) -> None:
        self.headers = headers

    @staticmethod
    def of(headers: Callable[[], dict[str, str]] | None, token: str) -> WorkspaceAuth | None:
        if headers is not None:
            return WorkspaceAuth(headers)
        return WorkspaceAuth(lambda: {"Authorization": f"Bearer {token}"}) if token else None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        try:
            request.headers.update(self.headers())
        except Exception as exc:  # the SDK's OAuth errors are plain ValueErrors and friends
            raise ModelError(f"the workspace credentials were refused ({exc})") from None
        yield request


def batches(sizes: list[int], budget: int = PAYLOAD_BUDGET) -> list[list[int]]:
    """Indexes of the records grouped in order so that each group's encoded size stays within budget (a record
    bigger than the budget alone goes alone, and is refused by its size before sending)."""
    out: list[list[int]] = []
    used = budget + 1
    for i, size in enumerate(sizes):
        if used + size > budget:
            out.append([])
            used = 0
        out[-1].append(i)
        used += size
    return out


class ServingClient:
    def __init__(self, url: str, auth: httpx.Auth | None, fmt: ServingFormat, *, allow: AllowList | None = None,
                 cold_start_seconds: float = 600.0, budget: int = PAYLOAD_BUDGET) -> None:
        self.url, self.fmt, self.cold_start_seconds, self.budget = url, fmt, cold_start_seconds, budget
        self.client = model_client(allow or AllowList(), TIMEOUT, auth)

    async def invoke(self, images: list[tuple[bytes, tuple[int, int]]],
                     classes: tuple[str, ...] = ()) -> list[list[Prediction]]:
        """Predictions for each image, in as many requests as the byte budget needs; classes: the project's (bare
        class indices; a text-prompted detector's prompts)."""
        if self.fmt.request == "text_prompt":
            return await self._invoke_prompted(images, classes)
        records = [base64.b64encode(data).decode() for data, _ in images]
        out: list[list[Prediction]] = []
        for group in batches([len(r) + RECORD_OVERHEAD for r in records], self.budget):
            if sum(len(records[i]) + RECORD_OVERHEAD for i in group) > PAYLOAD_LIMIT:
                raise ModelError(f"the image is over {PAYLOAD_LIMIT // 2**20} MB even resized (SERVING_IMAGE_MAX_SIDE)")
            body = await self._post({"dataframe_records": [{"image": records[i]} for i in group]})
            preds = one_list(body, "predictions", len(group))
            out += [parse_prediction(p, self.fmt, images[i][1], classes) for p, i in zip(preds, group, strict=True)]
        return out

    async def _invoke_prompted(self, images: list[tuple[bytes, tuple[int, int]]],
                               classes: tuple[str, ...]) -> list[list[Prediction]]:
        """One record per image and class; the answers for an image's classes are put together."""
        if not classes:
            raise ModelError("a text-prompted detector needs the project's classes as its prompts")
        wanted = [(i, c) for i in range(len(images)) for c in classes]
        encoded = [base64.b64encode(data).decode() for data, _ in images]
        records = [json.dumps({"image": encoded[i], "prompt": c}) for i, c in wanted]
        out: list[list[Prediction]] = [[] for _ in images]
        for group in batches([len(r) + RECORD_OVERHEAD for r in records], self.budget):
            if sum(len(records[k]) + RECORD_OVERHEAD for k in group) > PAYLOAD_LIMIT:
                raise ModelError(f"the image is over {PAYLOAD_LIMIT // 2**20} MB even resized (SERVING_IMAGE_MAX_SIDE)")
            body = await self._post({"dataframe_records": [{"input": records[k]} for k in group]})
            for answer, k in zip(one_list(body, "predictions", len(group)), group, strict=True):
                i, prompt = wanted[k]
                out[i] += parse_prompted(answer, prompt, images[i][1])
        return out

    async def _post(self, payload: dict[str, Any]) -> Any:
        """One request, tried again while the endpoint is busy or starting, until cold_start_seconds."""
        deadline, pause = time.monotonic() + self.cold_start_seconds, FIRST_PAUSE
        while True:
            try:
                return await post_json(self.client, self.url, payload, "the serving endpoint")
            except ModelError as exc:
                if not exc.retryable:
                    raise
                if time.monotonic() + pause > deadline:
                    raise ModelError(f"{exc}, and kept doing so for {self.cold_start_seconds:.0f} s "
                                     "(SERVING_TIMEOUT_SECONDS): is the endpoint scaled to zero and still starting, "
                                     "or stopped?", retryable=True) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)

    async def ready(self, state_url: str) -> tuple[bool, str]:
        """The endpoint's state from the workspace API (`GET /api/2.0/serving-endpoints/<name>`)."""
        try:
            r = await self.client.get(state_url, timeout=5.0)
            if r.status_code != 200:
                return False, str(refused("the workspace API", state_url, r.status_code))
            state = r.json().get("state")
        except httpx.HTTPError as exc:
            return False, unreachable("the workspace API", exc)
        except ValueError:
            return False, "the workspace API's answer is not JSON"
        except ModelError as exc:
            return False, str(exc)
        ready = state.get("ready") if isinstance(state, dict) else None
        if ready == "READY":
            return True, "ready"
        return False, f"endpoint state: {ready}" if ready in ENDPOINT_STATES else "the endpoint reports no state"

    async def close(self) -> None:
        await self.client.aclose()
