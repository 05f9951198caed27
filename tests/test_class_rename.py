"""Renaming a class and merging it into another: every annotation follows (drafts too), history, versions, stats
and the API's answers."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from db import counters, labels
from db import jobs as job_rows
from db.class_rename import rename_class
from db.engine import Database, sync_url
from db.errors import Conflict, Invalid
from db.models import Annotation, AnnotationEvent, Project, Sample
from db.records import AnnotationRecord
from tests.conftest import create_project, gql, gql_error, make_images, seed_project, wait_for_job

BOX_A, BOX_B = (0.1, 0.1, 0.2, 0.2), (0.5, 0.5, 0.3, 0.3)
RENAME = "mutation($p: ID!, $f: String!, $t: String!){ renameClass(projectId: $p, from: $f, to: $t){ id kind } }"


def _state(session: Session, pid: int) -> tuple[list[str], dict[int, list[tuple[str, bool]]], dict[int, int]]:
    """(classes, sample id -> sorted (label, is_draft), sample id -> version)."""
    classes = session.get(Project, pid).classes
    rows: dict[int, list[tuple[str, bool]]] = {}
    for sid, label, draft in session.execute(select(Annotation.sample_id, Annotation.label, Annotation.is_draft)
                                             .where(Annotation.project_id == pid)):
        rows.setdefault(sid, []).append((label, draft))
    versions = dict(session.execute(select(Sample.id, Sample.version).where(Sample.project_id == pid)).all())
    return classes, {k: sorted(v) for k, v in rows.items()}, versions


async def _counters_agree_with_a_recount(db: Database, pid: int) -> dict[str, int]:
    kept = (await db.read(counters.read, [pid]))[pid]
    await db.write(counters.recount, pid)
    assert (await db.read(counters.read, [pid]))[pid] == kept
    return kept.get(counters.CLASS, {})


async def test_a_rename_reaches_every_box_and_draft_and_a_merge_joins_two_classes(db: Database) -> None:
    pid, (s0, s1, s2) = await seed_project(db, 3)  # classes cat, dog, car
    await labels.save_annotations(db, s0, [AnnotationRecord("cat", "BBOX", BOX_A),
                                           AnnotationRecord("dog", "BBOX", BOX_B)], "alice",
                                  allow_empty=False, expected_version=None)
    await labels.save_annotations(db, s1, [AnnotationRecord("cat", "BBOX", BOX_A)], "bob", allow_empty=False,
                                  expected_version=None)
    await labels.replace_drafts(db, s2, [AnnotationRecord("cat", "BBOX", BOX_B, 0.4)], "model:m")
    _, _, before = await db.read(_state, pid)

    done = await db.write(rename_class, pid, "cat", "kitty", "lead")
    assert (done.annotations_changed, done.samples_changed, done.merged) == (3, 3, False)
    classes, rows, versions = await db.read(_state, pid)
    assert classes == ["kitty", "dog", "car"]  # in the old one's place: the number keys stay
    assert rows == {s0: [("dog", False), ("kitty", False)], s1: [("kitty", False)], s2: [("kitty", True)]}
    assert all(versions[s] == before[s] + 1 for s in (s0, s1, s2))
    assert await _counters_agree_with_a_recount(db, pid) == {"kitty": 2, "dog": 1}
    history = await db.read(lambda s: s.execute(select(
        AnnotationEvent.action, AnnotationEvent.label_before, AnnotationEvent.label_after, AnnotationEvent.box_before,
        AnnotationEvent.box_after, AnnotationEvent.actor).where(AnnotationEvent.sample_id == s1)
        .order_by(AnnotationEvent.id.desc())).first())
    assert history is not None
    assert history[:3] == ("rename_class", "cat", "kitty") and history[5] == "lead"
    assert history[3] == history[4] and history[3] == pytest.approx(list(BOX_A))

    again = await db.write(rename_class, pid, "cat", "kitty", "lead")  # a job re-run after a crash: nothing to do
    assert (again.annotations_changed, again.samples_changed) == (0, 0)
    assert (await db.read(_state, pid))[2] == versions

    with pytest.raises(Conflict):  # a save made on the version before the rename
        await labels.save_annotations(db, s1, [AnnotationRecord("kitty", "BBOX", BOX_B)], "bob",
                                      allow_empty=False, expected_version=before[s1])

    merged = await db.write(rename_class, pid, "kitty", "dog", "lead")
    assert (merged.annotations_changed, merged.samples_changed, merged.merged) == (3, 3, True)
    classes, rows, _ = await db.read(_state, pid)
    assert classes == ["dog", "car"]
    assert rows == {s0: [("dog", False), ("dog", False)], s1: [("dog", False)], s2: [("dog", True)]}
    assert await _counters_agree_with_a_recount(db, pid) == {"dog": 3}


async def test_merging_classification_labels_keeps_one_label_per_sample(db: Database) -> None:
    pid, (s0, s1, s2) = await seed_project(db, 3, task="CLASSIFICATION", multi=True)
    await labels.set_classification(db, s0, ["cat", "dog"], "alice", expected_version=None)
    await labels.set_classification(db, s1, ["cat"], "alice", expected_version=None)
    await labels.set_classification(db, s2, ["dog", "car"], "alice", expected_version=None)
    done = await db.write(rename_class, pid, "cat", "dog", "lead")
    assert (done.annotations_changed, done.samples_changed, done.merged) == (2, 2, True)
    _, rows, _ = await db.read(_state, pid)
    assert rows == {s0: [("dog", False)], s1: [("dog", False)], s2: [("car", False), ("dog", False)]}
    assert await _counters_agree_with_a_recount(db, pid) == {"dog": 3, "car": 1}
    # the project still takes saves: no sample is left with a label twice
    await labels.set_classification(db, s0, ["dog", "car"], "alice", expected_version=None)


async def test_bad_renames_change_nothing(db: Database) -> None:
    pid, (s0, *_) = await seed_project(db, 2)
    await labels.save_annotations(db, s0, [AnnotationRecord("cat", "BBOX", BOX_A)], "alice", allow_empty=False,
                                  expected_version=None)
    before = await db.read(_state, pid)
    for old, new, message in (("lion", "cat2", "not one of the project's classes"), ("cat", "  ", "empty"),
                              ("cat", "x" * 201, "longer than 200")):
        with pytest.raises(Invalid, match=message):
            await db.write(rename_class, pid, old, new, "lead")
    same = await db.write(rename_class, pid, "cat", " cat ", "lead")
    assert (same.annotations_changed, same.samples_changed) == (0, 0)
    assert await db.read(_state, pid) == before


def test_rename_through_the_api(client: TestClient, images_dir) -> None:  # type: ignore[no-untyped-def]
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = create_project(client, classes=["cat", "dog"])
    first = gql(client, "query($p: ID!){ project(id: $p){ samples(first: 1){ edges { node { id } } } } }",
                p=project["id"])["project"]["samples"]["edges"][0]["node"]["id"]
    gql(client, """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "cat", kind: BBOX,
        box: {x: 0.1, y: 0.1, w: 0.2, h: 0.2}}]){ id } }""", s=first)
    queued = gql(client, RENAME, p=project["id"], f="cat", t=" feline ")["renameClass"]
    assert queued["kind"] == "RENAME_CLASS"
    job = wait_for_job(client, queued["id"])
    assert (job["progress"], job["total"]) == (1, 1)
    assert job["status"] == "SUCCEEDED" and job["result"] == {
        "from": "cat", "to": "feline", "annotationsChanged": 1, "samplesChanged": 1, "merged": False}
    classes = gql(client, "query($p: ID!){ project(id: $p){ classes } }", p=project["id"])["project"]["classes"]
    assert classes == ["feline", "dog"]
    history = gql(client, "query($s: ID!){ sample(id: $s){ annotations { label } history { action } } }", s=first)
    assert history["sample"]["annotations"] == [{"label": "feline"}]
    assert history["sample"]["history"][0]["action"] == "rename_class"
    error = gql_error(client, RENAME, p=project["id"], f="cat", t="x")  # checked before any job is queued
    assert error["extensions"]["code"] == "VALIDATION" and error["extensions"]["field"] == "from"
    assert gql_error(client, RENAME, p=project["id"], f="dog", t="  ")["extensions"]["field"] == "to"
    # a rename queued behind another that took its class away fails with the reason, changing nothing
    engine = create_engine(sync_url(client.app.state.settings.database_url))
    with Session(engine) as session, session.begin():
        late = job_rows.create_job(session, kind="RENAME_CLASS", project_id=int(project["id"]),
                                   params={"from": "cat", "to": "kitty"}, created_by="local").id
    engine.dispose()
    failed = wait_for_job(client, str(late))
    assert failed["status"] == "FAILED" and "'cat' is not one of the project's classes" in failed["error"]
    assert gql(client, "query($p: ID!){ project(id: $p){ classes } }", p=project["id"])["project"]["classes"] == [
        "feline", "dog"]
    assert gql_error(client, RENAME, p="999", f="cat", t="x")["extensions"]["code"] == "NOT_FOUND"


async def test_a_class_on_more_images_than_a_statement_takes_parameters(db: Database) -> None:
    """PostgreSQL takes at most 65,535 parameters a statement: the rename must not send one per image."""
    n = 70_000
    pid, _ = await seed_project(db, 0)

    def seed(s: Session) -> None:
        s.execute(text("insert into samples (project_id, path, filename, status, version, no_objects, review_status) "
                       "select :p, 'p' || k, 'f' || k, 'LABELED', 1, false, 'NONE' from (" + _NUMBERS + ") n"),
                  {"p": pid, "n": n})
        s.execute(text("insert into annotations (project_id, sample_id, label, kind, x, y, w, h, is_draft, "
                       "created_by, created_at) select :p, id, 'cat', 'BBOX', 0.1, 0.1, 0.2, 0.2, false, 'seed', "
                       "CURRENT_TIMESTAMP from samples where project_id = :p"), {"p": pid})

    await db.write(seed)
    done = await db.write(rename_class, pid, "cat", "kitty", "lead")
    assert (done.annotations_changed, done.samples_changed) == (n, n)


_NUMBERS = ("with recursive k(k) as (select 1 union all select k + 1 from k where k < :n) select k from k")
