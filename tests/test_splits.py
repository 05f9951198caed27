"""Splits: stratified toward the fractions, near-duplicate groups on one side, reproducible from the seed, stable
when images are added; the SPLITS job, the gallery's split filter, and every export format writing them its way."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from db import duplicates
from db.splits import SplitRow
from jobs.splits import assign
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

F = (0.7, 0.2, 0.1)
ASSIGN = """mutation($p: ID!, $t: Float!, $v: Float!, $e: Float!, $seed: Int, $re: Boolean){ assignSplits(
  projectId: $p, train: $t, validation: $v, test: $e, seed: $seed, reassign: $re){ id kind } }"""
BY_SPLIT = """query($p: ID!, $s: Split){ project(id: $p){ samples(split: $s, first: 100){ edges { node { filename
  split } } } } }"""
EXPORT = """mutation($p: ID!, $f: ExportFormat!){ exportDataset(projectId: $p, input: {format: $f,
  destination: "/Volumes/test/cvx/exports", includeImages: false}){ id } }"""


def _rows(n: int, start: int = 0) -> list[SplitRow]:
    """n images: classes a (60%), b (30%), c (8%) and unlabelled (2%); every tenth in a group with the next one."""
    rows = []
    for i in range(start, start + n):
        cls = ("a",) if i % 50 < 30 else ("b",) if i % 50 < 45 else ("c", "a") if i % 50 < 49 else ()
        group = i - i % 10 if i % 10 in (0, 1) else None
        rows.append(SplitRow(i + 1, f"/Volumes/x/y/z/{i:05}.jpg", None if group is None else group + 1, None, cls))
    return rows


def _by_stratum(rows: list[SplitRow], split: dict[int, str]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for r in rows:
        stratum = "c" if "c" in r.classes else r.classes[0] if r.classes else ""
        out.setdefault(stratum, Counter())[split[r.id]] += 1
    return out


def test_each_stratum_meets_the_fractions_and_groups_stay_together() -> None:
    rows = _rows(2000)
    split = assign(rows, F, seed=1, reassign=False)
    for stratum, counts in _by_stratum(rows, split).items():
        n = sum(counts.values())
        for name, f in zip(("TRAIN", "VALIDATION", "TEST"), F, strict=True):
            assert abs(counts[name] - f * n) <= 2, (stratum, counts)  # a group of two can overshoot by one
    for r in rows:
        if r.duplicate_group is not None:
            assert split[r.id] == split[r.duplicate_group]
    assert assign(rows, F, seed=1, reassign=False) == split  # reproducible
    assert assign(rows, F, seed=2, reassign=False) != split  # the seed decides


def test_new_images_never_move_old_ones_and_fill_the_splits_up() -> None:
    old = _rows(1000)
    first = assign(old, F, seed=5, reassign=False)
    kept = [r._replace(split=first[r.id]) for r in old]
    both = kept + _rows(500, start=1000)
    second = assign(both, F, seed=5, reassign=False)
    assert all(second[r.id] == first[r.id] for r in old)
    total = Counter(second.values())
    assert abs(total["TRAIN"] - 0.7 * 1500) <= 6 and abs(total["TEST"] - 0.1 * 1500) <= 6
    assert assign(both, F, seed=5, reassign=True) != second  # reassigning deals everything again


def test_a_group_split_across_two_sides_is_joined_to_its_first_members_split() -> None:
    rows = [SplitRow(1, "p1", 1, "TEST", ("a",)), SplitRow(2, "p2", 1, "TRAIN", ("a",)),
            SplitRow(3, "p3", 1, None, ("a",)), SplitRow(4, "p4", None, "TRAIN", ())]
    assert assign(rows, F, 0, reassign=False) == {1: "TEST", 2: "TEST", 3: "TEST", 4: "TRAIN"}
    assert set(assign(rows, (0.0, 0.0, 1.0), 0, reassign=True).values()) == {"TEST"}  # an empty split gets none


def _project(client: TestClient, images_dir: Path) -> tuple[str, dict[str, str]]:
    """Twenty labelled images (a box each: cat, or dog for every fourth); 00 and 01 are near-duplicates."""
    make_images(images_dir, [f"{i:02}.jpg" for i in range(20)], size=(40, 30))
    pid = create_project(client)["id"]
    edges = gql(client, "query($p: ID!){ project(id: $p){ samples(first: 50){ edges { node { id filename } } } } }",
                p=pid)["project"]["samples"]["edges"]
    ids = {e["node"]["filename"]: e["node"]["id"] for e in edges}
    for name, sid in ids.items():
        label = "dog" if int(name[:2]) % 4 == 0 else "cat"
        gql(client, 'mutation($s: ID!, $l: String!){ saveAnnotations(sampleId: $s, annotations: [{label: $l, '
                    'kind: BBOX, box: {x: 0.1, y: 0.2, w: 0.3, h: 0.4}}]){ id } }', s=sid, l=label)
    group = int(ids["00.jpg"])
    client.portal.call(client.app.state.services.db.write, duplicates.replace_groups, int(pid),
                       [(group, group), (int(ids["01.jpg"]), group)])
    return pid, ids


def _export(client: TestClient, settings_exports: Path, pid: str, fmt: str) -> Path:
    done = wait_for_job(client, gql(client, EXPORT, p=pid, f=fmt)["exportDataset"]["id"])
    assert done["status"] == "SUCCEEDED", done
    return settings_exports / Path(done["result"]["path"]).name


def test_assign_splits_filter_and_export_them(client: TestClient, images_dir: Path, tmp_path: Path) -> None:
    pid, _ = _project(client, images_dir)
    job = gql(client, ASSIGN, p=pid, t=0.6, v=0.2, e=0.2, seed=3)["assignSplits"]
    assert job["kind"] == "SPLITS"
    result = wait_for_job(client, job["id"])["result"]
    assert result == {"train": 12, "validation": 4, "test": 4, "assigned": 20, "moved": 0}
    split = {}
    for name in ("TRAIN", "VALIDATION", "TEST"):
        for e in gql(client, BY_SPLIT, p=pid, s=name)["project"]["samples"]["edges"]:
            assert e["node"]["split"] == name
            split[e["node"]["filename"]] = name
    assert len(split) == 20 and split["00.jpg"] == split["01.jpg"]
    dogs = Counter(s for f, s in split.items() if int(f[:2]) % 4 == 0)
    assert dogs == {"TRAIN": 3, "VALIDATION": 1, "TEST": 1}  # the rarer class split 3:1:1 as well
    again = wait_for_job(client, gql(client, ASSIGN, p=pid, t=0.6, v=0.2, e=0.2, seed=3)["assignSplits"]["id"])
    assert again["result"]["assigned"] == 0 and again["result"]["moved"] == 0

    exports = tmp_path / "exports"
    names = {s: sorted(f for f, v in split.items() if v == s) for s in ("TRAIN", "VALIDATION", "TEST")}
    yolo = _export(client, exports, pid, "YOLO")
    data = yaml.safe_load((yolo / "data.yaml").read_text())
    assert (data["train"], data["val"], data["test"]) == ("train.txt", "val.txt", "test.txt")
    assert (yolo / "val.txt").read_text().split() == [f"./images/{f}" for f in names["VALIDATION"]]
    coco = _export(client, exports, pid, "COCO")
    for key, short in (("TRAIN", "train"), ("VALIDATION", "val"), ("TEST", "test")):
        doc = json.loads((coco / f"instances_{short}.json").read_text())
        assert sorted(i["file_name"] for i in doc["images"]) == names[key]
        assert len(doc["annotations"]) == len(names[key])
    assert len(json.loads((coco / "annotations.json").read_text())["images"]) == 20
    assert json.loads((coco / "metadata.json").read_text())["splits"] == {"train": 12, "val": 4, "test": 4,
                                                                        "unassigned": 0}
    voc = _export(client, exports, pid, "PASCAL_VOC") / "ImageSets" / "Main"
    assert (voc / "test.txt").read_text().split() == [f[:-4] for f in names["TEST"]]
    assert sorted((voc / "trainval.txt").read_text().split()) == sorted(
        f[:-4] for f in names["TRAIN"] + names["VALIDATION"])
    rows = list(csv.DictReader(io.StringIO((_export(client, exports, pid, "CSV") / "labels.csv").read_text())))
    assert {r["filename"]: r["split"] for r in rows} == {f: {"TRAIN": "train", "VALIDATION": "val",
                                                             "TEST": "test"}[s] for f, s in split.items()}
    lines = (_export(client, exports, pid, "JSONL") / "annotations.jsonl").read_text().splitlines()
    assert {json.loads(x)["filename"]: json.loads(x)["split"] for x in lines}["00.jpg"] == \
        {"TRAIN": "train", "VALIDATION": "val", "TEST": "test"}[split["00.jpg"]]


@pytest.mark.parametrize(("fractions", "needle"), [((0.5, 0.5, 0.5), "add up to 1"), ((1.2, -0.1, -0.1), "between 0")])
def test_assign_splits_refuses_bad_fractions(client: TestClient, images_dir: Path, fractions: tuple[float, ...],
                                             needle: str) -> None:
    pid = create_project(client)["id"]
    err = gql_error(client, ASSIGN, p=pid, t=fractions[0], v=fractions[1], e=fractions[2])
    assert err["extensions"]["code"] == "VALIDATION" and needle in err["message"]
    assert gql_error(client, ASSIGN, p="999", t=1, v=0, e=0)["extensions"]["code"] == "NOT_FOUND"
