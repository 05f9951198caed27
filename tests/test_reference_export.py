"""Reference snapshots (export format REFERENCE): no image copied, full volume paths, class indices or normalised
COCO boxes, metadata.json saying what it is with loaders that run; refused whole, with the count, when an image is
not fit for one."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

from db.records import AnnotationRecord, ExportSample, ExportSnapshot
from jobs.formats import reference
from server import Settings
from tests.conftest import create_project, gql, make_images, wait_for_job

EXPORT = """mutation($p: ID!, $i: ExportInput!){ exportDataset(projectId: $p, input: $i){ id } }"""
EXPORTS = "/Volumes/test/cvx/exports"
IMAGES = "/Volumes/test/cvx/images"
SAMPLES = "query($p: ID!){ project(id: $p){ samples(first: 50){ edges { node { id filename } } } } }"
CLASSIFY = 'mutation($s: ID!, $l: [String!]!){ setClassification(sampleId: $s, labels: $l){ id } }'
SAVE = """mutation($s: ID!, $a: [AnnotationInput!]!){ saveAnnotations(sampleId: $s, annotations: $a,
  allowEmpty: true){ id } }"""


def _ids(client: TestClient, project_id: str) -> dict[str, str]:
    edges = gql(client, SAMPLES, p=project_id)["project"]["samples"]["edges"]
    return {e["node"]["filename"]: e["node"]["id"] for e in edges}


def _export(client: TestClient, project_id: str) -> dict:
    job = gql(client, EXPORT, p=project_id, i={"format": "REFERENCE", "destination": EXPORTS, "includeImages": True})
    return wait_for_job(client, job["exportDataset"]["id"])


def _folder(settings: Settings, job: dict) -> Path:
    return settings.volume_mounts[EXPORTS] / job["result"]["path"].rsplit("/", 1)[1]


def test_classification_snapshot_points_at_the_images(client: TestClient, settings: Settings,
                                                       images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "sub/b.png", "c.jpg"])
    project = create_project(client, task="CLASSIFICATION", classes=["cat", "dog"])
    ids = _ids(client, project["id"])
    gql(client, CLASSIFY, s=ids["a.jpg"], l=["dog"])
    gql(client, CLASSIFY, s=ids["sub/b.png"], l=["cat"])  # c.jpg stays unlabelled: not in the snapshot
    job = _export(client, project["id"])
    assert job["status"] == "SUCCEEDED", job["error"]
    folder = _folder(settings, job)
    assert sorted(p.name for p in folder.iterdir()) == ["classes.txt", "labels.tsv", "metadata.json"]  # no images
    assert (folder / "classes.txt").read_text() == "cat\ndog\n"
    assert (folder / "labels.tsv").read_text() == f"{IMAGES}/a.jpg\t1\n{IMAGES}/sub/b.png\t0\n"
    meta = json.loads((folder / "metadata.json").read_text())
    assert (meta["format"], meta["snapshot"], meta["images_copied"], meta["image_count"]) == (
        "REFERENCE", "reference", False, 2)
    assert "not copied" in meta["note"] and set(meta["loading"]) == {"pytorch", "huggingface_datasets"}
    assert job["result"]["path"] in meta["loading"]["pytorch"]
    for snippet in meta["loading"].values():
        compile(snippet, "<metadata.json loader>", "exec")  # torch and datasets are not installed here


def test_detection_snapshot_is_coco_with_volume_paths_and_normalised_boxes(
        client: TestClient, settings: Settings, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(200, 100))
    project = create_project(client, classes=["cat", "dog"])
    ids = _ids(client, project["id"])
    box = {"label": "dog", "kind": "BBOX", "box": {"x": 0.25, "y": 0.5, "w": 0.5, "h": 0.25}}
    gql(client, SAVE, s=ids["a.jpg"], a=[box])
    gql(client, SAVE, s=ids["b.jpg"], a=[])  # "no objects": a negative example, kept
    job = _export(client, project["id"])
    assert job["status"] == "SUCCEEDED", job["error"]
    folder = _folder(settings, job)
    assert sorted(p.name for p in folder.iterdir()) == ["annotations.json", "metadata.json"]
    coco = json.loads((folder / "annotations.json").read_text())
    assert [im["file_name"] for im in coco["images"]] == [f"{IMAGES}/a.jpg", f"{IMAGES}/b.jpg"]
    assert coco["annotations"] == [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [0.25, 0.5, 0.5, 0.25],
                                    "iscrowd": 0}]
    assert [c["name"] for c in coco["categories"]] == ["cat", "dog"]
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["files"] == ["annotations.json"] and "Image.open(entry[\"file_name\"])" in meta["loading"]["pytorch"]


def test_bad_images_refuse_the_whole_snapshot_with_their_count(client: TestClient, settings: Settings,
                                                                images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"])
    project = gql(client, """mutation($i: CreateProjectInput!){ createProject(input: $i){ id } }""",
                  i={"name": "Multi", "taskType": "CLASSIFICATION", "classes": ["cat", "dog"], "multiLabel": True,
                     "sourceVolume": IMAGES})["createProject"]
    jobs = gql(client, "query($p: ID!){ jobs(projectId: $p){ id } }", p=project["id"])["jobs"]
    wait_for_job(client, jobs[0]["id"])
    ids = _ids(client, project["id"])
    gql(client, CLASSIFY, s=ids["a.jpg"], l=["cat", "dog"])
    gql(client, CLASSIFY, s=ids["b.jpg"], l=["cat", "dog"])
    gql(client, CLASSIFY, s=ids["c.jpg"], l=["dog"])
    job = _export(client, project["id"])
    assert job["status"] == "FAILED"
    assert "2 labelled images of Multi cannot go into a reference snapshot" in job["error"]
    assert "a.jpg: 2 classes (a reference snapshot needs exactly one)" in job["error"]
    assert list(settings.volume_mounts[EXPORTS].iterdir()) == []  # refused before anything was written


def test_boxes_must_be_finite_and_inside_the_image() -> None:
    def snap(*boxes: tuple[float, float, float, float]) -> ExportSnapshot:
        samples = [ExportSample(i, f"{i}.jpg", f"{IMAGES}/{i}.jpg", 10, 10, [AnnotationRecord("cat", "BBOX", b)])
                   for i, b in enumerate(boxes)]
        return ExportSnapshot(1, "P", 1, "DETECTION", ["cat"], False, IMAGES, samples)

    assert reference.problems(snap((0, 0, 1, 1), (0.5, 0.5, 0.5, 0.5))) == (0, [])
    count, examples = reference.problems(snap((0, 0, 1, 1), (float("nan"), 0, 0.1, 0.1), (0.6, 0, 0.5, 0.1),
                                              (0.1, 0.1, 0, 0.2), (0.1, 0.1, float("inf"), 0.2)))
    assert count == 4 and examples[0] == "1.jpg: a box that is not finite or not inside the image"
