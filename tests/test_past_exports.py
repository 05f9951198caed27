"""pastExports: finished exports read from their metadata.json in the export volume, as far as the caller reaches
(an admin: the export volume; an owner: their projects' export areas and what is shared with them); exports of the
original tool are listed too, unfinished or foreign folders are not."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import Settings
from tests.conftest import make_images
from tests.team import Caller, Team, team_app
from tests.waiting import until_ended
from volumes.past_exports import parse_metadata

EXPORTS = "/Volumes/test/cvx/exports"
IMAGES = "/Volumes/test/cvx/images"
PAST = """query($f: String, $p: ID){ pastExports(folder: $f, projectId: $p){ path projectId projectName version format
  taskType imageCount annotationCount exportedBy exportedAt reference imagesCopied acceptedOnly } }"""
EXPORT = """mutation($p: ID!, $i: ExportInput!){ exportDataset(projectId: $p, input: $i){ id } }"""


@pytest.fixture
def team(settings: Settings, images_dir: Path) -> Iterator[Team]:
    make_images(images_dir, ["a1.jpg", "a2.jpg"], size=(16, 12))
    with team_app(dataclasses.replace(settings, export_volume=EXPORTS)) as t:
        yield t


def _labelled_project(root: Caller, name: str, owner: str) -> str:
    pid = root.project(name, task="CLASSIFICATION")
    root.add(pid, owner, "OWNER")
    for sid in root.sample_ids(pid):
        root('mutation($s: ID!){ setClassification(sampleId: $s, labels: ["cat"]){ id } }', s=sid)
    return pid


def _export(caller: Caller, pid: str, fmt: str) -> str:
    job = caller(EXPORT, p=pid, i={"format": fmt, "destination": f"{EXPORTS}/project-{pid}"})["exportDataset"]
    done = until_ended(lambda: caller("query($j: ID!){ job(id: $j){ status error result } }", j=job["id"])["job"])
    assert done["status"] == "SUCCEEDED", done
    return done["result"]["path"]


def test_exports_are_listed_as_far_as_the_caller_reaches(team: Team, settings: Settings) -> None:
    root, alice, bob = team["root"], team["alice"], team["bob"]
    a = _labelled_project(root, "Alpha", "alice")
    b = _labelled_project(root, "Beta", "bob")
    first = _export(alice, a, "CSV")
    second = _export(alice, a, "REFERENCE")
    bobs = _export(bob, b, "COCO")
    local = settings.volume_mounts[EXPORTS]
    original = local / "old_tool_export"  # what the original tool wrote: its keys, no format
    original.mkdir()
    (original / "metadata.json").write_text(json.dumps({
        "project_id": 7, "project_name": "Legacy", "version": 2, "task_type": "detection", "class_list": ["car"],
        "image_count": 40, "annotation_count": 90, "exported_at": "2026-01-02T03:04:05", "exported_by": "x@y.z"}))
    (local / "unfinished").mkdir()  # an export still being written has no metadata.json yet
    (local / "junk").mkdir()
    (local / "junk" / "metadata.json").write_text("[1, 2]")

    mine = alice(PAST)["pastExports"]
    assert [e["path"] for e in mine] == [second, first]  # newest first, only her project's area
    assert mine[0] | {"exportedAt": None} == {
        "path": second, "projectId": a, "projectName": "Alpha", "version": 1, "format": "REFERENCE",
        "taskType": "CLASSIFICATION", "imageCount": 2, "annotationCount": 2, "exportedBy": "alice",
        "exportedAt": None, "reference": True, "imagesCopied": False, "acceptedOnly": False}
    assert mine[1]["format"] == "CSV" and mine[1]["imagesCopied"] is True and mine[1]["exportedAt"]
    assert [e["path"] for e in bob(PAST)["pastExports"]] == [bobs]

    everything = root(PAST)["pastExports"]
    assert {e["path"] for e in everything} == {first, second, bobs, f"{EXPORTS}/old_tool_export"}
    legacy = next(e for e in everything if e["projectName"] == "Legacy")
    assert (legacy["format"], legacy["taskType"], legacy["imageCount"], legacy["exportedBy"]) == (
        "COCO", "DETECTION", 40, "x@y.z")
    assert [e["path"] for e in root(PAST, p=b)["pastExports"]] == [bobs]
    newest = root("query($p: ID){ pastExports(projectId: $p, first: 1){ path } }", p=a)["pastExports"]
    assert newest == [{"path": second}]
    assert root.code("{ pastExports(first: 501){ path } }") == "VALIDATION"

    refused = alice.error(PAST, f=EXPORTS)
    assert refused["extensions"]["code"] == "FORBIDDEN" and EXPORTS in refused["message"]
    assert alice.code(PAST, p=b) in ("FORBIDDEN", "NOT_FOUND")
    assert [e["path"] for e in alice(PAST, f=f"{EXPORTS}/project-{a}")["pastExports"]] == [second, first]
    assert root.code(PAST, f=f"{EXPORTS}/nope") == "NOT_FOUND"


def test_metadata_that_is_not_an_export_is_left_out() -> None:
    assert parse_metadata("/Volumes/a/b/c/d", b"{") is None
    assert parse_metadata("/Volumes/a/b/c/d", b'{"project_name": 3}') is None
    found = parse_metadata("/Volumes/a/b/c/d", b'{"project_name": "P", "exported_at": "yesterday"}')
    assert found is not None and (found.format, found.image_count, found.version) == ("", 0, 1)
