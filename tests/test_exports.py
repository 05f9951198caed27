"""Export folders: unique names, published whole or not at all (local folders, a full or read-only disk, Unity
Catalog), refused when nothing is labelled, metadata.json with the original tool's keys, CSV file names as the files."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
import re
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from db.errors import Invalid
from db.records import ExportSnapshot
from jobs.exporter import folder_name
from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job
from tests.databricks_emulator import DatabricksEmulator
from volumes.local import LocalVolumes
from volumes.paths import parse

EXPORT = """mutation($p: ID!, $i: ExportInput!){ exportDataset(projectId: $p, input: $i){ id } }"""
EXPORTS = "/Volumes/test/cvx/exports"
SAMPLES = "query($p: ID!){ project(id: $p){ samples(first: 50){ edges { node { id filename } } } } }"
CLASSIFY = 'mutation($s: ID!, $l: [String!]!){ setClassification(sampleId: $s, labels: $l){ id } }'
BOX = """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "cat", kind: BBOX,
  box: {x: 0.1, y: 0.2, w: 0.3, h: 0.4}}]){ id } }"""
NAME = re.compile(r"^Cats_v1_\d{8}T\d{6}\.\d{3}Z_job\d+$")


def _ids(client: TestClient, project_id: str) -> dict[str, str]:
    edges = gql(client, SAMPLES, p=project_id)["project"]["samples"]["edges"]
    return {e["node"]["filename"]: e["node"]["id"] for e in edges}


def _labelled(client: TestClient, task: str = "DETECTION") -> dict[str, str]:
    """A project on the images folder with every image labelled."""
    project = create_project(client, task=task, classes=["cat", "dog"])
    for sid in _ids(client, project["id"]).values():
        if task == "DETECTION":
            gql(client, BOX, s=sid)
        else:
            gql(client, CLASSIFY, s=sid, l=["cat"])
    return project


def _export(client: TestClient, project_id: str, destination: str = EXPORTS, **inp: object) -> dict:
    job = gql(client, EXPORT, p=project_id, i={"format": "COCO", "destination": destination, **inp})
    return wait_for_job(client, job["exportDataset"]["id"])


def _everything(folder: Path) -> list[str]:
    """Every entry below folder, hidden ones too."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_folder_names_are_unique_per_job_even_in_one_millisecond() -> None:
    snap = ExportSnapshot(1, "Cats / dogs", 3, "DETECTION", ["cat"], False, "/Volumes/a/b/c", [])
    now = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)
    assert folder_name(snap, now, 41) == "Cats_dogs_v3_20261207T010203.456Z_job41"
    assert folder_name(snap, now, 41) != folder_name(snap, now, 42)


def test_two_exports_at_once_both_succeed_in_their_own_folders(client: TestClient, settings: Settings,
                                                               images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = _labelled(client)
    ids = [gql(client, EXPORT, p=project["id"], i={"format": "COCO", "destination": EXPORTS,
                                                   "includeImages": False})["exportDataset"]["id"] for _ in range(3)]
    jobs = [wait_for_job(client, i) for i in ids]
    assert [j["status"] for j in jobs] == ["SUCCEEDED"] * 3, jobs
    names = [j["result"]["path"].rsplit("/", 1)[1] for j in jobs]
    assert len(set(names)) == 3 and all(NAME.match(n) for n in names), names
    assert [n.endswith(f"_job{i}") for n, i in zip(names, ids, strict=True)] == [True] * 3
    exports = settings.volume_mounts[EXPORTS]
    assert sorted(p.name for p in exports.iterdir()) == sorted(names)  # nothing hidden or half left beside them
    for n in names:
        assert sorted(p.name for p in (exports / n).iterdir()) == ["annotations.json", "metadata.json"]


def test_a_new_folder_is_never_one_that_exists_and_a_killed_run_leaves_nothing(tmp_path: Path) -> None:
    v = LocalVolumes({"/Volumes/c/s/v": tmp_path})
    (tmp_path / "taken").mkdir()
    with pytest.raises(Invalid, match="already exists"):
        v.start_folder(parse("/Volumes/c/s/v/taken"), "job1")
    (tmp_path / ".job2.partial" / "images").mkdir(parents=True)  # a run of job 2 that was killed
    (tmp_path / ".job2.partial" / "images" / "x.jpg").write_bytes(b"half")
    work = v.start_folder(parse("/Volumes/c/s/v/new"), "job2")
    assert work.text == "/Volumes/c/s/v/.job2.partial" and _everything(tmp_path) == [".job2.partial", "taken"]
    v.write(work.child("metadata.json"), b"{}")
    assert [e.name for e in v.list(parse("/Volumes/c/s/v"))] == ["taken"]  # hidden: listings skip it
    (tmp_path / "new").mkdir()  # someone took the name meanwhile: their folder is kept, not replaced
    with pytest.raises(Invalid, match="already exists"):
        v.publish_folder(work, parse("/Volumes/c/s/v/new"))
    (tmp_path / "new").rmdir()
    v.publish_folder(work, parse("/Volumes/c/s/v/new"))
    assert _everything(tmp_path) == ["new", "new/metadata.json", "taken"]


@pytest.fixture
def small_disk(settings: Settings) -> Iterator[Callable[[str], Path]]:
    """Mounts a tmpfs over the exports folder (the app already has it as a volume): full (`size`) or read-only."""
    folder = settings.volume_mounts[EXPORTS]
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"mounting a small or read-only file system needs root: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for f in mounted:
        subprocess.run(["umount", "-l", str(f)], check=True)


@pytest.mark.parametrize(("options", "reason", "code"), [("size=64k", "no space left on the device", "UNAVAILABLE"),
                                                         ("ro", "the file system is read-only", "FORBIDDEN")])
def test_an_export_to_a_full_or_read_only_folder_fails_clearly_and_leaves_nothing(
        client: TestClient, images_dir: Path, small_disk: Callable[[str], Path], options: str, reason: str,
        code: str) -> None:
    for i in range(4):  # noise does not compress: ~58 KB each, more than the 64 KB disk holds
        Image.frombytes("RGB", (160, 120), random.Random(i).randbytes(160 * 120 * 3)).save(images_dir / f"{i}.png")
    project = _labelled(client)
    folder = small_disk(options)
    job = _export(client, project["id"], includeImages=True)
    assert job["status"] == "FAILED", job
    assert job["error"].startswith(f"The export into {EXPORTS} failed and nothing was published there: "), job
    assert reason in job["error"] and "Unexpected" not in job["error"]
    assert job["result"]["code"] == code
    assert _everything(folder) == []  # no partial folder, no hidden leftovers


def test_a_unity_catalog_export_that_fails_half_way_removes_what_it_wrote(
        settings: Settings, databricks: DatabricksEmulator, images_dir: Path) -> None:
    make_images(images_dir, [f"{i}.jpg" for i in range(4)])
    uc = dataclasses.replace(settings, volumes_backend="unity_catalog", databricks_host=databricks.url,
                             serving_token=databricks.token)
    dest = databricks.add_volume("/Volumes/uc/vision/exports")
    with TestClient(create_app(uc)) as client:
        project = _labelled(client)
        databricks.inject(403, "PERMISSION_DENIED", "quota: no more files", prefix=dest, methods=["PUT"], passes=3)
        job = _export(client, project["id"], destination=dest, includeImages=True)
        assert job["status"] == "FAILED" and f"The export into {dest} failed" in job["error"], job
        assert [p for p in databricks.files if p.startswith(dest + "/")] == []
        assert [d for d in databricks.dirs if d.startswith(dest + "/")] == []
        databricks.clear_faults()
        done = _export(client, project["id"], destination=dest, includeImages=True)
        assert done["status"] == "SUCCEEDED", done
        written = sorted(p.removeprefix(done["result"]["path"] + "/") for p in databricks.files
                         if p.startswith(dest + "/"))
        assert written == ["annotations.json", *(f"images/{i}.jpg" for i in range(4)), "metadata.json"]
        uploads = [c.path for c in databricks.calls("PUT", "/api/2.0/fs/files" + dest)]
        assert uploads[-1].endswith("/metadata.json")  # the marker comes last


def test_nothing_labelled_is_refused_before_any_job(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = create_project(client, classes=["cat", "dog"])
    err = gql_error(client, EXPORT, p=project["id"], i={"format": "COCO", "destination": EXPORTS})
    assert err["extensions"]["code"] == "VALIDATION"
    assert err["message"] == ("Cats has no labelled image, so there is nothing to export: label at least one image "
                              "first.")
    jobs = gql(client, "query($p: ID!){ jobs(projectId: $p){ kind } }", p=project["id"])["jobs"]
    assert [j["kind"] for j in jobs] == ["SCAN"]  # no export was queued
    gql(client, BOX, s=_ids(client, project["id"])["a.jpg"])
    accepted = gql_error(client, EXPORT, p=project["id"], i={"format": "COCO", "destination": EXPORTS,
                                                             "acceptedOnly": True})
    assert accepted["extensions"]["code"] == "VALIDATION" and "no labelled image a reviewer accepted" in accepted[
        "message"]
    assert _export(client, project["id"], includeImages=False)["status"] == "SUCCEEDED"


def test_metadata_json_carries_the_original_tools_keys(client: TestClient, settings: Settings,
                                                       images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"])
    project = create_project(client, classes=["cat", "dog"])
    ids = _ids(client, project["id"])
    gql(client, BOX, s=ids["a.jpg"])
    gql(client, BOX, s=ids["b.jpg"])
    job = _export(client, project["id"], includeImages=False)
    folder = settings.volume_mounts[EXPORTS] / job["result"]["path"].removeprefix(EXPORTS + "/")
    meta = json.loads((folder / "metadata.json").read_text())
    exported_at = meta.pop("exported_at")
    assert datetime.fromisoformat(exported_at).tzinfo is not None
    assert meta == {"project_id": int(project["id"]), "project_name": "Cats", "version": 1,
                    "task_type": "DETECTION", "class_list": ["cat", "dog"], "source_volume": "/Volumes/test/cvx/images",
                    "image_count": 2, "annotation_count": 2, "exported_by": "alice", "format": "COCO",
                    "multiLabel": False, "includeImages": False, "acceptedOnly": False}


def test_csv_file_names_match_the_image_files_and_labels_keep_the_formula_guard(
        client: TestClient, settings: Settings, images_dir: Path) -> None:
    make_images(images_dir, ["=cmd.jpg", "+1.jpg", "plain.jpg"], size=(100, 50))
    project = create_project(client, task="CLASSIFICATION", classes=["@evil", "ok"])
    ids = _ids(client, project["id"])
    gql(client, CLASSIFY, s=ids["=cmd.jpg"], l=["@evil"])
    gql(client, CLASSIFY, s=ids["+1.jpg"], l=["ok"])
    gql(client, CLASSIFY, s=ids["plain.jpg"], l=["ok"])
    job = _export(client, project["id"], format="CSV", includeImages=True)
    folder = settings.volume_mounts[EXPORTS] / job["result"]["path"].removeprefix(EXPORTS + "/")
    rows = list(csv.reader(io.StringIO((folder / "labels.csv").read_text())))
    assert rows[0] == ["filename", "label"]
    assert sorted(rows[1:]) == [["+1.jpg", "ok"], ["=cmd.jpg", "'@evil"], ["plain.jpg", "ok"]]
    for name, _ in rows[1:]:
        assert (folder / "images" / name).is_file()  # every file name cell names its image as it is
