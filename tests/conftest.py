"""Shared fixtures: a fresh migrated database per test on SQLite and on PostgreSQL, the real app, GraphQL helpers."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from bench import live_server
from db import projects, samples
from db.engine import Database
from db.migrate import upgrade
from server import create_app
from settings import UPLOADS_VOLUME, Settings
from tests.databricks_emulator import DatabricksEmulator
from tests.graphql_client import gql, gql_error, gql_raw  # noqa: F401  (the suite's one client)
from tests.spark_session import local_spark
from tests.waiting import until_ended

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite"] if os.environ.get("CVX_SKIP_POSTGRES") == "1" and not os.environ.get("CI") else [
    "sqlite", "postgresql"]
_counter = itertools.count()
_RUN = uuid.uuid4().hex[:8]


def _pg_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is unreachable at {PG_ADMIN_URL} ({exc}). Every database test runs on "
                    "PostgreSQL too: start it (see README) or, on a laptop only, set CVX_SKIP_POSTGRES=1.",
                    pytrace=False)


class _Unexpected(logging.Handler):
    """Keeps every unexpected error the app logs in this process: a GraphQL error masked as INTERNAL, an HTTP 500,
    a job that crashed (schema.errors, routes.guard, jobs.runner all log them as "unexpected error ...")."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("unexpected error"):
            self.lines.append(f"{record.name}: {message}")


unexpected_errors = _Unexpected()
logging.getLogger("cvx").addHandler(unexpected_errors)


@pytest.fixture(autouse=True)
def no_internal_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test during which the app, here or in a live server it started, answered an error it did not expect
    (INTERNAL, "Unexpected error", HTTP 500), unless the test is marked expects_internal_error."""
    here, live = len(unexpected_errors.lines), len(live_server.unexpected_lines)
    yield
    found = unexpected_errors.lines[here:] + live_server.unexpected_lines[live:]
    if found and request.node.get_closest_marker("expects_internal_error") is None:
        pytest.fail("the app answered an unexpected error (INTERNAL / HTTP 500 / a crashed job); the captured log "
                    "has the traceback:\n" + "\n".join(found), pytrace=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"cvx_tmpl_{_RUN}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(_pg_url(name))
    yield name
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}".replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database, already at the newest Alembic revision, private to this test."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"cvx_t_{_RUN}_{next(_counter)}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _pg_url(name)
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(database_url: str, tmp_path: Path, images_dir: Path) -> Settings:
    exports = tmp_path / "exports"
    exports.mkdir()
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url,
        volume_mounts={"/Volumes/test/cvx/images": images_dir, "/Volumes/test/cvx/exports": exports,
                       UPLOADS_VOLUME: tmp_path / "uploads"},
        local_user="alice", migrate_on_start=False, job_lease_seconds=3.0, max_image_pixels=50_000_000,
        allowed_hosts=("testserver",),  # Starlette's TestClient sends Host: testserver
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def wait_for_job(client: TestClient, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    return until_ended(lambda: gql(client, "query($id: ID!){ job(id: $id){ id kind status progress total result error "
                                           "} }", id=job_id)["job"], timeout)


def make_images(folder: Path, names: list[str], size: tuple[int, int] = (64, 48)) -> None:
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".gif": "GIF", ".bmp": "BMP",
               ".tif": "TIFF", ".tiff": "TIFF"}[path.suffix.lower()]
        Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, 120)).save(path, fmt)


CREATE = """mutation($input: CreateProjectInput!) { createProject(input: $input) { id name version classes
  taskType sourceVolume root { id } } }"""


def create_project(client: TestClient, name: str = "Cats", folder: str = "/Volumes/test/cvx/images",
                   task: str = "DETECTION", classes: list[str] | None = None, wait: bool = True) -> dict[str, Any]:
    project = gql(client, CREATE, input={"name": name, "taskType": task, "classes": classes or ["cat", "dog"],
                                         "sourceVolume": folder})["createProject"]
    if wait:
        jobs = gql(client, "query($p: ID!){ jobs(projectId: $p){ id kind } }", p=project["id"])["jobs"]
        project["scan"] = wait_for_job(client, jobs[0]["id"])
    return project


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The database layer alone, for tests that drive db/ functions concurrently."""
    database = Database(database_url)
    yield database
    await database.dispose()


async def seed_project(db: Database, n: int, *, task: str = "DETECTION", multi: bool = False,
                       name: str = "P") -> tuple[int, list[int]]:
    """A project with n samples, made through db/ functions; returns (project id, sample ids)."""
    def seed(s: Session) -> tuple[int, list[int]]:
        p = projects.create_project(s, name=name, description="", task_type=task, classes=["cat", "dog", "car"],
                                    multi_label=multi, source_volume="/Volumes/t/t/t", created_by="seed")
        samples.insert_new(s, p.id, [(f"/Volumes/t/t/t/{name}/{i:04}.jpg", f"{i:04}.jpg") for i in range(n)])
        rows, _ = samples.page(s, p.id, samples.SampleFilter(), first=n, after=None)
        return p.id, [r.id for r in rows]

    return await db.write(seed)


@pytest.fixture
def databricks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[DatabricksEmulator]:
    """A local Databricks workspace (tests/databricks_emulator.py) on loopback. DATABRICKS_* variables and any
    ~/.databrickscfg are hidden, so the SDK uses only the host and credentials a test gives it."""
    for name in [k for k in os.environ if k.startswith("DATABRICKS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "absent.databrickscfg"))
    with DatabricksEmulator() as emu:
        yield emu


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The run's one local SparkSession (tests/spark_session.py), stopped at the end of the run."""
    session = local_spark()
    yield session
    session.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def sdk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One live server per backend for the Python client's tests (tests/sdk_live.py); each test makes its own
    projects in it."""
    from tests.sdk_live import sdk_server

    with sdk_server(request, request.param, tmp_path_factory.mktemp(f"sdk-{request.param}")) as server:
        yield server
