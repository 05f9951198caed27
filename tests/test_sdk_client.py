"""The Python client (sdk/cvexplorer) against a real server on SQLite and PostgreSQL: projects, streamed sample
iteration with filters, saves with expected versions, claims and skips, predictions through the import path,
failed and cancelled jobs, export and download, and the subscriptions."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import cvexplorer
from cvexplorer import Annotation, Box, Conflict, JobFailed, NotFound, ValidationError
from tests.sdk_live import SdkServer
from tests.tcp_relay import Relay


def _project(sdk: SdkServer, name: str, files: int, classes: tuple[str, ...] = ("car", "person"),
             readable: bool = False) -> tuple[cvexplorer.Client, cvexplorer.Project]:
    cvx = sdk.client()
    return cvx, cvx.create_project(name, sdk.folder(name.lower(), files, readable=readable), classes)


def test_projects_by_id_and_name_classes_and_versions(sdk: SdkServer) -> None:
    cvx, p = _project(sdk, "Streets", 3)
    assert p.task_type == "DETECTION" and p.classes == ["car", "person"] and p.my_role == "OWNER"
    assert cvx.project("Streets") == cvx.project(p.id) == cvx.project(int(p.id))
    assert p.id in [x.id for x in cvx.projects()]
    assert cvx.update_classes(p, ["car", "person", "bike"]).classes == ["car", "person", "bike"]
    clone = cvx.clone(p)
    assert (clone.version, clone.root_id, clone.classes) == (2, p.id, ["car", "person", "bike"])
    assert sum(1 for _ in cvx.samples(clone)) == 3
    with pytest.raises(NotFound):
        cvx.project("No such project")
    with pytest.raises(NotFound):
        cvx.project("999999")


def test_a_large_iteration_crosses_pages_in_order_with_the_gallery_filters(sdk: SdkServer) -> None:
    cvx, p = _project(sdk, "Paged", 1_200)
    every = list(cvx.samples(p, page_size=500))  # three requests: 500, 500, 200
    assert [s.filename for s in every] == [f"img{i:05}.jpg" for i in range(1_200)]
    assert [int(s.id) for s in every] == sorted(int(s.id) for s in every)
    for s in every[:600:60]:  # 10 labelled, a box each
        cvx.save_annotations(s, [{"label": "car", "box": (0.1, 0.2, 0.3, 0.4)}])
    labelled = list(cvx.samples(p, status="LABELED", page_size=4))
    assert [s.id for s in labelled] == [s.id for s in every[:600:60]]
    assert labelled[0].annotations[0].box == Box(0.1, 0.2, 0.3, 0.4) and labelled[0].annotations[0].label == "car"
    assert labelled[0].labeled_by is None or labelled[0].status == "LABELED"
    assert [s.filename for s in cvx.samples(p, label="car", filename="img001")] == [
        f"img{i:05}.jpg" for i in range(120, 200, 60)]
    assert list(cvx.samples(p, label="person")) == []
    with pytest.raises(ValidationError, match="status"):
        next(cvx.samples(p, status="DONE"))
    outsider = sdk.client(sdk.annotator_token)
    with pytest.raises(NotFound):
        next(outsider.samples(p))


def test_the_stream_says_where_it_ended(sdk: SdkServer) -> None:
    """The NDJSON endpoint's contract: `first` rows, then a last line with hasNextPage and endCursor."""
    _, p = _project(sdk, "Trailer", 5)
    r = httpx.get(f"{sdk.url}/api/projects/{p.id}/samples.ndjson", params={"first": 2, "after": 0},
                  headers={"Authorization": f"Bearer {sdk.token}"})
    lines = [json.loads(line) for line in r.content.splitlines()]
    assert r.headers["content-type"] == "application/x-ndjson" and len(lines) == 3
    assert lines[-1] == {"done": True, "count": 2, "hasNextPage": True, "endCursor": str(lines[1]["id"])}
    assert set(lines[0]) == {"id", "filename", "path", "status", "width", "height", "version", "annotations"}
    last = httpx.get(f"{sdk.url}/api/projects/{p.id}/samples.ndjson", params={"after": lines[1]["id"]},
                     headers={"Authorization": f"Bearer {sdk.token}"}).content.splitlines()
    assert len(last) == 4 and b'"hasNextPage":false' in last[-1]
    bad = httpx.get(f"{sdk.url}/api/projects/{p.id}/samples.ndjson", params={"first": "0"},
                    headers={"Authorization": f"Bearer {sdk.token}"})
    assert bad.status_code == 400 and "first must be a whole number" in bad.json()["error"]
    anonymous = httpx.get(f"{sdk.url}/api/projects/{p.id}/samples.ndjson")
    assert anonymous.status_code == 401


def test_saves_carry_the_version_they_were_read_at_claims_and_skips(sdk: SdkServer) -> None:
    cvx, p = _project(sdk, "Saves", 3)
    claimed = cvx.claim_next(p)
    assert claimed is not None and claimed.locked_by == "root"
    saved = cvx.save_annotations(claimed, [Annotation("person", box=Box(0.5, 0.5, 0.25, 0.25))])
    assert saved.version == claimed.version + 1 and saved.status == "LABELED"
    with pytest.raises(Conflict) as stale:  # claimed is the version before that save
        cvx.save_annotations(claimed, [{"label": "car", "box": (0, 0, 0.1, 0.1)}])
    assert stale.value.extensions["currentVersion"] == saved.version
    assert cvx.sample(saved.id).annotations[0].label == "person"  # the stale save changed nothing
    forced = cvx.save_annotations(claimed, [{"label": "car", "box": (0, 0, 0.1, 0.1)}], force=True)
    assert [a.label for a in forced.annotations] == ["car"]
    skipped = cvx.skip(cvx.claim_next(p))
    assert skipped.status == "SKIPPED"
    assert [s.status for s in cvx.samples(p)].count("SKIPPED") == 1


def test_predictions_go_in_as_one_upload_and_one_import_job(sdk: SdkServer,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cvx, p = _project(sdk, "Predicted", 4)
    names = [s.filename for s in cvx.samples(p)]
    # Pixel corners (xyxy) from a DataFrame, with each image's size, into a model's drafts.
    df = pd.DataFrame({"filename": [names[0], names[0], names[1]], "label": ["car", "person", "car"],
                       "x1": [10, 0, 50], "y1": [20, 0, 0], "x2": [60, 100, 100], "y2": [70, 50, 25],
                       "confidence": [0.9, 0.4, 0.75], "width": [200, 200, 100], "height": [100, 100, 50]})
    jobs_before = len(cvx.jobs(p))
    job = cvx.upload_predictions(p, df, box_format="xyxy", pixels=True, as_drafts_of="yolo")
    assert job.status == "SUCCEEDED" and job.result["annotationsCreated"] == 3
    bar = capsys.readouterr().err  # wait()'s tqdm progress bar
    assert f"import job {job.id}" in bar and "100%" in bar and "4/4" in bar and "succeeded" in bar  # 2 passes
    assert len(cvx.jobs(p)) == jobs_before + 1  # one job for all of it
    first = cvx.sample(next(s.id for s in cvx.samples(p, filename=names[0])))
    assert first.status == "PRE_LABELED"
    assert [(a.label, a.box, a.confidence, a.is_draft, a.created_by) for a in first.annotations] == [
        ("car", Box(0.05, 0.2, 0.25, 0.5), 0.9, True, "model:yolo"),
        ("person", Box(0.0, 0.0, 0.5, 0.5), 0.4, True, "model:yolo")]
    # The model's re-run replaces its drafts (numpy arrays, centre boxes), and a label stays what it was.
    cvx.save_annotations(cvx.sample(first.id), [{"label": "person", "box": (0.1, 0.1, 0.2, 0.2)}])
    cvx.upload_predictions(p, filenames=np.array([names[0]]), labels=np.array(["car"]),
                           boxes=np.array([[0.5, 0.5, 0.2, 0.4]]), confidences=np.array([0.6]),
                           box_format="cxcywh", as_drafts_of="yolo", progress=False)
    again = cvx.sample(first.id)
    assert sorted((a.label, a.is_draft, a.confidence) for a in again.annotations) == [
        ("car", True, 0.6), ("person", False, None)]
    assert next(a.box for a in again.annotations if a.is_draft) == pytest.approx(Box(0.4, 0.3, 0.2, 0.4))
    # Plain dicts, normalised xywh, as the caller's own labels (a row without a box is a classification).
    job = cvx.upload_predictions(p, [{"filename": names[2], "label": "person", "x": 0.1, "y": 0.1, "w": 0.5,
                                      "h": 0.5, "confidence": 0.3}], progress=False)
    labelled = next(cvx.samples(p, filename=names[2]))
    assert labelled.status == "LABELED"
    assert [(a.label, a.is_draft, a.confidence, a.created_by) for a in labelled.annotations] == [
        ("person", False, None, "root")]


def test_an_import_with_row_errors_raises_them_and_writes_nothing(sdk: SdkServer) -> None:
    cvx, p = _project(sdk, "Rows", 3)
    names = [s.filename for s in cvx.samples(p)]
    bad = pd.DataFrame({"filename": [names[0], names[1], "missing.jpg"], "label": ["car", "truck", "car"],
                        "x": [0.1, 0.1, 0.1], "y": [0.1, 0.1, 0.1], "w": [0.2, 0.2, 0.2], "h": [0.2, 0.2, 0.2]})
    with pytest.raises(JobFailed) as failed:
        cvx.upload_predictions(p, bad, as_drafts_of="m", progress=False)
    e = failed.value
    assert e.code == "VALIDATION" and e.error_count == 2 and e.job.status == "FAILED"
    assert [(x["row"], x["filename"]) for x in e.errors] == [(2, names[1]), (3, "missing.jpg")]
    assert "truck" in e.errors[0]["reason"]
    assert cvx.stats(p).pre_labeled == 0  # all or nothing
    with pytest.raises(ValueError, match="pixel boxes need the image's size"):
        cvx.upload_predictions(p, [{"filename": names[0], "label": "car", "x": 1, "y": 1, "w": 5, "h": 5}],
                               pixels=True)


def test_a_cancelled_job_raises_job_failed(sdk: SdkServer) -> None:
    cvx, p = _project(sdk, "Cancelled", 600)
    names = [s.filename for s in cvx.samples(p)]
    rows = [{"filename": n, "label": "car", "x": 0.01 * k, "y": 0.1, "w": 0.01, "h": 0.01}
            for n in names for k in range(30)]
    job = cvx.upload_predictions(p, rows, as_drafts_of="slow", wait=False)
    assert job.status in ("QUEUED", "RUNNING")
    cvx.cancel(job)
    with pytest.raises(JobFailed) as cancelled:
        job.wait(progress=False, timeout=30)
    assert cancelled.value.code == "CANCELLED" and cancelled.value.job.status == "CANCELLED"
    assert cvx.stats(p).pre_labeled == 0


def test_export_waits_and_downloads_the_zip(sdk: SdkServer, tmp_path: Path) -> None:
    cvx, p = _project(sdk, "Exported", 2, readable=True)
    s = next(cvx.samples(p))
    cvx.save_annotations(s, [{"label": "car", "box": (0.1, 0.1, 0.5, 0.5)}])
    job = cvx.export(p, "JSONL", include_images=False, progress=False)
    assert job.status == "SUCCEEDED" and job.result["path"].startswith("/Volumes/sdk/test/exports/project-")
    folder = cvx.download(job, tmp_path / "out")
    assert folder.parent == tmp_path / "out" and folder.name == job.result["path"].rsplit("/", 1)[-1]
    assert (folder / "metadata.json").exists() and s.filename in (folder / "annotations.jsonl").read_text()
    with pytest.raises(ValidationError, match="not a finished export"):
        cvx.download(cvx.jobs(p)[-1], tmp_path / "scan")


def test_watch_stats_and_watch_job_over_the_websocket(sdk: SdkServer) -> None:
    cvx, p = _project(sdk, "Watched", 2, readable=True)
    port = int(sdk.url.rsplit(":", 1)[1])
    with Relay(port) as relay:  # the subscription goes through a relay that drops it once
        stats = cvexplorer.Client(f"http://127.0.0.1:{relay.port}", token=sdk.token).watch_stats(p)
        first = next(stats)
        relay.cut()
        again = next(stats)  # reconnected and subscribed again: the current stats at once
        assert relay.accepted == 2
    assert (first.total, first.labeled) == (2, 0) and again == first
    stats = cvx.watch_stats(p)
    next(stats)
    sample = next(cvx.samples(p))
    saver = threading.Timer(0.2, cvx.save_annotations, [sample, [{"label": "person", "box": (0, 0, 0.5, 0.5)}]])
    saver.start()
    after = next(stats)  # the save's update, pushed by the server
    stats.close()
    saver.join()
    assert after.labeled == 1 and [(c.label, c.count) for c in after.per_class] == [("car", 0), ("person", 1)]
    job = cvx.export(p, "COCO", include_images=False, wait=False)
    seen = list(cvx.watch_job(job))
    assert seen[-1].status == "SUCCEEDED" and seen[-1].result["path"]
    with pytest.raises(NotFound):
        next(cvx.watch_job("999999"))
    with pytest.raises(cvexplorer.Unauthenticated):  # at once, not after the reconnection attempts
        next(sdk.client("cvx_revoked-or-wrong").watch_stats(p))


async def test_the_async_client_iterates_saves_waits_and_watches(sdk: SdkServer) -> None:
    _, p = _project(sdk, "Async", 30)
    async with cvexplorer.AsyncClient(sdk.url, token=sdk.token) as cvx:
        samples = [s async for s in cvx.samples(p, page_size=7)]
        assert len(samples) == 30
        saved = await cvx.save_annotations(samples[0], [{"label": "car", "box": (0.2, 0.2, 0.2, 0.2)}])
        with pytest.raises(Conflict):
            await cvx.save_annotations(samples[0], [], allow_empty=True)
        watch = cvx.watch_stats(p)
        assert (await anext(watch)).labeled == 1
        await watch.aclose()
        job = await cvx.upload_predictions(p, [{"filename": samples[1].filename, "label": "person", "x": 0.1,
                                                "y": 0.1, "w": 0.1, "h": 0.1}], as_drafts_of="m", wait=False)
        seen = [j.status async for j in cvx.watch_job(job)]
        assert seen[-1] == "SUCCEEDED"
        assert (await job.wait(progress=False)).result["annotationsCreated"] == 1
        assert (await cvx.sample(saved.id)).version == saved.version


async def test_the_async_client_creates_updates_clones_and_accepts_drafts(sdk: SdkServer) -> None:
    async with cvexplorer.AsyncClient(sdk.url, token=sdk.token) as cvx:
        p = await cvx.create_project("AsyncMade", sdk.folder("asyncmade", 3), ["car"])
        assert (p.name, p.classes, p.task_type) == ("AsyncMade", ["car"], "DETECTION")
        samples = [s async for s in cvx.samples(p)]
        assert len(samples) == 3  # wait=True: the scan had finished
        assert (await cvx.update_classes(p, ["car", "bike"])).classes == ["car", "bike"]
        await cvx.upload_predictions(p, [{"filename": s.filename, "label": "bike", "x": 0.1, "y": 0.1, "w": 0.2,
                                          "h": 0.2, "confidence": 0.8} for s in samples[:2]], as_drafts_of="m",
                                     progress=False)
        assert await cvx.accept_drafts(samples[:2]) == 2
        accepted = await cvx.sample(samples[0].id)
        assert accepted.status == "LABELED"
        assert [(a.label, a.is_draft) for a in accepted.annotations] == [("bike", False)]
        clone = await cvx.clone(p)
        assert (clone.version, clone.root_id, clone.classes) == (2, p.id, ["car", "bike"])
        assert len([s async for s in cvx.samples(clone)]) == 3


def test_a_spark_dataframe_of_pixel_corners_goes_in_as_drafts(sdk: SdkServer, spark: Any) -> None:
    cvx, p = _project(sdk, "SparkRows", 3)
    names = [s.filename for s in cvx.samples(p)]
    df = spark.createDataFrame(
        [(names[0], "car", 10.0, 20.0, 60.0, 70.0, 0.9, 200, 100), (names[0], "person", 0.0, 0.0, 100.0, 50.0, 0.4,
                                                                      200, 100),
         (names[1], "car", 50.0, 0.0, 100.0, 25.0, 0.75, 100, 50)],
        ["filename", "label", "x1", "y1", "x2", "y2", "confidence", "width", "height"])
    job = cvx.upload_predictions(p, df, box_format="xyxy", pixels=True, as_drafts_of="spark", progress=False)
    assert job.status == "SUCCEEDED" and job.result["annotationsCreated"] == 3
    first = next(cvx.samples(p, filename=names[0]))
    assert [(a.label, a.box, a.confidence, a.is_draft, a.created_by) for a in first.annotations] == [
        ("car", Box(0.05, 0.2, 0.25, 0.5), 0.9, True, "model:spark"),
        ("person", Box(0.0, 0.0, 0.5, 0.5), 0.4, True, "model:spark")]
    second = next(cvx.samples(p, filename=names[1]))
    assert [(a.label, a.box) for a in second.annotations] == [("car", Box(0.5, 0.0, 0.5, 0.5))]
