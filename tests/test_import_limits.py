"""An import can never exhaust the server: each hostile file (zip bombs, many members, a huge line, deep nesting,
floods of tiny entries) is refused with a reason naming the limit, after reading little of it and allocating
little (measured with tracemalloc around a direct call of the reader, with small limits); a job that fails so
ends FAILED once; existing annotations are read a batch at a time."""

from __future__ import annotations

import dataclasses
import gc
import io
import json
import os
import random
import resource
import tracemalloc
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from db import gc_pause, imports
from db.engine import Database
from db.errors import DomainError, Invalid, TooLarge
from db.models import Job, utcnow
from jobs import importer
from jobs.formats import Limits, Parsed, jsonl
from jobs.formats.reading import Budget, metered
from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, make_images, wait_for_job
from volumes.local import LocalVolumes

MB = 2**20
SMALL = Limits(max_bytes=4 * MB, max_items=1_000, max_annotations=5_000, max_row_bytes=64 * 1024)
ROOT = "/Volumes/t/c/in"
IMPORT = """mutation($p: ID!, $i: ImportInput!){ importAnnotations(projectId: $p, input: $i){ id } }"""
EXPORTS = "/Volumes/test/cvx/exports"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


def _measured(call: Callable[[], Parsed]) -> tuple[Parsed | DomainError, float]:
    """The reader's outcome (or the error that stopped it) and the peak MB it allocated; the process's peak
    resident size must not have grown by more than 64 MB either."""
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        try:
            out: Parsed | DomainError = call()
        except DomainError as exc:
            out = exc
        peak = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024 < 64
    return out, peak


def _read(folder: Path, name: str, fmt: str, limits: Limits = SMALL) -> tuple[Parsed | DomainError, float]:
    volumes = LocalVolumes({ROOT: folder})
    return _measured(lambda: importer.read_file(volumes, f"{ROOT}/{name}", fmt, limits))


def _zip(path: Path, members: dict[str, bytes | Callable[[Any], None]], method: int = zipfile.ZIP_DEFLATED) -> None:
    """A zip; a member given as a function writes itself in pieces (so a big one is never in memory here)."""
    with zipfile.ZipFile(path, "w", method) as z:
        for name, content in members.items():
            if callable(content):
                with z.open(name, "w") as f:
                    content(f)
            else:
                z.writestr(name, content)


def _zeros(mb: int) -> Callable[[Any], None]:
    def write(f: Any) -> None:
        for _ in range(mb):
            f.write(b"\n" * MB)
    return write


def _patch(path: Path, old: bytes, new: bytes) -> None:
    path.write_bytes(path.read_bytes().replace(old, new))


def _declare_size(path: Path, name: str, size: int) -> None:
    """Make the local header and the central directory both say the member unpacks to `size` bytes."""
    data = bytearray(path.read_bytes())
    for signature, field in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        while at >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name.encode():
                data[at + field:at + field + 4] = size.to_bytes(4, "little")
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def _refused(out: Parsed | DomainError, kind: type[DomainError], *words: str) -> str:
    assert isinstance(out, kind), out
    assert all(w in out.message for w in words), out.message
    return out.message


def _row_error(out: Parsed | DomainError) -> str:
    assert isinstance(out, Parsed) and not out.items and out.errors.count == 1, out
    return out.errors.listed()[0].reason


# -- zips -----------------------------------------------------------------------------------------------------

def test_a_zip_bomb_is_refused_from_its_headers(folder: Path) -> None:
    _zip(folder / "bomb.zip", {"classes.txt": b"cat\n", "labels/a.txt": _zeros(64)})
    assert (folder / "bomb.zip").stat().st_size < 200_000
    out, peak = _read(folder, "bomb.zip", "YOLO")
    _refused(out, TooLarge, "labels/a.txt", "64.0 MB", "IMPORT_MAX_BYTES")
    assert peak < 4

    big = dataclasses.replace(SMALL, max_bytes=100 * MB)  # within the byte limit: the ratio gives it away
    out, peak = _read(folder, "bomb.zip", "YOLO", big)
    _refused(out, TooLarge, "labels/a.txt", "expands", "at most 100 times")
    assert peak < 4


def test_a_member_that_inflates_past_its_header_is_stopped_there(folder: Path) -> None:
    path = folder / "liar.zip"
    _zip(path, {"classes.txt": b"cat\n", "labels/a.txt": _zeros(32)})
    _declare_size(path, "labels/a.txt", 1000)
    out, peak = _read(folder, "liar.zip", "YOLO")
    _refused(out, TooLarge, "labels/a.txt", "more than the 1,000 bytes its header says")
    assert peak < 4


def test_a_zip_with_too_many_members_is_refused_before_any_is_read(folder: Path) -> None:
    _zip(folder / "many.zip", {"classes.txt": b"cat\n", **{f"images/{i}.jpg": b"" for i in range(2_101)}})
    out, peak = _read(folder, "many.zip", "YOLO")
    _refused(out, TooLarge, "2,102 members", "at most 2,100", "IMPORT_MAX_ITEMS")
    assert peak < 4
    _zip(folder / "labels.zip", {"classes.txt": b"cat\n", **{f"labels/{i}.txt": b"" for i in range(1_101)}})
    _refused(_read(folder, "labels.zip", "YOLO")[0], TooLarge, "IMPORT_MAX_ITEMS")


def test_the_label_files_of_a_zip_are_capped_together(folder: Path) -> None:
    rng = random.Random(1)
    members: dict[str, bytes | Callable[[Any], None]] = {"classes.txt": b"cat\n"}
    for i in range(5):  # about 1 MB each, barely compressible: no ratio to give them away
        members[f"labels/{i}.txt"] = "".join(f"0 0.{rng.randrange(10**8)} 0.5 0.1 0.1\n"
                                              for _ in range(36_000)).encode()
    _zip(folder / "five.zip", members)
    out, _ = _read(folder, "five.zip", "YOLO")
    _refused(out, TooLarge, "label files in the zip unpack to more than 4 MB", "IMPORT_MAX_BYTES")


@pytest.mark.parametrize(("name", "words"), [
    ("labels/inner.zip", "archive inside the archive"), ("labels/more.tar.gz", "archive inside the archive"),
    ("../labels/a.txt", "not a safe relative path"), ("/labels/a.txt", "not a safe relative path"),
    ("labels\\a.txt", "not a safe relative path"), ("C:/labels/a.txt", "not a safe relative path"),
    ("labels/a\x00.txt", "not a safe relative path")])
def test_unsafe_member_names_and_nested_archives_are_refused(folder: Path, name: str, words: str) -> None:
    path = folder / "names.zip"
    _zip(path, {"classes.txt": b"cat\n", name.replace("\x00", "#"): b"0 0.5 0.5 0.1 0.1\n"})
    if "\x00" in name:  # zipfile cuts names at NUL: put it in afterwards
        _patch(path, name.replace("\x00", "#").encode(), name.encode())
    out, _ = _read(folder, "names.zip", "YOLO")
    _refused(out, Invalid, words)


def test_encrypted_members_and_unusual_methods_are_refused(folder: Path) -> None:
    _zip(folder / "bz.zip", {"classes.txt": b"cat\n", "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"}, zipfile.ZIP_BZIP2)
    _refused(_read(folder, "bz.zip", "YOLO")[0], Invalid, "compression method 12", "only stored and deflated")
    path = folder / "locked.zip"
    _zip(path, {"classes.txt": b"cat\n", "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"})
    data = bytearray(path.read_bytes())
    for signature, flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" bit everywhere
        at = data.find(signature)
        while at >= 0:
            data[at + flags] |= 1
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    _refused(_read(folder, "locked.zip", "YOLO")[0], Invalid, "is encrypted")
    (folder / "not.zip").write_bytes(b"PK\x03\x04 and then nothing")
    _refused(_read(folder, "not.zip", "YOLO")[0], Invalid, "not a zip file")


class _Stream:
    """A write-only, unseekable file, like the one /exports/<id>.zip streams into: zipfile then writes data
    descriptors after each member."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> int:
        self.data += b
        return len(b)

    def tell(self) -> int:
        return len(self.data)

    def flush(self) -> None:
        pass


def test_streamed_zip64_zips_and_self_extracting_ones_read_back(folder: Path) -> None:
    sink = _Stream()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:  # type: ignore[arg-type]  # as exports stream them
        for name, data in {"classes.txt": b"cat\ndog\n", "labels/sub/a.txt": b"1 0.5 0.5 0.2 0.2\n",
                           "images/sub/a.jpg": b"\xff\xd8 not read"}.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".jpg") else zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as f:
                f.write(data)
    for name, data in (("z64.zip", bytes(sink.data)), ("sfx.zip", b"#!/bin/sh\nexit 0\n" + bytes(sink.data))):
        (folder / name).write_bytes(data)
        out, _ = _read(folder, name, "YOLO")
        assert isinstance(out, Parsed) and not out.errors, out
        assert [(i.filename, [a.label for a in i.annotations]) for i in out.items] == [("sub/a", ["dog"])]


# -- lines ----------------------------------------------------------------------------------------------------

class _Counting(io.RawIOBase):
    """A file that counts what is read from it (the reader must stop soon after the limit)."""

    def __init__(self, path: Path) -> None:
        self.f, self.read_bytes = path.open("rb"), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.f.readinto(buffer)
        self.read_bytes += n
        return n


def test_a_huge_line_is_refused_after_reading_at_most_the_limit(folder: Path) -> None:
    with (folder / "line.jsonl").open("wb") as f:
        f.write(b'{"filename": "a.jpg", "annotations": [' + b" " * (32 * MB) + b"]}\n")
    source = _Counting(folder / "line.jsonl")
    out, peak = _measured(lambda: jsonl.read(io.BufferedReader(source), SMALL))
    _refused(out, TooLarge, "Line 1", "longer than 65,536 bytes", "IMPORT_MAX_ROW_BYTES")
    assert source.read_bytes <= SMALL.max_row_bytes + 2 * 65536 and peak < 2


def test_a_huge_yolo_line_is_refused_in_a_zip_and_in_a_folder(folder: Path) -> None:
    line = b"0 " + os.urandom(3 * MB // 2).hex().encode()  # 3 MB that compress about 2x only
    _zip(folder / "line.zip", {"classes.txt": b"cat\n", "labels/a.txt": line})
    out, peak = _read(folder, "line.zip", "YOLO")
    _refused(out, TooLarge, "Line 1 of labels/a.txt", "IMPORT_MAX_ROW_BYTES")
    assert peak < 4
    (folder / "tree" / "labels").mkdir(parents=True)
    (folder / "tree" / "classes.txt").write_text("cat\n")
    (folder / "tree" / "labels" / "a.txt").write_bytes(line)
    out, peak = _read(folder, "tree", "YOLO")
    _refused(out, TooLarge, "Line 1 of labels/a.txt", "IMPORT_MAX_ROW_BYTES")
    assert peak < 4


def test_rows_and_annotations_are_counted_as_they_come(folder: Path) -> None:
    (folder / "rows.jsonl").write_text("\n".join(json.dumps({"filename": f"{i}.jpg"}) for i in range(5_000)))
    out, _ = _read(folder, "rows.jsonl", "JSONL")
    _refused(out, TooLarge, "more than 1,000 images", "IMPORT_MAX_ITEMS")
    boxes = [{"label": "cat", "ann_type": "classification"}] * 5_001
    (folder / "anns.jsonl").write_text(json.dumps({"filename": "a.jpg", "annotations": boxes}))
    out, _ = _read(folder, "anns.jsonl", "JSONL", dataclasses.replace(SMALL, max_row_bytes=MB))
    _refused(out, TooLarge, "more than 5,000 annotations", "IMPORT_MAX_ANNOTATIONS")
    tree = folder / "tree"
    (tree / "labels").mkdir(parents=True)
    (tree / "classes.txt").write_text("cat\n")
    for i in range(1_101):
        (tree / "labels" / f"{i}.txt").write_text("")
    _refused(_read(folder, "tree", "YOLO")[0], TooLarge, "IMPORT_MAX_ITEMS")


def test_a_file_that_grows_after_it_was_measured_stops_at_the_byte_limit(folder: Path) -> None:
    (folder / "grown.jsonl").write_text(json.dumps({"filename": "a.jpg"}) + "\n" * 10_000)
    with (folder / "grown.jsonl").open("rb") as raw:
        out, _ = _measured(lambda: jsonl.read(metered(raw, Budget(1_000, "grown.jsonl")), SMALL))
    _refused(out, TooLarge, "grown.jsonl passes", "IMPORT_MAX_BYTES")


# -- COCO -----------------------------------------------------------------------------------------------------

def test_deep_json_nesting_is_refused_without_building_it(folder: Path) -> None:
    for depth, name in ((200_000, "deep.json"), (20 * MB, "deeper.json")):
        with (folder / name).open("wb") as f:
            f.write(b'{"images": [{"id": 1, "file_name": "a.jpg", "x": ' + b"[" * depth + b"]" * depth + b"}]}")
        out, peak = _read(folder, name, "COCO", dataclasses.replace(SMALL, max_bytes=64 * MB, max_row_bytes=MB))
        assert "not valid JSON: nested too deeply" in _row_error(out)
        assert peak < 8


def test_one_coco_entry_longer_than_the_row_limit_is_refused(folder: Path) -> None:
    for name, size in (("long.json", 3 * MB), ("within-a-read.json", 100_000)):
        with (folder / name).open("wb") as f:
            f.write(b'{"images": [{"id": 1, "file_name": "' + b"a" * size + b'.jpg"}]}')
        out, peak = _read(folder, name, "COCO")
        _refused(out, TooLarge, "longer than 65,536 characters", "IMPORT_MAX_ROW_BYTES")
        assert peak < 4


def test_floods_of_tiny_coco_entries_stop_at_the_limits(folder: Path) -> None:
    (folder / "flood.json").write_bytes(b'{"images": [' + b",".join([b"{}"] * 1_000_000) + b"]}")
    out, peak = _read(folder, "flood.json", "COCO")
    _refused(out, TooLarge, "more than 1,000 images", "IMPORT_MAX_ITEMS")
    assert peak < 4
    (folder / "flood2.json").write_bytes(b'{"annotations": [' + b",".join([b"[]"] * 1_000_000) + b'], "images": []}')
    out, peak = _read(folder, "flood2.json", "COCO")
    _refused(out, TooLarge, "more than 5,000 annotations", "IMPORT_MAX_ANNOTATIONS")
    assert peak < 4


def test_thousands_of_bad_rows_keep_a_hundred_errors(folder: Path) -> None:
    (folder / "bad.json").write_bytes(b'{"images": [' + b",".join([b'{"id": [1]}'] * 30_000) + b"]}")
    out, peak = _read(folder, "bad.json", "COCO", dataclasses.replace(SMALL, max_items=10**6, max_bytes=64 * MB))
    assert isinstance(out, Parsed) and out.errors.count == 30_000 and len(out.errors.listed()) == 100
    assert [e.row for e in out.errors.listed()] == list(range(1, 101))
    assert peak < 8


def test_coco_sections_in_any_order_read_the_same(folder: Path) -> None:
    doc = {"info": {"year": 2024}, "categories": [{"id": 3, "name": "cat"}],
           "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 5, 20, 10]},
                           {"id": 2, "image_id": 1, "category_id": 3}]}
    results = []
    for order in (("categories", "images", "annotations"), ("images", "annotations", "categories"),
                  ("annotations", "categories", "images"), ("info", "annotations", "images", "categories")):
        (folder / "o.json").write_text(json.dumps({k: doc[k] for k in order}))
        out, _ = _read(folder, "o.json", "COCO")
        assert isinstance(out, Parsed) and not out.errors, out
        results.append([(i.filename, i.size, i.annotations) for i in out.items])
    assert results[0] == results[1] == results[2] == results[3]
    assert results[0][0][2][0].box == (0.1, 0.1, 0.2, 0.2) and results[0][0][2][1].kind == "CLASSIFICATION"
    (folder / "two.json").write_text('{"images": [], "images": []}')
    assert _row_error(_read(folder, "two.json", "COCO")[0]) == "the file has two images lists"


def test_a_big_class_list_is_refused(folder: Path) -> None:
    rng = random.Random(3)
    names = ", ".join(f"c{rng.randrange(10**9)}" for _ in range(120_000)).encode()  # 1.3 MB, not a bomb
    _zip(folder / "names.zip", {"data.yaml": b"names: [" + names + b"]\n",
                                "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"})
    _refused(_read(folder, "names.zip", "YOLO", dataclasses.replace(SMALL, max_bytes=64 * MB))[0], TooLarge,
             "data.yaml is larger than 1 MB")


# -- through the API: the job fails once, with the reason ----------------------------------------------------

def test_a_job_over_a_limit_fails_once_with_its_reason(settings: Settings, images_dir: Path, tmp_path: Path) -> None:
    make_images(images_dir, ["a.jpg"])
    exports = tmp_path / "exports"
    _zip(exports / "bomb.zip", {"classes.txt": b"cat\n", "labels/a.txt": _zeros(64)})
    with (exports / "line.jsonl").open("wb") as f:
        f.write(b'{"filename": "a.jpg", "annotations": [' + b" " * (8 * MB) + b"]}\n")
    small = dataclasses.replace(settings, import_max_bytes=16 * MB, import_max_row_bytes=64 * 1024)
    with TestClient(create_app(small)) as client:
        project = create_project(client, classes=["cat"])
        jobs = {}
        for name, fmt in (("bomb.zip", "YOLO"), ("line.jsonl", "JSONL")):
            job = gql(client, IMPORT, p=project["id"], i={"path": f"{EXPORTS}/{name}", "format": fmt})
            jobs[name] = wait_for_job(client, job["importAnnotations"]["id"])
        assert jobs["bomb.zip"]["status"] == "FAILED" and jobs["bomb.zip"]["result"] == {"code": "TOO_LARGE"}
        assert "labels/a.txt" in jobs["bomb.zip"]["error"] and "IMPORT_MAX_BYTES" in jobs["bomb.zip"]["error"]
        assert jobs["line.jsonl"]["status"] == "FAILED" and "IMPORT_MAX_ROW_BYTES" in jobs["line.jsonl"]["error"]

    def attempts(s: Session) -> list[tuple[str, int]]:
        return [(j.status, j.attempts) for j in s.query(Job).filter(Job.kind == "IMPORT").order_by(Job.id)]

    with TestClient(create_app(small)) as client:  # the next start: nothing is tried again
        client.app.state.services.runner.wake()
        assert client.portal.call(client.app.state.services.db.read, attempts) == [("FAILED", 1), ("FAILED", 1)]


def test_an_import_interrupted_too_often_fails_with_a_reason(client: TestClient, images_dir: Path) -> None:
    """A job that took the server down (as a memory bomb would have) is not resumed at every start."""
    make_images(images_dir, ["a.jpg"])
    project = create_project(client)

    def insert(s: Session) -> int:
        job = Job(kind="IMPORT", project_id=int(project["id"]), created_by="alice", status="RUNNING",
                  params={"path": f"{EXPORTS}/x.jsonl", "format": "JSONL"}, lease_owner="dead-host:1:x",
                  lease_expires_at=utcnow() - timedelta(seconds=1), attempts=3)
        s.add(job)
        s.flush()
        return job.id

    job_id = client.portal.call(client.app.state.services.db.write, insert)
    client.app.state.services.runner.wake()
    done = wait_for_job(client, str(job_id))
    assert done["status"] == "FAILED" and "Interrupted 3 times" in done["error"] and "not retried" in done["error"]


# -- existing annotations: a batch at a time -----------------------------------------------------------------

def _jsonl_file(exports: Path, name: str, n: int, boxes: int, x: float) -> str:
    box = {"x": x, "y": 0.1, "w": 0.2, "h": 0.2}
    (exports / name).write_text("\n".join(json.dumps({"filename": f"{i:05}.jpg", "annotations": [
        {"label": "cat", "ann_type": "bbox", "bbox_json": box}] * boxes}) for i in range(n)))
    return f"{EXPORTS}/{name}"


def test_planning_reads_only_the_annotations_of_the_samples_the_file_names(client: TestClient, images_dir: Path,
                                                                           tmp_path: Path, database_url: str) -> None:
    for i in range(2_000):
        (images_dir / f"{i:05}.jpg").touch()
    project = create_project(client, classes=["cat", "dog"])
    exports = tmp_path / "exports"
    seeded = gql(client, IMPORT, p=project["id"], i={"path": _jsonl_file(exports, "seed.jsonl", 2_000, 10, 0.1),
                                                    "format": "JSONL"})
    assert wait_for_job(client, seeded["importAnnotations"]["id"])["result"]["annotationsCreated"] == 20_000
    one = [importer.jsonl.read(io.BufferedReader(io.BytesIO(  # type: ignore[arg-type]
        b'{"filename": "00007.jpg", "annotations": [{"label": "dog", "ann_type": "classification"}]}')),
        Limits()).items[0]]
    one[0] = one[0]._replace(annotations=tuple(a._replace(kind="BBOX", box=(0.5, 0.5, 0.1, 0.1))
                                                for a in one[0].annotations))
    database = Database(database_url)
    try:
        def planned(s: Session) -> tuple:
            return imports.plan(s, int(project["id"]), one, imports.Options(), "alice", lambda _: True)

        client.portal.call(database.read, planned)  # warm the statement caches
        out, peak = _measured(lambda: client.portal.call(database.read, planned))  # type: ignore[arg-type, return-value]
    finally:
        client.portal.call(database.dispose)
    outcome, changes, _ = out  # type: ignore[misc]
    assert outcome.annotations_replaced == 10 and len(changes) == 1
    assert peak < 6, f"planning one sample of a 20,000-annotation project allocated {peak:.1f} MB"


def test_a_replace_writes_the_history_of_what_it_removed(client: TestClient, images_dir: Path, tmp_path: Path) -> None:
    for i in range(3):
        (images_dir / f"{i:05}.jpg").touch()
    project = create_project(client, classes=["cat"])
    exports = tmp_path / "exports"
    for name, x in (("first.jsonl", 0.1), ("second.jsonl", 0.3)):
        job = gql(client, IMPORT, p=project["id"], i={"path": _jsonl_file(exports, name, 3, 2, x), "format": "JSONL"})
        assert wait_for_job(client, job["importAnnotations"]["id"])["status"] == "SUCCEEDED"
    sample = gql(client, 'query($p: ID!){ project(id: $p){ samples(first: 1){ edges { node { id } } } } }',
                 p=project["id"])["project"]["samples"]["edges"][0]["node"]["id"]
    history = gql(client, """query($s: ID!){ sample(id: $s){ history { action label box { x } labelBefore
        boxBefore { x } actor } } }""", s=sample)["sample"]["history"]
    assert [(h["action"], (h["box"] or h["boxBefore"])["x"]) for h in history] == [
        ("import", 0.3), ("import", 0.3), ("delete", 0.1), ("delete", 0.1), ("import", 0.1), ("import", 0.1)]
    assert {(h["labelBefore"], h["actor"]) for h in history if h["action"] == "delete"} == {("cat", "alice")}


def test_the_collector_is_paused_while_imports_parse_and_back_on_after_the_last() -> None:
    assert gc.isenabled()
    first, second = gc_pause.paused(), gc_pause.paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the other import still parses
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_pause.paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()
    assert gc_pause.call(gc.isenabled) is False and gc.isenabled()  # a model evaluation's array work, likewise


def test_a_zip64_end_record_is_found_past_a_prepended_stub(folder: Path) -> None:
    path = folder / "big.zip"
    _zip(path, {"classes.txt": b"cat\n", "labels/a.txt": b"0 0.5 0.5 0.2 0.2\n",
                **{f"i/{i}": b"" for i in range(65_600)}}, zipfile.ZIP_STORED)  # over 65,535: a zip64 end record
    assert b"PK\x06\x06" in path.read_bytes()[-200:]
    path.write_bytes(b"#!/bin/sh\nexit 0\n" + path.read_bytes())
    out, _ = _read(folder, "big.zip", "YOLO", dataclasses.replace(SMALL, max_items=40_000, max_bytes=64 * MB))
    assert isinstance(out, Parsed) and not out.errors and [i.filename for i in out.items] == ["a"], out
