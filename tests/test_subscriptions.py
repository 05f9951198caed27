"""Subscriptions through the real graphql-transport-ws protocol, in one process and across two on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from db.broker import Broker
from db.engine import Database, emit
from server import create_app
from settings import Settings
from tests.conftest import PG_ADMIN_URL, create_project, gql, make_images

STATS_SUB = "subscription($p: ID!){ projectStats(projectId: $p){ total labeled perClass { label count } } }"
SAVE = """mutation($id: ID!, $l: String!){ saveAnnotations(sampleId: $id, annotations: [{label: $l, kind: BBOX,
  box: {x: 0.1, y: 0.1, w: 0.2, h: 0.2}}]){ version } }"""


@contextmanager
def subscription(client: TestClient, query: str, **variables: Any) -> Iterator[Any]:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        yield ws


def next_data(ws: Any) -> dict[str, Any]:
    msg = ws.receive_json()
    assert msg["type"] == "next", msg
    assert not msg["payload"].get("errors"), msg
    return msg["payload"]["data"]


def barrier(ws: Any) -> None:
    """ping/pong: once answered, the subscription above is registered (see ENVIRONMENT.md)."""
    ws.send_json({"type": "ping"})
    while ws.receive_json()["type"] != "pong":
        pass


def _ids(client: TestClient, pid: str) -> list[str]:
    q = "query($id: ID!){ project(id: $id){ samples { edges { node { id } } } } }"
    return [e["node"]["id"] for e in gql(client, q, id=pid)["project"]["samples"]["edges"]]


def test_project_stats_and_sample_changed(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(8, 8))
    project = create_project(client)
    ids = _ids(client, project["id"])
    with subscription(client, STATS_SUB, p=project["id"]) as ws:
        first = next_data(ws)["projectStats"]
        assert (first["total"], first["labeled"]) == (2, 0)
        gql(client, SAVE, id=ids[0], l="dog")
        update = next_data(ws)["projectStats"]
        assert update["labeled"] == 1 and update["perClass"][1] == {"label": "dog", "count": 1}
    sub = "subscription($p: ID!){ sampleChanged(projectId: $p){ id status version annotations { label } } }"
    with subscription(client, sub, p=project["id"]) as ws:
        barrier(ws)
        gql(client, SAVE, id=ids[1], l="cat")
        changed = next_data(ws)["sampleChanged"]
        assert changed == {"id": ids[1], "status": "LABELED", "version": 2, "annotations": [{"label": "cat"}]}


def test_unknown_project_is_an_error_and_the_socket_stays_usable(client: TestClient, images_dir: Path) -> None:
    project = create_project(client)
    with subscription(client, STATS_SUB, p="424242") as ws:
        msg = ws.receive_json()
        assert msg["type"] in ("error", "next") and "does not exist" in str(msg["payload"])
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": STATS_SUB,
                                                                   "variables": {"p": project["id"]}}})
        msg = ws.receive_json()
        while msg.get("id") != "2":
            msg = ws.receive_json()
        assert msg["type"] == "next" and msg["payload"]["data"]["projectStats"]["total"] == 0


async def test_a_rolled_back_transaction_publishes_nothing(database_url: str) -> None:
    db, broker = Database(database_url), Broker()
    db.on_commit = broker.publish
    try:
        async with broker.subscribe("project:1") as q:
            def fails(s: Session) -> None:
                emit(s, "project:1", "prepared")
                raise RuntimeError("the transaction fails after the event was prepared")

            with pytest.raises(RuntimeError):
                await db.write(fails)
            await db.write(emit, "project:1", "committed")
            assert q.get_nowait() == "committed" and q.empty()
    finally:
        await db.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite deployments are one process
def test_a_save_in_one_server_reaches_a_subscriber_of_another(settings: Settings, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg"], size=(8, 8))
    other = Settings(**{**settings.__dict__, "data_dir": settings.data_dir / "b", "run_jobs": False})
    with TestClient(create_app(settings)) as a, TestClient(create_app(other)) as b:
        project = create_project(a)
        sample = _ids(a, project["id"])[0]
        with subscription(b, STATS_SUB, p=project["id"]) as ws:
            assert next_data(ws)["projectStats"]["labeled"] == 0
            gql(a, SAVE, id=sample, l="cat")
            assert next_data(ws)["projectStats"]["labeled"] == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_cut_notify_connection_is_renewed_without_losing_the_event(settings: Settings, images_dir: Path) -> None:
    """The server (a restart, an idle-connection reaper) cuts the connection NOTIFY goes out on: the next event is
    sent again on a fresh one, so the other server still gets it."""
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"], size=(8, 8))
    other = Settings(**{**settings.__dict__, "data_dir": settings.data_dir / "b", "run_jobs": False})
    with TestClient(create_app(settings)) as a, TestClient(create_app(other)) as b:
        project = create_project(a)
        samples = _ids(a, project["id"])
        with subscription(b, STATS_SUB, p=project["id"]) as ws:
            assert next_data(ws)["projectStats"]["labeled"] == 0
            gql(a, SAVE, id=samples[0], l="cat")
            assert next_data(ws)["projectStats"]["labeled"] == 1
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                cut = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                                    "AND query LIKE %s", (make_url(settings.database_url).database, "%pg_notify%"))
                assert cut.rowcount == 1
            gql(a, SAVE, id=samples[1], l="cat")
            time.sleep(0.5)  # past the subscriber's throttle: a lost event would show as a jump from 1 to 3
            gql(a, SAVE, id=samples[2], l="cat")
            assert next_data(ws)["projectStats"]["labeled"] == 2


def test_notify_payloads_stay_under_postgresqls_limit_and_keep_order() -> None:
    import orjson

    from db.broker import NOTIFY_LIMIT, _payloads

    events = [(f"project:{i}", "x" * 300) for i in range(100)]
    payloads = _payloads(events, orjson.dumps)
    assert len(payloads) > 1 and all(len(p) <= NOTIFY_LIMIT for p in payloads)
    assert [tuple(e) for p in payloads for e in orjson.loads(p)] == events
