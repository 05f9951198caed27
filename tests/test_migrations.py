"""The Alembic migrations build exactly the tables the models declare, and every one of them can be undone."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from db import users
from db.engine import sync_url
from db.migrate import alembic_config, upgrade
from db.models import Base, User

# Migration 0002 keeps these two foreign keys on SQLite only (dropping them there means rebuilding the tables).
KEPT_ON_SQLITE = {("remove_fk", "annotations"), ("remove_fk", "annotation_events")}
# Migration 0023 turns these two sample keys into statement-level triggers on PostgreSQL (the models keep the keys,
# which SQLite has).
CHECKED_BY_TRIGGERS = {("add_fk", "annotations"), ("add_fk", "annotation_events")}
SAMPLE_KEY_TRIGGERS = {"annotations_sample_on_insert", "annotations_sample_on_update",
                       "annotation_events_sample_on_insert", "annotation_events_sample_on_update",
                       "samples_delete_their_rows", "samples_keep_ids", "samples_no_truncate"}


def _differences(url: str) -> set[tuple[str, str]]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLite cannot reflect the expression index; alembic says so
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    found = set()
    for diff in diffs:
        kind = diff[0] if isinstance(diff, tuple) else diff[0][0]
        item = diff[1] if isinstance(diff, tuple) else diff[0][2]
        if getattr(item, "name", None) in EXPRESSION_INDEXES:
            continue  # PostgreSQL reflects the expression with its casts, which alembic reads as a different one
        table = getattr(item, "table", None)
        found.add((kind, getattr(table, "name", None) or str(item)))
    return found


# Expression indexes: reflection skips them on SQLite, and alembic cannot compare PostgreSQL's text of them with
# the models'. The catalogue is asked instead (_has_expression_indexes).
EXPRESSION_INDEXES = {"ix_samples_project_confidence", "ix_samples_project_smallest_box"}


def _has_expression_indexes(url: str) -> bool:
    catalogue = ("select name from sqlite_master where type = 'index'" if url.startswith("sqlite")
                 else "select indexname from pg_indexes")
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return EXPRESSION_INDEXES.issubset(conn.execute(text(catalogue)).scalars())
    finally:
        engine.dispose()


def _tables_without_full_replica_identity(url: str) -> list[str]:
    """PostgreSQL: every table must log whole rows, so Lakehouse Sync can mirror it to Delta (db.migrate.upgrade)."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where c.relkind = 'r' and n.nspname = current_schema() and c.relreplident <> 'f'")).scalars())
    finally:
        engine.dispose()


def _expected_differences(url: str) -> set[tuple[str, str]]:
    return KEPT_ON_SQLITE if url.startswith("sqlite") else CHECKED_BY_TRIGGERS


def _sample_key_triggers(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("select tgname from pg_trigger where not tgisinternal")).scalars())
    finally:
        engine.dispose()


def test_the_migrated_schema_is_what_the_models_declare(database_url: str) -> None:
    assert _differences(database_url) == _expected_differences(database_url)
    assert _has_expression_indexes(database_url)
    if database_url.startswith("postgresql"):
        assert _tables_without_full_replica_identity(database_url) == []
        assert _sample_key_triggers(database_url) == SAMPLE_KEY_TRIGGERS


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_every_migration_can_be_undone_and_redone(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
    engine = create_engine(sync_url(database_url))
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(database_url)
    assert _differences(database_url) == _expected_differences(database_url)
    assert _has_expression_indexes(database_url)


def test_users_named_by_an_email_keep_it_and_their_first_request_claims_them(database_url: str) -> None:
    """0008: accounts were keyed by the e-mail header; now by the stable user id, which old rows do not have."""
    command.downgrade(alembic_config(database_url), "0007")
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            for name in ("Boss@Example.com", "bo", "4711@1234567890123456"):
                conn.execute(text("INSERT INTO users (name, is_admin, created_at) VALUES (:n, :a, :t)"),
                             {"n": name, "a": False, "t": datetime.now(UTC)})
        upgrade(database_url)
        with Session(engine) as session, session.begin():
            assert {u.name: (u.email, u.platform_id) for u in session.scalars(select(User))} == {
                "Boss@Example.com": ("boss@example.com", None), "bo": (None, None),
                "4711@1234567890123456": (None, None)}
            claimed = users.see_platform_user(session, "1@9", "boss@example.com", "boss@example.com", is_admin=True)
            assert (claimed.name, claimed.platform_id) == ("Boss@Example.com", "1@9")  # the same account
    finally:
        engine.dispose()
