"""A dry run plans nothing it would throw away (no sample states, no changes), yet its counters and errors are
exactly the import's: seeded random rounds of imports with every option, on both databases, each checked before it is
applied, so the project's labels, drafts and samples change from round to round."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy.orm import Session

from db import imports
from db.engine import Database
from db.records import AnnotationRecord, ImportItem, confirmed
from tests.conftest import seed_project

LABELS = ["cat", "dog", "car", "zebra"]  # zebra is not a class: a validation error


def _items(rng: random.Random, names: list[str]) -> list[ImportItem]:
    faulty = rng.random() < 0.3  # a round with something wrong in it, or about to be (nope.jpg under ERROR)
    chosen = rng.sample(names, rng.randint(1, 12)) + rng.choice([[], ["new1.jpg"]] + faulty * [["nope.jpg"],
                                                                                               ["../x.jpg"]])
    if faulty and rng.random() < 0.3:
        chosen.append(chosen[0])  # the same image twice
    items = []
    for row, name in enumerate(chosen, start=1):
        annotations: list[AnnotationRecord] = []
        for _ in range(rng.choice([0, 1, 2, 3])):
            label = rng.choice(LABELS) if faulty and rng.random() < 0.1 else rng.choice(LABELS[:3])
            box = (rng.random() / 2, rng.random() / 2, rng.choice([0.1, 0.3, 0.5] + faulty * [0.9]), 0.2)
            record = confirmed(label, box)
            annotations.append(record._replace(confidence=rng.random()) if rng.random() < 0.3 else record)
        items.append(ImportItem(row, name, tuple(annotations)))
    return items


@pytest.mark.parametrize("seed", [11, 12])
async def test_a_dry_runs_counters_and_errors_are_the_imports(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    pid, _ = await seed_project(db, 20)
    names = [f"{i:04}.jpg" for i in range(20)]
    applied = 0
    items: list[ImportItem] = []
    for _ in range(30):
        if not items or rng.random() > 0.3:  # else the same import again: its samples hold what it asks already
            items = _items(rng, names)
            options = imports.Options(on_missing=rng.choice(["ERROR", "SKIP", "CREATE"]),
                                      on_existing=rng.choice(["REPLACE", "APPEND", "SKIP"]),
                                      drafts_by=rng.choice([None, None, "model:m1", "model:m2"]))

        def planned(s: Session, count_only: bool, items: list[ImportItem] = items,
                    options: imports.Options = options) -> Any:
            return imports.plan(s, pid, items, options, "alice", lambda name: name.startswith("new"),
                                count_only=count_only)

        dry, no_changes, dry_create = await db.read(planned, True)
        full, changes, create = await db.read(planned, False)
        assert dry.counters() == full.counters(), options
        assert [e.as_dict() for e in dry.errors.listed()] == [e.as_dict() for e in full.errors.listed()]
        assert no_changes == [] and dry_create == create
        if full.errors:
            continue

        def write(s: Session, changes: list[Any] = changes, create: Any = create, out: Any = full,
                  drafts: bool = bool(options.drafts_by)) -> None:
            imports.apply(s, pid, changes, create, out, drafts=drafts)

        await db.write(write)
        applied += 1
        names += [n for _, n in create if n not in names]
    assert applied >= 8, applied  # the rounds really changed the project
