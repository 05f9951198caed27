"""An import writes one history row per sample (db.history_items) and reads back as one event per annotation,
newest first, interleaved with the sample's other events as per-annotation rows would be; a downgrade past
migration 0020 turns the grouped rows back into per-annotation rows."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from db import imports, labels, projects
from db import samples as sample_rows
from db.engine import Database, sync_url
from db.migrate import alembic_config, upgrade
from db.models import AnnotationEvent, Sample
from db.records import AnnotationRecord, ImportItem
from jobs.formats import Limits, coco
from tests.conftest import seed_project

BOXES = [(1, [10, 20, 30, 40]), (2, [0, 0, 50, 50]), (1, [60, 10, 20, 20])]  # category, COCO bbox on 100 x 100
NAMES = {1: "cat", 2: "dog"}


def _file() -> bytes:
    return json.dumps({
        "images": [{"id": 1, "file_name": "0000.jpg", "width": 100, "height": 100},
                   {"id": 2, "file_name": "0001.jpg", "width": 100, "height": 100}],
        "annotations": [{"id": k + 1, "image_id": 1 + (k == 2), "category_id": c, "bbox": b}
                        for k, (c, b) in enumerate(BOXES)],
        "categories": [{"id": i, "name": n} for i, n in NAMES.items()]}).encode()


def _import(s: Session, pid: int, items: list[ImportItem], drafts_by: str | None = None) -> None:
    options = imports.Options(drafts_by=drafts_by)
    imports.fingerprint(s, pid, lock=True)
    out, changes, create = imports.plan(s, pid, items, options, "alice", lambda _: False, lock=True)
    assert not out.errors
    imports.apply(s, pid, changes, create, out, drafts=drafts_by is not None)


def _events(s: Session, sid: int) -> list[tuple[Any, ...]]:
    return [(e.action, e.label_before, e.box_before, e.label_after, e.box_after, e.actor)
            for e in sample_rows.history_for(s, [sid])[sid]]


def _box(bbox: list[int]) -> list[float]:
    return [v / 100 for v in bbox]


async def test_an_import_is_one_row_per_sample_and_one_event_per_annotation(db: Database) -> None:
    pid, sids = await seed_project(db, 2)
    parsed = coco.read(io.BytesIO(_file()), Limits())
    await db.write(_import, pid, parsed.items)  # the columns' path
    first = await db.read(_events, sids[0])
    assert first == [("import", None, None, "dog", _box(BOXES[1][1]), "alice"),  # newest first
                     ("import", None, None, "cat", _box(BOXES[0][1]), "alice")]
    assert await db.read(_events, sids[1]) == [("import", None, None, "cat", _box(BOXES[2][1]), "alice")]
    rows = await db.read(lambda s: s.scalar(select(func.count()).select_from(AnnotationEvent)))
    assert rows == 2  # one per sample, not one per box

    version = await db.read(lambda s: s.get(Sample, sids[0]).version)
    await labels.save_annotations(db, sids[0], [AnnotationRecord("dog", "BBOX", (0.5, 0.5, 0.1, 0.1))], "bob",
                                  allow_empty=False, expected_version=version)
    after = await db.read(_events, sids[0])
    assert after[2:] == first, after
    assert sorted(after[:2], key=str) == sorted([
        ("delete", "cat", _box(BOXES[0][1]), None, None, "bob"),
        ("replace", "dog", _box(BOXES[1][1]), "dog", [0.5, 0.5, 0.1, 0.1], "bob")], key=str), after

    records = [ImportItem(1, "0001.jpg", (AnnotationRecord("dog", "BBOX", (0.1, 0.1, 0.2, 0.2), 0.75),))]
    await db.write(_import, pid, records, "model:m1")  # the records' path, a model's drafts
    assert (await db.read(_events, sids[1]))[0] == ("draft", None, None, "dog", [0.1, 0.1, 0.2, 0.2], "alice")
    cid, [only] = await seed_project(db, 1, task="CLASSIFICATION", multi=True, name="C")
    await db.write(_import, cid, [ImportItem(1, "0000.jpg", (AnnotationRecord("cat", "CLASSIFICATION", None),
                                                              AnnotationRecord("car", "CLASSIFICATION", None)))])
    assert await db.read(_events, only) == [("import", None, None, "car", None, "alice"),
                                            ("import", None, None, "cat", None, "alice")]


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_a_downgrade_turns_grouped_rows_back_into_one_row_per_annotation(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as s, s.begin():
            p = projects.create_project(s, name="P", description="", task_type="DETECTION", classes=["cat"],
                                        multi_label=False, source_volume="/Volumes/t/t/t", created_by="seed")
            sample_rows.insert_new(s, p.id, [("/Volumes/t/t/t/a.jpg", "a.jpg")])
            sid = s.scalar(text("SELECT id FROM samples"))
            s.add(AnnotationEvent(project_id=p.id, sample_id=sid, action="import", actor="alice",
                                  items=[["cat", 0.1, 0.2, 0.3, 0.4], ["cat"]]))
        command.downgrade(alembic_config(database_url), "0019")
        with engine.connect() as conn:
            got = conn.execute(text("SELECT action, label_after, CAST(box_after AS TEXT), actor FROM "
                                    "annotation_events ORDER BY id")).all()
        assert [(a, label, None if box is None else json.loads(box), actor) for a, label, box, actor in got] == [
            ("import", "cat", [0.1, 0.2, 0.3, 0.4], "alice"), ("import", "cat", None, "alice")]
        upgrade(database_url)
    finally:
        engine.dispose()
