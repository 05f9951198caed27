"""Lakebase: the project lookup (or creation), the read-write endpoint, and OAuth database credentials minted with
the real databricks-sdk against the local emulator (tests/emulated_lakebase.py), handed to every new connection and
renewed before they expire. The database itself is the local PostgreSQL; it trusts loopback connections, so these
tests prove which password every connection is given, not that a server checked it.

Lakebase is PostgreSQL only: these tests run on the PostgreSQL leg alone."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from db.engine import Database
from db.lakebase import LakebaseError, LakebaseSettings, credentials_for, resolve
from server import create_app
from settings import Settings, SettingsError
from tests.conftest import gql
from tests.databricks_emulator import DatabricksEmulator
from tests.emulated_lakebase import LAKEBASE_ROUTES, add_project, credentials_issued
from volumes.unity_catalog import connect

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def emu(databricks: DatabricksEmulator) -> DatabricksEmulator:
    return databricks.add_routes(LAKEBASE_ROUTES)


def _workspace(emu: DatabricksEmulator) -> Any:
    return functools.cache(lambda: connect(host=emu.url, token=emu.token))


def _chosen(database_url: str, **changes: Any) -> LakebaseSettings:
    url = make_url(database_url)
    return dataclasses.replace(LakebaseSettings(user=url.username or "postgres", host="", port=url.port or 5432,
                                                database=url.database or "", sslmode="disable", project_id="cvx"),
                               **changes)


def test_new_connections_get_a_fresh_token_before_the_old_one_expires(emu: DatabricksEmulator,
                                                                      database_url: str) -> None:
    add_project(emu, "cvx")
    emu.state["lakebase_ttl"] = 4  # renewed with half its life left: after 2 s
    target = resolve(_workspace(emu), _chosen(database_url))
    assert target.endpoint == "projects/cvx/branches/production/endpoints/primary" and target.host == "127.0.0.1"
    # the workspace's clock and the app's move on together (emu.state["clock_skip"]): no waiting for an expiry
    credentials = credentials_for(_workspace(emu), target.endpoint,
                                  clock=lambda: time.time() + emu.state.get("clock_skip", 0.0))
    db = Database(target.url, password=credentials.password)
    passwords: list[str] = []
    event.listen(db.engine, "do_connect", lambda _d, _r, _a, params: passwords.append(params["password"]))

    def connect_anew() -> None:
        db.engine.dispose()
        with db.reading() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1

    try:
        connect_anew()
        connect_anew()
        assert passwords == credentials_issued(emu) * 2  # one token, reused while fresh
        assert credentials.age() is not None
        emu.state["clock_skip"] = 2.3
        connect_anew()
        assert len(credentials_issued(emu)) == 2 and passwords[-1] == credentials_issued(emu)[-1] != passwords[0]
        assert [c.headers["authorization"] for c in emu.calls("POST", "/api/2.0/postgres/credentials")] == \
            [f"Bearer {emu.token}"] * 2
    finally:
        db.engine.dispose()


def test_the_endpoint_from_the_database_resource_scopes_every_credential(emu: DatabricksEmulator,
                                                                         database_url: str) -> None:
    """App mode: LAKEBASE_ENDPOINT (app.yml's valueFrom on the database resource) and the injected PG* variables;
    no project id. Every password is a credential minted for that endpoint, never the workspace token."""
    add_project(emu, "cvx")
    endpoint = "projects/cvx/branches/production/endpoints/primary"
    chosen = _chosen(database_url, project_id="", endpoint=endpoint)
    target = resolve(_workspace(emu), chosen)
    assert (target.endpoint, target.host) == (endpoint, "127.0.0.1")  # no PGHOST: the endpoint's own host
    assert resolve(_workspace(emu), dataclasses.replace(chosen, host="localhost")).host == "localhost"
    credentials = credentials_for(_workspace(emu), target.endpoint)
    assert credentials.password() == credentials_issued(emu)[-1]
    [call] = emu.calls("POST", "/api/2.0/postgres/credentials")
    assert call.status == 200
    with pytest.raises(LakebaseError, match="does not exist"):
        resolve(_workspace(emu), dataclasses.replace(chosen, endpoint="projects/cvx/branches/production/endpoints/x"))
    with pytest.raises(LakebaseError, match="LAKEBASE_ENDPOINT"):
        resolve(_workspace(emu), dataclasses.replace(chosen, endpoint="", host="localhost"))


def test_a_missing_project_stops_start_up_unless_auto_provisioning(emu: DatabricksEmulator,
                                                                    database_url: str) -> None:
    with pytest.raises(LakebaseError, match="LAKEBASE_AUTO_PROVISION=true"):
        resolve(_workspace(emu), _chosen(database_url, project_id="labels"))
    target = resolve(_workspace(emu), _chosen(database_url, project_id="labels", auto_provision=True))
    assert target.endpoint == "projects/labels/branches/production/endpoints/primary"
    assert emu.state["lakebase_created"] == [{"spec": {"display_name": "labels"}}]
    with pytest.raises(LakebaseError, match="LAKEBASE_BRANCH_ID"):
        resolve(_workspace(emu), _chosen(database_url, project_id="labels", branch_id="dev"))


def test_the_app_serves_from_lakebase_and_shows_the_token_age(emu: DatabricksEmulator, database_url: str,
                                                               settings: Settings) -> None:
    add_project(emu, "cvx")
    chosen = dataclasses.replace(settings, lakebase=_chosen(database_url), databricks_host=emu.url,
                                 serving_token=emu.token, database_url="postgresql+psycopg://lakebase",
                                 migrate_on_start=True)
    with TestClient(create_app(chosen)) as client:
        instance = gql(client, "{ instance { backend database databaseTokenAgeSeconds } }")["instance"]
    assert instance["backend"] == "postgresql" and make_url(database_url).database in instance["database"]
    assert 0 <= instance["databaseTokenAgeSeconds"] < 60
    assert "lakebase-token" not in instance["database"]
    plain = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:  # the tables went to their own schema (the app may not create in public)
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'cv_explorer'")}
    assert {"samples", "annotations", "alembic_version"} <= tables


def test_settings_choose_lakebase_from_the_platform_variables(database_url: str) -> None:
    endpoint = "projects/cvx/branches/production/endpoints/primary"
    env = {"PGHOST": "instance-1.database.cloud.databricks.com", "PGDATABASE": "labels", "PGUSER": "sp-123",
           "PGSSLMODE": "require", "DATABRICKS_HOST": "adb-1.cloud.databricks.com", "LAKEBASE_ENDPOINT": endpoint}
    s = Settings.from_env(env)
    assert s.lakebase == LakebaseSettings(user="sp-123", host="instance-1.database.cloud.databricks.com",
                                          database="labels", endpoint=endpoint)
    # PGHOST alone would leave only the workspace token as a password, which Lakebase refuses: say what is missing.
    with pytest.raises(SettingsError, match=r"LAKEBASE_ENDPOINT is not.*valueFrom: database"):
        Settings.from_env({k: v for k, v in env.items() if k != "LAKEBASE_ENDPOINT"})
    with pytest.raises(SettingsError, match="LAKEBASE_ENDPOINT='primary' must be projects/"):
        Settings.from_env({**env, "LAKEBASE_ENDPOINT": "primary"})
    assert Settings.from_env({**env, "DATABASE_URL": "sqlite:///x.db"}).lakebase is None
    with pytest.raises(SettingsError, match="DATABRICKS_HOST"):
        Settings.from_env({k: v for k, v in env.items() if k != "DATABRICKS_HOST"})
    with pytest.raises(SettingsError, match="LAKEBASE_AUTO_PROVISION"):
        Settings.from_env({**env, "LAKEBASE_AUTO_PROVISION": "maybe"})
