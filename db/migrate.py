"""Runs the Alembic migrations programmatically (server start-up, `python server.py migrate`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from db.engine import sync_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def search_path_schema(url: str) -> str:
    """The schema a PostgreSQL URL's `options=-csearch_path=<schema>` puts the tables in ("" when none)."""
    options = make_url(sync_url(url)).query.get("options") or ""
    for option in (options if isinstance(options, str) else " ".join(options)).split():
        if option.startswith("-csearch_path="):
            return option.split("=", 1)[1].split(",")[0].strip('"')
    return ""


def upgrade(url: str) -> None:
    """Bring the database at url to the newest revision; on PostgreSQL every table gets REPLICA IDENTITY FULL.

    A SQLite file's folder is created if it is missing (a fresh data dir)."""
    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sync_url(url))
    try:
        schema = search_path_schema(url)
        if schema and engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        command.upgrade(alembic_config(url), "head")
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                for table in inspect(conn).get_table_names():
                    conn.execute(text(f'ALTER TABLE "{table}" REPLICA IDENTITY FULL'))
    finally:
        engine.dispose()
