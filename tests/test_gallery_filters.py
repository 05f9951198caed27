"""The gallery's filters: every total (counters or counted) and every keyset page agree with a plain reading of the
rows, and no filter's query plan scans the annotations table (plans at a million samples: bench/gallery_filters.py)."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from db import class_rename, counters, geometry, imports, projects, reviews
from db import labels as label_rows
from db import samples as sample_rows
from db.engine import Database, sync_url
from db.geometry import GeometryFilter
from db.migrate import alembic_config, upgrade
from db.models import Annotation, DraftedLabel, Sample, utcnow
from db.records import AnnotationRecord, ImportItem
from db.samples import SampleFilter
from tests.conftest import create_project, gql, make_images, seed_project

CLASSES = ("cat", "dog", "car")
FILTERS = [
    SampleFilter(), SampleFilter(status="LABELED"), SampleFilter(status="PRE_LABELED"), SampleFilter(label="cat"),
    SampleFilter(label="car"), SampleFilter(labeled_by="u1"), SampleFilter(review_status="ACCEPTED"),
    SampleFilter(review_status="REJECTED"), SampleFilter(review_status="NONE"), SampleFilter(max_confidence=0.5),
    SampleFilter(max_confidence=3.0), SampleFilter(filename="01"), SampleFilter(filename="%"),
    SampleFilter(status="LABELED", labeled_by="u2"), SampleFilter(status="SKIPPED", labeled_by="u2"),
    SampleFilter(status="LABELED", review_status="NONE"), SampleFilter(status="UNLABELED", review_status="NONE"),
    SampleFilter(labeled_by="u0", review_status="ACCEPTED"), SampleFilter(labeled_by="u1", review_status="NONE"),
    SampleFilter(status="LABELED", label="dog"), SampleFilter(label="cat", labeled_by="u0"),
    SampleFilter(status="PRE_LABELED", max_confidence=0.6), SampleFilter(label="dog", filename="1"),
    SampleFilter(status="LABELED", labeled_by="u1", review_status="REJECTED"),
]


async def _labelled_project(db: Database, seed: int) -> int:
    """30 samples taken through saves, relabels, clears, skips, model drafts and reviews by three users."""
    pid, ids = await seed_project(db, 30)
    rng = random.Random(seed)
    for _ in range(90):
        sid, user = rng.choice(ids), f"u{rng.randrange(3)}"
        action = rng.random()
        if action < 0.45:
            boxes = [AnnotationRecord(rng.choice(CLASSES), "BBOX", (0.1, 0.1, 0.2, 0.2))
                     for _ in range(rng.randrange(4))]
            await label_rows.save_annotations(db, sid, boxes, user, allow_empty=True, expected_version=None)
        elif action < 0.6:
            await label_rows.skip_sample(db, sid, user)
        elif action < 0.8:
            drafts = [AnnotationRecord(rng.choice(CLASSES), "BBOX", (0.3, 0.3, 0.2, 0.2), rng.random())
                      for _ in range(1 + rng.randrange(2))]
            await label_rows.replace_drafts(db, sid, drafts, "model")
        else:
            def review(s: Session, sid: int = sid, accept: bool = rng.random() < 0.6) -> None:
                if s.get(Sample, sid).status == "LABELED":  # type: ignore[union-attr]
                    reviews.review_sample(s, sid, "reviewer", accept=accept, comment=None, expected_version=None)
            await db.write(review)
    return pid


def _expected(s: Session, pid: int, f: SampleFilter) -> list[Sample]:
    """The matching samples in id order, decided in Python from the stored rows."""
    confirmed: dict[int, set[str]] = {}
    for a in s.scalars(select(Annotation).where(Annotation.project_id == pid, Annotation.is_draft.is_(False))):
        confirmed.setdefault(a.sample_id, set()).add(a.label)

    def matches(r: Sample) -> bool:
        return ((f.status is None or r.status == f.status) and (f.labeled_by is None or r.labeled_by == f.labeled_by)
                and (f.review_status is None or r.review_status == f.review_status)
                and (f.max_confidence is None or (r.min_confidence is not None
                                                  and r.min_confidence <= f.max_confidence))
                and (not f.filename or f.filename.lower() in r.filename.lower())
                and (f.label is None or f.label in confirmed.get(r.id, set())))

    return [r for r in s.scalars(select(Sample).where(Sample.project_id == pid).order_by(Sample.id)) if matches(r)]


def _least_confident_key(r: Sample) -> tuple[float, int]:
    return (r.min_confidence if r.min_confidence is not None else sample_rows.NO_CONFIDENCE, r.id)


async def test_every_filter_counts_and_pages_like_a_plain_reading_of_the_rows(db: Database) -> None:
    pid = await _labelled_project(db, seed=18)

    def recounted(s: Session) -> tuple[dict, dict]:
        kept = counters.read(s, [pid])[pid]
        counters.recount(s, pid)
        return kept, counters.read(s, [pid])[pid]

    kept, recount = await db.write(recounted)
    assert kept == recount  # the incremental counters (a label's samples among them) are what a recount finds
    assert kept[counters.SAMPLE_CLASS]

    def check(s: Session) -> None:
        for f in FILTERS:
            want = _expected(s, pid, f)
            assert sample_rows.count(s, pid, f) == len(want), f
            assert s.scalar(sample_rows.count_statement(pid, f)) == len(want), f
            n, exact = sample_rows.estimate(s, pid, f)
            assert not exact or n == len(want), f
            got, after, more = [], None, True
            while more:
                rows, more = sample_rows.page(s, pid, f, first=4, after=after)
                got += [r.id for r in rows]
                after = rows[-1].id if rows else None
            assert got == [r.id for r in want], f
            if len(want) > 3:  # backwards from the last one: the three before it
                rows, _ = sample_rows.page(s, pid, f, first=3, after=None, before=want[-1].id)
                assert [r.id for r in rows] == [r.id for r in want[-4:-1]], f
            by_confidence = sorted(want, key=_least_confident_key)
            got, key, more = [], None, True
            while more:
                rows, more = sample_rows.page_least_confident(s, pid, f, first=4, after=key)
                got += [r.id for r in rows]
                key = _least_confident_key(rows[-1]) if rows else None
            assert got == [r.id for r in by_confidence], f

    with db.reading() as s:
        check(s)


def _fill(s: Session, pid: int, n: int) -> None:
    """n samples with 1-3 annotations each (a fifth drafts), inserted by the database itself."""
    if s.bind.dialect.name == "postgresql":
        numbers = f"SELECT i FROM generate_series(1, {n}) i"
    else:
        numbers = f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) SELECT i FROM g"
    statuses = "CASE i % 5 WHEN 0 THEN 'PRE_LABELED' WHEN 1 THEN 'UNLABELED' ELSE 'LABELED' END"
    s.execute(text(f"""
        INSERT INTO samples (project_id, path, filename, status, version, labeled_by, no_objects, review_status,
                             min_confidence)
        SELECT {pid}, 'f/' || i || '.jpg', 'cam' || (i % 40) || '_' || i || '.jpg', {statuses}, 1,
               CASE WHEN i % 5 > 1 THEN 'u' || (i % 7) END, false,
               CASE WHEN i % 5 > 1 AND i % 11 = 0 THEN 'ACCEPTED' WHEN i % 5 > 1 AND i % 13 = 0 THEN 'REJECTED'
                    ELSE 'NONE' END,
               CASE WHEN i % 5 = 0 THEN (i % 97) / 100.0 END
        FROM ({numbers}) g"""))
    s.execute(text(f"""
        INSERT INTO annotations (project_id, sample_id, label, kind, is_draft, created_by, created_at)
        SELECT {pid}, id, CASE (id + k) % 7 WHEN 0 THEN 'dog' WHEN 1 THEN 'car' ELSE 'cat' END, 'BBOX',
               status = 'PRE_LABELED', 'u', '2026-12-07 00:00:00'
        FROM samples, (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) ks
        WHERE project_id = {pid} AND status <> 'UNLABELED' AND k <= 1 + id % 3"""))
    s.execute(text(f"""UPDATE samples SET box_count = (SELECT count(*) FROM annotations a WHERE a.sample_id = samples.id
                                                        AND a.kind = 'BBOX' AND a.is_draft = false)
                       WHERE project_id = {pid}"""))
    counters.recount(s, pid)


def _explained(s: Session, stmt: object, explain: str) -> str:
    compiled = stmt.compile(s.bind)  # type: ignore[attr-defined]
    params = tuple(compiled.params[k] for k in compiled.positiontup) if compiled.positional else compiled.params
    rows = s.connection().exec_driver_sql(f"{explain} {compiled}", params).all()
    return "\n".join(str(r[-1]) for r in rows)


def _plans(s: Session, pid: int, f: SampleFilter, explain: str) -> list[str]:
    """The plans of the statements a gallery request runs: first page, deep pages in both orders, the total (each
    driven as the counters choose, as db.samples.page and page_least_confident do)."""
    how = sample_rows.driving(s, pid, f)
    statements = [sample_rows.page_statement(pid, f, limit=101, how=how),
                  sample_rows.page_statement(pid, f, limit=101, after=15_000, how=how),
                  *sample_rows.least_confident_statements(pid, f, limit=101, after=(0.4, 1), how=how)]
    # The total is read from the counters when they keep the filter. A geometry filter compares each sample's boxes
    # with each other: counting its matches reads every box of the project, which a sequential scan does best (its
    # total reaches the gallery as an estimate first); its pages probe the boxes of one sample at a time.
    if sample_rows.from_counters(s, pid, f) is None and f.geometry is None:
        statements.append(sample_rows.count_statement(pid, f))
    return [_explained(s, stmt, explain) for stmt in statements]


async def test_no_gallery_filter_plans_a_scan_of_the_annotations(db: Database) -> None:
    pid, _ = await seed_project(db, 0)
    await db.write(_fill, pid, 20_000)
    postgres = db.is_postgres
    if postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) samples, annotations")
    combos = [SampleFilter(label="dog"), SampleFilter(label="car", status="LABELED"),
              SampleFilter(label="cat", labeled_by="u3"), SampleFilter(label="dog", review_status="ACCEPTED"),
              SampleFilter(label="car", max_confidence=0.5), SampleFilter(label="dog", filename="cam1"),
              SampleFilter(geometry=GeometryFilter(more_boxes_than=2)),
              SampleFilter(geometry=GeometryFilter(nested_same_class=True), label="cat"),
              SampleFilter(geometry=GeometryFilter(smaller_than_px=10), status="LABELED")]
    combos += [SampleFilter(**dict(pair)) for pair in itertools.combinations(
        [("status", "LABELED"), ("labeled_by", "u2"), ("review_status", "REJECTED"), ("max_confidence", 0.3),
         ("filename", "cam07")], 2)]
    with db.reading() as s:
        for f in FILTERS + combos:
            for plan in _plans(s, pid, f, "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"):
                scanned = "Seq Scan on annotations" in plan if postgres else "SCAN annotations" in plan
                assert not scanned, f"{f}:\n{plan}"


async def test_a_claim_finds_the_callers_own_lease_without_walking_the_project(db: Database) -> None:
    """claimNextSample looks for the caller's own lease first: from the index of leased rows, not a scan of every
    sample (670 ms at 10,000,000 samples on PostgreSQL before that index)."""
    pid, _ = await seed_project(db, 0)
    await db.write(_fill, pid, 20_000)
    await db.write(lambda s: s.execute(text("UPDATE samples SET locked_by = 'u' || (id % 5), "
                                            "lock_expires_at = '2100-01-01' WHERE id % 1000 = 0")))
    if db.is_postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) samples")
    with db.reading() as s:
        compiled = label_rows.own_lease_statement(pid, "u3", utcnow()).compile(
            s.bind, compile_kwargs={"render_postcompile": True})
        params = tuple(compiled.params[k] for k in compiled.positiontup) if compiled.positional else compiled.params
        explain = "EXPLAIN" if db.is_postgres else "EXPLAIN QUERY PLAN"
        plan = "\n".join(str(r[-1]) for r in s.connection().exec_driver_sql(f"{explain} {compiled}", params))
    assert "ix_samples_project_lease" in plan, plan


def test_the_total_comes_at_once_exact_or_estimated_and_then_exactly(client: TestClient, images_dir: Path,
                                                                       database_url: str) -> None:
    make_images(images_dir, ["cat_1.jpg", "cat_2.jpg", "dog_1.jpg"], size=(8, 8))
    project = create_project(client)
    ids = {e["node"]["filename"]: e["node"]["id"] for e in gql(client, """query($id: ID!){ project(id: $id){
        samples { edges { node { id filename } } } } }""", id=project["id"])["project"]["samples"]["edges"]}
    gql(client, """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [
        {label: "cat", kind: BBOX, box: {x: 0.1, y: 0.1, w: 0.2, h: 0.2}}]) { version } }""", s=ids["cat_1.jpg"])
    q = """query($id: ID!, $l: String, $f: String){ project(id: $id){ samples(label: $l, filename: $f, first: 1){
        totalEstimate { count exact } totalCount } } }"""
    by_label = gql(client, q, id=project["id"], l="cat")["project"]["samples"]
    assert by_label == {"totalEstimate": {"count": 1, "exact": True}, "totalCount": 1}  # the class's counter
    by_name = gql(client, q, id=project["id"], f="CAT", l=None)["project"]["samples"]
    assert by_name["totalCount"] == 2
    if database_url.startswith("sqlite"):  # counted: SQLite has no estimate to offer
        assert by_name["totalEstimate"] == {"count": 2, "exact": True}
    else:  # the planner's estimate, a non-negative number; the exact figure is totalCount's
        assert by_name["totalEstimate"]["exact"] is False and by_name["totalEstimate"]["count"] >= 0


async def _drafted_and_undrafted_labels(db: Database) -> int:
    """40 samples: cat boxes on samples that also carry model drafts (so drafted_labels holds cat), dog
    boxes on drafted and undrafted samples until the drafts are cleared, car boxes only on samples never drafted."""
    pid, ids = await seed_project(db, 40)
    rng = random.Random(40)
    for i, sid in enumerate(ids):
        box = (0.1 * (i % 5), 0.1, 0.2, 0.2)
        if i % 4 == 0:  # confirmed cat, then a model's drafts besides it (a mixed sample: PRE_LABELED)
            await label_rows.save_annotations(db, sid, [AnnotationRecord("cat", "BBOX", box)], "u1", allow_empty=False,
                                              expected_version=None)
            await label_rows.replace_drafts(db, sid, [AnnotationRecord("dog", "BBOX", box, rng.random())], "model")
        elif i % 4 == 1:  # car and dog, never drafted
            await label_rows.save_annotations(db, sid, [AnnotationRecord("car", "BBOX", box),
                                                        AnnotationRecord("dog", "BBOX", box)], "u2", allow_empty=False,
                                              expected_version=None)
        elif i % 4 == 2:  # drafts alone
            await label_rows.replace_drafts(db, sid, [AnnotationRecord("car", "BBOX", box, rng.random())], "model")
    # dog on a drafted sample, then its drafts cleared: the counter goes up and back down
    await label_rows.save_annotations(db, ids[2], [AnnotationRecord("dog", "BBOX", (0.5, 0.5, 0.1, 0.1))], "u3",
                                      allow_empty=False, expected_version=None)
    await label_rows.replace_drafts(db, ids[2], [AnnotationRecord("car", "BBOX", (0.1, 0.1, 0.2, 0.2), 0.3)],
                                    "model")
    await label_rows.resolve_drafts(db, [ids[2]], "u3", accept=False)
    return pid


def _walk(rows_after: object, key: object) -> list[int]:
    """Every sample of a keyset walk, four at a time: rows_after(after) -> up to five rows, key(row) -> the next
    `after`."""
    got: list[int] = []
    after = None
    while True:
        rows = rows_after(after)  # type: ignore[operator]
        got += [r.id for r in rows[:4]]
        if len(rows) <= 4:
            return got
        after = key(rows[3])  # type: ignore[operator]


def _drafted_rows(s: Session, pid: int) -> set[tuple[int, str, float]]:
    return {(r.sample_id, r.label, r.confidence) for r in s.scalars(select(DraftedLabel).where(
        DraftedLabel.project_id == pid))}


def _drafted_found(s: Session, pid: int) -> set[tuple[int, str, float]]:
    """What drafted_labels must hold, from a plain reading of the rows: each confirmed class of a sample that has a
    draft's confidence, with that confidence."""
    confidence = {r.id: r.min_confidence for r in s.scalars(select(Sample).where(Sample.project_id == pid))}
    return {(a.sample_id, a.label, confidence[a.sample_id]) for a in s.scalars(select(Annotation).where(
        Annotation.project_id == pid, Annotation.is_draft.is_(False))) if confidence[a.sample_id] is not None}


async def test_pages_driven_by_the_counters_and_the_drafted_labels_return_what_the_rows_say(db: Database) -> None:
    """A rare label's ids are read first; least confident first with a label reads the label's drafted samples
    from drafted_labels, then its other samples by id: the same samples in the same order, with the same totals,
    as the statements the planner drives alone and as a plain reading of the rows."""
    pid = await _drafted_and_undrafted_labels(db)

    def rebuilt(s: Session) -> tuple[set, set, set]:
        kept = _drafted_rows(s, pid)
        counters.recount(s, pid)  # which rebuilds them
        return kept, _drafted_rows(s, pid), _drafted_found(s, pid)

    kept, rebuilt_rows, found = await db.write(rebuilt)
    assert kept == rebuilt_rows == found  # every write kept them as a rebuild makes them
    assert {label for _, label, _ in kept} == {"cat"} and len(kept) == 10  # dog's went when its drafts were cleared

    def check(s: Session) -> None:
        pg = s.bind.dialect.name == "postgresql"
        least_key = _least_confident_key
        for label in ("cat", "dog", "car", "bus"):
            for f in (SampleFilter(label=label), SampleFilter(label=label, filename="1"),
                      SampleFilter(label=label, status="LABELED"), SampleFilter(label=label, status="PRE_LABELED"),
                      SampleFilter(label=label, max_confidence=0.5)):
                want = _expected(s, pid, f)
                by_confidence = [r.id for r in sorted(want, key=least_key)]
                assert sample_rows.count(s, pid, f) == len(want), f
                for how in (sample_rows.Driving(), sample_rows.Driving(label_first=True, postgres=pg),
                            sample_rows.driving(s, pid, f)):
                    assert _walk(lambda a, f=f, h=how: list(s.scalars(sample_rows.page_statement(
                        pid, f, limit=5, after=a, how=h))), lambda r: r.id) == [r.id for r in want], (f, how)
                    assert _walk(lambda a, f=f, h=how: sample_rows.least_confident_rows(
                        s, pid, f, limit=5, after=a, how=h), least_key) == by_confidence, (f, how)
                got, key, more = [], None, True
                while more:  # and as the gallery pages them, the driving chosen inside
                    rows, more = sample_rows.page_least_confident(s, pid, f, first=3, after=key)
                    got += [r.id for r in rows]
                    key = least_key(rows[-1]) if rows else None
                assert got == by_confidence, f
                for after in ((0.5, 0), (sample_rows.NO_CONFIDENCE, 0), (3.0, 0)):  # cursors of either part
                    rows = sample_rows.least_confident_rows(s, pid, f, limit=100, after=after,
                                                            how=sample_rows.driving(s, pid, f))
                    assert [r.id for r in rows] == [r.id for r in sorted(want, key=least_key)
                                                    if least_key(r) > after], (f, after)

    with db.reading() as s:
        check(s)


async def test_the_three_slow_shapes_take_their_fast_plans(db: Database) -> None:
    """Least confident first with a label must not walk the confidence index (2.9 s at a million samples when no
    drafted sample carries it, 13 s at ten million when a few do: every drafted sample probed): the label's drafted
    samples come from drafted_labels' index, the rest from the label's; a rare label with a filename part must read
    the label's ids first, not walk the samples by id (339 ms at ten million); the exact total of more than K boxes
    must count the kept box counts' index entries, not every box (1.55 s at a million)."""
    pid, _ = await seed_project(db, 0)
    await db.write(_fill, pid, 20_000)

    def rare(s: Session) -> None:  # a rare class: about 10 labelled samples carry a confirmed bus
        s.execute(text(f"""INSERT INTO annotations (project_id, sample_id, label, kind, is_draft, created_by,
                                                    created_at)
                           SELECT project_id, id, 'bus', 'BBOX', false, 'u', '2026-12-07 00:00:00' FROM samples
                           WHERE project_id = {pid} AND status = 'LABELED' AND id % 2000 = 2"""))
        counters.recount(s, pid)

    await db.write(rare)

    def mixed(s: Session) -> None:  # five drafted samples also carry a confirmed dog: the drafted labels' index
        s.execute(text(f"""INSERT INTO annotations (project_id, sample_id, label, kind, is_draft, created_by,
                                                    created_at)
                           SELECT project_id, id, 'dog', 'BBOX', false, 'u', '2026-12-07 00:00:00' FROM samples
                           WHERE project_id = {pid} AND min_confidence IS NOT NULL AND id % 4000 = 5"""))
        counters.recount(s, pid)

    await db.write(mixed)
    postgres = db.is_postgres
    if postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) samples, annotations")
    explain = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
    with db.reading() as s:
        dog = SampleFilter(label="dog")
        how = sample_rows.driving(s, pid, dog)
        assert len([r for r in _drafted_rows(s, pid) if r[1] == "dog"]) == 5
        for after in (None, (0.5, 1), (sample_rows.NO_CONFIDENCE, 15_000)):
            drafted_first = after is None or after[0] < sample_rows.NO_CONFIDENCE
            plans = [_explained(s, stmt, explain) for stmt in sample_rows.least_confident_statements(
                pid, dog, limit=101, after=after, how=how)]
            assert len(plans) == (2 if drafted_first else 1), plans
            for plan in plans:  # never the walk of every drafted sample in confidence order
                assert "ix_samples_project_confidence" not in plan, plan
            if drafted_first:  # the label's drafted samples in order from their index
                assert "ix_drafted_labels_order" in plans[0], plans[0]
            assert "ix_annotations_project_label" in plans[-1], plans[-1]  # then the label's other samples
        nested = SampleFilter(geometry=GeometryFilter(nested_same_class=True), label="dog")
        for after in (None, 15_000):  # the flagged samples' index, not each dog image's boxes compared
            plan = _explained(s, sample_rows.page_statement(pid, nested, limit=101, after=after,
                                                            how=sample_rows.driving(s, pid, nested)), explain)
            assert "ix_samples_project_nested" in plan and "ix_annotations_sample" not in plan, plan
        many = SampleFilter(geometry=GeometryFilter(more_boxes_than=2))  # the exact total: the kept counts' index
        plan = _explained(s, sample_rows.count_statement(pid, many), explain)
        assert "ix_samples_project_boxes" in plan and "annotations" not in plan, plan
        bus = SampleFilter(label="bus", filename="cam1")
        how = sample_rows.driving(s, pid, bus)
        assert how.label_first
        assert 0 < counters.read(s, [pid])[pid][counters.SAMPLE_CLASS]["bus"] <= 20  # under a thousandth of it
        for after in (None, 15_000):
            plan = _explained(s, sample_rows.page_statement(pid, bus, limit=101, after=after, how=how), explain)
            if postgres:  # the label's ids as one array first, then those samples by id
                assert "InitPlan" in plan and "ix_annotations_project_label" in plan, plan
                assert "Merge" not in plan and "ANY" in plan, plan
            else:
                assert "LIST SUBQUERY" in plan and "ix_annotations_project_label" in plan, plan


NEST = [(0.1, 0.1, 0.6, 0.6), (0.2, 0.2, 0.2, 0.2), (0.5, 0.5, 0.4, 0.4), (0.3, 0.1, 0.4, 0.6)]


async def test_every_writer_keeps_the_nested_boxes_flag_the_box_count_and_the_drafted_labels(db: Database) -> None:
    """Saves, drafts (one and many, and imported), accepting and clearing them, consensus, imports (replace and
    append) and a class merge keep Sample.nested_boxes equal to what comparing the sample's boxes finds (the EXISTS
    the filter ran before), Sample.box_count equal to its confirmed boxes, min_box_w / min_box_h to their smallest
    width and height, and drafted_labels equal to what the rows say; the gallery's nested filter, alone and
    with others, returns exactly those samples, and least confident first with a label pages as the rows say."""
    pid, ids = await seed_project(db, 24)
    await db.write(lambda s: s.execute(update(Sample).where(Sample.project_id == pid).values(
        width=100 + (Sample.id % 7) * 300, height=80 + (Sample.id % 5) * 200)))  # "a box under N px" needs sizes
    rng = random.Random(19)

    def boxes(n: int, draft: bool = False) -> list[AnnotationRecord]:
        return [AnnotationRecord(rng.choice(("cat", "dog")), "BBOX", rng.choice(NEST), rng.random() if draft else None,
                                 draft) for _ in range(n)]

    for _ in range(120):
        i = rng.randrange(len(ids))
        sid, action = ids[i], rng.random()
        if action < 0.3:
            await label_rows.save_annotations(db, sid, boxes(rng.randrange(4)), "u1", allow_empty=True,
                                              expected_version=None)
        elif action < 0.45:
            await label_rows.replace_drafts(db, sid, boxes(1 + rng.randrange(3), draft=True), "model")
        elif action < 0.55:
            await label_rows.resolve_drafts(db, [sid], "u2", accept=rng.random() < 0.7)
        elif action < 0.65:
            consensus = boxes(rng.randrange(4))
            await db.write(lambda s, sid=sid, c=consensus: label_rows.replace_labels(s, sid, c, "u3",
                                                                                     action="consensus"))
        elif action < 0.75:
            await label_rows.replace_drafts_many(db, {sid: boxes(2, draft=True)}, "model:m")
        else:
            as_drafts = rng.random() < 0.3  # a model's predictions imported beside what the sample holds
            item = ImportItem(1, f"{i:04}.jpg", tuple(boxes(1 + rng.randrange(3), draft=as_drafts)))
            options = imports.Options(on_existing=rng.choice(["REPLACE", "APPEND"]),
                                      drafts_by="model:import" if as_drafts else None)

            def imported(s: Session, item: ImportItem = item, options: imports.Options = options) -> None:
                out, changes, create = imports.plan(s, pid, [item], options, "u4", lambda _: True)
                assert not out.errors.count
                imports.apply(s, pid, changes, create, out, drafts=options.drafts_by is not None)

            await db.write(imported)

    def flags(s: Session) -> dict[int, bool]:
        rows = s.execute(select(Sample.id, Sample.nested_boxes, geometry.nested_boxes())
                         .where(Sample.project_id == pid)).all()
        for sid, kept, found in rows:
            assert bool(kept) == bool(found), sid
        counted = Counter(s.scalars(select(Annotation.sample_id).where(
            Annotation.project_id == pid, Annotation.kind == "BBOX", Annotation.is_draft.is_(False))))
        assert dict(s.execute(select(Sample.id, Sample.box_count).where(Sample.project_id == pid)).tuples().all()) \
            == {sid: counted[sid] for sid, _, _ in rows}  # the kept count of confirmed boxes
        smallest = {sid: (w, h) for sid, w, h in s.execute(
            select(Annotation.sample_id, func.min(Annotation.w), func.min(Annotation.h)).where(
                Annotation.project_id == pid, Annotation.kind == "BBOX", Annotation.is_draft.is_(False),
                Annotation.x.is_not(None)).group_by(Annotation.sample_id))}
        assert {sid: (w, h) for sid, w, h in s.execute(select(Sample.id, Sample.min_box_w, Sample.min_box_h).where(
            Sample.project_id == pid))} == {sid: smallest.get(sid, (None, None)) for sid, _, _ in rows}
        return {sid: bool(found) for sid, _, found in rows}

    def small_boxes(s: Session) -> None:
        """"A box under N px" (read from min_box_w / min_box_h) finds exactly the samples with such a box."""
        sizes = {r.id: (r.width, r.height) for r in s.execute(select(Sample.id, Sample.width, Sample.height).where(
            Sample.project_id == pid))}
        confirmed = s.execute(select(Annotation.sample_id, Annotation.w, Annotation.h).where(
            Annotation.project_id == pid, Annotation.kind == "BBOX", Annotation.is_draft.is_(False),
            Annotation.x.is_not(None))).all()
        for n in (50, 150, 400):
            want = sorted({sid for sid, w, h in confirmed if w * sizes[sid][0] < n or h * sizes[sid][1] < n})
            f = SampleFilter(geometry=GeometryFilter(smaller_than_px=n))
            rows, _ = sample_rows.page(s, pid, f, first=100, after=None)
            assert [r.id for r in rows] == want and sample_rows.count(s, pid, f) == len(want), n
        assert 0 < len(want) < len(sizes)

    def gallery(s: Session) -> None:
        small_boxes(s)
        nested = flags(s)
        assert 0 < sum(nested.values()) < len(nested)
        drafted = _drafted_rows(s, pid)
        assert drafted == _drafted_found(s, pid) and drafted
        for label in ("cat", "dog"):
            want = [r.id for r in sorted(_expected(s, pid, SampleFilter(label=label)), key=_least_confident_key)]
            f = SampleFilter(label=label)
            assert _walk(lambda a, f=f: sample_rows.least_confident_rows(
                s, pid, f, limit=5, after=a, how=sample_rows.driving(s, pid, f)), _least_confident_key) == want
        for f in (SampleFilter(), SampleFilter(label="cat"), SampleFilter(label="dog", status="LABELED"),
                  SampleFilter(status="PRE_LABELED")):
            with_geometry = SampleFilter(**{**f.__dict__, "geometry": GeometryFilter(nested_same_class=True)})
            want = [r.id for r in _expected(s, pid, f) if nested[r.id]]
            rows, _ = sample_rows.page(s, pid, with_geometry, first=100, after=None)
            assert [r.id for r in rows] == want, f
            assert sample_rows.count(s, pid, with_geometry) == len(want), f

    with db.reading() as s:
        gallery(s)
    await db.write(lambda s: class_rename.rename_class(s, pid, "dog", "cat", "owner"))  # dog boxes become cats
    with db.reading() as s:
        gallery(s)


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_the_migrations_fill_the_drafted_labels_and_box_counts_and_undone_bring_the_counter_back(
        database_url: str) -> None:
    """0021 fills drafted_labels from the rows already stored (and drops the drafted_class counter it replaces);
    undone, it counts them back into that counter. 0022 counts each sample's confirmed boxes, 0024 finds their
    smallest width and height."""
    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as s, s.begin():
            p = projects.create_project(s, name="P", description="", task_type="DETECTION",
                                        classes=["cat", "dog"], multi_label=False, source_volume="/Volumes/t/t/t",
                                        created_by="seed")
            pid = p.id
            sample_rows.insert_new(s, pid, [(f"/Volumes/t/t/t/{i}.jpg", f"{i}.jpg") for i in range(4)])
            ids = list(s.scalars(select(Sample.id).order_by(Sample.id)))
            for sid, confidence, labels in ((ids[0], 0.25, ["cat", "dog", "dog"]), (ids[1], None, ["cat"]),
                                            (ids[2], 0.5, ["dog"]), (ids[3], 0.75, [])):
                s.execute(update(Sample).where(Sample.id == sid).values(min_confidence=confidence))
                s.add_all(Annotation(project_id=pid, sample_id=sid, label=label, kind="BBOX", is_draft=False,
                                     created_by="u", x=0.1, y=0.1, w=0.5 - 0.1 * k, h=0.2 + 0.1 * k)
                          for k, label in enumerate(labels))
        command.downgrade(alembic_config(database_url), "0020")
        with engine.connect() as conn:
            counted = conn.execute(text("SELECT key, n FROM project_counters WHERE kind = 'drafted_class'")).all()
        assert sorted(counted) == [("cat", 1), ("dog", 2)]
        upgrade(database_url)
        with Session(engine) as s:
            assert _drafted_rows(s, pid) == {(ids[0], "cat", 0.25), (ids[0], "dog", 0.25), (ids[2], "dog", 0.5)}
            assert not s.scalar(text("SELECT count(*) FROM project_counters WHERE kind = 'drafted_class'"))
            assert list(s.scalars(select(Sample.box_count).order_by(Sample.id))) == [3, 1, 1, 0]
            smallest = s.execute(select(Sample.min_box_w, Sample.min_box_h).order_by(Sample.id)).all()
            assert [tuple(r) for r in smallest] == [(0.5 - 0.1 * 2, 0.2), (0.5, 0.2), (0.5, 0.2), (None, None)]
    finally:
        engine.dispose()


def _counted(annotations: list[dict]) -> list[dict]:
    """labelCounts from a plain reading of annotations (oldest first)."""
    found: dict[tuple[str, str], dict] = {}
    for a in annotations:
        c = found.setdefault((a["label"], a["kind"]), {"label": a["label"], "kind": a["kind"], "count": 0,
                                                       "drafts": 0})
        c["count"] += 1
        c["drafts"] += a["isDraft"]
    return list(found.values())


def test_label_counts_are_the_annotations_counted_by_label_and_kind(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, [f"{k}.jpg" for k in range(6)], size=(8, 8))
    pid = create_project(client, classes=["cat", "dog", "car"])["id"]
    listed = "query($p: ID!){ project(id: $p){ samples { edges { node { id } } } } }"
    ids = [e["node"]["id"] for e in gql(client, listed, p=pid)["project"]["samples"]["edges"]]
    rng = random.Random(6)

    async def label() -> None:
        db = client.app.state.services.db
        for sid in ids[1:]:
            boxes = [AnnotationRecord(rng.choice(["cat", "dog", "car"]), "BBOX", (0.1 * i, 0.1, 0.1, 0.1))
                     for i in range(rng.randint(0, 6))]
            await label_rows.save_annotations(db, int(sid), boxes, "u1", allow_empty=True, expected_version=None)
            if rng.random() < 0.6:
                drafts = [AnnotationRecord(rng.choice(["cat", "dog"]), "BBOX", (0.5, 0.1 * i, 0.1, 0.1), 0.5)
                          for i in range(rng.randint(1, 4))]
                await label_rows.replace_drafts(db, int(sid), drafts, "model:m")

    client.portal.call(label)
    fields = "id labelCounts { label kind count drafts } annotations { label kind isDraft }"
    paged = f"query($p: ID!){{ project(id: $p){{ samples(first: 10) {{ edges {{ node {{ {fields} }} }} }} }} }}"
    page = gql(client, paged, p=pid)["project"]["samples"]["edges"]
    one = f"query($s: ID!){{ sample(id: $s){{ {fields} }} }}"
    for node in [e["node"] for e in page] + [gql(client, one, s=sid)["sample"] for sid in ids]:
        assert node["labelCounts"] == _counted(node["annotations"]), node["id"]
    assert page[0]["node"]["labelCounts"] == []
    assert any(c["drafts"] for e in page for c in e["node"]["labelCounts"])
