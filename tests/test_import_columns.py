"""An import whose boxes arrive as columns (a plain COCO file: jobs.formats.coco) plans and writes exactly what the
same boxes as records would: seeded random rounds of imports into two identical projects, one fed the ColumnSpans
the reader made, the other the records they hold, with every option, on both databases; after each round both
projects hold the same labels, drafts, sample states, history and counters."""

from __future__ import annotations

import gc
import io
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from db import counters, imports, label_plans
from db import samples as sample_rows
from db.annotation_columns import ColumnSpan
from db.engine import Database
from db.models import AnnotationEvent
from db.records import ImportItem
from jobs.formats import Limits, coco
from tests.conftest import seed_project

WHEN = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "car"}]


def _coco(rng: random.Random, names: list[str]) -> bytes:
    images, annotations = [], []
    for k, name in enumerate(rng.sample(names, rng.randint(1, 12)), start=1):
        images.append({"id": k, "file_name": name, "width": 200, "height": 100})
        for _ in range(rng.choice([0, 1, 2, 3, 6])):
            x, y = rng.choice([rng.uniform(0, 150), 0.0, 199.0]), rng.uniform(0, 80)
            w = rng.choice([rng.uniform(1, 50), 200.0 - x, 10.0])  # some reach past the edge: clamped
            annotations.append({"id": len(annotations) + 1, "image_id": k, "category_id": rng.randint(1, 3),
                                "bbox": [x, y, w, rng.choice([5.0, 20.0, 100.0 - y])]})
        if rng.random() < 0.2 and annotations:  # a nested pair of one class
            annotations.append({**annotations[-1], "id": len(annotations) + 1, "bbox": [
                annotations[-1]["bbox"][0], annotations[-1]["bbox"][1], 0.5, 0.5]})
    return json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}).encode()


def _stored(s: Session, pid: int) -> dict[str, Any]:
    name = "(SELECT filename FROM samples m WHERE m.id = t.sample_id)"
    names = dict(s.execute(text("SELECT id, filename FROM samples WHERE project_id = :p"), {"p": pid}).all())
    ids = list(names)
    return {
        "samples": s.execute(text(
            "SELECT filename, status, version, labeled_by, no_objects, min_confidence, max_confidence, "
            "review_status, nested_boxes FROM samples WHERE project_id = :p ORDER BY filename"), {"p": pid}).all(),
        "annotations": s.execute(text(
            f"SELECT {name}, label, kind, x, y, w, h, confidence, is_draft, created_by FROM annotations t "
            "WHERE project_id = :p ORDER BY id"), {"p": pid}).all(),
        "history": [[(e.action, e.label_before, e.label_after, e.box_after, e.actor) for e in events]
                    for _, events in sorted(sample_rows.history_for(s, ids).items(), key=lambda kv: names[kv[0]])],
        "counters": counters.read(s, [pid])[pid],
    }


@pytest.mark.parametrize("seed", [21, 22])
async def test_columns_and_records_store_the_same(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    a, _ = await seed_project(db, 16, name="A")
    b, _ = await seed_project(db, 16, name="B")
    names = [f"{i:04}.jpg" for i in range(16)]
    spans = 0
    for _ in range(12):
        parsed = coco.read(io.BytesIO(_coco(rng, names)), Limits())
        assert not parsed.errors
        spans += sum(type(i.annotations) is ColumnSpan for i in parsed.items)
        as_records = [ImportItem(i.row, i.filename, tuple(i.annotations), i.size) for i in parsed.items]
        options = imports.Options(on_existing=rng.choice(["REPLACE", "APPEND", "SKIP"]),
                                  drafts_by=rng.choice([None, None, "model:m1"]))

        def run(s: Session, pid: int, items: list[ImportItem], options: imports.Options = options) -> None:
            imports.fingerprint(s, pid, lock=True)
            out, changes, create = imports.plan(s, pid, items, options, "alice", lambda _: False, lock=True)
            if not out.errors:
                imports.apply(s, pid, changes, create, out, drafts=bool(options.drafts_by))

        await db.write(run, a, parsed.items)
        await db.write(run, b, as_records)
        left, right = await db.read(_stored, a), await db.read(_stored, b)
        assert left == right, options
    assert spans > 20 and right["history"] and right["annotations"]


@pytest.mark.parametrize("rows", [1, 499, 500, 501, 1234])
async def test_bulk_inserts_write_every_row_in_order(db: Database, rows: int) -> None:
    """SQLite takes a bulk insert's rows many to a statement (the last few in a shorter one), PostgreSQL by COPY:
    every row arrives, in order, with the fixed columns as given."""
    pid, sids = await seed_project(db, 3)

    def insert(s: Session) -> list[Any]:
        conn = s.connection()
        when = imports._stamp(conn, WHEN)
        wanted = [(sids[k % 3], f"l{k}", f"[{k}.5]") for k in range(rows)]
        fixed = {"project_id": pid, "action": "import", "label_before": None, "box_before": None,
                 "actor": "o'neil", "at": when}
        columns = ("sample_id", "label_after", "box_after")
        if conn.dialect.name == "sqlite":
            imports._fast_insert(conn, AnnotationEvent.__table__, imports.EVENT_COLUMNS, wanted, fixed=fixed)
        else:
            imports._fast_insert(conn, AnnotationEvent.__table__, imports.EVENT_COLUMNS, [
                tuple(fixed[c] if c in fixed else row[columns.index(c)] for c in imports.EVENT_COLUMNS)
                for row in wanted])
        got = s.execute(text("SELECT sample_id, label_after, CAST(box_after AS TEXT), actor, action, project_id "
                             "FROM annotation_events ORDER BY id")).all()
        assert [tuple(r[:3]) for r in got] == wanted
        assert {tuple(r[3:]) for r in got} == {("o'neil", "import", pid)}
        return got

    await db.write(insert)


async def test_the_collector_is_paused_while_an_import_plans(db: Database) -> None:
    """Planning builds 100,000 small objects without cycles: the collector stays off meanwhile (db.gc_pause)."""
    pid, _ = await seed_project(db, 2)
    seen: list[bool] = []

    def exists(name: str) -> bool:  # called by the plan, for CREATE
        seen.append(gc.isenabled())
        return True

    def plan(s: Session) -> Any:
        return imports.plan(s, pid, [ImportItem(1, "new.jpg")], imports.Options(on_missing="CREATE"), "alice", exists)

    out, _, create = await db.read(plan)
    assert seen == [False] and gc.isenabled() and create == [("/Volumes/t/t/t/new.jpg", "new.jpg")], out.errors


async def test_an_import_records_the_sizes_the_file_gives_only_where_none_was_known(db: Database) -> None:
    """Changed samples get their size with their new state (one UPDATE), the others by record_sizes; a size
    already known is kept either way."""
    pid, sids = await seed_project(db, 4)
    await db.write(lambda s: sample_rows.record_sizes(s, {sids[0]: (50, 60), sids[3]: (70, 80)}))
    doc = {"images": [{"id": k, "file_name": f"{k:04}.jpg", "width": 200, "height": 100} for k in range(4)],
           "annotations": [{"id": k, "image_id": k, "category_id": 1, "bbox": [10.0, 10.0, 20.0, 20.0]}
                           for k in (0, 1)],  # images 2 and 3 get no boxes: unchanged
           "categories": CATEGORIES}
    parsed = coco.read(io.BytesIO(json.dumps(doc).encode()), Limits())

    def run(s: Session) -> list[Any]:
        imports.fingerprint(s, pid, lock=True)
        out, changes, create = imports.plan(s, pid, parsed.items, imports.Options(), "alice", lambda _: False,
                                            lock=True)
        assert len(changes) == 2 and not out.errors
        imports.apply(s, pid, changes, create, out)
        return s.execute(text("SELECT width, height, status FROM samples WHERE project_id = :p ORDER BY filename"),
                         {"p": pid}).all()

    assert [tuple(r) for r in await db.write(run)] == [(50, 60, "LABELED"), (200, 100, "LABELED"),
                                                      (200, 100, "UNLABELED"), (70, 80, "UNLABELED")]


async def test_an_image_with_more_boxes_than_a_sample_holds_is_a_row_error(db: Database) -> None:
    """Whether boxes nest is a pairwise check: one image of the file with 10,001 boxes is refused by name, as a save
    of that many would be, before anything is planned or written."""
    pid, _ = await seed_project(db, 2)
    boxes = [{"id": k, "image_id": 1, "category_id": 1, "bbox": [k % 100, k // 100, 1.0, 1.0]}
             for k in range(label_plans.MAX_ANNOTATIONS + 1)]
    doc = {"images": [{"id": 1, "file_name": "0001.jpg", "width": 200, "height": 200},
                      {"id": 2, "file_name": "0000.jpg", "width": 200, "height": 200}],
           "annotations": [*boxes, {"id": -1, "image_id": 2, "category_id": 1, "bbox": [1.0, 1.0, 5.0, 5.0]}],
           "categories": CATEGORIES}
    parsed = coco.read(io.BytesIO(json.dumps(doc).encode()), Limits())
    assert type(parsed.items[0].annotations) is ColumnSpan

    def plan(s: Session) -> Any:
        return imports.plan(s, pid, parsed.items, imports.Options(), "alice", lambda _: False)

    out, changes, _ = await db.read(plan)
    assert [(e.row, e.filename, e.reason) for e in out.errors.listed()] == [
        (1, "0001.jpg", "A sample holds at most 10,000 annotations; this would give it 10,001.")] and not changes
