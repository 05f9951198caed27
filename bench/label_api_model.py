"""The long run of the labelling API's model-based test (tests/label_api_model.py): Hypothesis sequences of saves,
classifications, skips, drafts, reviews, no-op re-saves and stale saves through GraphQL on SQLite and PostgreSQL,
with new seeds every run, reported as operations per mismatch. Each mismatch is printed with its seed and its
(shrunk) sequence; replay it with tests/label_api_model.run_sequence.

CVX_BENCH_API_OPERATIONS sets about how many operations run in all (default 10,000)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from starlette.testclient import TestClient

from bench.figures import Figure
from bench.labelling import _database
from server import create_app
from settings import Settings
from tests import label_api_model
from tests.test_label_api_model import SEQUENCES

WORK = Path(__file__).resolve().parent / ".work" / "label_api_model"
EXAMPLES_PER_ROUND = 50


@contextlib.contextmanager
def _app(backend: str) -> Iterator[TestClient]:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    with _database(backend) if backend == "postgresql" else contextlib.nullcontext(
            f"sqlite:///{WORK / 'bench.db'}") as url:
        settings = Settings(data_dir=WORK / "data", database_url=url, volume_mounts={}, run_jobs=False,
                            allowed_hosts=("testserver",))
        with TestClient(create_app(settings)) as client:
            yield client


def _round(client: TestClient, round_seed: int, counter: list[int]) -> str | None:
    """EXAMPLES_PER_ROUND sequences from one seed: None, or the mismatch (shrunk by Hypothesis)."""
    api = label_api_model.in_process(client)

    @seed(round_seed)
    @settings(max_examples=EXAMPLES_PER_ROUND, deadline=None, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(sequence=SEQUENCES)
    def sequences(sequence: tuple[str, list[label_api_model.Op]]) -> None:
        task, ops = sequence
        try:
            counter[0] += label_api_model.run_sequence(api, task, ops)
        except label_api_model.Mismatch as exc:
            counter[0] += exc.step
            raise AssertionError(f"{task} project, {exc}; sequence: {ops}") from None

    try:
        sequences()
    except AssertionError as exc:
        return str(exc)
    return None


def run() -> list[Figure]:
    total = int(os.environ.get("CVX_BENCH_API_OPERATIONS", "10000"))
    rng = random.Random(time.time_ns())
    counter, mismatches, seeds = [0], [], []
    t0 = time.perf_counter()
    for backend in ("sqlite", "postgresql"):
        with _app(backend) as client:
            while counter[0] < total * (0.5 if backend == "sqlite" else 1):
                round_seed = rng.randrange(1, 10**9)
                seeds.append(round_seed)
                found = _round(client, round_seed, counter)
                if found:
                    mismatches.append(f"{backend} seed {round_seed}: {found}")
                    print(f"MISMATCH {backend} seed {round_seed}: {found}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    done = counter[0]
    print(f"label API model: {done} operations in {seconds:.0f} s, {len(mismatches)} mismatch(es), seeds {seeds}",
          file=sys.stderr)
    return [
        Figure(f"labelling API, random operations per mismatch ({done:,} operations, {len(seeds)} new seeds, "
               "SQLite + PostgreSQL)", done / max(1, len(mismatches)), "operations", done, higher_is_better=True),
        Figure("... operations per second through GraphQL, with the state read back after each (reported)",
               done / seconds, "operations/s", 0, higher_is_better=True),
    ]
