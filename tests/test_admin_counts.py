"""The admin page's table counts: rows in every table of the app, exact, for instance admins only."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import create_project, gql, make_images

COUNTS = "{ instance { tableCounts { table rows } } }"


def test_table_counts_follow_the_rows(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"])
    project = create_project(client, task="CLASSIFICATION")
    sid = gql(client, "query($p: ID!){ project(id: $p){ samples(first: 1){ edges { node { id } } } } }",
              p=project["id"])["project"]["samples"]["edges"][0]["node"]["id"]
    gql(client, 'mutation($s: ID!){ setClassification(sampleId: $s, labels: ["cat"]){ id } }', s=sid)
    counts = {c["table"]: c["rows"] for c in gql(client, COUNTS)["instance"]["tableCounts"]}
    assert (counts["projects"], counts["samples"], counts["annotations"], counts["jobs"]) == (1, 3, 1, 1)
    assert counts["annotation_events"] == 1 and list(counts) == sorted(counts)
    assert "alembic_version" not in counts  # the app's own tables only
