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
import numpy.typing as npt

from jobs.evaluation import Boxes, Floats, Ints, best_overlap, match_any_class

MIN_SCORE = 0.5


class Suspect(NamedTuple):
    image: int  # index into the evaluated images
    score: float
    reason: str


def _strongest(image: Ints, score: Floats) -> Ints:
    """Indices of each image's highest score at or above MIN_SCORE (the first of equals), strongest first."""
    keep = np.flatnonzero(score >= MIN_SCORE)
    order = keep[np.lexsort((-score[keep], image[keep]))]
    first = order[np.r_[True, image[order][1:] != image[order][:-1]]] if order.size else order
    return first[np.lexsort((image[first], -score[first]))]


def detection_suspects(gt: Boxes, dt: Boxes, classes: list[str]) -> list[Suspect]:
    """Images with drafts, by their strongest disagreement (an image without any draft was not seen by the model)."""
    o, match = match_any_class(gt, dt)
    flip = match >= 0
    flip[flip] = gt.cls[match[flip]] != dt.cls[o[flip]]
    ghost = match < 0
    seen = np.zeros(int(max(gt.image.max(initial=-1), dt.image.max(initial=-1))) + 1, dtype=bool)
    seen[dt.image] = True
    matched = np.zeros(gt.image.size, dtype=bool)
    matched[match[match >= 0]] = True
    unsupported = np.flatnonzero(~matched & seen[gt.image])
    overlap = best_overlap(gt, dt)[unsupported]
    # candidates: 0 a box nobody drew (draft index), 1 a class flip (draft, truth), 2 an unsupported box (truth)
    kind = np.r_[np.zeros(int(ghost.sum()), np.int64), np.ones(int(flip.sum()), np.int64),
                 np.full(unsupported.size, 2, np.int64)]
    draft = np.r_[o[ghost], o[flip], np.full(unsupported.size, -1, np.int64)]
    truth = np.r_[np.full(int(ghost.sum()), -1, np.int64), match[flip], unsupported]
    image = np.r_[dt.image[o[ghost]], dt.image[o[flip]], gt.image[unsupported]]
    score = np.r_[dt.score[o[ghost]], dt.score[o[flip]], 1.0 - overlap]
    best_overlaps = np.r_[np.zeros(int(ghost.sum() + flip.sum())), overlap]
    found = []
    for i in _strongest(image, score).tolist():
        if kind[i] == 0:
            reason = f"Confident box nobody drew: {classes[dt.cls[draft[i]]]} at {score[i]:.2f}"
        elif kind[i] == 1:
            reason = (f"Class flip: drawn {classes[gt.cls[truth[i]]]}, the model says {classes[dt.cls[draft[i]]]} "
                      f"at {score[i]:.2f}")
        else:
            reason = (f"Drawn box the model does not support: {classes[gt.cls[truth[i]]]} (best overlap "
                      f"{best_overlaps[i]:.2f})")
        found.append(Suspect(int(image[i]), float(score[i]), reason))
    return found


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
    images = np.flatnonzero(top_cls >= 0)
    found = []
    for i in images[_strongest(images, 1.0 - given[images])].tolist():
        t, c = classes[truth[i]], int(top_cls[i])
        if c != truth[i] and top_p[i] > given[i]:
            reason = f"Class flip: labelled {t}, the model says {classes[c]} at {top_p[i]:.2f}"
        else:
            reason = f"The model gives the labelled {t} a low probability: {given[i]:.2f}"
        found.append(Suspect(i, 1.0 - float(given[i]), reason))
    return found


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: a well-spread 64-bit hash of each value."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def labels_keys(image: Ints, label: list[str], box: Floats, n_images: int) -> list[str]:
    """A fingerprint of each image's human labels (rows: image index, label, x, y, w, h; -1 without a box): the sum
    of the rows' 64-bit hashes and their count, so the order of rows does not matter. A verdict holds while it is
    unchanged."""
    names, which = np.unique(np.array(label, dtype=object).astype(str), return_inverse=True)
    name_hash = np.array([int.from_bytes(hashlib.sha1(n.encode()).digest()[:8], "little") for n in names.tolist()],
                         dtype=np.uint64)
    h = name_hash[which.ravel()] if names.size else np.empty(0, np.uint64)
    for k in range(4):
        h = _mix(h ^ np.round(box[:, k] * 1e6).astype(np.int64).view(np.uint64))
    total = np.zeros(n_images, dtype=np.uint64)
    np.add.at(total, image, h)
    count = np.bincount(image, minlength=n_images)
    return [f"{t:016x}{c:08x}" for t, c in zip(total.tolist(), count.tolist(), strict=True)]
