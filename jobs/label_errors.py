"""Likely label errors: each labelled image the model ran on, scored by how strongly the model disagrees with its
human labels (0..1), with the strongest reason in words. Detection reuses the evaluation's class-agnostic IoU
matching (jobs.evaluation.match_any_class): a confident prediction no drawn box matches scores its confidence, a
matched prediction of another class (a class flip) its confidence, a drawn box no prediction matches 1 - its best
IoU with any prediction. Classification: 1 - the probability the model gives the labelled class. Images below
MIN_SCORE are not raised."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from jobs.evaluation import Boxes, Floats, Ints, best_overlap, match_any_class

MIN_SCORE = 0.5


class Suspect(NamedTuple):
    image: int  # index into the evaluated images
    score: float
    reason: str


def _keep_strongest(found: dict[int, Suspect], s: Suspect) -> None:
    if s.score >= MIN_SCORE and (s.image not in found or s.score > found[s.image].score):
        found[s.image] = s


def detection_suspects(gt: Boxes, dt: Boxes, classes: list[str]) -> list[Suspect]:
    """Images with drafts, by their strongest disagreement (an image without any draft was not seen by the model)."""
    found: dict[int, Suspect] = {}
    o, match = match_any_class(gt, dt)
    for i, m in zip(o.tolist(), match.tolist(), strict=True):
        image, cls, conf = int(dt.image[i]), classes[dt.cls[i]], float(dt.score[i])
        if m < 0:
            _keep_strongest(found, Suspect(image, conf, f"Confident box nobody drew: {cls} at {conf:.2f}"))
        elif gt.cls[m] != dt.cls[i]:
            _keep_strongest(found, Suspect(image, conf, f"Class flip: drawn {classes[gt.cls[m]]}, the model says "
                                                        f"{cls} at {conf:.2f}"))
    seen = np.zeros(int(max(gt.image.max(initial=-1), dt.image.max(initial=-1))) + 1, dtype=bool)
    seen[dt.image] = True
    matched = np.zeros(gt.image.size, dtype=bool)
    matched[match[match >= 0]] = True
    overlap = best_overlap(gt, dt)
    for k in np.flatnonzero(~matched & seen[gt.image]).tolist():
        _keep_strongest(found, Suspect(int(gt.image[k]), 1.0 - float(overlap[k]),
                                       f"Drawn box the model does not support: {classes[gt.cls[k]]} (best overlap "
                                       f"{overlap[k]:.2f})"))
    return sorted(found.values(), key=lambda s: (-s.score, s.image))


def classification_suspects(truth: Ints, image: Ints, cls: Ints, score: Floats, classes: list[str]) -> list[Suspect]:
    """truth: each image's labelled class (-1: none); image, cls, score: the drafts. The model's probability of the
    labelled class is its draft's confidence for that class (0 without one)."""
    keep = truth[image] >= 0
    image, cls, score = image[keep], cls[keep], score[keep]
    given = np.zeros(truth.size)
    agrees = cls == truth[image]
    np.maximum.at(given, image[agrees], score[agrees])
    top_cls = np.full(truth.size, -1, dtype=np.int64)
    top_p = np.zeros(truth.size)
    order = np.argsort(score, kind="stable")  # the most confident written last
    top_cls[image[order]], top_p[image[order]] = cls[order], score[order]
    found: dict[int, Suspect] = {}
    for i in np.flatnonzero((top_cls >= 0) & (1.0 - given >= MIN_SCORE)).tolist():
        t, c = classes[truth[i]], int(top_cls[i])
        if c != truth[i] and top_p[i] > given[i]:
            reason = f"Class flip: labelled {t}, the model says {classes[c]} at {top_p[i]:.2f}"
        else:
            reason = f"The model gives the labelled {t} a low probability: {given[i]:.2f}"
        _keep_strongest(found, Suspect(i, 1.0 - float(given[i]), reason))
    return sorted(found.values(), key=lambda s: (-s.score, s.image))


def labels_key(rows: list[tuple[object, ...]]) -> str:
    """A fingerprint of an image's human labels (label, x, y, w, h rows): a verdict holds while it is unchanged."""
    text = repr(sorted((str(r[0]), *(round(float(v), 6) for v in r[1:5])) for r in rows))  # type: ignore[arg-type]
    return hashlib.sha1(text.encode()).hexdigest()
