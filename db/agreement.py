"""Inter-annotator agreement and consensus of one image's submissions: pure functions, no database.

Classification: exact label-set match per pair of labellers, and Krippendorff's alpha (nominal) over the project.
Alpha, not Fleiss' kappa, because labellers differ from image to image and not every image has the same number of
them: alpha takes any number of raters per unit and missing ratings, and it is additive over images (its
coincidence matrix is a sum of per-image terms), so it stays current after every save without a rescan.
Detection: boxes of two labellers matched one-to-one on IoU >= a threshold (same class only) by an optimal
assignment (scipy's linear_sum_assignment), scored as F1 = 2 matched / (boxes of one + boxes of the other).
Per-class figures are the same F1 counted per class (for classification, the specific agreement of a label).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

SEP = "\x1f"  # joins two names in a sum's key (a pair of labellers, a pair of label sets)
Box = tuple[float, float, float, float]
Labelled = tuple[str, Box | None]  # (label, box); the box is None for a classification label
Sums = defaultdict[str, float]


@dataclass(frozen=True)
class Submission:
    user: str
    items: tuple[Labelled, ...]  # classification: labels (box None); detection: boxes


@dataclass
class ImageAgreement:
    """One image's agreement: its score (mean over pairs), the consensus, and the sums it adds to its project's
    totals (`sums`, additive: a project's figures are ratios of these totals, kept current by adding the new
    sums of an image and subtracting its old ones)."""

    score: float
    consensus: list[Labelled] | None  # None: no majority (a single-label image whose labellers all differ)
    pairs: dict[tuple[str, str], float]
    vs_consensus: dict[str, float]
    sums: dict[str, float] = field(default_factory=dict)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of a (n x 4: x y w h) with every box of b (m x 4)."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None, :]) - np.maximum(a[:, 0][:, None], b[:, 0][None, :]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None, :]) - np.maximum(a[:, 1][:, None], b[:, 1][None, :]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_boxes(a: Sequence[Labelled], b: Sequence[Labelled], threshold: float) -> list[tuple[int, int]]:
    """The one-to-one matching of a's boxes to b's (same label, IoU >= threshold) with the most pairs, and of those
    the largest total IoU."""
    if not a or not b:
        return []
    iou = iou_matrix(np.array([x[1] for x in a], dtype=float), np.array([x[1] for x in b], dtype=float))
    same = np.array([x[0] for x in a], dtype=object)[:, None] == np.array([x[0] for x in b], dtype=object)[None, :]
    return _assign(same & (iou >= threshold), iou)


def _assign(allowed: np.ndarray, iou: np.ndarray) -> list[tuple[int, int]]:
    """The optimal matching where `allowed`: the most matches first (a weight above any total IoU), then the
    largest total IoU. Where no box has two candidates, the candidates are the matching (no solver needed)."""
    if not allowed.any():
        return []
    if allowed.sum(axis=0).max() <= 1 and allowed.sum(axis=1).max() <= 1:
        rows, cols = np.nonzero(allowed)
        return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True)]
    from scipy.optimize import linear_sum_assignment  # here: importing scipy adds about a second to a server's start

    weight = np.where(allowed, allowed.shape[0] + allowed.shape[1] + iou, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if allowed[i, j]]


def _detection(ordered: Sequence[Submission], threshold: float, sums: Sums
               ) -> tuple[dict[tuple[str, str], float], list[Labelled], dict[str, float]]:
    """Pair scores, consensus and each labeller's score against it, from one IoU matrix of all the image's boxes.
    The consensus clusters boxes joined by the pairs' matches; a cluster drawn by more than half of the labellers
    is kept, its boxes averaged. A labeller matches the consensus once per kept cluster they drew in."""
    owner = [k for k, s in enumerate(ordered) for _ in s.items]
    items = [item for s in ordered for item in s.items]
    box_list = [cast(Box, box) for _, box in items]  # detection: every item has its box
    start = [0]
    for s in ordered:
        start.append(start[-1] + len(s.items))
    for label, _ in items:
        sums["class_den" + SEP + label] += len(ordered) - 1  # each box counts once in each of its pairs
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs: dict[tuple[str, str], float] = {}
    if items:
        boxes = np.array(box_list, dtype=float)
        codes = {label: n for n, label in enumerate(dict.fromkeys(label for label, _ in items))}
        labels = np.array([codes[label] for label, _ in items])
        iou = iou_matrix(boxes, boxes)
        allowed = (iou >= threshold) & (labels[:, None] == labels[None, :])
    for (ka, a), (kb, b) in itertools.combinations(enumerate(ordered), 2):
        total = len(a.items) + len(b.items)
        matched: list[tuple[int, int]] = []
        if a.items and b.items:
            ra, rb = slice(start[ka], start[ka + 1]), slice(start[kb], start[kb + 1])
            matched = _assign(allowed[ra, rb], iou[ra, rb])
        for i, j in matched:
            sums["class_num" + SEP + a.items[i][0]] += 2
            parent[root(start[ka] + i)] = root(start[kb] + j)
        pairs[(a.user, b.user)] = 1.0 if total == 0 else 2 * len(matched) / total
    clusters: dict[int, list[int]] = {}
    for i in range(len(items)):
        clusters.setdefault(root(i), []).append(i)
    half = len(ordered) / 2
    consensus: list[Labelled] = []
    hits = [0] * len(ordered)
    for members in sorted(clusters.values()):
        drew = {owner[i] for i in members}
        if len(drew) > half:
            n = len(members)
            drawn = [box_list[i] for i in members]
            consensus.append((items[members[0]][0], (sum(b[0] for b in drawn) / n, sum(b[1] for b in drawn) / n,
                                                     sum(b[2] for b in drawn) / n, sum(b[3] for b in drawn) / n)))
            for k in drew:
                hits[k] += 1
    vs_consensus = {}
    for k, s in enumerate(ordered):
        total = len(s.items) + len(consensus)
        vs_consensus[s.user] = 1.0 if total == 0 else 2 * hits[k] / total
    return pairs, consensus, vs_consensus


def _pair_classification(a: Sequence[Labelled], b: Sequence[Labelled], sums: Sums) -> float:
    sa, sb = {x[0] for x in a}, {x[0] for x in b}
    for label in sa & sb:
        sums["class_num" + SEP + label] += 2
    for label in itertools.chain(sa, sb):
        sums["class_den" + SEP + label] += 1
    return 1.0 if sa == sb else 0.0


def set_key(items: Sequence[Labelled]) -> str:
    """A classification submission as one nominal value: its label set."""
    return "|".join(sorted({x[0] for x in items}))


def coincidences(values: Sequence[str]) -> defaultdict[tuple[str, str], float]:
    """One unit's contribution to Krippendorff's coincidence matrix: every ordered pair of its m values, 1/(m-1)
    each (a unit with fewer than two values is not pairable and adds nothing)."""
    out: defaultdict[tuple[str, str], float] = defaultdict(float)
    m = len(values)
    if m < 2:
        return out
    for i, j in itertools.permutations(range(m), 2):
        out[(values[i], values[j])] += 1 / (m - 1)
    return out


def alpha_of(coincidence: Mapping[tuple[str, str], float]) -> float | None:
    """Nominal Krippendorff's alpha from a coincidence matrix: 1 - (n-1) D_o / sum_{c != k} n_c n_k; None when it
    is undefined (nothing pairable, or one value only: no variation to agree on)."""
    totals: defaultdict[str, float] = defaultdict(float)
    for (c, _), o in coincidence.items():
        totals[c] += o
    n = sum(totals.values())
    disagree = sum(o for (c, k), o in coincidence.items() if c != k)
    expected = n * n - sum(v * v for v in totals.values())
    if n <= 1 or expected <= 1e-12:
        return None
    return 1.0 - (n - 1) * disagree / expected


def majority_labels(subs: Sequence[Submission], multi_label: bool) -> list[Labelled] | None:
    """The labels more than half of the labellers chose; None for a single-label image without exactly one."""
    half = len(subs) / 2
    votes = Counter(label for s in subs for label in {x[0] for x in s.items})
    chosen = sorted(label for label, n in votes.items() if n > half)
    if not multi_label and len(chosen) != 1:
        return None
    return [(label, None) for label in chosen]


def image_agreement(task: str, subs: Sequence[Submission], *, iou_threshold: float, multi_label: bool,
                    day: str) -> ImageAgreement:
    """Agreement of one image's submissions (at least two, one per labeller) and its sums for the project totals:
    pair_sum/pair_n per pair, user_sum/user_n (vs the others), cons_sum/cons_n (vs the consensus),
    class_num/class_den per class, image_sum/image_n, day_sum/day_n, and coinc (alpha's coincidences)."""
    sums: Sums = defaultdict(float)
    ordered = sorted(subs, key=lambda s: s.user)
    consensus: list[Labelled] | None
    if task == "CLASSIFICATION":
        pairs = {(a.user, b.user): _pair_classification(a.items, b.items, sums)
                 for a, b in itertools.combinations(ordered, 2)}
        consensus = majority_labels(ordered, multi_label)
        vs_consensus: dict[str, float] = {}
        if consensus is not None:
            vs_consensus = {s.user: _pair_classification(s.items, consensus, defaultdict(float)) for s in ordered}
    else:
        pairs, consensus, vs_consensus = _detection(ordered, iou_threshold, sums)
    for (a_user, b_user), score in pairs.items():
        key = a_user + SEP + b_user
        sums["pair_sum" + SEP + key] += score
        sums["pair_n" + SEP + key] += 1
        for u in (a_user, b_user):
            sums["user_sum" + SEP + u] += score
            sums["user_n" + SEP + u] += 1
    score = sum(pairs.values()) / len(pairs) if pairs else 1.0
    for user, against in vs_consensus.items():
        sums["cons_sum" + SEP + user] += against
        sums["cons_n" + SEP + user] += 1
    sums["image_sum"] += score
    sums["image_n"] += 1
    sums["day_sum" + SEP + day] += score
    sums["day_n" + SEP + day] += 1
    if task == "CLASSIFICATION":
        for (c, k), o in coincidences([set_key(s.items) for s in ordered]).items():
            sums["coinc" + SEP + c + SEP + k] += o
    return ImageAgreement(score, consensus, pairs, vs_consensus, dict(sums))


@dataclass(frozen=True)
class Figures:
    """A project's agreement read from its totals: means of the per-pair scores (None where nothing was counted)."""

    images: int
    score: float | None  # mean image agreement
    alpha: float | None  # classification only
    per_labeller: dict[str, tuple[float | None, float | None, int]]  # user -> (vs others, vs consensus, pairs)
    per_class: dict[str, float | None]
    pairs: dict[tuple[str, str], tuple[float, int]]  # (a, b), a < b -> (mean score, images both labelled)
    days: dict[str, float]  # ISO day -> mean image agreement of the images completed that day


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 1e-9 else None


def figures(totals: Mapping[str, float]) -> Figures:
    """The project's figures from the sums of every image's ImageAgreement.sums."""
    by: dict[str, dict[str, float]] = {}
    for key, value in totals.items():
        kind, _, rest = key.partition(SEP)
        by.setdefault(kind, {})[rest] = value
    get = by.get
    pair_n = get("pair_n", {})
    pairs = {}
    for key, n in pair_n.items():
        if n > 0.5:
            a, _, b = key.partition(SEP)
            pairs[(a, b)] = (get("pair_sum", {}).get(key, 0.0) / n, round(n))
    users = sorted(set(get("user_n", {})) | set(get("cons_n", {})))
    per_labeller = {u: (_ratio(get("user_sum", {}).get(u, 0.0), get("user_n", {}).get(u, 0.0)),
                        _ratio(get("cons_sum", {}).get(u, 0.0), get("cons_n", {}).get(u, 0.0)),
                        round(get("user_n", {}).get(u, 0.0))) for u in users}
    per_labeller = {u: v for u, v in per_labeller.items() if v[2] > 0 or v[1] is not None}
    per_class = {c: _ratio(get("class_num", {}).get(c, 0.0), den) for c, den in get("class_den", {}).items()
                 if den > 0.5}
    days = {d: v for d, n in get("day_n", {}).items() if (v := _ratio(get("day_sum", {}).get(d, 0.0), n)) is not None}
    coinc: dict[tuple[str, str], float] = {}
    for key, o in get("coinc", {}).items():
        c, _, k = key.partition(SEP)
        coinc[(c, k)] = o
    images = round(totals.get("image_n", 0.0))
    return Figures(images, _ratio(totals.get("image_sum", 0.0), totals.get("image_n", 0.0)), alpha_of(coinc),
                   per_labeller, per_class, pairs, dict(sorted(days.items())))
