"""EVALUATE: score one model's drafts on a project's labelled images against the human labels (jobs.evaluation) and
store the result as the job's result: COCO AP, per-class precision, recall and F1, PR curves and a confusion matrix
for detection; accuracy, per-class precision, recall and F1 and a confusion matrix for classification."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from db import evaluation as evaluation_rows
from db.evaluation import EvaluationData
from jobs.context import JobContext
from jobs.evaluation import Boxes, classification, detection, summary


def _boxes(rows: list[Any], index: dict[int, int], size: dict[int, tuple[float, float]], cls: dict[str, int],
           draft: bool) -> Boxes:
    """The rows' boxes in pixels (of images whose size is known; unknown sizes count as 1x1: area ranges other than
    "all" then see them as small)."""
    keep = [r for r in rows if bool(r[7]) == draft and r[2] is not None and r[1] in cls]
    w = np.array([size[r[0]][0] for r in keep], dtype=np.float64)
    h = np.array([size[r[0]][1] for r in keep], dtype=np.float64)
    xywh = np.array([r[2:6] for r in keep], dtype=np.float64).reshape(-1, 4) * np.c_[w, h, w, h]
    score = np.array([r[6] if r[6] is not None else 1.0 for r in keep], dtype=np.float64)
    return Boxes(np.array([index[r[0]] for r in keep], dtype=np.int64),
                 np.array([cls[r[1]] for r in keep], dtype=np.int64), xywh, score)


def evaluate(data: EvaluationData) -> dict[str, Any]:
    """On a worker thread: the metrics of the task."""
    cls = {c: k for k, c in enumerate(data.classes)}
    index = {s[0]: i for i, s in enumerate(data.samples)}
    predicted_images = len({r[0] for r in data.annotations if r[7]})
    counts = {"images": len(data.samples), "imagesWithPredictions": predicted_images,
              "labels": sum(1 for r in data.annotations if not r[7]),
              "predictions": sum(1 for r in data.annotations if r[7])}
    if data.task_type == "DETECTION":
        size = {s[0]: (float(s[1] or 1), float(s[2] or 1)) for s in data.samples}
        gt = _boxes(data.annotations, index, size, cls, False)
        dt = _boxes(data.annotations, index, size, cls, True)
        return {**counts, **summary(detection(gt, dt, len(data.classes)), data.classes)}
    truth = np.full(len(data.samples), -1, dtype=np.int64)
    best = np.full(len(data.samples), -1, dtype=np.int64)
    score = np.full(len(data.samples), -np.inf)
    for sid, label, *_, confidence, is_draft in data.annotations:
        i, k = index[sid], cls.get(label)
        if k is None:
            continue
        if not is_draft:
            truth[i] = k if truth[i] < 0 else truth[i]  # a multi-label image counts by its first label
        elif (confidence if confidence is not None else 1.0) > score[i]:
            best[i], score[i] = k, confidence if confidence is not None else 1.0
    labelled = truth >= 0
    return {**counts, **classification(truth[labelled], best[labelled], len(data.classes), data.classes)}


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    model = str(ctx.params["model"])
    await ctx.progress(0, 2, force=True)
    data = await ctx.db.read(evaluation_rows.evaluation_data, ctx.project_id, model)
    await ctx.progress(1, 2, force=True)
    result = await asyncio.to_thread(evaluate, data)
    await ctx.progress(2, 2, force=True)
    return {"model": model, **result}
