"""Project-wide draft actions: the tally a confirmation shows, CONFLICT when it moved meanwhile, and the DRAFTS
job accepting or clearing the drafts of a gallery filter or of the whole project."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from db import labels
from db.records import AnnotationRecord
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

TALLY = """query($p: ID!, $f: SampleFilterInput){ projectDrafts(projectId: $p, filter: $f){ samples drafts } }"""
ACCEPT = """mutation($p: ID!, $n: Int!, $f: SampleFilterInput){ acceptProjectDrafts(projectId: $p, expectedDrafts: $n,
  filter: $f){ id kind status } }"""
CLEAR = """mutation($p: ID!, $n: Int!, $f: SampleFilterInput){ clearProjectDrafts(projectId: $p, expectedDrafts: $n,
  filter: $f){ id kind status } }"""
STATUSES = """query($p: ID!){ project(id: $p){ samples { edges { node { filename status labeledBy
  annotations { label isDraft } } } } } }"""


def _drafted(client: TestClient, images_dir: Path) -> str:
    """Five images; the model drafted two boxes on a_0..a_2 and one on b_3, b_4."""
    make_images(images_dir, ["a_0.jpg", "a_1.jpg", "a_2.jpg", "b_3.jpg", "b_4.jpg"], size=(8, 8))
    pid = create_project(client)["id"]
    edges = gql(client, "query($p: ID!){ project(id: $p){ samples { edges { node { id filename } } } } }",
                p=pid)["project"]["samples"]["edges"]

    async def predict() -> None:
        for e in edges:
            n = 2 if e["node"]["filename"].startswith("a_") else 1
            boxes = [AnnotationRecord("cat", "BBOX", (0.1 * i, 0.1, 0.2, 0.2), 0.6) for i in range(n)]
            await labels.replace_drafts(client.app.state.services.db, int(e["node"]["id"]), boxes, "model:m")

    client.portal.call(predict)
    return pid


def test_accept_a_filter_then_clear_the_rest(client: TestClient, images_dir: Path) -> None:
    pid = _drafted(client, images_dir)
    assert gql(client, TALLY, p=pid, f=None)["projectDrafts"] == {"samples": 5, "drafts": 8}
    only_a = {"filename": "a_"}
    assert gql(client, TALLY, p=pid, f=only_a)["projectDrafts"] == {"samples": 3, "drafts": 6}

    stale = gql_error(client, ACCEPT, p=pid, n=5, f=only_a)  # confirmed a count the filter no longer matches
    assert stale["extensions"]["code"] == "CONFLICT" and "6 model drafts match now" in stale["message"]
    job = gql(client, ACCEPT, p=pid, n=6, f=only_a)["acceptProjectDrafts"]
    assert job["kind"] == "DRAFTS"
    done = wait_for_job(client, job["id"])
    assert done["status"] == "SUCCEEDED" and done["result"] == {"action": "accept", "samples": 3, "drafts": 6}
    nodes = {e["node"]["filename"]: e["node"] for e in gql(client, STATUSES, p=pid)["project"]["samples"]["edges"]}
    assert all(nodes[f"a_{i}.jpg"]["status"] == "LABELED" and nodes[f"a_{i}.jpg"]["labeledBy"] == "alice"
               and [a["isDraft"] for a in nodes[f"a_{i}.jpg"]["annotations"]] == [False, False] for i in range(3))
    assert nodes["b_3.jpg"]["status"] == "PRE_LABELED"

    assert gql(client, TALLY, p=pid, f=None)["projectDrafts"] == {"samples": 2, "drafts": 2}
    done = wait_for_job(client, gql(client, CLEAR, p=pid, n=2, f=None)["clearProjectDrafts"]["id"])
    assert done["result"] == {"action": "clear", "samples": 2, "drafts": 2}
    nodes = {e["node"]["filename"]: e["node"] for e in gql(client, STATUSES, p=pid)["project"]["samples"]["edges"]}
    assert nodes["b_3.jpg"] == {"filename": "b_3.jpg", "status": "UNLABELED", "labeledBy": None, "annotations": []}
    stats = gql(client, "query($p: ID!){ project(id: $p){ stats { labeled preLabeled unlabeled } } }", p=pid)
    assert stats["project"]["stats"] == {"labeled": 3, "preLabeled": 0, "unlabeled": 2}

    nothing = gql_error(client, CLEAR, p=pid, n=0, f=None)
    assert nothing["extensions"]["code"] == "VALIDATION" and "No model drafts match" in nothing["message"]
    bad = gql_error(client, TALLY, p=pid, f={"maxConfidence": 0.5, "status": "NOPE"})
    assert bad["extensions"]["code"] == "VALIDATION"
    assert gql_error(client, TALLY, p="999", f=None)["extensions"]["code"] == "NOT_FOUND"
