"""The Label Studio ML backend protocol (GET /health, POST /predict with tasks, `{"results": [...]}` back, boxes
in percent), so the many published backends (YOLO, Grounding DINO, SAM, …) plug in unchanged."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import httpx

from jobs.models import TIMEOUT, ModelError, Prediction, one_list, post_json


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
        body = await post_json(self.client, f"{self.url}/predict", {"tasks": list(tasks)}, "the model")
        results = one_list(body if isinstance(body, dict) else {"results": body}, "results", len(tasks))
        out = []
        for res in results:
            if not isinstance(res, dict):
                raise ModelError("a result is not an object")
            score = res.get("score")
            out.append(parse_result(res.get("result", []), None if score is None else _number(score, "score")))
        return out

    async def close(self) -> None:
        await self.client.aclose()
