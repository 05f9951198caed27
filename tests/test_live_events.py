"""A live event carries exactly the data of the version it announces, however long the websocket has been open and
whatever it read before; a save made on that version keeps everyone's work, a save on an older one is CONFLICT."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

FIELDS = "id version status annotations { label box { x y w h } }"
CHANGED = f"subscription($p: ID!){{ sampleChanged(projectId: $p){{ {FIELDS} }} }}"
READ = f"query($id: ID!){{ sample(id: $id){{ {FIELDS} }} }}"
SAVE = f"""mutation($id: ID!, $a: [AnnotationInput!]!, $v: Int) {{
  saveAnnotations(sampleId: $id, annotations: $a, expectedVersion: $v) {{ {FIELDS} }} }}"""


@contextmanager
def socket(client: TestClient) -> Iterator[Any]:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        yield ws


def start(ws: Any, op_id: str, query: str, **variables: Any) -> None:
    ws.send_json({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})


def receive(ws: Any, op_id: str) -> dict[str, Any]:
    """The next result of one operation on the socket (others' messages, completions and pongs are passed over)."""
    while True:
        msg = ws.receive_json()
        if msg.get("id") == op_id and msg["type"] == "next":
            assert not msg["payload"].get("errors"), msg
            return msg["payload"]["data"]
        assert msg["type"] in ("next", "complete", "pong"), msg


def boxes(*labels: str) -> list[dict[str, Any]]:
    return [{"label": lbl, "kind": "BBOX", "box": {"x": 0.1 * i, "y": 0.1, "w": 0.1, "h": 0.1}}
            for i, lbl in enumerate(labels)]


def shown(sample: dict[str, Any]) -> list[str]:
    return sorted(a["label"] for a in sample["annotations"])


def _project(client: TestClient, images_dir: Path, task: str) -> tuple[str, str]:
    make_images(images_dir, ["a.jpg"], size=(8, 8))
    if task == "multi":
        p = gql(client, """mutation { createProject(input: {name: "M", taskType: CLASSIFICATION, multiLabel: true,
          classes: ["cat", "dog", "car"], sourceVolume: "/Volumes/test/cvx/images"}) { id } }""")["createProject"]
        wait_for_job(client, gql(client, "query($p: ID!){ jobs(projectId: $p){ id } }", p=p["id"])["jobs"][0]["id"])
    else:
        p = create_project(client, task="DETECTION", classes=["cat", "dog", "car"])
    sid = gql(client, "query($id: ID!){ project(id: $id){ samples { edges { node { id } } } } }",
              id=p["id"])["project"]["samples"]["edges"][0]["node"]["id"]
    return p["id"], sid


def _save(client: TestClient, task: str, sid: str, labels: list[str], version: int | None) -> dict[str, Any]:
    if task == "multi":
        q = f"""mutation($id: ID!, $l: [String!]!, $v: Int) {{ setClassification(sampleId: $id, labels: $l,
          expectedVersion: $v) {{ {FIELDS} }} }}"""
        return gql(client, q, id=sid, l=labels, v=version)["setClassification"]
    return gql(client, SAVE, id=sid, a=boxes(*labels), v=version)["saveAnnotations"]


@pytest.mark.parametrize("task", ["multi", "detection"])
def test_an_event_carries_the_labels_of_the_version_it_announces(client: TestClient, images_dir: Path,
                                                                  task: str) -> None:
    pid, sid = _project(client, images_dir, task)
    with socket(client) as tab_a:
        start(tab_a, "events", CHANGED, p=pid)
        start(tab_a, "read", READ, id=sid)  # tab A has seen the image (unlabelled) on this connection
        assert receive(tab_a, "read")["sample"]["annotations"] == []
        first = _save(client, task, sid, ["dog"], 1)  # tab B
        event = receive(tab_a, "events")["sampleChanged"]
        assert (event["version"], shown(event)) == (first["version"], ["dog"])
        second = _save(client, task, sid, ["cat", "dog"], first["version"])  # tab B again
        event = receive(tab_a, "events")["sampleChanged"]
        assert (event["version"], shown(event)) == (second["version"], ["cat", "dog"])
        assert event["annotations"] == second["annotations"]
        start(tab_a, "reread", READ, id=sid)
        assert receive(tab_a, "reread")["sample"] == event
        # tab A edits what the event showed: nothing of B's is lost
        third = _save(client, task, sid, ["car", "cat", "dog"], event["version"])
        assert shown(third) == ["car", "cat", "dog"]
        assert shown(receive(tab_a, "events")["sampleChanged"]) == ["car", "cat", "dog"]
        # saving the same labels again is no change: no event (the next one tab A gets is the next real change)
        assert _save(client, task, sid, ["car", "cat", "dog"], third["version"])["version"] == third["version"]
        fourth = _save(client, task, sid, ["cat"], third["version"])
        assert receive(tab_a, "events")["sampleChanged"] == fourth
        third = _save(client, task, sid, ["car", "cat", "dog"], fourth["version"])
        receive(tab_a, "events")
    # a save made on an older version is refused, and changes nothing
    q = SAVE if task == "detection" else """mutation($id: ID!, $l: [String!]!, $v: Int) {
      setClassification(sampleId: $id, labels: $l, expectedVersion: $v) { version } }"""
    args = {"a": boxes("dog")} if task == "detection" else {"l": ["dog"]}
    error = gql_error(client, q, id=sid, v=second["version"], **args)
    assert error["extensions"]["code"] == "CONFLICT" and error["extensions"]["currentVersion"] == third["version"]
    assert gql(client, READ, id=sid)["sample"] == third
