"""Databases a benchmark makes for itself and removes afterwards: a fresh PostgreSQL database on the local server,
or a SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def scratch_postgres(name: str | None = None) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (`name`, replacing one left over, or a random name), dropped
    afterwards."""
    name = name or f"cvx_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(backend: str, sqlite_path: Path) -> Iterator[str]:
    """A new, empty database of `backend` ("sqlite": the file at sqlite_path, removed first; else PostgreSQL)."""
    if backend == "sqlite":
        sqlite_path.unlink(missing_ok=True)
        yield f"sqlite:///{sqlite_path}"
        return
    with scratch_postgres() as url:
        yield url
