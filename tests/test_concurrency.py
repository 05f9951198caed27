"""Concurrency on the real databases: atomic claims, optimistic saves under random interleavings, stats invariants."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db import counters, label_plans, labels
from db.engine import Database
from db.errors import Conflict
from db.records import AnnotationRecord
from db.samples import annotations_for, history_for
from db.stats import stats_for
from tests.conftest import seed_project

_examples = itertools.count()


async def test_twenty_concurrent_claimers_never_share_a_sample(db: Database) -> None:
    pid, ids = await seed_project(db, 200)
    handed: list[int] = []

    async def claimer(n: int) -> None:
        user = f"user{n}"
        while True:
            sample = await db.write(labels.claim_next, pid, user, lease_seconds=600)
            if sample is None:
                return
            handed.append(sample.id)
            await labels.skip_sample(db, sample.id, user)  # done with it: the next claim must hand out another

    await asyncio.gather(*(claimer(n) for n in range(20)))
    assert sorted(handed) == sorted(ids), Counter(handed).most_common(3)


async def test_a_lease_is_kept_for_its_holder_and_freed_when_it_expires(db: Database) -> None:
    pid, ids = await seed_project(db, 3)
    a = await db.write(labels.claim_next, pid, "ann", lease_seconds=600)
    again = await db.write(labels.claim_next, pid, "ann", lease_seconds=600)
    b = await db.write(labels.claim_next, pid, "bob", lease_seconds=0.0)
    assert a is not None and again is not None and b is not None
    assert a.id == again.id == ids[0] and b.id == ids[1]
    c = await db.write(labels.claim_next, pid, "carol", lease_seconds=600)  # bob's zero-second lease has expired
    assert c is not None and c.id == ids[1]


async def _recounted(db: Database, pid: int) -> dict[str, dict[str, int]]:
    incremental = (await db.read(counters.read, [pid]))[pid]
    await db.write(counters.recount, pid)
    rebuilt = (await db.read(counters.read, [pid]))[pid]
    assert incremental == rebuilt
    return rebuilt


OPS = st.lists(st.tuples(
    st.sampled_from(["ann", "bob", "cy"]),
    st.sampled_from(["claim", "save", "save_stale", "skip", "empty", "draft", "accept", "clear"]),
    st.integers(0, 4),
    st.sampled_from(["cat", "dog", "car"]),
), min_size=1, max_size=25)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
async def test_random_interleavings_lose_no_acknowledged_save(db: Database, ops: list) -> None:
    """Users save with the version they last saw: every acknowledged save is the final state or was
    superseded by a later acknowledged change; a stale save is refused with CONFLICT; counters stay exact."""
    pid, ids = await seed_project(db, 5, name=f"H{next(_examples)}")
    seen: dict[tuple[str, int], int] = {}  # (user, sample) -> version the user last saw
    last_ack: dict[int, list[str] | None] = {}  # sample -> labels of the last acknowledged save (None: other change)
    for user, op, i, label in ops:
        sid = ids[i]
        try:
            if op == "claim":
                got = await db.write(labels.claim_next, pid, user, lease_seconds=600)
                if got is not None:
                    seen[(user, got.id)] = got.version
                continue
            if op in ("save", "save_stale", "empty"):
                version = seen.get((user, sid), 1) - (1 if op == "save_stale" else 0)
                new = [] if op == "empty" else [AnnotationRecord(label, "BBOX", (0.1, 0.1, 0.2, 0.2))]
                saved = await labels.save_annotations(db, sid, new, user, allow_empty=True, expected_version=version)
                assert op != "save_stale", "a save with an outdated version must be refused"
                last_ack[sid] = [a.label for a in new]
            elif op == "skip":
                saved = await labels.skip_sample(db, sid, user)
            elif op == "draft":
                saved = await labels.replace_drafts(
                    db, sid, [AnnotationRecord(label, "BBOX", (0.5, 0.5, 0.1, 0.1), 0.7)], "model:m")
                last_ack[sid] = None
            else:
                await labels.resolve_drafts(db, [sid], user, accept=op == "accept")
                last_ack[sid] = None
                continue
            seen[(user, sid)] = saved.sample.version
        except Conflict as exc:
            assert op in ("save", "save_stale", "empty")
            seen[(user, sid)] = exc.extensions["currentVersion"]  # the user reloads, as the client does
    final = await db.read(annotations_for, ids)
    for sid, labels_saved in last_ack.items():
        if labels_saved is not None:
            assert [a.label for a in final[sid] if not a.is_draft] == labels_saved
    rebuilt = await _recounted(db, pid)
    st_ = (await db.read(stats_for, [(pid, ["cat", "dog", "car"])]))[pid]
    assert st_.total == sum(st_.by_status.values()) == 5
    assert sum(rebuilt.get(counters.CLASS, {}).values()) == sum(n for _, n in st_.per_class)


async def test_racing_saves_of_one_sample(db: Database) -> None:
    """Same version seen by all: exactly one wins, the rest get CONFLICT. No version given: all land, in turn (each
    a different box: a save of what the sample already holds would change nothing)."""
    pid, ids = await seed_project(db, 1)
    box = (0.1, 0.1, 0.2, 0.2)
    racers = [labels.save_annotations(db, ids[0], [AnnotationRecord(lbl, "BBOX", box)], f"u{k}",
                                      allow_empty=False, expected_version=1)
              for k, lbl in enumerate(["cat", "dog", "car"] * 3)]
    outcomes = await asyncio.gather(*racers, return_exceptions=True)
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, Exception))
    blind = [labels.save_annotations(db, ids[0], [AnnotationRecord("cat", "BBOX", (0.01 * k, 0.1, 0.2, 0.2))],
                                     f"v{k}",
                                     allow_empty=False, expected_version=None) for k in range(10)]
    done = await asyncio.gather(*blind)
    assert sorted(d.sample.version for d in done) == list(range(3, 13))
    assert len((await db.read(annotations_for, ids))[ids[0]]) == 1
    await _recounted(db, pid)


@pytest.mark.parametrize("expected_version", [None, 1])
async def test_a_save_that_lands_between_read_and_write_is_not_overwritten_blindly(
        db: Database, expected_version: int | None) -> None:
    """PostgreSQL plans a save without holding the row (db.labels_pg): when a colleague's save lands in between,
    nothing of the stale plan is written; it is planned again from a fresh read (CONFLICT if a version was given)."""
    if db.is_sqlite:
        pytest.skip("SQLite's single writer holds its lock while it plans: nothing can land in between")
    pid, ids = await seed_project(db, 1)
    loop = asyncio.get_running_loop()
    box = (0.1, 0.1, 0.2, 0.2)
    planned = 0

    def plan(load: label_plans.Loader) -> label_plans.Change:
        nonlocal planned
        planned += 1
        loaded = load(ids[0])
        if planned == 1:  # bob saves after alice's read, before her write
            asyncio.run_coroutine_threadsafe(labels.save_annotations(
                db, ids[0], [AnnotationRecord("dog", "BBOX", box)], "bob", allow_empty=False,
                expected_version=None), loop).result(10)
        return label_plans.plan_change(loaded, "alice", expected_version=expected_version, remove=loaded.annotations,
                                  add=[AnnotationRecord("cat", "BBOX", box)], labelled_now=True,
                                  events=label_plans.diff_events(loaded.annotations, [AnnotationRecord("cat", "BBOX",
                                                                                                      box)]))

    if expected_version is not None:
        try:
            await labels._run_one(db, plan)
            raise AssertionError("a save planned from version 1 after bob's save must be refused")
        except Conflict as exc:
            assert exc.extensions["changedBy"] == "bob" and exc.extensions["currentVersion"] == 2
        final_labels, final_actors = ["dog"], ["bob"]
    else:
        change = await labels._run_one(db, plan)
        assert planned == 2 and change.sample.version == 3
        final_labels, final_actors = ["cat"], ["bob", "alice"]
    assert [a.label for a in (await db.read(annotations_for, ids))[ids[0]]] == final_labels
    history = (await db.read(history_for, ids))[ids[0]]
    assert sorted({e.actor for e in history}) == sorted(final_actors)
    await _recounted(db, pid)
