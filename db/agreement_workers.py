"""A batch of agreement computed on two cores: the stored submissions (JSON text) parsed, their figures computed
(db.agreement_batch) and each image's detail serialised, part of the images in a worker process and the rest in the
calling thread at the same time. The worker is spawned on the first batch big enough to gain from it (batches are
computed here alone until it is ready: a spawned process imports the program's main module again, a second or more
for the server) and lives until `close`; the share it takes follows the two sides' measured speeds, so both finish
together."""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from db import gc_pause
from db.agreement_batch import batch_agreement

Raw = tuple[str, "str | bytes | Sequence[Sequence[Any]]"]  # (user, items as stored: JSON text, or already parsed)


@dataclass
class Computed:
    """Per image (in input order): score, whether it has a consensus, and its detail as JSON text (pairs, scores
    against the consensus, sums); and the totals' change from the images' old sums to their new ones."""

    scores: list[float]
    agreed: list[bool]
    details: list[str]
    deltas: dict[str, float]

    def then(self, other: Computed) -> Computed:
        """These images followed by `other`'s, the totals' changes added."""
        deltas = dict(self.deltas)
        for key, value in other.deltas.items():
            deltas[key] = deltas.get(key, 0.0) + value
        return Computed(self.scores + other.scores, self.agreed + other.agreed, self.details + other.details, deltas)


@dataclass(frozen=True)
class Batch:
    """What the figures of a batch depend on: the task, each image's submissions (at least two, one per labeller),
    each image's day and old sums (None for an image without an agreement yet), and the project's rules."""

    task: str
    images: Sequence[Sequence[Raw]]
    days: Sequence[str]
    olds: Sequence[dict[str, float] | None]
    iou_threshold: float
    multi_label: bool

    def part(self, start: int, end: int) -> Batch:
        return Batch(self.task, self.images[start:end], self.days[start:end], self.olds[start:end],
                     self.iou_threshold, self.multi_label)


def compute(batch: Batch) -> Computed:
    """The batch's figures, in this process (the collector paused: many small objects, no cycles)."""
    with gc_pause.paused():
        images = [[(user, orjson.loads(items) if isinstance(items, str | bytes) else items) for user, items in subs]
                  for subs in batch.images]
        result = batch_agreement(batch.task, images, iou_threshold=batch.iou_threshold,
                                 multi_label=batch.multi_label, days=batch.days)
        details = [orjson.dumps({"pairs": pairs, "vsConsensus": vs, "sums": sums}).decode()
                   for pairs, vs, sums in zip(result.pairs, result.vs_consensus, result.sums, strict=True)]
        return Computed(result.scores, result.agreed, details, result.moved(batch.olds))


def _warm() -> None:
    """Import what a batch needs, before the first one arrives."""
    for name in ("scipy.optimize", "scipy.sparse.csgraph"):
        importlib.import_module(name)


class Workers:
    """Batches computed half in a worker process, half here: `compute(batch)` from any thread (one batch at a time
    goes to the worker; a second caller's share waits for it). Batches under `least` images stay here."""

    def __init__(self, least: int = 500) -> None:
        self.least = least
        self.share = 0.5  # of each batch, for the worker
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._ready: concurrent.futures.Future[None] | None = None

    def compute(self, batch: Batch) -> Computed:
        n = len(batch.images)
        if n < max(2, self.least) or not self.ready():
            return compute(batch)
        assert self._pool is not None
        cut = min(n - 1, max(1, round(n * self.share)))
        sent = time.perf_counter()
        theirs = self._pool.submit(compute, batch.part(0, cut))
        back: list[float] = []  # when their result arrived (the transfer and any wait for the worker counted)
        theirs.add_done_callback(lambda _: back.append(time.perf_counter()))
        started = time.perf_counter()
        mine = compute(batch.part(cut, n))
        here = time.perf_counter() - started
        result = theirs.result()
        there = back[0] - sent if back else 0.0
        if there > 0 and here > 0:  # images a second on each side: give each its share of the next batch
            speed = cut / there
            self.share = min(0.8, max(0.2, speed / (speed + (n - cut) / here)))
        return result.then(mine)

    def ready(self, wait: bool = False) -> bool:
        """Whether the worker is ready (started on the first call; `wait` for it; its failure to start raises)."""
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            self._ready = self._pool.submit(_warm)
        assert self._ready is not None
        if not wait and not self._ready.done():
            return False
        self._ready.result()
        return True

    def close(self) -> None:
        """Let the worker go without waiting for it (one still starting exits once it has)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._ready = None
