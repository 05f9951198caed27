"""Agreement figures (db.agreement) against hand-worked examples and second implementations: the krippendorff
package for alpha, a brute-force matcher for the optimal box matching."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db import agreement_workers
from db.agreement import (
    ImageAgreement,
    Submission,
    alpha_of,
    coincidences,
    figures,
    image_agreement,
    iou_matrix,
    majority_labels,
    match_boxes,
    set_key,
)
from db.agreement_batch import batch_agreement


def _cls(user: str, *labels: str) -> Submission:
    return Submission(user, tuple((label, None) for label in labels))


def _det(user: str, *boxes: tuple[str, float, float, float, float]) -> Submission:
    return Submission(user, tuple((b[0], (b[1], b[2], b[3], b[4])) for b in boxes))


def _totals(images: list[list[Submission]], task: str = "CLASSIFICATION") -> dict[str, float]:
    totals: Counter[str] = Counter()
    for subs in images:
        totals.update(image_agreement(task, subs, iou_threshold=0.5, multi_label=False, day="2026-12-07").sums)
    return dict(totals)


def test_iou_by_hand() -> None:
    a = np.array([[0.0, 0.0, 0.4, 0.4]])
    b = np.array([[0.2, 0.2, 0.4, 0.4], [0.5, 0.5, 0.1, 0.1]])
    # overlap 0.2 x 0.2 = 0.04; union 0.16 + 0.16 - 0.04 = 0.28
    assert iou_matrix(a, b)[0].tolist() == pytest.approx([0.04 / 0.28, 0.0])


def test_detection_pair_f1_by_hand() -> None:
    # ann: two cats and a dog; bob: the same two cats (one shifted a little) and a cat where ann drew the dog
    ann = _det("ann", ("cat", 0.1, 0.1, 0.2, 0.2), ("cat", 0.5, 0.5, 0.2, 0.2), ("dog", 0.7, 0.1, 0.2, 0.2))
    bob = _det("bob", ("cat", 0.11, 0.1, 0.2, 0.2), ("cat", 0.5, 0.5, 0.2, 0.2), ("cat", 0.7, 0.1, 0.2, 0.2))
    result = image_agreement("DETECTION", [ann, bob], iou_threshold=0.5, multi_label=False, day="2026-12-07")
    assert result.pairs[("ann", "bob")] == pytest.approx(2 * 2 / 6)  # two matches of 3 + 3 boxes
    f = figures(result.sums)
    assert f.per_class["cat"] == pytest.approx(4 / 5)  # 2 matched cats of 2 + 3 cats drawn
    assert f.per_class["dog"] == 0.0
    # majority of two is both: the two agreed cats, averaged
    assert [label for label, _ in result.consensus or []] == ["cat", "cat"]
    assert result.consensus[0][1][0] == pytest.approx(0.105)  # type: ignore[index]


def test_matching_maximises_total_iou_not_greedy() -> None:
    # IoU a0-b0 0.92, a0-b1 0.61, a1-b0 0.62, a1-b1 0.44: greedy takes a0-b0 and leaves a1 alone
    a = [("x", (0.0, 0.0, 0.5, 0.5)), ("x", (0.0, 0.1, 0.5, 0.5))]
    b = [("x", (0.02, 0.0, 0.5, 0.5)), ("x", (0.12, 0.0, 0.5, 0.5))]
    assert sorted(match_boxes(a, b, 0.5)) == [(0, 1), (1, 0)]


def test_empty_submissions_agree() -> None:
    result = image_agreement("DETECTION", [_det("a"), _det("b"), _det("c")], iou_threshold=0.5, multi_label=False,
                             day="d")
    assert result.score == 1.0 and result.consensus == []


def test_classification_majority_and_exact_match() -> None:
    result = image_agreement("CLASSIFICATION", [_cls("a", "cat"), _cls("b", "cat"), _cls("c", "dog")],
                             iou_threshold=0.5, multi_label=False, day="d")
    assert result.score == pytest.approx(1 / 3)  # a-b agree, a-c and b-c do not
    assert result.consensus == [("cat", None)]
    assert result.vs_consensus == {"a": 1.0, "b": 1.0, "c": 0.0}
    three_ways = [_cls("a", "cat"), _cls("b", "dog"), _cls("c", "bird")]
    assert majority_labels(three_ways, multi_label=False) is None


def test_alpha_by_hand() -> None:
    # Krippendorff (2011), nominal example reduced: two coders, units (a,a) (b,b) (a,b) -> o = {aa:2, bb:2, ab:1, ba:1}
    o: Counter[tuple[str, str]] = Counter()
    for unit in (["a", "a"], ["b", "b"], ["a", "b"]):
        o.update(coincidences(unit))
    # n = 6, n_a = n_b = 3: alpha = 1 - 5 * 2 / (36 - 18) = 1 - 10/18
    assert alpha_of(o) == pytest.approx(1 - 10 / 18)
    assert alpha_of(coincidences(["a", "a"])) is None  # no variation: undefined


def _reference_alpha(images: list[list[Submission]]) -> float:
    raters = sorted({s.user for subs in images for s in subs})
    values = sorted({set_key(s.items) for subs in images for s in subs})
    data = np.full((len(raters), len(images)), np.nan)
    for u, subs in enumerate(images):
        for s in subs:
            data[raters.index(s.user), u] = values.index(set_key(s.items))
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_alpha_matches_the_krippendorff_package_with_missing_raters() -> None:
    images = [
        [_cls("a", "cat"), _cls("b", "cat"), _cls("c", "dog")],
        [_cls("a", "dog"), _cls("c", "dog")],
        [_cls("b", "bird"), _cls("c", "bird"), _cls("d", "bird")],
        [_cls("a", "cat"), _cls("d", "bird")],
        [_cls("b", "dog"), _cls("d", "dog"), _cls("a", "cat"), _cls("c", "dog")],
    ]
    assert figures(_totals(images)).alpha == pytest.approx(_reference_alpha(images))


labels = st.sampled_from(["cat", "dog", "bird"])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.dictionaries(st.sampled_from("abcde"), labels, min_size=2, max_size=5), min_size=2, max_size=12))
def test_alpha_property_matches_the_package(units: list[dict[str, str]]) -> None:
    images = [[_cls(user, label) for user, label in unit.items()] for unit in units]
    ours = figures(_totals(images)).alpha
    values = {set_key(s.items) for subs in images for s in subs}
    if len(values) < 2:
        assert ours is None
        return
    assert ours == pytest.approx(_reference_alpha(images), abs=1e-9)


def _brute_force_matches(a: list, b: list, threshold: float) -> tuple[int, float]:
    """The most matches, and the largest total IoU among them, by trying every injection (tiny inputs only)."""
    iou = iou_matrix(np.array([x[1] for x in a]), np.array([x[1] for x in b])) if a and b else None
    best = (0, 0.0)
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    for perm in itertools.permutations(range(len(large)), len(small)):
        pairs = [(i, j) if small is a else (j, i) for i, j in enumerate(perm)]
        ok = [(i, j) for i, j in pairs if a[i][0] == b[j][0] and iou[i, j] >= threshold]  # type: ignore[index]
        total = sum(float(iou[i, j]) for i, j in ok)  # type: ignore[index]
        best = max(best, (len(ok), total))
    return best


box = st.tuples(labels, st.floats(0, 0.6), st.floats(0, 0.6), st.floats(0.05, 0.4), st.floats(0.05, 0.4)).map(
    lambda t: (t[0], (t[1], t[2], t[3], t[4])))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.lists(box, max_size=5), st.lists(box, max_size=5))
def test_matching_is_optimal_like_brute_force(a: list, b: list) -> None:
    ours = match_boxes(a, b, 0.3)
    iou = iou_matrix(np.array([x[1] for x in a]), np.array([x[1] for x in b])) if a and b else None
    total = sum(float(iou[i, j]) for i, j in ours)  # type: ignore[index]
    assert len({i for i, _ in ours}) == len(ours) == len({j for _, j in ours})  # one-to-one
    assert all(a[i][0] == b[j][0] and iou[i, j] >= 0.3 for i, j in ours)  # type: ignore[index]
    count, best_total = _brute_force_matches(a, b, 0.3)
    assert len(ours) == count
    assert math.isclose(total, best_total, abs_tol=1e-9)


def test_figures_per_labeller_and_matrix() -> None:
    images = [[_cls("a", "cat"), _cls("b", "cat"), _cls("c", "dog")], [_cls("a", "dog"), _cls("b", "cat")]]
    f = figures(_totals(images))
    assert f.images == 2
    assert f.score == pytest.approx((1 / 3 + 0) / 2)
    assert f.pairs[("a", "b")] == (0.5, 2)
    assert f.pairs[("a", "c")] == (0.0, 1)
    vs_others, vs_consensus, n = f.per_labeller["c"]
    assert (vs_others, vs_consensus, n) == (0.0, 0.0, 2)
    assert f.per_labeller["a"][1] == 1.0  # the second image has no majority: no consensus to compare with
    assert f.days == {"2026-12-07": pytest.approx(1 / 6)}


def test_sums_subtract_back_to_nothing() -> None:
    subs = [_det("a", ("cat", 0.1, 0.1, 0.2, 0.2)), _det("b", ("cat", 0.1, 0.1, 0.2, 0.21))]
    once = Counter(_totals([subs], "DETECTION"))
    once.subtract(_totals([subs], "DETECTION"))
    assert all(abs(v) < 1e-12 for v in once.values())


def _stored(subs: list[Submission]) -> list[tuple[str, list[list[object]]]]:
    return [(s.user, [[label, *box] if box else [label] for label, box in s.items]) for s in subs]


def _random_image(rng: random.Random, task: str) -> list[Submission]:
    """2-5 labellers (in any order); detection: 0-12 boxes each around a few shared spots (many overlaps, some
    boxes with two candidates, some drawn twice alike), of few classes; classification: 0-2 labels each."""
    users = rng.sample("abcdefg", rng.randint(2, 5))
    if task == "CLASSIFICATION":
        return [_cls(u, *rng.sample(["cat", "dog", "bird"], rng.randint(0, 2))) for u in users]
    spots = [(rng.random() * 0.7, rng.random() * 0.7, 0.05 + rng.random() * 0.2, 0.05 + rng.random() * 0.2)
             for _ in range(rng.randint(1, 4))]
    subs = []
    for u in users:
        boxes = []
        for _ in range(rng.randint(0, 12)):
            x, y, w, h = rng.choice(spots)
            jitter = rng.choice([0.0, 0.02, 0.1, 0.3])
            boxes.append((rng.choice(["cat", "cat", "dog"]), x + rng.uniform(-jitter, jitter) * w,
                          y + rng.uniform(-jitter, jitter) * h, w * (1 + rng.uniform(-jitter, jitter)), h))
        subs.append(_det(u, *boxes))
    return subs


def _same(ours: ImageAgreement, theirs: ImageAgreement) -> None:
    assert ours.score == pytest.approx(theirs.score)
    assert list(ours.pairs) == list(theirs.pairs)
    assert ours.pairs == pytest.approx(theirs.pairs)
    assert ours.vs_consensus == pytest.approx(theirs.vs_consensus)
    assert ours.sums == pytest.approx(theirs.sums)
    if theirs.consensus is None:
        assert ours.consensus is None
        return
    assert ours.consensus is not None
    assert [label for label, _ in ours.consensus] == [label for label, _ in theirs.consensus]
    assert [box for _, box in ours.consensus] == [pytest.approx(box) for _, box in theirs.consensus]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.randoms(use_true_random=False), st.sampled_from(["DETECTION", "CLASSIFICATION", "MULTI"]),
       st.sampled_from([0.3, 0.5]))
def test_batch_agreement_equals_image_agreement(rng: random.Random, kind: str, threshold: float) -> None:
    task = "DETECTION" if kind == "DETECTION" else "CLASSIFICATION"
    images = [_random_image(rng, task) for _ in range(rng.randint(1, 25))]
    days = [rng.choice(["2026-12-06", "2026-12-07"]) for _ in images]
    batch = batch_agreement(task, [_stored(subs) for subs in images], iou_threshold=threshold,
                            multi_label=kind == "MULTI", days=days)
    expected = [image_agreement(task, subs, iou_threshold=threshold, multi_label=kind == "MULTI", day=day)
                for subs, day in zip(images, days, strict=True)]
    for n, theirs in enumerate(expected):
        _same(batch.image(n), theirs)
        assert batch.agreed[n] == (theirs.consensus is not None)
        assert batch.pairs[n] == [[a, b, s] for (a, b), s in theirs.pairs.items()]
    old = [None if n % 3 == 0 else expected[(n + 1) % len(expected)].sums for n in range(len(expected))]
    moved: dict[str, float] = {}
    for theirs, before in zip(expected, old, strict=True):
        for key, value in theirs.sums.items():
            moved[key] = moved.get(key, 0.0) + value
        for key, value in (before or {}).items():
            moved[key] = moved.get(key, 0.0) - value
    assert batch.moved(old) == moved  # the same floats: added in the same order


def test_batch_agreement_solves_a_box_with_two_candidates() -> None:
    # the greedy trap of test_matching_maximises_total_iou_not_greedy, drawn by a third labeller too
    a = _det("a", ("x", 0.0, 0.0, 0.5, 0.5), ("x", 0.0, 0.1, 0.5, 0.5))
    b = _det("b", ("x", 0.02, 0.0, 0.5, 0.5), ("x", 0.12, 0.0, 0.5, 0.5))
    c = _det("c", ("x", 0.0, 0.05, 0.5, 0.5))
    images = [[c, a, b], [a, b]]
    batch = batch_agreement("DETECTION", [_stored(subs) for subs in images], iou_threshold=0.5, multi_label=False,
                            days=["d", "d"])
    for n, subs in enumerate(images):
        expected = image_agreement("DETECTION", subs, iou_threshold=0.5, multi_label=False, day="d")
        assert batch.image(n) == expected  # the same floats
    assert batch.pairs[1] == [["a", "b", 1.0]]


def test_a_batch_split_with_a_worker_process_stores_what_one_process_computes() -> None:
    """The AGREEMENT job's batches, part in a worker process and part here (db.agreement_workers): the same
    figures and detail per image, in input order, and the same change of the totals; items come as stored (JSON
    text) or parsed; a batch the worker fails on raises here."""
    rng = random.Random(12)
    images = [_random_image(rng, "DETECTION") for _ in range(60)]
    raw = [[(user, json.dumps(items) if n % 2 else items) for user, items in _stored(subs)]
           for n, subs in enumerate(images)]
    olds = [None if n % 4 else image_agreement("DETECTION", subs, iou_threshold=0.5, multi_label=False,
                                               day="2026-12-06").sums for n, subs in enumerate(images)]
    batch = agreement_workers.Batch("DETECTION", raw, ["2026-12-07"] * len(raw), olds, 0.5, False)
    alone = agreement_workers.compute(batch)
    workers = agreement_workers.Workers(least=2)
    try:
        assert workers.ready(wait=True)
        shares = []
        for _ in range(3):
            split = workers.compute(batch)
            shares.append(workers.share)
            assert (split.scores, split.agreed) == (alone.scores, alone.agreed)
            assert list(map(json.loads, split.details)) == list(map(json.loads, alone.details))  # the same floats
            assert split.deltas == pytest.approx(alone.deltas)
        assert all(0.2 <= share <= 0.8 for share in shares) and shares != [0.5] * 3  # measured, not fixed
        bad = agreement_workers.Batch("DETECTION", [[("a", '[["cat", "x", 0, 1, 1]]'), ("b", "[]")]] * 4,
                                      ["d"] * 4, [None] * 4, 0.5, False)
        with pytest.raises(ValueError):
            workers.compute(bad)
        assert workers.compute(batch).scores == alone.scores  # the worker outlives a failed batch
    finally:
        workers.close()
