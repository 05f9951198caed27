"""Agreement of many images at once: the figures of db.agreement.image_agreement (same pairs, scores, consensus,
scores against it and sums), computed for detection as numpy arrays across the images (candidate box pairs, their
IoU, the matchings, the clusters and their averages); the rarer pair of labellers where a box has two candidates is
matched by scipy's linear_sum_assignment on the weights db.agreement._assign gives it. Classification, and an input
that is not plain boxes, go image by image. Submissions come as stored: (user, items), an item [label] or
[label, x, y, w, h].
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from db.agreement import SEP, ImageAgreement, Labelled, Submission, image_agreement

Stored = tuple[str, Sequence[Sequence[Any]]]  # (user, items as stored)
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass
class BatchAgreement:
    """Per image (in input order): score, whether it has a consensus, pairs ([a, b, score], a < b), scores against
    the consensus, and its sums (db.agreement.ImageAgreement.sums)."""

    scores: list[float]
    agreed: list[bool]
    pairs: list[list[list[Any]]]
    vs_consensus: list[dict[str, float]]
    sums: list[dict[str, float]]
    consensus: Callable[[int], list[Labelled] | None]  # image n's consensus, built on demand
    _keys: dict[str, int] = field(default_factory=dict)  # sum key -> id (vectorised batches)
    _entries: tuple[Ints, Ints, Floats] | None = None  # (image, key id, value) of every sum, by image

    def image(self, n: int) -> ImageAgreement:
        return ImageAgreement(self.scores[n], self.consensus(n), {(a, b): s for a, b, s in self.pairs[n]},
                              self.vs_consensus[n], self.sums[n])

    def moved(self, old: Sequence[dict[str, float] | None]) -> dict[str, float]:
        """The totals' change: every image's sums minus its `old` ones, added image by image (new, then old) as
        a save would, so each total is the same float."""
        if self._entries is None:
            out: dict[str, float] = {}
            for sums, before in zip(self.sums, old, strict=True):
                for key, value in sums.items():
                    out[key] = out.get(key, 0.0) + value
                for key, value in (before or {}).items():
                    out[key] = out.get(key, 0.0) - value
            return out
        keys = self._keys
        img, kid, val = self._entries
        olds = [before or {} for before in old]
        o_keys = list(itertools.chain.from_iterable(map(dict.keys, olds)))
        for key in set(o_keys) - keys.keys():
            keys[key] = len(keys)
        o_kid = np.fromiter(map(keys.__getitem__, o_keys), dtype=np.int64, count=len(o_keys))
        o_val = -np.fromiter(itertools.chain.from_iterable(map(dict.values, olds)), dtype=np.float64,
                             count=len(o_keys))
        o_img = np.repeat(np.arange(len(olds)), np.fromiter(map(len, olds), dtype=np.int64, count=len(olds)))
        order = np.argsort(np.concatenate([img * 2, o_img * 2 + 1]), kind="stable")
        kids = np.concatenate([kid, o_kid])[order]
        total = np.bincount(kids, weights=np.concatenate([val, o_val])[order], minlength=len(keys))
        seen = np.bincount(kids, minlength=len(keys)) > 0
        names = list(keys)
        return {names[k]: v for k, v in zip(np.flatnonzero(seen).tolist(), total[seen].tolist(), strict=True)}


def batch_agreement(task: str, images: Sequence[Sequence[Stored]], *, iou_threshold: float, multi_label: bool,
                    days: Sequence[str]) -> BatchAgreement:
    """Agreement of each image's submissions (at least two, one per labeller), `days[n]` being image n's day."""
    if task != "CLASSIFICATION" and images:
        batch = _Detection(images, iou_threshold, days)
        if batch.plain:
            return batch.result()
    return _one_by_one(task, images, iou_threshold, multi_label, days)


def _one_by_one(task: str, images: Sequence[Sequence[Stored]], threshold: float, multi_label: bool,
                days: Sequence[str]) -> BatchAgreement:
    """image_agreement image by image, its results in a BatchAgreement."""
    results = [image_agreement(task, [Submission(u, tuple((i[0], tuple(i[1:5]) if len(i) == 5 else None)
                                                          for i in items)) for u, items in subs],
                               iou_threshold=threshold, multi_label=multi_label, day=day)
               for subs, day in zip(images, days, strict=True)]
    return BatchAgreement([r.score for r in results], [r.consensus is not None for r in results],
                          [[[a, b, s] for (a, b), s in r.pairs.items()] for r in results],
                          [r.vs_consensus for r in results], [r.sums for r in results],
                          lambda n: results[n].consensus)


def _ends(sorted_key: Ints) -> Ints:
    """For each position of a sorted array, the position after its run of equal values."""
    n = len(sorted_key)
    start = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) if n else np.zeros(0, dtype=np.int64)
    size = np.diff(np.r_[start, n])
    return np.repeat(start + size, size)


def _after(first: Ints, end: Ints) -> tuple[Ints, Ints]:
    """Every (p, q) with first[p] <= q < end[p], by p then q."""
    count = end - first
    p = np.repeat(np.arange(len(first)), count)
    q = np.repeat(first, count) + np.arange(len(p)) - np.repeat(np.cumsum(count) - count, count)
    return p, q


class _Detection:
    """One batch of detection images: submissions ordered image by image, labeller by labeller (by name, as
    image_agreement orders them), their boxes in that order. `plain`: every item a box and every labeller once per
    image, else the batch goes image by image."""

    def __init__(self, images: Sequence[Sequence[Stored]], threshold: float, days: Sequence[str]) -> None:
        self.threshold, self.days = threshold, list(days)
        subs = [s for image in images for s in image]
        self.per_image = np.fromiter(map(len, images), dtype=np.int64, count=len(images))  # labellers of each
        self.sub_image = np.repeat(np.arange(len(images)), self.per_image)
        users: list[str] = list(map(itemgetter(0), subs))
        self.user_names = sorted(set(users))
        code = {u: n for n, u in enumerate(self.user_names)}
        user = np.fromiter(map(code.__getitem__, users), dtype=np.int64, count=len(users))
        order = np.lexsort((user, self.sub_image))  # stable, as image_agreement's sort
        self.user = user[order]
        if (np.diff(order) != 1).any():  # not stored in that order already
            subs = [subs[k] for k in order.tolist()]
        self.first_sub = np.cumsum(self.per_image) - self.per_image
        self.rank = np.arange(len(subs)) - self.first_sub[self.sub_image]  # a labeller's place in their image
        twice = (self.user[1:] == self.user[:-1]) & (self.sub_image[1:] == self.sub_image[:-1])
        lists = list(map(itemgetter(1), subs))
        items = list(itertools.chain.from_iterable(lists))
        self.plain = not twice.any() and set(map(len, items)) <= {5}
        if not self.plain:
            return
        self.size = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))  # boxes of each submission
        self.sub_start = np.cumsum(self.size) - self.size
        self.labels: list[str] = list(map(itemgetter(0), items))
        self.class_names = list(dict.fromkeys(self.labels))
        codes = {c: n for n, c in enumerate(self.class_names)}
        self.cls = np.fromiter(map(codes.__getitem__, self.labels), dtype=np.int64, count=len(items))
        self.boxes = np.fromiter(itertools.chain.from_iterable(map(itemgetter(1, 2, 3, 4), items)),
                                 dtype=np.float64, count=4 * len(items)).reshape(-1, 4)
        self.x, self.y, w, h = (np.ascontiguousarray(column) for column in self.boxes.T)
        self.x2, self.y2, self.area = self.x + w, self.y + h, w * h
        self.owner = np.repeat(np.arange(len(subs)), self.size)  # submission of each box
        self.image = self.sub_image[self.owner]
        # the pairs of labellers of each image, in image_agreement's order
        self.pa, self.pb = _after(np.arange(len(subs)) + 1, np.repeat(self.first_sub + self.per_image, self.per_image))
        self.n_pairs = self.per_image * (self.per_image - 1) // 2
        self.pair_start = np.cumsum(self.n_pairs) - self.n_pairs

    def _candidates(self) -> tuple[Ints, Ints]:
        """Boxes (i < j) of the same image and class, drawn by different labellers, with IoU >= the threshold,
        computed with iou_matrix's arithmetic pair by pair (the same floats)."""
        key = self.image * max(1, len(self.class_names)) + self.cls
        order = np.argsort(key, kind="stable")  # by image and class, then labeller
        group_end = _ends(key[order])
        run_end = _ends(key[order] * len(self.size) + self.owner[order])
        p, q = _after(run_end, group_end)  # with the boxes of the group's later labellers
        i, j = order[p], order[q]
        iw = np.clip(np.minimum(self.x2[i], self.x2[j]) - np.maximum(self.x[i], self.x[j]), 0, None)
        if self.threshold > 0:  # no overlap: IoU 0
            overlap = iw > 0
            i, j = i[overlap], j[overlap]
        iou = self._iou(i, j)
        ok = iou >= self.threshold
        return i[ok], j[ok]

    def _iou(self, i: Ints, j: Ints) -> Floats:
        """IoU of boxes i and j, pair by pair, with iou_matrix's arithmetic (the same floats)."""
        x, y = self.x, self.y
        iw = np.clip(np.minimum(self.x2[i], self.x2[j]) - np.maximum(x[i], x[j]), 0, None)
        ih = np.clip(np.minimum(self.y2[i], self.y2[j]) - np.maximum(y[i], y[j]), 0, None)
        inter = iw * ih
        union = self.area[i] + self.area[j] - inter
        iou: Floats = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        return iou

    def _pair_of(self, sa: Ints, sb: Ints) -> Ints:
        """The index of the pair of submissions sa < sb (same image) among all pairs, in image_agreement's order."""
        n = self.per_image[self.sub_image[sa]]
        ra, rb = self.rank[sa], self.rank[sb]
        at: Ints = self.pair_start[self.sub_image[sa]] + ra * (2 * n - ra - 1) // 2 + rb - ra - 1
        return at

    def _matches(self) -> tuple[Ints, Ints]:
        """The optimal one-to-one matching of each pair of labellers: the candidates themselves where no box has
        two of them in that pair (as in _assign), else the pair's matching by _solve."""
        i, j = self._candidates()
        oi, oj = self.owner[i], self.owner[j]
        pair = self._pair_of(oi, oj)
        width = int(self.per_image.max())
        n_box = len(self.cls)
        twice = np.zeros(len(i), dtype=bool)
        for box, other in ((i, oj), (j, oi)):
            at = box * width + self.rank[other]
            twice |= np.bincount(at, minlength=n_box * width)[at] > 1
        hard = np.bincount(pair[twice], minlength=len(self.pa)) > 0
        easy = ~hard[pair]
        si, sj = self._solve(np.flatnonzero(hard))
        return np.concatenate([i[easy], si]), np.concatenate([j[easy], sj])

    def _solve(self, pairs: Ints) -> tuple[Ints, Ints]:
        """The optimal matchings of these pairs of submissions: linear_sum_assignment on the very weights _assign
        gives it, every block's IoU computed at once with iou_matrix's arithmetic."""
        from scipy.optimize import linear_sum_assignment

        sa, sb = self.pa[pairs], self.pb[pairs]
        rows, cols = self.size[sa], self.size[sb]
        cells = rows * cols
        block = np.repeat(np.arange(len(pairs)), cells)
        k = np.arange(int(cells.sum())) - np.repeat(np.cumsum(cells) - cells, cells)
        i = self.sub_start[sa][block] + k // cols[block]
        j = self.sub_start[sb][block] + k % cols[block]
        iou = self._iou(i, j)
        allowed = (iou >= self.threshold) & (self.cls[i] == self.cls[j])
        weight = np.where(allowed, (rows + cols)[block] + iou, 0.0)
        found: list[Ints] = []
        for n, (start, end) in enumerate(itertools.pairwise([0, *np.cumsum(cells).tolist()])):
            shape = (int(rows[n]), int(cols[n]))
            r, c = linear_sum_assignment(weight[start:end].reshape(shape), maximize=True)
            at = start + r * shape[1] + c
            found.append(at[allowed[at]])
        at = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        return i[at], j[at]

    def result(self) -> BatchAgreement:
        """Pair scores, consensus, scores against it and sums of every image (image_agreement's _detection)."""
        from scipy.sparse import coo_matrix  # here: importing scipy adds about a second to a server's start
        from scipy.sparse.csgraph import connected_components

        n_img, n_subs, n_box = len(self.per_image), len(self.size), len(self.cls)
        pa, pb, n_pairs = self.pa, self.pb, self.n_pairs
        mi, mj = self._matches()
        matched = np.bincount(self._pair_of(self.owner[mi], self.owner[mj]), minlength=len(pa))
        total = self.size[pa] + self.size[pb]
        score = np.where(total == 0, 1.0, 2 * matched / np.maximum(total, 1))
        image_score = np.where(n_pairs > 0, np.bincount(self.sub_image[pa], weights=score, minlength=n_img)
                               / np.maximum(n_pairs, 1), 1.0)
        # clusters joined by the matches, kept when drawn by more than half of the image's labellers
        graph = coo_matrix((np.ones(len(mi)), (mi, mj)), shape=(n_box, n_box))
        n_comp, comp = connected_components(graph, directed=False)
        comp = comp.astype(np.int64)
        first = np.full(n_comp, n_box, dtype=np.int64)
        np.minimum.at(first, comp, np.arange(n_box))  # each cluster's first box
        width = int(self.per_image.max())
        drew = np.bincount(comp * width + self.rank[self.owner], minlength=n_comp * width).reshape(n_comp, width) > 0
        comp_image = self.image[first]
        kept = 2 * drew.sum(axis=1) > self.per_image[comp_image]
        members = np.bincount(comp, minlength=n_comp)
        mean = np.stack([np.bincount(comp, weights=self.boxes[:, d], minlength=n_comp) for d in range(4)],
                        axis=1).astype(np.float64) / np.maximum(members, 1)[:, None]
        chosen = np.flatnonzero(kept)
        chosen = chosen[np.argsort(first[chosen])]  # by first box: image by image, in consensus order
        kept_first, kept_boxes = first[chosen], mean[chosen]
        n_cons = np.bincount(comp_image[chosen], minlength=n_img)
        c, r = np.nonzero(drew[chosen])
        hits = np.bincount(self.first_sub[comp_image[chosen[c]]] + r, minlength=n_subs)
        against = self.size + n_cons[self.sub_image]
        vs = np.where(against == 0, 1.0, 2 * hits / np.maximum(against, 1))
        cons_start = np.cumsum(n_cons) - n_cons
        labels = self.labels

        def consensus(n: int) -> list[Labelled]:
            at, end = int(cons_start[n]), int(cons_start[n] + n_cons[n])
            return [(labels[b], (x, y, w, h)) for b, (x, y, w, h) in
                    zip(kept_first[at:end].tolist(), kept_boxes[at:end].tolist(), strict=True)]

        keys: dict[str, int] = {}
        entries = self._sums(keys, mi, score, vs, image_score)
        img, kid, val = entries
        flat = zip(np.array(list(keys), dtype=object)[kid].tolist(), val.tolist(), strict=True)
        sums = [dict(itertools.islice(flat, c)) for c in np.bincount(img, minlength=n_img).tolist()]
        user_of = np.array(self.user_names, dtype=object)
        pairs = list(map(list, zip(user_of[self.user[pa]].tolist(), user_of[self.user[pb]].tolist(),
                                   score.tolist(), strict=True)))
        pair_bounds = np.r_[0, np.cumsum(n_pairs)].tolist()
        sub_bounds = np.r_[0, np.cumsum(self.per_image)].tolist()
        users, vs_list = user_of[self.user].tolist(), vs.tolist()
        return BatchAgreement(
            image_score.tolist(), [True] * n_img, [pairs[a:b] for a, b in itertools.pairwise(pair_bounds)],
            [dict(zip(users[a:b], vs_list[a:b], strict=True)) for a, b in itertools.pairwise(sub_bounds)],
            sums, consensus, keys, entries)

    def _sums(self, keys: dict[str, int], mi: Ints, score: Floats, vs: Floats, image_score: Floats
              ) -> tuple[Ints, Ints, Floats]:
        """Every image's sums as (image, key id, value), image by image, each total summed in image_agreement's
        order (numpy's bincount adds its weights in order)."""
        n_img, n_subs = len(self.per_image), len(self.size)
        n_cls, n_users = max(1, len(self.class_names)), len(self.user_names)
        users, classes = self.user_names, self.class_names
        parts: list[tuple[Ints, Ints, Floats]] = []

        def add(kind: str, image: Ints, code: Ints, name: Callable[[int], str], value: npt.NDArray[Any]) -> None:
            table = np.zeros(int(code.max()) + 1 if len(code) else 0, dtype=np.int64)
            present = np.flatnonzero(np.bincount(code, minlength=len(table)))
            table[present] = [keys.setdefault(kind + name(c), len(keys)) for c in present.tolist()]
            parts.append((image, table[code], value.astype(np.float64)))

        def cls_name(c: int) -> str:
            return SEP + classes[c]

        def pair_name(c: int) -> str:
            return SEP + users[c // n_users] + SEP + users[c % n_users]

        def user_name(c: int) -> str:
            return SEP + users[c]

        boxes_of = np.bincount(self.image * n_cls + self.cls)  # boxes per image and class
        present = np.flatnonzero(boxes_of)
        add("class_den", present // n_cls, present % n_cls, cls_name,
            boxes_of[present] * (self.per_image[present // n_cls] - 1))
        matches_of = np.bincount(self.image[mi] * n_cls + self.cls[mi])
        present = np.flatnonzero(matches_of)
        add("class_num", present // n_cls, present % n_cls, cls_name, 2.0 * matches_of[present])
        pa, pb = self.pa, self.pb
        pair_code, pair_image = self.user[pa] * n_users + self.user[pb], self.sub_image[pa]
        add("pair_sum", pair_image, pair_code, pair_name, score)
        add("pair_n", pair_image, pair_code, pair_name, np.ones(len(pa)))
        user_sum = np.bincount(np.stack([pa, pb], axis=1).reshape(-1), weights=np.repeat(score, 2),
                               minlength=n_subs)
        in_pairs = self.per_image[self.sub_image] > 1
        sub_image, user = self.sub_image[in_pairs], self.user[in_pairs]
        add("user_sum", sub_image, user, user_name, user_sum[in_pairs])
        add("user_n", sub_image, user, user_name, self.per_image[sub_image] - 1.0)
        add("cons_sum", self.sub_image, self.user, user_name, vs)
        add("cons_n", self.sub_image, self.user, user_name, np.ones(n_subs))
        every, zero = np.arange(n_img), np.zeros(n_img, dtype=np.int64)
        add("image_sum", every, zero, lambda c: "", image_score)
        add("image_n", every, zero, lambda c: "", np.ones(n_img))
        day_names = list(dict.fromkeys(self.days))
        day_codes = {d: n for n, d in enumerate(day_names)}
        day = np.fromiter(map(day_codes.__getitem__, self.days), dtype=np.int64, count=n_img)
        add("day_sum", every, day, lambda c: SEP + day_names[c], image_score)
        add("day_n", every, day, lambda c: SEP + day_names[c], np.ones(n_img))
        img = np.concatenate([part[0] for part in parts])
        order = np.argsort(img, kind="stable")  # sorted runs, one per kind: a merge
        return (img[order], np.concatenate([part[1] for part in parts])[order],
                np.concatenate([part[2] for part in parts])[order])
