"""A real server (AUTH_MODE=token) for the Python client's tests, one per database backend and test module: a
fresh migrated database, image and export folders, an admin with an API token and a plain annotator with one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import cvexplorer
from bench.live_server import live_server
from tests import conftest
from tests.conftest import make_images
from tests.team import add_users

IMAGES, EXPORTS = "/Volumes/sdk/test/images", "/Volumes/sdk/test/exports"


@dataclass
class SdkServer:
    url: str
    token: str  # an instance admin's
    annotator_token: str  # "ann", member of nothing until a test adds them
    images: Path
    database_url: str

    def client(self, token: str | None = None) -> cvexplorer.Client:
        return cvexplorer.Client(self.url, token=token or self.token)

    def folder(self, name: str, files: int, *, readable: bool = False) -> str:
        """A sub-folder of the images volume with `files` .jpg files: empty ones (a scan never opens them), or
        small real images (an export reads their size)."""
        folder = self.images / name
        folder.mkdir()
        names = [f"img{i:05}.jpg" for i in range(files)]
        if readable:
            make_images(folder, names)
        for n in names:
            (folder / n).touch()
        return f"{IMAGES}/{name}"


@contextmanager
def _database(request: pytest.FixtureRequest, backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp / "sdk.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"cvx_sdk_{conftest._RUN}_{next(conftest._counter)}"
    with conftest._pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield conftest._pg_url(name)
    finally:
        with conftest._pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sdk_server(request: pytest.FixtureRequest, backend: str, tmp: Path, **extra_env: str) -> Iterator[SdkServer]:
    images, exports = tmp / "images", tmp / "exports"
    images.mkdir()
    exports.mkdir()
    with _database(request, backend, tmp) as url:
        tokens = add_users(url, {"root": True, "ann": False})
        env = {"DATABASE_URL": url, "DATA_DIR": str(tmp / "data"), "AUTH_MODE": "token", "JOB_LEASE_SECONDS": "3",
               "VOLUME_MOUNTS": f"{IMAGES}={images};{EXPORTS}={exports}", "EXPORT_VOLUME": EXPORTS,
               "MIGRATE_ON_START": "false", **extra_env}
        with live_server(env, timeout=90) as base:
            yield SdkServer(base, tokens["root"], tokens["ann"], images, url)
