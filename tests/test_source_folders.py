"""A project's image folder over time: a rescan marks vanished files missing (labels kept, shown as missing), an owner
purges them on a confirmed count; moving to another folder says first what it keeps, drops and adds, then does it."""

from __future__ import annotations

import shutil
from pathlib import Path

from starlette.testclient import TestClient

from server import Settings
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

SAMPLES = """query($p: ID!){ project(id: $p){ sourceVolume stats { total labeled unlabeled perClass { label count } }
  samples(first: 50){ edges { node { id filename path missing status annotations { label } } } } } }"""
CLASSIFY = 'mutation($s: ID!, $l: [String!]!){ setClassification(sampleId: $s, labels: $l){ id } }'
RESCAN = "mutation($p: ID!){ rescanProject(id: $p){ id } }"
MISSING = "query($p: ID!){ missingSamples(projectId: $p){ samples labelled annotations } }"
PURGE = "mutation($p: ID!, $n: Int!){ purgeMissingSamples(projectId: $p, expectedSamples: $n) }"
CHANGE = """mutation($p: ID!, $f: String!, $dry: Boolean, $n: Int){ changeSourceFolder(projectId: $p, sourceVolume: $f,
  dryRun: $dry, expectedDropped: $n){ id kind } }"""


def _nodes(client: TestClient, pid: str) -> dict[str, dict]:
    return {e["node"]["filename"]: e["node"] for e in gql(client, SAMPLES, p=pid)["project"]["samples"]["edges"]}


def _labelled(client: TestClient, images_dir: Path) -> str:
    make_images(images_dir, ["a.jpg", "b.jpg", "sub/c.jpg", "d.jpg"])
    pid = create_project(client, task="CLASSIFICATION")["id"]
    nodes = _nodes(client, pid)
    for name in ("a.jpg", "b.jpg", "sub/c.jpg"):
        gql(client, CLASSIFY, s=nodes[name]["id"], l=["cat"])
    return pid


def test_a_rescan_marks_vanished_files_missing_and_an_owner_purges_them(client: TestClient,
                                                                         images_dir: Path) -> None:
    pid = _labelled(client, images_dir)
    (images_dir / "b.jpg").unlink()
    (images_dir / "d.jpg").unlink()
    done = wait_for_job(client, gql(client, RESCAN, p=pid)["rescanProject"]["id"])
    assert done["result"] == {"imagesFound": 2, "samplesAdded": 0, "missing": 2, "foundAgain": 0}
    nodes = _nodes(client, pid)
    assert {n for n, v in nodes.items() if v["missing"]} == {"b.jpg", "d.jpg"}
    assert nodes["b.jpg"]["annotations"] == [{"label": "cat"}]  # never deleted silently
    assert gql(client, MISSING, p=pid)["missingSamples"] == {"samples": 2, "labelled": 1, "annotations": 1}
    claim = "mutation($p: ID!){ claimNextSample(projectId: $p){ filename } }"
    assert gql(client, claim, p=pid)["claimNextSample"] is None  # d.jpg, the only unlabelled image, is missing
    export = gql(client, """mutation($p: ID!){ exportDataset(projectId: $p, input: {format: CSV,
        destination: "/Volumes/test/cvx/exports"}){ id } }""", p=pid)["exportDataset"]
    assert wait_for_job(client, export["id"])["result"]["images"] == 2  # b.jpg (missing) is left out

    make_images(images_dir, ["d.jpg"])  # one comes back
    done = wait_for_job(client, gql(client, RESCAN, p=pid)["rescanProject"]["id"])
    assert (done["result"]["missing"], done["result"]["foundAgain"]) == (0, 1)
    assert gql(client, MISSING, p=pid)["missingSamples"]["samples"] == 1

    stale = gql_error(client, PURGE, p=pid, n=2)
    assert stale["extensions"]["code"] == "CONFLICT" and "1 images are missing now" in stale["message"]
    assert gql(client, PURGE, p=pid, n=1) == {"purgeMissingSamples": 1}
    project = gql(client, SAMPLES, p=pid)["project"]
    assert sorted(_nodes(client, pid)) == ["a.jpg", "d.jpg", "sub/c.jpg"]
    assert (project["stats"]["total"], project["stats"]["labeled"]) == (3, 2)
    assert project["stats"]["perClass"][0] == {"label": "cat", "count": 2}


def test_moving_to_another_folder_keeps_what_is_there_after_a_dry_run(client: TestClient, settings: Settings,
                                                                       images_dir: Path) -> None:
    pid = _labelled(client, images_dir)
    moved = settings.volume_mounts["/Volumes/test/cvx/exports"] / "copy"
    shutil.copytree(images_dir, moved)
    (moved / "b.jpg").unlink()  # labelled: dropped with its label
    make_images(moved, ["e.jpg"])  # new
    before = _nodes(client, pid)
    target = "/Volumes/test/cvx/exports/copy"

    dry = wait_for_job(client, gql(client, CHANGE, p=pid, f=target, dry=True, n=None)["changeSourceFolder"]["id"])
    assert dry["status"] == "SUCCEEDED" and dry["kind"] == "SOURCE_CHANGE"
    assert dry["result"] == {"sourceVolume": target, "dryRun": True, "kept": 3, "dropped": 1, "labelledDropped": 1,
                             "annotationsDropped": 1, "newImages": 1}
    assert gql(client, SAMPLES, p=pid)["project"]["sourceVolume"] == "/Volumes/test/cvx/images"  # nothing changed

    needs = gql_error(client, CHANGE, p=pid, f=target, dry=False, n=None)
    assert needs["extensions"]["code"] == "VALIDATION" and "expectedDropped" in needs["message"]
    wrong = wait_for_job(client, gql(client, CHANGE, p=pid, f=target, dry=False, n=0)["changeSourceFolder"]["id"])
    assert wrong["status"] == "FAILED" and "1 samples would be dropped now, not the 0 confirmed" in wrong["error"]

    done = wait_for_job(client, gql(client, CHANGE, p=pid, f=target, dry=False, n=1)["changeSourceFolder"]["id"])
    assert done["status"] == "SUCCEEDED", done["error"]
    project = gql(client, SAMPLES, p=pid)["project"]
    after = _nodes(client, pid)
    assert project["sourceVolume"] == target and sorted(after) == ["a.jpg", "d.jpg", "e.jpg", "sub/c.jpg"]
    assert after["sub/c.jpg"]["id"] == before["sub/c.jpg"]["id"] and after["sub/c.jpg"]["path"] == f"{target}/sub/c.jpg"
    assert after["a.jpg"]["annotations"] == [{"label": "cat"}] and after["e.jpg"]["status"] == "UNLABELED"
    assert (project["stats"]["total"], project["stats"]["labeled"], project["stats"]["unlabeled"]) == (4, 2, 2)
    url = gql(client, "query($s: ID!){ sample(id: $s){ imageUrl } }", s=after["e.jpg"]["id"])["sample"]["imageUrl"]
    assert client.get(url).status_code == 200  # read from the new folder

    same = gql_error(client, CHANGE, p=pid, f=target, dry=True, n=None)
    assert same["extensions"]["code"] == "VALIDATION" and "already the project's image folder" in same["message"]
