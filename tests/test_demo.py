"""The demo: realistic images with in-image boxes, deterministic, and `server.py demo` that can run twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageOps
from starlette.testclient import TestClient

from jobs.demo import CLASSIFICATION_NAME, DETECTION_NAME, seed_demo
from jobs.demo_files import LABELS, PREDICTIONS
from jobs.duplicates import GALLERY_THUMB, group_members
from tests.conftest import gql, wait_for_job
from volumes.demo_images import DEMO_CLASSES, write_demo_images
from volumes.image_hash import thumbnail_hash
from volumes.images import render_thumbnail


def test_demo_images_are_deterministic_and_boxes_fit(tmp_path: Path) -> None:
    a = write_demo_images(tmp_path / "a", count=9, seed=3)
    b = write_demo_images(tmp_path / "b", count=9, seed=3)
    assert [x.relative_path for x in a] == [x.relative_path for x in b]
    assert (tmp_path / "a" / a[4].relative_path).read_bytes() == (tmp_path / "b" / b[4].relative_path).read_bytes()
    assert len({x.relative_path.split("/")[0] for x in a}) >= 3  # sub-folders, to show the recursive scan
    for item in a:
        shown = ImageOps.exif_transpose(Image.open(tmp_path / "a" / item.relative_path))
        assert shown.size == (item.width, item.height)
        assert item.objects, item.relative_path
        for label, x, y, w, h in item.objects:
            assert label in DEMO_CLASSES and x >= 0 and y >= 0 and w > 0 and h > 0
            assert x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9
    assert Image.open(tmp_path / "a" / a[1].relative_path).getexif().get(0x0112) == 6


def test_the_demo_has_near_duplicates_to_find(tmp_path: Path) -> None:
    """Every twentieth image is a smaller re-encoded copy of an earlier one: within the default 5 bits of it."""
    images = write_demo_images(tmp_path, count=20)
    hashes = []
    for item in images:
        with open(tmp_path / item.relative_path, "rb") as fp:
            hashes.append(thumbnail_hash(render_thumbnail(fp, GALLERY_THUMB, 10**8).data))
    groups: dict[int, set[str]] = {}
    for member, group in group_members(list(range(20)), hashes, 5):
        groups.setdefault(group, set()).add(images[member].relative_path)
    assert {"scenes/scene_014.jpg", "scenes/scene_014_small.jpg"} in groups.values()
    assert images[19].objects == images[14].objects


def test_seed_demo_twice_makes_two_scanned_projects(client: TestClient, images_dir: Path) -> None:
    runner = client.app.state.services.runner
    first = client.portal.call(lambda: seed_demo(runner, volume="/Volumes/test/cvx/images", folder=images_dir,
                                                 user="alice", count=6))
    again = client.portal.call(lambda: seed_demo(runner, volume="/Volumes/test/cvx/images", folder=images_dir,
                                                 user="alice", count=6))
    assert first == [DETECTION_NAME, CLASSIFICATION_NAME] and again == []
    projects = gql(client, "{ projects { name taskType multiLabel stats { total } } }")["projects"]
    assert {(p["name"], p["taskType"], p["multiLabel"], p["stats"]["total"]) for p in projects} == {
        (DETECTION_NAME, "DETECTION", False, 6), (CLASSIFICATION_NAME, "CLASSIFICATION", True, 6)}


IMPORT = """mutation($p: ID!, $path: String!, $m: String){ importAnnotations(projectId: $p, input: {path: $path,
  format: JSONL, asDraftsOf: $m}){ id } }"""


def test_the_demos_labels_and_predictions_import_and_evaluate(client: TestClient, images_dir: Path) -> None:
    """The README's walk-through: the demo's labels, then its stand-in detector's predictions as drafts, then
    Evaluate model, which scores them and raises likely errors."""
    runner = client.app.state.services.runner
    client.portal.call(lambda: seed_demo(runner, volume="/Volumes/test/cvx/images", folder=images_dir, user="alice",
                                         count=24))
    pid = next(p["id"] for p in gql(client, "{ projects { id name } }")["projects"] if p["name"] == DETECTION_NAME)
    for path, model in [(LABELS, None), (PREDICTIONS, "demo-detector")]:
        job = gql(client, IMPORT, p=pid, path=f"/Volumes/test/cvx/images/{path}", m=model)["importAnnotations"]
        assert wait_for_job(client, job["id"])["status"] == "SUCCEEDED"
    job = gql(client, "mutation($p: ID!){ evaluateModel(projectId: $p){ id } }", p=pid)["evaluateModel"]
    done = wait_for_job(client, job["id"])
    assert done["status"] == "SUCCEEDED", done
    r = done["result"]
    assert (r["model"], r["images"], r["imagesWithPredictions"]) == ("model:demo-detector", 16, 16)
    assert 0.3 < r["ap50"] < 1 and r["likelyErrors"] > 0, r


def test_seed_demo_false_makes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """SEED_DEMO=false: `server.py demo` (run by `make run`) writes no images and creates no projects."""
    import server

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEED_DEMO", "false")
    assert server.main(["demo", "--count", "3"]) == 0
    assert "SEED_DEMO=false; nothing seeded" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
