"""An export's images fanned out over Spark (local mode, the run's one SparkSession), on both databases: the
executors read the sizes nobody had decoded and copy the images, and the folder is byte for byte what the same
export writes in one process; progress ends at its total; an image that cannot be read fails the export clearly
with nothing published; a partition run twice (a retried task) writes the same files again."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from jobs import spark_export
from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, make_images, wait_for_job
from tests.test_exports import BOX, EXPORT, EXPORTS
from volumes.local import LocalVolumes

IMAGES = "/Volumes/test/cvx/images"
SAMPLES = "query($p: ID!){ project(id: $p){ samples(first: 50){ edges { node { id filename width height } } } } }"
NAMES = [f"{folder}/{i:02}.jpg" for folder in ("a", "b") for i in range(6)]


def _labelled(client: TestClient, images_dir: Path) -> str:
    for k, name in enumerate(NAMES):
        make_images(images_dir, [name], size=(40 + k, 30 + 2 * k))
    project = create_project(client, classes=["cat"])
    for edge in gql(client, SAMPLES, p=project["id"])["project"]["samples"]["edges"]:
        gql(client, BOX, s=edge["node"]["id"])
    return str(project["id"])


def _export(client: TestClient, project: str, fmt: str) -> dict[str, Any]:
    job = gql(client, EXPORT, p=project, i={"format": fmt, "destination": EXPORTS, "includeImages": True})
    return wait_for_job(client, job["exportDataset"]["id"], timeout=120)


def _contents(folder: Path) -> dict[str, Any]:
    """Every file of an export folder, the COCO file without its creation time."""
    out: dict[str, Any] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if name == "annotations.json":
            out[name] = {k: v for k, v in json.loads(path.read_text()).items() if k != "info"}
        elif name != "metadata.json":
            out[name] = path.read_bytes()
    return out


@pytest.mark.parametrize("fmt", ["COCO", "PASCAL_VOC"])
def test_an_export_s_images_fan_out_and_the_folder_is_the_one_process_one(spark: Any, settings: Settings,
                                                                           images_dir: Path, fmt: str) -> None:
    fanned = dataclasses.replace(settings, spark_min_samples=5, spark_partition_samples=4)
    exports = settings.volume_mounts[EXPORTS]
    with TestClient(create_app(fanned)) as client:
        project = _labelled(client, images_dir)
        job = _export(client, project, fmt)
        assert job["status"] == "SUCCEEDED" and job["result"]["sparkPartitions"] == 3, job
        assert (job["progress"], job["total"]) == (24, 24)  # 12 images done by the executors, then 12 labelled
        sizes = {e["node"]["filename"]: (e["node"]["width"], e["node"]["height"])
                 for e in gql(client, SAMPLES, p=project)["project"]["samples"]["edges"]}
        assert sizes == {name: (40 + k, 30 + 2 * k) for k, name in enumerate(NAMES)}  # read by the executors
    fanned_folder = exports / job["result"]["path"].removeprefix(EXPORTS + "/")
    with TestClient(create_app(settings)) as client:
        alone = _export(client, project, fmt)
    assert alone["status"] == "SUCCEEDED" and "sparkPartitions" not in alone["result"]
    one_process = _contents(exports / alone["result"]["path"].removeprefix(EXPORTS + "/"))
    assert _contents(fanned_folder) == one_process and len(one_process) >= 13


def test_an_image_that_cannot_be_read_fails_the_export_and_nothing_is_published(spark: Any, settings: Settings,
                                                                                images_dir: Path) -> None:
    fanned = dataclasses.replace(settings, spark_min_samples=5, spark_partition_samples=4)
    with TestClient(create_app(fanned)) as client:
        project = _labelled(client, images_dir)
        (images_dir / "b/03.jpg").write_bytes(b"not an image at all")
        job = _export(client, project, "COCO")
    assert job["status"] == "FAILED"
    assert "1 image of Cats could not be exported: 03.jpg:" in job["error"], job["error"]
    assert list(settings.volume_mounts[EXPORTS].iterdir()) == []


def test_a_partition_run_twice_writes_the_same_files(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_images(tmp_path / "in", ["x.jpg", "y.jpg"], size=(21, 13))
    volumes = LocalVolumes({IMAGES: tmp_path / "in", EXPORTS: tmp_path / "out"})
    recipe = spark_export.Recipe(volumes, 50_000_000)
    chunk: list[spark_export.Item] = [(1, f"{IMAGES}/x.jpg", f"{EXPORTS}/e/images/x.jpg", True),
                                      (2, f"{IMAGES}/y.jpg", f"{EXPORTS}/e/images/y.jpg", False)]
    first = spark_export.partition(recipe, chunk)
    assert spark_export.partition(recipe, chunk) == first == ({1: (21, 13)}, [])
    assert sorted(p.name for p in (tmp_path / "out/e/images").iterdir()) == ["x.jpg", "y.jpg"]
    assert (tmp_path / "out/e/images/y.jpg").read_bytes() == (tmp_path / "in/y.jpg").read_bytes()
