"""Moving through a project's samples as the labelling view does: backwards pages, positions, jumps."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import create_project, gql, make_images

NAV = """query($p: ID!, $s: ID!, $before: String, $status: SampleStatus) { project(id: $p) {
  samples(before: $before, first: 3, status: $status) {
    pageInfo { hasPreviousPage hasNextPage startCursor endCursor } edges { node { id filename } } }
  samplePosition(sampleId: $s, status: $status)
  sampleAt(position: 4, status: $status) { id filename } } }"""


def test_before_pages_position_and_jump(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, [f"{i:02}.jpg" for i in range(10)])
    project = create_project(client)
    ids = [e["node"]["id"] for e in gql(client, 'query($p: ID!){ project(id: $p){ samples(first: 20){ edges { node '
                                               '{ id } } } } }', p=project["id"])["project"]["samples"]["edges"]]
    data = gql(client, NAV, p=project["id"], s=ids[6], before=ids[6])["project"]
    page = data["samples"]
    assert [e["node"]["id"] for e in page["edges"]] == ids[3:6]  # the three just before, in id order
    assert page["pageInfo"]["hasPreviousPage"] and not page["pageInfo"]["hasNextPage"]
    assert page["pageInfo"]["startCursor"] == ids[3]
    assert data["samplePosition"] == 7
    assert data["sampleAt"]["id"] == ids[3]

    first = gql(client, NAV, p=project["id"], s=ids[0], before=ids[2])["project"]
    assert [e["node"]["id"] for e in first["samples"]["edges"]] == ids[:2]
    assert not first["samples"]["pageInfo"]["hasPreviousPage"]
    assert first["samplePosition"] == 1


def test_position_follows_filters(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, [f"{i:02}.jpg" for i in range(6)])
    project = create_project(client)
    ids = [e["node"]["id"] for e in gql(client, 'query($p: ID!){ project(id: $p){ samples{ edges { node { id } } } '
                                               '} }', p=project["id"])["project"]["samples"]["edges"]]
    gql(client, 'mutation($s: ID!){ skipSample(sampleId: $s){ id } }', s=ids[1])
    data = gql(client, NAV, p=project["id"], s=ids[3], before=None, status="UNLABELED")["project"]
    assert data["samplePosition"] == 3  # ids[1] is skipped, so ids[3] is third among the unlabelled
    assert data["sampleAt"]["id"] == ids[4]
    skipped = gql(client, NAV, p=project["id"], s=ids[3], before=None, status="SKIPPED")["project"]
    assert skipped["samplePosition"] == 0 and skipped["sampleAt"] is None
