"""The Label Studio ML backend protocol (GET /health; POST /setup with the project and its labelling config, the
model version back; POST /predict with tasks, `{"results": [...]}` back, boxes in percent), so the many published
backends (YOLO, Grounding DINO, SAM, …) plug in unchanged."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

import httpx

from jobs.models import TIMEOUT, ModelError, Prediction, one_list, post_json, refused, unreachable
from jobs.models.egress import AllowList, model_client


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


@dataclass(frozen=True)
class LsProject:
    """What a backend is told about the project: Label Studio's `<id>.<timestamp>` reference and labelling config."""

    ref: str
    label_config: str

    @staticmethod
    def of(project_id: int, created_at: float, task_type: str, classes: Sequence[str]) -> LsProject:
        return LsProject(f"{project_id}.{int(created_at)}", label_config(task_type, classes))


def label_config(task_type: str, classes: Sequence[str]) -> str:
    """The Label Studio labelling config equivalent to a project: RectangleLabels or Choices over its classes."""
    tag, item = ("RectangleLabels", "Label") if task_type == "DETECTION" else ("Choices", "Choice")
    options = "".join(f"<{item} value={quoteattr(c)}/>" for c in classes)
    return f'<View><Image name="image" value="$image"/><{tag} name="label" toName="image">{options}</{tag}></View>'


class LabelStudioBackend:
    def __init__(self, url: str, allow: AllowList, project: LsProject | None = None) -> None:
        self.url = url.rstrip("/")
        self.project = project
        self.client = model_client(allow, TIMEOUT)

    async def setup(self) -> str:
        """Introduce the project (POST /setup) and return the model version; a backend without /setup (404/405)
        is fine, any other failure is a ModelError."""
        assert self.project is not None
        payload = {"project": self.project.ref, "schema": self.project.label_config, "hostname": "",
                   "access_token": ""}
        try:
            body = await post_json(self.client, f"{self.url}/setup", payload, "the model backend")
        except ModelError as exc:
            if exc.status in (404, 405):
                return ""
            raise
        version = body.get("model_version") if isinstance(body, dict) else None
        return str(version) if version is not None else ""

    async def health(self) -> tuple[bool, str]:
        """Whether GET /health answers 200, and what to tell the user (never the endpoint's own answer)."""
        try:
            r = await self.client.get(f"{self.url}/health", timeout=3.0)
        except httpx.HTTPError as exc:
            return False, unreachable("the model backend", exc)
        if r.status_code != 200:
            return False, str(refused("the model backend", f"{self.url}/health", r.status_code))
        return True, "ready"

    async def predict(self, tasks: Sequence[dict[str, Any]]) -> list[list[Prediction]]:
        """Predictions for each task, in order; a transport or protocol problem fails the whole batch."""
        payload: dict[str, Any] = {"tasks": list(tasks)}
        if self.project is not None:
            payload |= {"project": self.project.ref, "label_config": self.project.label_config}
        body = await post_json(self.client, f"{self.url}/predict", payload, "the model")
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
