"""EVALUATE: score one model's drafts on a project's labelled images against the human labels (jobs.evaluation) and
store the result as the job's result: COCO AP, per-class precision, recall and F1, PR curves and a confusion matrix
for detection; accuracy, per-class precision, recall and F1 and a confusion matrix for classification. It also ranks
the likely label errors (jobs.label_errors) into the review queue (db.label_errors)."""

from __future__ import annotations

import asyncio
from operator import itemgetter
from typing import Any

import numpy as np

from db import evaluation as evaluation_rows
from db import gc_pause
from db import label_errors as suspect_rows
from db.evaluation import EvaluationData
from db.label_errors import Found
from jobs.context import JobContext
from jobs.evaluation import Boxes, classification, detection, summary
from jobs.label_errors import Suspect, classification_suspects, detection_suspects, labels_keys


def _column(rows: list[Any], k: int, dtype: Any) -> np.ndarray:
    return np.fromiter(map(itemgetter(k), rows), dtype=dtype, count=len(rows))


def as_columns(data: EvaluationData) -> dict[str, np.ndarray]:
    """The rows of labelled images as numpy columns: image index, class index (-1: not a project class), box,
    confidence, draft. Column by column from the rows: no tuple of millions is built."""
    ids = np.array([s[0] for s in data.samples], dtype=np.int64)
    rows = data.annotations
    sample = _column(rows, 0, np.int64)
    image = np.searchsorted(ids, sample)
    labelled = (image < ids.size) & (ids[np.minimum(image, ids.size - 1)] == sample) if ids.size else \
        np.zeros(len(rows), dtype=bool)
    names: dict[str, int] = {}  # each distinct label's code, in order of appearance
    code = np.fromiter((names.setdefault(r[1], len(names)) for r in rows), dtype=np.int64, count=len(rows))
    lookup = {c: k for k, c in enumerate(data.classes)}
    cls = np.array([lookup.get(str(n), -1) for n in names], dtype=np.int64)[code]
    keep = labelled & (cls >= 0)
    box = np.column_stack([_column(rows, k, np.float64) for k in (2, 3, 4, 5)]).reshape(-1, 4)
    return {"image": image[keep], "cls": cls[keep], "box": box[keep],
            "score": _column(rows, 6, np.float64)[keep], "draft": _column(rows, 7, bool)[keep]}


def _boxes(c: dict[str, np.ndarray], size: np.ndarray, draft: bool) -> Boxes:
    """Boxes in pixels (images of unknown size count as 1x1: the area ranges other than "all" see them as small)."""
    keep = (c["draft"] == draft) & (c["box"][:, 0] >= 0)
    image = c["image"][keep]
    wh = size[image]
    return Boxes(image, c["cls"][keep], c["box"][keep] * np.c_[wh, wh], c["score"][keep])


def _sizes(data: EvaluationData) -> np.ndarray:
    return np.array([(float(s[1] or 1), float(s[2] or 1)) for s in data.samples], dtype=np.float64).reshape(-1, 2)


def _truth(c: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Each image's class for classification (-1: none; a multi-label image counts by its first label)."""
    truth = np.full(n, -1, dtype=np.int64)
    human = np.flatnonzero(~c["draft"])[::-1]  # written last wins
    truth[c["image"][human]] = c["cls"][human]
    return truth


def likely_errors(data: EvaluationData, columns: dict[str, np.ndarray] | None = None) -> list[Found]:
    """On a worker thread: the images whose labels the model disagrees with (jobs.label_errors), with the
    fingerprint of their human labels. `columns`: the evaluation's (as_columns), when already made."""
    c = as_columns(data) if columns is None else columns
    found: list[Suspect]
    if data.task_type == "DETECTION":
        size = _sizes(data)
        found = detection_suspects(_boxes(c, size, False), _boxes(c, size, True), data.classes)
    else:
        d = c["draft"]
        found = classification_suspects(_truth(c, len(data.samples)), c["image"][d], c["cls"][d], c["score"][d],
                                        data.classes)
    keys = _human_keys(data)
    return [Found(int(data.samples[s.image][0]), s.score, s.reason, keys[s.image]) for s in found]


def _human_keys(data: EvaluationData) -> list[str]:
    """The fingerprint of each labelled image's human labels (every label, also those of no project class)."""
    ids = np.array([s[0] for s in data.samples], dtype=np.int64)
    human = [r for r in data.annotations if not r[7]]
    if not human or not ids.size:
        return labels_keys(np.empty(0, np.int64), [], np.empty((0, 4)), ids.size)
    sample = _column(human, 0, np.int64)
    image = np.searchsorted(ids, sample)
    here = (image < ids.size) & (ids[np.minimum(image, ids.size - 1)] == sample)
    box = np.column_stack([_column(human, k, np.float64) for k in (2, 3, 4, 5)])
    return labels_keys(image[here], [r[1] for r, k in zip(human, here.tolist(), strict=True) if k], box[here],
                       ids.size)


def evaluate(data: EvaluationData, columns: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """On a worker thread: the metrics of the task."""
    c = as_columns(data) if columns is None else columns
    counts = {"images": len(data.samples), "imagesWithPredictions": int(np.unique(c["image"][c["draft"]]).size),
              "labels": int((~c["draft"]).sum()), "predictions": int(c["draft"].sum())}
    if data.task_type == "DETECTION":
        size = _sizes(data)
        gt, dt = _boxes(c, size, False), _boxes(c, size, True)
        return {**counts, **summary(detection(gt, dt, len(data.classes)), data.classes)}
    n = len(data.samples)
    truth = _truth(c, n)
    best = np.full(n, -1, dtype=np.int64)
    drafts = np.flatnonzero(c["draft"])
    drafts = drafts[np.argsort(c["score"][drafts], kind="stable")]  # the most confident written last
    best[c["image"][drafts]] = c["cls"][drafts]
    labelled = truth >= 0
    return {**counts, **classification(truth[labelled], best[labelled], len(data.classes), data.classes)}


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    model = str(ctx.params["model"])
    await ctx.progress(0, 3, force=True)
    data = await ctx.db.read(evaluation_rows.evaluation_data, ctx.project_id, model)
    await ctx.progress(1, 3, force=True)
    columns = await asyncio.to_thread(gc_pause.call, as_columns, data)
    result = await asyncio.to_thread(gc_pause.call, evaluate, data, columns)
    await ctx.progress(2, 3, force=True)
    found = await asyncio.to_thread(gc_pause.call, likely_errors, data, columns)
    waiting = await ctx.db.write(suspect_rows.store_suspects, ctx.project_id, model, found)
    await ctx.progress(3, 3, force=True)
    return {"model": model, **result, "likelyErrors": waiting}
