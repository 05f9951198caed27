"""Whether a sample's confirmed boxes hold one wholly inside another of its class: the geometry filter
`nestedSameClass` (db.geometry), kept as Sample.nested_boxes by the label writer (db.label_plans.plan_change) so the
gallery finds such samples from an index instead of comparing every sample's boxes with each other.

The comparison is exactly the one SQL made before (db/migrations/versions/0019 computes the stored flag with it):
a.x >= b.x, a.y >= b.y, a.x + a.w <= b.x + b.w, a.y + a.h <= b.y + b.h in double precision, two different boxes
(the same box twice counts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Box = tuple[float, float, float, float]
VECTORISED = 48  # more boxes of one class than this: numpy compares one box with all the others at once


def _pairwise(boxes: Sequence[Box]) -> bool:
    for i, (ax, ay, aw, ah) in enumerate(boxes):
        ax2, ay2 = ax + aw, ay + ah
        for j, (bx, by, bw, bh) in enumerate(boxes):
            if i != j and ax >= bx and ay >= by and ax2 <= bx + bw and ay2 <= by + bh:
                return True
    return False


def _vectorised(boxes: Sequence[Box]) -> bool:
    import numpy as np  # only for a sample with many boxes of one class

    a = np.asarray(boxes, dtype=np.float64)
    x, y = a[:, 0], a[:, 1]
    x2, y2 = x + a[:, 2], y + a[:, 3]
    for i in range(len(a)):
        inside = (x[i] >= x) & (y[i] >= y) & (x2[i] <= x2) & (y2[i] <= y2)
        inside[i] = False
        if bool(inside.any()):
            return True
    return False


def has_nested(boxes: Iterable[tuple[str, Box | None]]) -> bool:
    """Whether any box (label, (x, y, w, h)) lies wholly inside another box of the same label."""
    by_label: dict[str, list[Box]] = {}
    for label, box in boxes:
        if box is not None and None not in box:
            by_label.setdefault(label, []).append(box)
    for same in by_label.values():
        if len(same) > 1 and (_vectorised(same) if len(same) > VECTORISED else _pairwise(same)):
            return True
    return False
