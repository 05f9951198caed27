"""Import and export through the API on both databases: round trips, every validation rule, every flag."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from starlette.testclient import TestClient

from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

IMPORT = """mutation($p: ID!, $i: ImportInput!){ importAnnotations(projectId: $p, input: $i){ id } }"""
EXPORT = """mutation($p: ID!, $i: ExportInput!){ exportDataset(projectId: $p, input: $i){ id } }"""
EXPORTS = "/Volumes/test/cvx/exports"
SIZES = {"a.jpg": (200, 100), "b.jpg": (64, 48), "sub/c.jpg": (100, 200), "sub/d.jpg": (80, 80)}
SAMPLES = """query($p: ID!){ project(id: $p){ samples(first: 100){ edges { node { id filename status width
  annotations { label kind isDraft createdBy box { x y w h } } } } } stats { labeled } } }"""


def _images(folder: Path) -> None:
    for name, size in SIZES.items():
        make_images(folder, [name], size=size)


def _coco() -> dict[str, Any]:
    return {
        "images": [{"id": 10 + i, "file_name": n, "width": w, "height": h}
                   for i, (n, (w, h)) in enumerate(SIZES.items())],
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 3, "bbox": [20, 10, 50, 40], "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 7, "bbox": [100, 50, 99.5, 49.25]},
            {"id": 3, "image_id": 12, "category_id": 7, "bbox": [0, 0, 100, 200], "segmentation": [[1, 2, 3]]},
        ],
    }


def _write(root: Path, name: str, data: Any) -> str:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return f"{EXPORTS}/{name}"


def _run(client: TestClient, mutation: str, project_id: str, **inp: Any) -> dict[str, Any]:
    job = gql(client, mutation, p=project_id, i=inp)
    return wait_for_job(client, next(iter(job.values()))["id"])


def _samples(client: TestClient, project_id: str) -> dict[str, dict[str, Any]]:
    edges = gql(client, SAMPLES, p=project_id)["project"]["samples"]["edges"]
    return {e["node"]["filename"]: e["node"] for e in edges}


def _exported(settings: Settings, job: dict[str, Any]) -> Path:
    assert job["status"] == "SUCCEEDED", job
    return settings.volume_mounts[EXPORTS] / job["result"]["path"].removeprefix(EXPORTS + "/")


@pytest.fixture
def exports(settings: Settings) -> Path:
    return settings.volume_mounts[EXPORTS]


def test_coco_import_then_export_round_trips(client: TestClient, settings: Settings, images_dir: Path,
                                             exports: Path) -> None:
    _images(images_dir)
    project = create_project(client, classes=["cat", "dog"])
    src = _write(exports, "in/coco.json", _coco())
    dry = _run(client, IMPORT, project["id"], path=src, format="COCO", dryRun=True)
    assert dry["status"] == "SUCCEEDED" and dry["result"]["dryRun"] is True
    assert _samples(client, project["id"])["a.jpg"]["status"] == "UNLABELED"  # a dry run writes nothing
    job = _run(client, IMPORT, project["id"], path=src, format="COCO")
    counts = {k: v for k, v in job["result"].items() if k != "dryRun"}
    assert counts == {k: v for k, v in dry["result"].items() if k != "dryRun"}  # dry-run counters are exact
    assert counts == {"samplesTouched": 2, "annotationsCreated": 3, "annotationsReplaced": 0, "samplesSkipped": 0,
                      "samplesCreated": 0}
    samples = _samples(client, project["id"])
    a = samples["a.jpg"]
    assert a["status"] == "LABELED" and {x["label"] for x in a["annotations"]} == {"cat", "dog"}
    cat = next(x for x in a["annotations"] if x["label"] == "cat")
    assert cat["box"] == pytest.approx({"x": 0.1, "y": 0.1, "w": 0.25, "h": 0.4}) and cat["createdBy"] == "alice"
    assert samples["b.jpg"]["status"] == "UNLABELED"  # listed with no annotations: nothing to label
    assert samples["sub/c.jpg"]["width"] == 100  # sizes the COCO file gives are recorded
    history = gql(client, 'query($s: ID!){ sample(id: $s){ history { action actor label } } }', s=a["id"])
    assert {(h["action"], h["actor"]) for h in history["sample"]["history"]} == {("import", "alice")}

    again = _run(client, IMPORT, project["id"], path=src, format="COCO")  # REPLACE is idempotent
    assert again["result"]["samplesTouched"] == 0 and again["result"]["annotationsCreated"] == 0

    out = _exported(settings, _run(client, EXPORT, project["id"], format="COCO", destination=EXPORTS,
                                   includeImages=False))
    doc = json.loads((out / "annotations.json").read_text())
    assert [c["name"] for c in doc["categories"]] == ["cat", "dog"] and doc["categories"][0]["id"] == 1
    by_name = {im["file_name"]: im for im in doc["images"]}
    assert set(by_name) == {"a.jpg", "sub/c.jpg"}  # only labelled samples
    assert (by_name["a.jpg"]["width"], by_name["a.jpg"]["height"]) == (200, 100)
    original = {(im["file_name"], c["name"], tuple(a["bbox"])) for im in _coco()["images"]
                for a in _coco()["annotations"] if a["image_id"] == im["id"]
                for c in _coco()["categories"] if c["id"] == a["category_id"]}
    names = {c["id"]: c["name"] for c in doc["categories"]}
    ims = {im["id"]: im["file_name"] for im in doc["images"]}
    exported = {(ims[a["image_id"]], names[a["category_id"]], tuple(a["bbox"])) for a in doc["annotations"]}
    assert len(exported) == len(original)
    for item in original:
        match = next(e for e in exported if e[:2] == item[:2] and all(abs(p - q) < 1e-6 for p, q in
                                                                     zip(e[2], item[2], strict=True)))
        assert match
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["image_count"] == 2 and meta["annotation_count"] == 3 and meta["format"] == "COCO"
    assert not (out / "images").exists()

    from pycocotools.coco import COCO

    coco = COCO(str(out / "annotations.json"))
    assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 3 and len(coco.getCatIds()) == 2


def _label_everything(client: TestClient, project_id: str) -> None:
    samples = _samples(client, project_id)
    save = """mutation($s: ID!, $a: [AnnotationInput!]!){ saveAnnotations(sampleId: $s, annotations: $a,
        allowEmpty: true){ id } }"""
    gql(client, save, s=samples["a.jpg"]["id"], a=[
        {"label": "cat", "kind": "BBOX", "box": {"x": 0.1234567, "y": 0.2, "w": 0.3, "h": 0.4}},
        {"label": "dog", "kind": "BBOX", "box": {"x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5}}])
    gql(client, save, s=samples["sub/c.jpg"]["id"], a=[
        {"label": "dog", "kind": "BBOX", "box": {"x": 0.0, "y": 0.0, "w": 0.01, "h": 0.99}}])
    gql(client, save, s=samples["b.jpg"]["id"], a=[])  # a negative: labelled, no objects


def _boxes(client: TestClient, project_id: str) -> dict[str, list[tuple]]:
    return {name: sorted((a["label"], *(a["box"][k] for k in "xywh")) for a in s["annotations"])
            for name, s in _samples(client, project_id).items() if s["annotations"]}


@pytest.mark.parametrize("fmt", ["JSONL", "YOLO", "COCO"])
def test_export_then_import_into_a_new_version_round_trips(client: TestClient, settings: Settings,
                                                           images_dir: Path, fmt: str) -> None:
    _images(images_dir)
    project = create_project(client, classes=["cat", "dog"])
    _label_everything(client, project["id"])
    out = _exported(settings, _run(client, EXPORT, project["id"], format=fmt, destination=EXPORTS,
                                   includeImages=fmt == "YOLO"))
    clone = gql(client, 'mutation($p: ID!){ cloneProject(id: $p){ id } }', p=project["id"])["cloneProject"]
    rel = out.relative_to(settings.volume_mounts[EXPORTS])
    path = {"JSONL": f"{EXPORTS}/{rel}/annotations.jsonl", "COCO": f"{EXPORTS}/{rel}/annotations.json",
            "YOLO": f"{EXPORTS}/{rel}"}[fmt]
    job = _run(client, IMPORT, clone["id"], path=path, format=fmt)
    assert job["status"] == "SUCCEEDED", job
    before, after = _boxes(client, project["id"]), _boxes(client, clone["id"])
    assert before.keys() == after.keys()
    for name in before:
        for b, a in zip(before[name], after[name], strict=True):
            assert b[0] == a[0] and all(abs(p - q) < 1e-6 for p, q in zip(b[1:], a[1:], strict=True)), (b, a)
    if fmt == "YOLO":
        assert (out / "images" / "sub" / "c.jpg").exists() and (out / "labels" / "b.txt").read_text() == ""
        assert "names" in (out / "data.yaml").read_text()


def test_csv_export_quotes_and_neutralises_formulas(client: TestClient, settings: Settings, images_dir: Path) -> None:
    make_images(images_dir, ["=cmd.jpg", "plain.jpg"], size=(100, 50))
    project = create_project(client, task="CLASSIFICATION", classes=["@evil", "ok"])
    samples = _samples(client, project["id"])
    label = 'mutation($s: ID!, $l: [String!]!){ setClassification(sampleId: $s, labels: $l){ id } }'
    gql(client, label, s=samples["=cmd.jpg"]["id"], l=["@evil"])
    gql(client, label, s=samples["plain.jpg"]["id"], l=["ok"])
    out = _exported(settings, _run(client, EXPORT, project["id"], format="CSV", destination=EXPORTS,
                                   includeImages=True))
    rows = list(csv.reader(io.StringIO((out / "labels.csv").read_text())))
    assert rows[0] == ["filename", "label"]
    assert sorted(rows[1:]) == [["=cmd.jpg", "'@evil"], ["plain.jpg", "ok"]]  # the name as the file's (test_exports)
    assert (out / "images" / "=cmd.jpg").exists()


def test_pascal_voc_export(client: TestClient, settings: Settings, images_dir: Path) -> None:
    _images(images_dir)
    project = create_project(client, classes=["cat", "dog"])
    _label_everything(client, project["id"])
    out = _exported(settings, _run(client, EXPORT, project["id"], format="PASCAL_VOC", destination=EXPORTS,
                                   includeImages=True))
    tree = ElementTree.parse(out / "Annotations" / "a.xml")
    assert tree.findtext("size/width") == "200" and len(tree.findall("object")) == 2
    cat = next(o for o in tree.findall("object") if o.findtext("name") == "cat")
    assert cat.findtext("bndbox/xmin") == str(round(0.1234567 * 200) + 1)
    assert (out / "JPEGImages" / "sub__c.jpg").exists()
    assert set((out / "ImageSets" / "Main" / "trainval.txt").read_text().split()) == {"a", "b", "sub__c"}


def test_pascal_voc_flattens_deep_folders_into_names_that_fit_a_file_system(client: TestClient, settings: Settings,
                                                                           images_dir: Path) -> None:
    deep = "/".join(f"{i}-" + "f" * 60 for i in range(5))  # 'a/b/…' flattened passes 255 bytes
    make_images(images_dir, [f"{deep}/x.jpg", f"{deep}/y.jpg"])
    project = create_project(client, classes=["cat"])
    save = """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "cat", kind: BBOX,
        box: {x: 0.1, y: 0.1, w: 0.5, h: 0.5}}]){ id } }"""
    for sample in _samples(client, project["id"]).values():
        gql(client, save, s=sample["id"])
    out = _exported(settings, _run(client, EXPORT, project["id"], format="PASCAL_VOC", destination=EXPORTS,
                                   includeImages=True))
    images, notes = sorted((out / "JPEGImages").iterdir()), sorted((out / "Annotations").iterdir())
    assert len(images) == len(notes) == 2 and all(len(p.name.encode()) <= 255 for p in images + notes)
    assert [p.name[-5:] for p in images] == ["x.jpg", "y.jpg"]  # the end of the name is kept, and it is unique
    assert {ElementTree.parse(n).findtext("filename") for n in notes} == {p.name for p in images}


def test_an_export_that_cannot_read_an_image_fails_clearly(client: TestClient, images_dir: Path,
                                                          exports: Path) -> None:
    make_images(images_dir, ["ok.jpg"])
    (images_dir / "bad.jpg").write_bytes(b"not an image")
    project = create_project(client, classes=["cat"])
    src = _write(exports, "l.jsonl", "\n".join(json.dumps({"filename": n, "annotations": [
        {"label": "cat", "ann_type": "bbox", "bbox_json": {"x": 0, "y": 0, "w": 0.5, "h": 0.5}}]})
        for n in ("ok.jpg", "bad.jpg")))
    assert _run(client, IMPORT, project["id"], path=src, format="JSONL")["status"] == "SUCCEEDED"
    job = _run(client, EXPORT, project["id"], format="COCO", destination=EXPORTS)
    assert job["status"] == "FAILED" and "bad.jpg" in job["error"] and "cannot be read" in job["error"]


def test_export_of_a_classification_project_to_yolo_is_refused(client: TestClient, settings: Settings,
                                                                images_dir: Path) -> None:
    _images(images_dir)
    project = create_project(client, task="CLASSIFICATION", classes=["cat"])
    gql(client, 'mutation($s: ID!){ setClassification(sampleId: $s, labels: ["cat"]){ id } }',
        s=_samples(client, project["id"])["a.jpg"]["id"])  # something to export: a project with nothing is refused
    job = _run(client, EXPORT, project["id"], format="YOLO", destination=EXPORTS)
    assert job["status"] == "FAILED" and "detection projects" in job["error"]


def test_every_row_is_checked_and_a_failing_import_writes_nothing(client: TestClient, images_dir: Path,
                                                                  exports: Path) -> None:
    _images(images_dir)
    make_images(images_dir, ["other/a.jpg", "e.jpg"])
    project = create_project(client, classes=["cat", "dog"])
    box = {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}
    lines = [
        {"filename": "b.jpg", "annotations": [{"label": "cat", "ann_type": "bbox", "bbox_json": box}]},  # fine
        {"filename": "sub/c.jpg", "annotations": [{"label": "horse", "ann_type": "bbox", "bbox_json": box}]},
        {"filename": "sub/d.jpg", "annotations": [{"label": "cat", "ann_type": "bbox",
                                                   "bbox_json": {"x": 0.9, "y": 0.1, "w": 0.2, "h": 0.2}}]},
        {"filename": "sub/d.jpg", "annotations": []},
        {"filename": "../secret.jpg", "annotations": []},
        {"filename": "missing.jpg", "annotations": []},
        {"filename": "a.jpg", "annotations": []},  # ambiguous: a.jpg and other/a.jpg... a.jpg is exact
        {"filename": "c.jpg", "annotations": []},  # bare name of sub/c.jpg: unambiguous, but c.jpg was row 2
        {"filename": "e.jpg", "annotations": [{"label": "cat", "ann_type": "classification"}]},
    ]
    src = _write(exports, "bad.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\nnot json\n")
    job = _run(client, IMPORT, project["id"], path=src, format="JSONL")
    assert job["status"] == "FAILED" and "nothing was written" in job["error"]
    reasons = {e["row"]: e["reason"] for e in job["result"]["errors"]}
    assert job["result"]["errorCount"] == len(reasons)
    assert 11 in reasons and "line 11" in reasons[11]  # malformed JSON is a row error too
    assert "not one of the project's classes" in reasons[2]
    assert "leaves the image" in reasons[3]
    assert "appears again" in reasons[4]
    assert "inside the project folder" in reasons[5]
    assert "no such image" in reasons[6]
    assert "appears again" in reasons[8]
    assert "takes BBOX annotations" in reasons[9]
    assert all(s["status"] == "UNLABELED" for s in _samples(client, project["id"]).values())

    ambiguous = _write(exports, "amb.jsonl", json.dumps({"filename": "c.jpg", "annotations": []}) + "\n" +
                       json.dumps({"filename": "a.jpg", "annotations": []}))
    make_images(images_dir, ["more/c.jpg"])
    gql(client, 'mutation($p: ID!){ rescanProject(id: $p){ id } }', p=project["id"])
    wait_for_job(client, gql(client, "query($p: ID!){ jobs(projectId: $p, first: 1){ id } }",
                             p=project["id"])["jobs"][0]["id"])
    job = _run(client, IMPORT, project["id"], path=ambiguous, format="JSONL")
    assert job["status"] == "FAILED" and "more/c.jpg" in job["result"]["errors"][0]["reason"]
    assert job["result"]["errorCount"] == 1  # a.jpg matches exactly, other/a.jpg does not stand in its way


def test_missing_and_existing_flags(client: TestClient, images_dir: Path, exports: Path) -> None:
    _images(images_dir)
    project = create_project(client, classes=["cat", "dog"])
    box = {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}

    def line(name: str, label: str = "cat") -> str:
        return json.dumps({"filename": name, "annotations": [{"label": label, "ann_type": "bbox",
                                                              "bbox_json": box}]})

    src = _write(exports, "f.jsonl", "\n".join([line("a.jpg"), line("new.jpg"), line("ghost.jpg")]))
    assert _run(client, IMPORT, project["id"], path=src, format="JSONL")["status"] == "FAILED"  # ERROR default
    skip = _run(client, IMPORT, project["id"], path=src, format="JSONL", onMissingSample="SKIP")
    assert skip["result"]["samplesSkipped"] == 2 and skip["result"]["samplesTouched"] == 1
    make_images(images_dir, ["new.jpg"])
    create = _run(client, IMPORT, project["id"], path=src, format="JSONL", onMissingSample="CREATE")
    assert create["status"] == "FAILED"  # ghost.jpg is not in the folder: CREATE cannot add it
    assert create["result"]["errors"][0]["filename"] == "ghost.jpg"
    src2 = _write(exports, "g.jsonl", "\n".join([line("a.jpg", "dog"), line("new.jpg")]))
    created = _run(client, IMPORT, project["id"], path=src2, format="JSONL", onMissingSample="CREATE",
                   onExistingAnnotations="APPEND")
    assert created["result"]["samplesCreated"] == 1 and created["result"]["annotationsCreated"] == 2
    samples = _samples(client, project["id"])
    assert samples["new.jpg"]["status"] == "LABELED"
    assert sorted(a["label"] for a in samples["a.jpg"]["annotations"]) == ["cat", "dog"]  # appended
    stats = gql(client, 'query($p: ID!){ project(id: $p){ stats { total labeled unlabeled } } }', p=project["id"])
    assert stats["project"]["stats"] == {"total": 5, "labeled": 2, "unlabeled": 3}

    skipped = _run(client, IMPORT, project["id"], path=src2, format="JSONL", onExistingAnnotations="SKIP")
    assert skipped["result"]["samplesSkipped"] == 2 and skipped["result"]["samplesTouched"] == 0
    replaced = _run(client, IMPORT, project["id"], path=src2, format="JSONL")
    assert replaced["result"]["annotationsReplaced"] == 2 and replaced["result"]["samplesTouched"] == 1
    assert [a["label"] for a in _samples(client, project["id"])["a.jpg"]["annotations"]] == ["dog"]
    emptied = _write(exports, "e.jsonl", json.dumps({"filename": "a.jpg", "annotations": []}))
    _run(client, IMPORT, project["id"], path=emptied, format="JSONL")
    assert _samples(client, project["id"])["a.jpg"]["status"] == "UNLABELED"  # REPLACE with nothing


def test_bad_paths_and_caps_get_clear_errors(client: TestClient, settings: Settings, images_dir: Path,
                                             exports: Path) -> None:
    _images(images_dir)
    project = create_project(client)
    for path, code in [("/Volumes/test/cvx/exports/nope.json", "NOT_FOUND"), ("/etc/passwd", "VALIDATION"),
                       ("/Volumes/test/cvx/exports/../../x.json", "VALIDATION")]:
        err = gql_error(client, IMPORT, p=project["id"], i={"path": path, "format": "COCO"})
        assert err["extensions"]["code"] == code, (path, err)
    err = gql_error(client, EXPORT, p=project["id"], i={"format": "COCO", "destination": EXPORTS + "/missing"})
    assert err["extensions"]["code"] == "NOT_FOUND"
    broken = _write(exports, "broken.json", "{ not json")
    job = _run(client, IMPORT, project["id"], path=broken, format="COCO")
    assert job["status"] == "FAILED" and "First, the file: not valid JSON" in job["error"]
    big = _write(exports, "big.json", json.dumps(_coco()))
    small = dataclasses.replace(settings, import_max_bytes=100)
    with TestClient(create_app(small)) as c2:
        job = wait_for_job(c2, gql(c2, IMPORT, p=project["id"], i={"path": big, "format": "COCO"})[
            "importAnnotations"]["id"])
    assert job["status"] == "FAILED" and "IMPORT_MAX_BYTES" in job["error"]


def test_upload_then_import_and_download_the_export_as_a_zip(client: TestClient, settings: Settings,
                                                               images_dir: Path, tmp_path: Path) -> None:
    _images(images_dir)
    project = create_project(client, classes=["cat", "dog"])
    body = json.dumps({"filename": "a.jpg", "annotations": [{"label": "dog", "ann_type": "bbox",
                                                             "bbox_json": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}}]})
    url = f"/uploads/{project['id']}"
    octet = {"content-type": "application/octet-stream"}
    r = client.post(url, params={"name": "labels.jsonl"}, content=body.encode(), headers=octet)
    assert r.status_code == 200, r.text
    path = r.json()["path"]
    assert path.startswith("/Volumes/local/cv_explorer/uploads/") and path.endswith("-labels.jsonl")
    job = _run(client, IMPORT, project["id"], path=path, format="JSONL")
    assert job["status"] == "SUCCEEDED" and job["result"]["annotationsCreated"] == 1

    assert client.post(url, params={"name": "x.json"}, content=b"{}",
                       headers={"content-type": "application/json"}).status_code == 400
    assert client.post(url, content=b"{}", headers=octet).status_code == 400
    assert client.post(url, params={"name": "e.json"}, content=b"", headers=octet).status_code == 400
    assert client.post("/uploads/999", params={"name": "x.json"}, content=b"{}", headers=octet).status_code == 404
    small = dataclasses.replace(settings, import_max_bytes=10)
    with TestClient(create_app(small)) as c2:
        r = c2.post(url, params={"name": "big.json"}, content=b"x" * 100, headers=octet)
        assert r.status_code == 413 and r.json()["code"] == "TOO_LARGE"
    kept = [p.name for p in (tmp_path / "uploads").rglob("*") if p.is_file()]
    assert len(kept) == 1  # the refused uploads left nothing behind

    export = _run(client, EXPORT, project["id"], format="COCO", destination=EXPORTS, includeImages=True)
    r = client.get(f"/exports/{export['id']}.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert set(z.namelist()) == {"annotations.json", "metadata.json", "images/a.jpg"}
        assert json.loads(z.read("metadata.json"))["annotation_count"] == 1
    assert client.get(f"/exports/{job['id']}.zip").status_code == 404  # an import is not an export
