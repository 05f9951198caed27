"""An export's annotations as columns: each sample sees exactly its own records, and the COCO annotations encoded
from columns are byte for byte what encoding each record as a dict gives (a plain reference encoder below), for
boxes, image-level labels, labellers and splits; on both databases the snapshot reads only the exported samples'
confirmed annotations, however the project's samples interleave with another project's."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import orjson
import pytest
from sqlalchemy import insert

from db import export_samples, exports, projects
from db import samples as sample_rows
from db.annotation_columns import AnnotationColumns, ColumnSpan
from db.engine import Database
from db.errors import Invalid
from db.export_samples import SampleTable
from db.models import Annotation, Sample
from db.records import AnnotationRecord, ExportSample, ExportSnapshot
from jobs.formats import coco

CLASSES = ["cat", "dog", "bus"]


def _random_labels(rng: random.Random, n: int) -> list[list[AnnotationRecord]]:
    out = []
    for _ in range(n):
        anns = []
        for _ in range(rng.choice([0, 0, 1, 2, 5, 9])):
            label = rng.choice(CLASSES)
            if rng.random() < 0.2:
                anns.append(AnnotationRecord(label, "CLASSIFICATION", None, None, False, rng.choice(["ann", "bo"])))
            else:
                box = (rng.random(), rng.random(), rng.random() / 3, rng.choice([rng.random(), 1e-9, 1.0]))
                anns.append(AnnotationRecord(label, "BBOX", box, None, False, rng.choice(["ann", "bo"])))
        out.append(anns)
    return out


def _rows(labels: list[list[AnnotationRecord]]) -> list[tuple[Any, ...]]:
    return [(sid, a.label, a.kind, *(a.box or (None,) * 4)) for sid, anns in enumerate(labels, start=1) for a in anns]


def _reference_annotations(snap: ExportSnapshot) -> bytes:
    """COCO's annotations array as a dict per record, encoded by orjson: what the columns must reproduce."""
    category = {c: i for i, c in enumerate(snap.classes, start=1)}
    entries: list[dict[str, Any]] = []
    for image_id, s in enumerate(snap.samples, start=1):
        for a in s.annotations:
            entry: dict[str, Any] = {"id": len(entries) + 1, "image_id": image_id, "category_id": category[a.label],
                                     "iscrowd": 0}
            if snap.annotators:
                entry["annotator"] = a.created_by
            if a.box:
                x, y, w, h = a.box
                pw, ph = w * s.width, h * s.height
                entry["bbox"] = [x * s.width, y * s.height, pw, ph]
                entry["area"] = pw * ph
            entries.append(entry)
    return orjson.dumps(entries)


def _annotations_of(document: bytes) -> bytes:
    start = document.index(b',"annotations":') + len(b',"annotations":')
    return document[start:document.index(b',"categories":')]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_columns_give_each_sample_its_records_and_coco_encodes_them_as_dicts_would(seed: int) -> None:
    rng = random.Random(seed)
    labels = _random_labels(rng, 700)
    plain = [[a._replace(created_by=None) for a in anns] for anns in labels]
    rows = _rows(labels)
    cut = rng.randrange(len(rows) + 1)
    columns = AnnotationColumns.of_chunks([rows[:cut], rows[cut:]])
    chosen = sorted(rng.sample(range(1, 701), 500))
    spans = columns.spans(chosen)
    assert [list(s) for s in spans] == [plain[i - 1] for i in chosen]
    assert [len(s) for s in spans] == [len(plain[i - 1]) for i in chosen]
    assert all(s[k] == plain[i - 1][k] for s, i in zip(spans, chosen, strict=True) for k in range(len(s)))
    sizes = [(rng.randint(1, 5000), rng.randint(1, 5000)) for _ in chosen]
    splits = [rng.choice(["TRAIN", "TEST", None]) for _ in chosen]

    def snapshot(held: list[Any], annotators: bool = False) -> ExportSnapshot:
        return ExportSnapshot(1, "P", 1, "DETECTION", CLASSES, False, "/V", [
            ExportSample(i, f"{i}.jpg", f"/V/{i}.jpg", w, h, a, split)
            for i, (w, h), a, split in zip(chosen, sizes, held, splits, strict=True)], annotators)

    from_columns = snapshot(spans)
    expected = _reference_annotations(from_columns)
    assert _annotations_of(coco.document(from_columns, "me")) == expected
    assert _annotations_of(coco.document(snapshot([plain[i - 1] for i in chosen]), "me")) == expected
    for split in ("TRAIN", "TEST"):  # a split's file: the spans of some samples only
        part = from_columns.of_split(split)
        assert _annotations_of(coco.document(part, "me")) == _reference_annotations(part)
    by_labeller = snapshot([labels[i - 1] for i in chosen], annotators=True)  # everySubmission: records with names
    assert _annotations_of(coco.document(by_labeller, "me")) == _reference_annotations(by_labeller)


def test_a_label_that_is_not_a_class_fails_the_export_clearly() -> None:
    columns = AnnotationColumns.of_chunks([[(1, "cat", "BBOX", 0.1, 0.1, 0.2, 0.2), (1, "gone", "BBOX", 0, 0, 1, 1)]])
    snap = ExportSnapshot(1, "P", 1, "DETECTION", ["cat"], False, "/V",
                          [ExportSample(1, "a.jpg", "/V/a.jpg", 10, 10, columns.spans([1])[0])])
    with pytest.raises(Invalid, match="label 'gone', which is not one of its classes"):
        coco.document(snap, "me")


def test_no_annotations_at_all_is_an_empty_list() -> None:
    empty = AnnotationColumns.of_chunks([])
    snap = ExportSnapshot(1, "P", 1, "DETECTION", ["cat"], False, "/V",
                          [ExportSample(1, "a.jpg", "/V/a.jpg", 10, 10, empty.spans([1])[0])])
    assert orjson.loads(coco.document(snap, "me"))["annotations"] == []


async def test_the_snapshot_reads_only_exported_samples_confirmed_annotations(db: Database) -> None:
    """Two projects whose samples' ids interleave; drafts, unlabelled samples and the other project stay out."""
    def write(session: Any) -> tuple[int, dict[int, list[AnnotationRecord]]]:
        ids = [projects.create_project(session, name=f"P{k}", description="", task_type="DETECTION", classes=CLASSES,
                                       multi_label=False, source_volume="/V", created_by="t").id for k in range(2)]
        for n in range(30):
            sample_rows.insert_new(session, ids[n % 2], [(f"/V/{n}.jpg", f"{n}.jpg")])
        session.flush()
        expected: dict[int, list[AnnotationRecord]] = {}
        for n, s in enumerate(session.query(Sample).order_by(Sample.id).all()):
            s.status, s.width, s.height = ("LABELED" if n % 3 else "UNLABELED"), 100, 50
            for k in range(n % 4):
                session.execute(insert(Annotation).values(
                    project_id=s.project_id, sample_id=s.id, label=CLASSES[k % 3], kind="BBOX", x=0.1 * k, y=0.2,
                    w=0.3, h=0.25, is_draft=k == 2, created_by="t"))
            if s.project_id == ids[0] and n % 3:
                expected[s.id] = [AnnotationRecord(CLASSES[k % 3], "BBOX", (0.1 * k, 0.2, 0.3, 0.25))
                                  for k in range(n % 4) if k != 2]
        return ids[0], expected

    pid, expected = await db.write(write)
    snap = await db.read(exports.snapshot, pid)
    assert [s.sample_id for s in snap.samples] == list(expected)
    assert {s.sample_id: list(s.annotations) for s in snap.samples} == expected
    assert isinstance(snap.samples, SampleTable) and all(isinstance(s.annotations, ColumnSpan) for s in snap.samples)


@pytest.mark.parametrize("seed", [5, 6])
def test_a_sample_table_reads_as_its_export_samples_and_encodes_the_same(seed: int) -> None:
    rng = random.Random(seed)
    labels = _random_labels(rng, 300)
    rows = _rows(labels)
    columns = AnnotationColumns.of_chunks([rows])
    ids = sorted(rng.sample(range(1, 301), 200))
    sample_rows = [(i, f"d/{i}.jpg", f"/V/d/{i}.jpg", rng.choice([None, 0, 640]), rng.choice([None, 480]),
                    rng.choice(["TRAIN", "TEST", None])) for i in ids]
    if seed == 6:  # a table project's paths: not all under the root, so they are kept as read
        sample_rows[0] = (*sample_rows[0][:2], "/Volumes/elsewhere/x.jpg", *sample_rows[0][3:])
    cut = rng.randrange(len(sample_rows))
    table = SampleTable.of_chunks([sample_rows[:cut], sample_rows[cut:]], "/V").spanning(columns)
    plain = [ExportSample(i, name, path, w or 0, h or 0, [a._replace(created_by=None) for a in labels[i - 1]], split)
             for i, name, path, w, h, split in sample_rows]
    assert len(table) == len(plain) and [dataclasses.astuple(s) for s in table] == [
        dataclasses.astuple(s) for s in plain]  # a span compares equal to the list of its records
    assert isinstance(table.paths, list) == (seed == 6) and list(table.paths) == [r[2] for r in sample_rows]
    assert table[7] == plain[7] and [s.sample_id for s in table[3:9]] == ids[3:9]
    assert export_samples.annotation_count(table) == sum(len(s.annotations) for s in plain)
    assert [s.sample_id for s in export_samples.unsized(table)] == [s.sample_id for s in plain
                                                                     if not s.width or not s.height]
    found = {s.sample_id: (rng.randint(1, 99), rng.randint(1, 99)) for s in export_samples.unsized(table)}
    sized = export_samples.with_sizes(table, found)
    assert list(sized) == export_samples.with_sizes(plain, found) and not list(export_samples.unsized(sized))

    def snap(samples: Any) -> ExportSnapshot:
        return ExportSnapshot(1, "P", 1, "DETECTION", CLASSES, False, "/V", samples)

    assert _annotations_of(coco.document(snap(sized), "me")) == _reference_annotations(snap(list(sized)))
    for split in ("TRAIN", "TEST"):
        part = snap(sized).of_split(split)
        assert isinstance(part.samples, SampleTable) and snap(sized).has_splits
        assert list(part.samples) == [s for s in sized if s.split == split]
        assert _annotations_of(coco.document(part, "me")) == _reference_annotations(snap(list(part.samples)))
    by = [labels[i - 1] for i in ids]  # everySubmission: each image's records replace its span
    named = snap(sized.with_labels(by))
    named.annotators = True
    assert [list(s.annotations) for s in named.samples] == by
    assert _annotations_of(coco.document(named, "me")) == _reference_annotations(
        dataclasses.replace(named, samples=list(named.samples)))
