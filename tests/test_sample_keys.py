"""No annotation or history row outlives its sample, or names one that does not exist: on SQLite by foreign keys,
on PostgreSQL by migration 0023's statement-level triggers, under the same races the keys handle."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from db import projects
from db import samples as sample_rows
from db.engine import Database
from db.migrate import upgrade
from db.models import Annotation, AnnotationEvent, Sample


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.engine.dispose()


def _samples(database: Database, count: int) -> list[int]:
    with database._writer() as s, s.begin():
        pid = projects.create_project(s, name="keys", description="", task_type="DETECTION", classes=["car"],
                                      multi_label=False, source_volume="/Volumes/a/b/c", created_by="lead").id
        sample_rows.insert_new(s, pid, [(f"/Volumes/a/b/c/{k}.jpg", f"{k}.jpg") for k in range(count)])
        return list(s.scalars(select(Sample.id).where(Sample.project_id == pid).order_by(Sample.id)))


def _box(sample_id: int) -> dict[str, object]:
    return {"project_id": 1, "sample_id": sample_id, "label": "car", "kind": "BBOX", "x": 1.0, "y": 2.0, "w": 3.0,
            "h": 4.0, "is_draft": False, "created_by": "lead"}


def _event(sample_id: int) -> dict[str, object]:
    return {"project_id": 1, "sample_id": sample_id, "action": "create", "label_after": "car", "actor": "lead"}


def _count(database: Database, model: type, sample_ids: list[int] | None = None) -> int:
    with database.reading() as s:
        query = select(func.count()).select_from(model)
        if sample_ids is not None:
            query = query.where(model.sample_id.in_(sample_ids))  # type: ignore[attr-defined]
        return int(s.scalar(query) or 0)


@pytest.mark.parametrize("model, row", [(Annotation, _box), (AnnotationEvent, _event)])
def test_rows_naming_a_missing_sample_are_refused_whole(database: Database, model: type, row) -> None:
    real = _samples(database, 2)
    with pytest.raises(IntegrityError), database._writer() as s, s.begin():
        s.execute(insert(model), [row(real[0]), row(real[1]), row(real[1] + 1000)])
    assert _count(database, model) == 0
    with database._writer() as s, s.begin():
        s.execute(insert(model), [row(real[0])])
    with pytest.raises(IntegrityError), database._writer() as s, s.begin():
        s.execute(model.__table__.update().values(sample_id=real[1] + 1000))  # type: ignore[attr-defined]
    assert _count(database, model, [real[0]]) == 1


def test_deleting_samples_deletes_their_annotations_and_history_only(database: Database) -> None:
    ids = _samples(database, 3)
    with database._writer() as s, s.begin():
        s.execute(insert(Annotation), [_box(i) for i in ids for _ in range(2)])
        s.execute(insert(AnnotationEvent), [_event(i) for i in ids])
        s.execute(Sample.__table__.delete().where(Sample.id.in_(ids[:2])))
    assert (_count(database, Annotation, ids[:2]), _count(database, AnnotationEvent, ids[:2])) == (0, 0)
    assert (_count(database, Annotation, ids[2:]), _count(database, AnnotationEvent, ids[2:])) == (2, 1)


def _in_thread(work) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as e:  # handed to the test
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_an_insert_racing_the_delete_of_its_sample_fails_once_the_delete_commits(database: Database) -> None:
    sample = _samples(database, 1)[0]
    with database._writer() as deleting, deleting.begin():
        deleting.execute(Sample.__table__.delete().where(Sample.id == sample))

        def add() -> None:
            with database._writer() as s, s.begin():
                s.execute(insert(Annotation), [_box(sample)])

        thread, errors = _in_thread(add)
        time.sleep(0.3)
        assert thread.is_alive(), "the insert should wait for the delete's transaction"
    thread.join(20)
    assert len(errors) == 1 and isinstance(errors[0], IntegrityError), errors
    assert _count(database, Annotation) == 0


def test_a_delete_racing_an_insert_takes_the_inserted_rows_with_it(database: Database) -> None:
    sample = _samples(database, 1)[0]
    with database._writer() as adding, adding.begin():
        adding.execute(insert(Annotation), [_box(sample)])

        def remove() -> None:
            with database._writer() as s, s.begin():
                s.execute(Sample.__table__.delete().where(Sample.id == sample))

        thread, errors = _in_thread(remove)
        time.sleep(0.3)
        assert thread.is_alive(), "the delete should wait for the insert's transaction"
    thread.join(20)
    assert errors == []
    assert _count(database, Annotation) == 0


def test_sample_ids_that_rows_name_cannot_change_and_samples_cannot_be_truncated(database: Database) -> None:
    sample = _samples(database, 1)[0]
    with database._writer() as s, s.begin():
        s.execute(insert(Annotation), [_box(sample)])
    with pytest.raises(IntegrityError), database._writer() as s, s.begin():
        s.execute(Sample.__table__.update().where(Sample.id == sample).values(id=sample + 1000))
    if database.is_postgres:
        with pytest.raises(Exception, match=r"truncate"), database._writer() as s, s.begin():
            s.execute(text("TRUNCATE samples"))
    assert _count(database, Annotation, [sample]) == 1


def test_the_checks_look_in_the_apps_schema_whatever_the_writers_search_path(database_url: str) -> None:
    """Lakebase keeps the tables in their own schema (LAKEBASE_SCHEMA): a writer whose search_path does not name it
    still has its rows checked against that schema's samples."""
    if not database_url.startswith("postgresql"):
        pytest.skip("schemas are PostgreSQL's; SQLite's keys name their table")
    in_schema = f"{database_url}?options=-csearch_path%3Dcvx_keys"
    upgrade(in_schema)
    database = Database(in_schema)
    try:
        sample = _samples(database, 1)[0]
    finally:
        database.engine.dispose()
    plain = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:  # search_path: public, whose samples table is empty
        add = ("INSERT INTO cvx_keys.annotations (project_id, sample_id, label, kind, is_draft, created_by, "
               "created_at) VALUES (1, %s, 'car', 'BBOX', false, 'lead', now())")
        conn.execute(add, (sample,))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(add, (sample + 1000,))
        conn.execute("DELETE FROM cvx_keys.samples")
        assert conn.execute("SELECT count(*) FROM cvx_keys.annotations").fetchone()[0] == 0
