"""Model evaluation against the human labels, vectorised with numpy. Detection follows COCO's definition (COCOeval):
per image and class the 100 most confident predictions matched greedily to the best free ground-truth box at ten
IoU thresholds, boxes outside an area range ignored, precision sampled at 101 recall points; plus an IoU-matched
confusion matrix with a "missed" column and a "background" row. Classification: accuracy, per-class precision,
recall and F1, and a confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
AREAS = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
MAX_DETECTIONS = 100
CONFUSION_IOU = 0.5

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Boxes:
    """Boxes of many images: image index, class index, pixel x, y, w, h; score for predictions (else ones)."""

    image: Ints
    cls: Ints
    xywh: Floats  # (n, 4)
    score: Floats

    @property
    def area(self) -> Floats:
        return self.xywh[:, 2] * self.xywh[:, 3]


def _order(b: Boxes) -> Ints:
    """Predictions by image, class, then score (highest first; equal scores in their given order), as COCOeval."""
    return np.lexsort((np.arange(b.image.size), -b.score, b.cls, b.image))


def _rank_within(keys: Ints) -> Ints:
    """0, 1, 2... within each run of equal keys (keys sorted)."""
    n = keys.size
    if n == 0:
        return np.empty(0, np.int64)
    start = np.r_[True, keys[1:] != keys[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    return np.arange(n) - first


def _pairs(gt_group: Ints, dt_group: Ints) -> tuple[Ints, Ints]:
    """Every (prediction, truth) index pair that shares a group (an image and class, or an image)."""
    g_order = np.argsort(gt_group, kind="stable")
    g_sorted = gt_group[g_order]
    lo = np.searchsorted(g_sorted, dt_group, side="left")
    hi = np.searchsorted(g_sorted, dt_group, side="right")
    n = hi - lo
    d = np.repeat(np.arange(dt_group.size), n)
    within = np.arange(d.size) - np.repeat(np.cumsum(n) - n, n)
    return d, g_order[np.repeat(lo, n) + within]


def _iou(a: Floats, b: Floats) -> Floats:
    """IoU of row-aligned boxes (x, y, w, h), as COCO computes it (no +1)."""
    x1, y1 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _by_rank(rank: Ints, p_dt: Ints, key: Floats) -> tuple[Ints, Ints]:
    """The pairs sorted by their prediction's rank, the prediction, then key; and where each rank starts."""
    pair_rank = rank[p_dt]
    order = np.lexsort((key, p_dt, pair_rank))
    return order, np.searchsorted(pair_rank[order], np.arange(int(rank.max(initial=-1)) + 2))


def _greedy(order: Ints, bounds: Ints, p_dt: Ints, p_gt: Ints, n_dt: int, n_gt: int, ok: npt.NDArray[np.bool_]
            ) -> Ints:
    """For each prediction in rank order (all groups at once, one rank per step), the free truth with the highest key
    among its allowed pairs (order: see _by_rank); -1 when none. Returns the matched truth of each prediction."""
    match = np.full(n_dt, -1, dtype=np.int64)
    taken = np.zeros(n_gt, dtype=bool)
    for r in range(bounds.size - 1):
        sel = order[bounds[r]:bounds[r + 1]]
        sel = sel[ok[sel] & ~taken[p_gt[sel]]]
        if sel.size == 0:
            continue
        best = sel[np.r_[p_dt[sel][1:] != p_dt[sel][:-1], True]]  # each prediction's last (highest key) pair
        match[p_dt[best]] = p_gt[best]
        taken[p_gt[best]] = True
    return match


def detection(gt: Boxes, dt: Boxes, n_classes: int) -> dict[str, Any]:
    """COCO bbox metrics and the confusion matrix. Images are numbered in the order COCOeval would take them."""
    o = _order(dt)
    dt = Boxes(dt.image[o], dt.cls[o], dt.xywh[o], dt.score[o])

    def group_of(b: Boxes) -> Ints:
        return b.image * n_classes + b.cls

    rank = _rank_within(group_of(dt))
    keep = rank < MAX_DETECTIONS
    dt = Boxes(dt.image[keep], dt.cls[keep], dt.xywh[keep], dt.score[keep])
    rank = rank[keep]
    p_dt, p_gt = _pairs(group_of(gt), group_of(dt))
    iou = _iou(dt.xywh[p_dt], gt.xywh[p_gt])
    near = iou >= IOU_THRESHOLDS[0]  # a pair below the lowest threshold never matches
    p_dt, p_gt, iou = p_dt[near], p_gt[near], iou[near]
    gt_order = np.arange(gt.image.size, dtype=np.float64) / max(1, gt.image.size)  # ties: the later truth, as COCO
    # precision[t, r, k, a] and recall[t, k, a] as COCOeval.accumulate (maxDets 100); -1 where a class has no truth
    precision = -np.ones((IOU_THRESHOLDS.size, RECALL_POINTS.size, n_classes, len(AREAS)))
    recall = -np.ones((IOU_THRESHOLDS.size, n_classes, len(AREAS)))
    counts = {}  # per class at IoU 0.5, area all: true positives, predictions, truths
    # per class, predictions by score (highest first), equal scores in image order: COCOeval's mergesort
    by_score = np.lexsort((np.arange(dt.cls.size), -dt.score, dt.cls))
    for a, (lo, hi) in enumerate(AREAS.values()):
        gt_ignored = (gt.area < lo) | (gt.area > hi)
        dt_outside = (dt.area < lo) | (dt.area > hi)
        preferred = (~gt_ignored[p_gt]).astype(np.float64) * 2  # a truth in range before any ignored one
        order, bounds = _by_rank(rank, p_dt, preferred + iou + gt_order[p_gt] * 1e-12)
        for t, threshold in enumerate(IOU_THRESHOLDS):
            ok = iou >= min(threshold, 1 - 1e-10)
            match = _greedy(order, bounds, p_dt, p_gt, dt.image.size, gt.image.size, ok)
            matched = match >= 0
            ignored = np.where(matched, gt_ignored[np.maximum(match, 0)], dt_outside)
            _accumulate(precision, recall, t, a, dt, by_score, matched, ignored, gt.cls[~gt_ignored], n_classes)
            if a == 0 and t == 0:
                tp = np.bincount(dt.cls[matched], minlength=n_classes)
                counts = {"tp": tp, "predicted": np.bincount(dt.cls, minlength=n_classes),
                          "truth": np.bincount(gt.cls, minlength=n_classes)}
    return {"precision": precision, "recall": recall, **counts,
            "confusion": confusion(gt, dt, n_classes)}


def _accumulate(precision: Floats, recall: Floats, t: int, a: int, dt: Boxes, order: Ints,
                matched: npt.NDArray[np.bool_], ignored: npt.NDArray[np.bool_], gt_cls: Ints, n_classes: int) -> None:
    truths = np.bincount(gt_cls, minlength=n_classes)
    cls, hit, skip = dt.cls[order], matched[order], ignored[order]
    starts = np.searchsorted(cls, np.arange(n_classes + 1))
    for k in range(n_classes):
        if truths[k] == 0:
            continue
        h, s = hit[starts[k]:starts[k + 1]], skip[starts[k]:starts[k + 1]]
        tp = np.cumsum(h & ~s, dtype=np.float64)
        fp = np.cumsum(~h & ~s, dtype=np.float64)
        if tp.size == 0:
            precision[t, :, k, a] = 0.0
            recall[t, k, a] = 0.0
            continue
        rc = tp / truths[k]
        pr = tp / (fp + tp + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1]
        idx = np.searchsorted(rc, RECALL_POINTS, side="left")
        precision[t, :, k, a] = np.where(idx < pr.size, pr[np.minimum(idx, pr.size - 1)], 0.0)
        recall[t, k, a] = rc[-1]


def match_any_class(gt: Boxes, dt: Boxes) -> tuple[Ints, Ints]:
    """The matching the confusion matrix counts: each prediction, most confident first, takes the free truth box it
    overlaps most (IoU >= CONFUSION_IOU) in its image, whatever the classes. Returns the predictions' order (indices
    into dt) and, in that order, each one's matched truth index (-1: none)."""
    o = np.lexsort((np.arange(dt.image.size), -dt.score, dt.image))
    d_img, d_box = dt.image[o], dt.xywh[o]
    p_dt, p_gt = _pairs(gt.image, d_img)
    iou = _iou(d_box[p_dt], gt.xywh[p_gt])
    near = iou >= CONFUSION_IOU
    p_dt, p_gt, iou = p_dt[near], p_gt[near], iou[near]
    order, bounds = _by_rank(_rank_within(d_img), p_dt, iou)
    return o, _greedy(order, bounds, p_dt, p_gt, d_img.size, gt.image.size, np.ones(iou.size, dtype=bool))


def best_overlap(gt: Boxes, dt: Boxes) -> Floats:
    """Each truth box's highest IoU with any prediction in its image (0 when none)."""
    p_dt, p_gt = _pairs(dt.image, gt.image)
    best = np.zeros(gt.image.size)
    np.maximum.at(best, p_dt, _iou(gt.xywh[p_dt], dt.xywh[p_gt]))
    return best


def confusion(gt: Boxes, dt: Boxes, n_classes: int) -> Ints:
    """Rows: the true class, then "background" (a prediction no truth box overlaps at IoU 0.5); columns: the
    predicted class, then "missed" (a truth box no prediction found). Matching ignores classes: each prediction, most
    confident first, takes the free truth box it overlaps most in its image."""
    o, match = match_any_class(gt, dt)
    d_cls = dt.cls[o]
    m = np.zeros((n_classes + 1, n_classes + 1), dtype=np.int64)
    hit = match >= 0
    np.add.at(m, (gt.cls[match[hit]], d_cls[hit]), 1)
    np.add.at(m, (np.full(int((~hit).sum()), n_classes), d_cls[~hit]), 1)
    found = np.zeros(gt.image.size, dtype=bool)
    found[match[hit]] = True
    np.add.at(m, (gt.cls[~found], np.full(int((~found).sum()), n_classes)), 1)
    return m


def summary(result: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    """The stored evaluation: COCO's headline numbers, per class AP, precision, recall and F1 (at IoU 0.5, every
    prediction kept), the PR curves at IoU 0.5 and the confusion matrix."""
    p, r = result["precision"], result["recall"]

    def mean(x: Floats) -> float | None:
        valid = x[x > -1]
        return float(valid.mean()) if valid.size else None

    per_class = []
    for k, name in enumerate(classes):
        tp, predicted, truth = int(result["tp"][k]), int(result["predicted"][k]), int(result["truth"][k])
        prec = tp / predicted if predicted else None
        rec = tp / truth if truth else None
        f1 = 2 * prec * rec / (prec + rec) if prec is not None and rec is not None and prec + rec > 0 else None
        per_class.append({"label": name, "truth": truth, "predicted": predicted, "truePositives": tp,
                          "precision": prec, "recall": rec, "f1": f1, "ap50": mean(p[0, :, k, 0]),
                          "ap": mean(p[:, :, k, 0]),
                          "prCurve": [round(float(v), 4) for v in p[0, :, k, 0]] if truth else []})
    return {"taskType": "DETECTION", "ap": mean(p[:, :, :, 0]), "ap50": mean(p[0, :, :, 0]),
            "ap75": mean(p[5, :, :, 0]), "apSmall": mean(p[:, :, :, 1]), "apMedium": mean(p[:, :, :, 2]),
            "apLarge": mean(p[:, :, :, 3]), "recall": mean(r[:, :, 0]), "classes": per_class,
            "confusion": {"labels": classes, "matrix": result["confusion"].tolist()}}


def classification(truth: Ints, predicted: Ints, n_classes: int, classes: list[str]) -> dict[str, Any]:
    """Single-label: each labelled image's class against the model's most confident class (-1: no prediction, the
    "missed" column)."""
    m = np.zeros((n_classes, n_classes + 1), dtype=np.int64)
    np.add.at(m, (truth, np.where(predicted < 0, n_classes, predicted)), 1)
    per_class = []
    for k, name in enumerate(classes):
        tp, col, row = int(m[k, k]), int(m[:, k].sum()), int(m[k].sum())
        prec = tp / col if col else None
        rec = tp / row if row else None
        f1 = 2 * prec * rec / (prec + rec) if prec is not None and rec is not None and prec + rec > 0 else None
        per_class.append({"label": name, "truth": row, "predicted": col, "truePositives": tp, "precision": prec,
                          "recall": rec, "f1": f1, "ap50": None, "ap": None, "prCurve": []})
    return {"taskType": "CLASSIFICATION", "accuracy": float((truth == predicted).mean()) if truth.size else None,
            "classes": per_class, "confusion": {"labels": classes, "matrix": m.tolist()}}
