"""SPLITS: give every sample of a project a train, validation or test split. A near-duplicate group goes to one split
whole (so copies cannot leak between them); groups and single images are balanced within each stratum (the rarest
class an image carries, unlabelled images in a stratum of their own) toward the chosen fractions, taken in an order
fixed by the seed and each image's path. Samples that have a split keep it unless everything is reassigned, so
adding images never moves old ones, and the same images with the same seed always split the same way."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

from db import splits as split_rows
from db.splits import SPLITS, SplitRow
from jobs.context import JobContext

BATCH = 5000


def _strata(rows: Sequence[SplitRow]) -> dict[int, str]:
    """Each sample's stratum: its rarest class in the project (ties by name); "" for an image with no label."""
    frequency = Counter(c for r in rows for c in r.classes)
    return {r.id: min(r.classes, key=lambda c: (frequency[c], c)) if r.classes else "" for r in rows}


def _order(seed: int, path: str) -> bytes:
    return hashlib.blake2b(f"{seed}\0{path}".encode(), digest_size=8).digest()


def assign(rows: Sequence[SplitRow], fractions: Sequence[float], seed: int, reassign: bool) -> dict[int, str]:
    """The split of every sample (rows in id order). A unit is a near-duplicate group or a single image; it keeps
    the split of its first member that has one (all of it: a group split across two is joined), the others are
    dealt in seed order to whichever split of their stratum is furthest below its fraction."""
    units: dict[int, list[SplitRow]] = {}
    for r in rows:
        units.setdefault(r.duplicate_group if r.duplicate_group is not None else -r.id, []).append(r)
    stratum = _strata(rows)
    counts: dict[str, list[float]] = {}
    kept: dict[int, str] = {}
    fresh: list[tuple[str, bytes, int]] = []
    for key, members in units.items():
        first = members[0]
        current = None if reassign else next((m.split for m in members if m.split in SPLITS), None)
        if current is None:
            fresh.append((stratum[first.id], _order(seed, first.path), key))
        else:
            kept[key] = current
            counts.setdefault(stratum[first.id], [0.0, 0.0, 0.0])[SPLITS.index(current)] += len(members)
    for name, _, key in sorted(fresh):
        have = counts.setdefault(name, [0.0, 0.0, 0.0])
        size = len(units[key])
        total = sum(have) + size
        open_splits = [k for k in range(3) if fractions[k] > 0]
        best = max(open_splits, key=lambda k: (fractions[k] * total - have[k], -k))
        have[best] += size
        kept[key] = SPLITS[best]
    return {m.id: kept[key] for key, members in units.items() for m in members}


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    p = ctx.params
    rows = await ctx.db.read(split_rows.split_rows, ctx.project_id)
    await ctx.progress(0, len(rows), force=True)
    target = await asyncio.to_thread(assign, rows, p["fractions"], int(p["seed"]), bool(p["reassign"]))
    changes = [(r.id, target[r.id]) for r in rows if r.split != target[r.id]]
    for start in range(0, len(changes), BATCH):
        await ctx.db.write(split_rows.write_splits, changes[start:start + BATCH])
        await ctx.progress(min(len(rows), start + BATCH), len(rows))
    await ctx.progress(len(rows), len(rows), force=True)
    sizes = Counter(target.values())
    moved = sum(1 for r in rows if r.split in SPLITS and r.split != target[r.id])
    return {"train": sizes["TRAIN"], "validation": sizes["VALIDATION"], "test": sizes["TEST"],
            "assigned": len(changes) - moved, "moved": moved}
