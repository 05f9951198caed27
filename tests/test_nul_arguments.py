"""A NUL character in any string a request passes (variable or inline) is VALIDATION naming the argument, on both
databases (PostgreSQL cannot store one, so it used to answer "Unexpected error"), and nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import create_project, gql, gql_raw, make_images

CREATE = """mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }"""


@pytest.fixture
def sample(client: TestClient, images_dir: Path) -> tuple[str, str]:
    make_images(images_dir, ["a.jpg"], size=(8, 8))
    pid = create_project(client, task="CLASSIFICATION")["id"]
    sid = gql(client, "query($id: ID!){ project(id: $id){ samples { edges { node { id } } } } }",
              id=pid)["project"]["samples"]["edges"][0]["node"]["id"]
    return pid, sid


def _refused(client: TestClient, query: str, where: str, **variables: object) -> None:
    body = gql_raw(client, query, **variables)
    assert body.get("data") is None and body.get("errors"), body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION", error
    assert where in error["message"] and "NUL" in error["message"], error["message"]


def test_nul_in_variables_is_refused_naming_them(client: TestClient, sample: tuple[str, str]) -> None:
    pid, sid = sample
    _refused(client, CREATE, "$input.name", input={"name": "Cats\x00", "taskType": "DETECTION", "classes": ["a"],
                                                   "sourceVolume": "/Volumes/test/cvx/images"})
    _refused(client, CREATE, "$input.classes[1]", input={"name": "Cats", "taskType": "DETECTION",
                                                         "classes": ["a", "b\x00"],
                                                         "sourceVolume": "/Volumes/test/cvx/images"})
    _refused(client, "mutation($id: ID!, $l: [String!]!){ setClassification(sampleId: $id, labels: $l){ id } }",
             "$l[0]", id=sid, l=["cat\x00"])
    _refused(client, "mutation($id: ID!, $c: String){ reviewSample(sampleId: $id, accept: false, comment: $c){ id } }",
             "$c", id=sid, c="redo\x00 this")
    _refused(client, "mutation($ids: [ID!]!){ acceptDrafts(sampleIds: $ids) }", "$ids[0]", ids=["1\x00"])
    _refused(client, "query($p: ID!){ project(id: $p){ id } }", "$p", p=f"{pid}\x00")
    assert gql(client, "{ projects { name } }")["projects"] == [{"name": "Cats"}]  # nothing was created


def test_nul_inline_is_refused_naming_the_argument(client: TestClient, sample: tuple[str, str]) -> None:
    _, sid = sample
    _refused(client, 'mutation { createProject(input: {name: "x\\u0000", taskType: DETECTION, classes: ["a"], '
                     'sourceVolume: "/Volumes/test/cvx/images"}) { id } }', "createProject(input.name)")
    _refused(client, f'mutation {{ setClassification(sampleId: "{sid}", labels: ["cat", "d\\u0000g"]) {{ id }} }}',
             "setClassification(labels[1])")
    _refused(client, f'mutation {{ reviewSample(sampleId: "{sid}", accept: true, comment: "\\u0000") {{ id }} }}',
             "reviewSample(comment)")
    status = gql(client, "query($id: ID!){ sample(id: $id){ status version } }", id=sid)["sample"]
    assert status == {"status": "UNLABELED", "version": 1}
