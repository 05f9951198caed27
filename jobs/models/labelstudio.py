"""The Label Studio ML backend protocol (GET /health, POST /predict with tasks, `{"results": [...]}` back, boxes
in percent), so the many published backends (YOLO, Grounding DINO, SAM, …) plug in unchanged."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import httpx

from jobs.models import ModelError, Prediction

MAX_RESPONSE_BYTES = 20 * 2**20
TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=30.0, pool=5.0)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelError(f"{what} is not a finite number: {value!r}")
    return float(value)


def parse_result(items: Any, default_score: float | None) -> list[Prediction]:
    """One task's `result` list: rectanglelabels become boxes (percent → 0..1), choices become labels."""
    if not isinstance(items, list):
        raise ModelError("a prediction's result is not a list")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            raise ModelError("a result item has no value object")
        value, kind = item["value"], item.get("type")
        score = item.get("score", default_score)
        confidence = None if score is None else _number(score, "score")
        if kind == "rectanglelabels":
            labels = value.get("rectanglelabels") or []
            box = tuple(_number(value.get(k), k) / 100 for k in ("x", "y", "width", "height"))
            out += [Prediction(str(label), "BBOX", box, confidence) for label in labels]  # type: ignore[arg-type]
        elif kind == "choices":
            out += [Prediction(str(label), "CLASSIFICATION", None, confidence) for label in value.get("choices") or []]
    return out


class LabelStudioBackend:
    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = client or httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)

    async def health(self) -> bool:
        try:
            r = await self.client.get(f"{self.url}/health", timeout=3.0)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    async def predict(self, tasks: Sequence[dict[str, Any]]) -> list[list[Prediction]]:
        """Predictions for each task, in order; a transport or protocol problem fails the whole batch."""
        try:
            r = await self.client.post(f"{self.url}/predict", json={"tasks": list(tasks)})
        except httpx.TimeoutException:
            raise ModelError("the model did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ModelError(f"the model could not be reached ({type(exc).__name__})") from None
        if r.status_code != 200:
            raise ModelError(f"the model answered HTTP {r.status_code}")
        if len(r.content) > MAX_RESPONSE_BYTES:
            raise ModelError("the model's answer is too large")
        try:
            body = r.json()
        except ValueError:
            raise ModelError("the model's answer is not JSON") from None
        results = body.get("results") if isinstance(body, dict) else body
        if not isinstance(results, list) or len(results) != len(tasks):
            raise ModelError(f"expected {len(tasks)} results, got {len(results) if isinstance(results, list) else 0}")
        out = []
        for res in results:
            if not isinstance(res, dict):
                raise ModelError("a result is not an object")
            score = res.get("score")
            out.append(parse_result(res.get("result", []), None if score is None else _number(score, "score")))
        return out

    async def close(self) -> None:
        await self.client.aclose()
