"""Scans and table syncs at scale: new paths go in with one statement per batch (samples.insert_new); a rescan
keeps the project's samples as digests (db.path_digests.KnownPaths, read a chunk at a time) and sends only the
paths no sample has to the database; a table sync keeps what it found as digests and compares the samples with them
a chunk at a time (source_folders.compare_found); both with the same outcome as comparing two sets of paths."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import counters, source_folders
from db import samples as sample_rows
from db.engine import Database
from db.models import Sample, utcnow
from db.path_digests import KnownPaths, PathDigests
from tests.conftest import seed_project

ODD = ["it's.jpg", 'say "cheese".jpg', "back\\slash.jpg", "snow ☃/ünïcode.jpg", "[1,2].jpg", "tab\there.jpg"]


def test_path_digests_answer_like_a_set() -> None:
    rng = random.Random(5)
    paths = [f"/Volumes/a/b/c/{rng.randrange(10**6)}.jpg" for _ in range(500)] + ODD
    found = PathDigests()
    assert not found.contains(paths).any() and len(found) == 0
    model: set[str] = set()
    for k in range(0, len(paths), 37):
        batch = paths[k:k + 37] + paths[k:k + 3]  # some twice
        found.add(batch)
        model.update(batch)
        asked = [*rng.sample(paths, 50), "/Volumes/a/b/c/never.jpg"]
        assert found.contains(asked).tolist() == [p in model for p in asked]
    assert len(found) == len(model)


async def test_insert_new_adds_each_new_path_once_as_given(db: Database) -> None:
    pid, _ = await seed_project(db, 2)
    folder = "/Volumes/t/t/t/P"
    files = [(f"{folder}/{name}", name) for name in ODD]
    again = [files[0], (f"{folder}/0000.jpg", "0000.jpg"), files[1], files[0]]  # known, seeded, twice

    def insert(s: Session, rows: list[tuple[str, str]]) -> int:
        return sample_rows.insert_new(s, pid, rows)

    assert await db.write(insert, files + files[:2]) == len(ODD)
    assert await db.write(insert, again) == 0
    assert await db.write(insert, []) == 0
    stored = await db.read(lambda s: s.execute(select(Sample.path, Sample.filename, Sample.status, Sample.version,
                                                      Sample.no_objects, Sample.review_status, Sample.nested_boxes)
                                               .where(Sample.project_id == pid).order_by(Sample.id)).all())
    assert [tuple(r) for r in stored[2:]] == [(p, f, "UNLABELED", 1, False, "NONE", False) for p, f in files]
    unlabeled = await db.read(lambda s: counters.read(s, [pid])[pid][counters.STATUS]["UNLABELED"])
    assert unlabeled == 2 + len(ODD)


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_rescan_compares_a_chunk_at_a_time_as_two_sets_would(db: Database, seed: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_folders, "READ_CHUNK", 7)
    rng = random.Random(seed)
    pid, ids = await seed_project(db, 60)
    paths = dict(await db.read(lambda s: s.execute(select(Sample.id, Sample.path).where(
        Sample.project_id == pid)).all()))
    was_missing = set(rng.sample(ids, 15))
    await db.write(source_folders.mark_missing, pid, sorted(was_missing), [])
    up_to = await db.read(source_folders.last_sample_id, pid)
    later = await db.write(lambda s: sample_rows.insert_new(s, pid, [("/Volumes/t/t/t/P/later.jpg", "later.jpg")]))
    assert later == 1 and up_to == max(ids)
    seen = set(rng.sample(ids, 40))
    found = PathDigests()
    found.add([paths[i] for i in seen] + ["/Volumes/t/t/t/P/new.jpg"])
    vanished, back = await db.read(source_folders.compare_found, pid, found, up_to)
    assert sorted(vanished) == sorted(set(ids) - seen - was_missing)  # "later.jpg" came after: not compared
    assert sorted(back) == sorted(seen & was_missing)
    assert await db.read(source_folders.compare_found, pid, found, 0) == ([], [])


@pytest.mark.parametrize("seed", [3, 4])
async def test_a_rescan_s_known_paths_tell_new_vanished_and_back_as_two_sets_would(
        db: Database, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_folders, "READ_CHUNK", 7)
    rng = random.Random(seed)
    pid, _ = await seed_project(db, 60)
    await db.write(lambda s: sample_rows.insert_new(s, pid, [(f"/Volumes/t/t/t/P/{n}", n) for n in ODD]))
    paths = dict(await db.read(lambda s: s.execute(select(Sample.id, Sample.path).where(
        Sample.project_id == pid)).all()))
    was_missing = set(rng.sample(sorted(paths), 15))
    await db.write(source_folders.mark_missing, pid, sorted(was_missing), [])
    up_to = await db.read(source_folders.last_sample_id, pid)
    later = await db.write(lambda s: sample_rows.insert_new(s, pid, [("/Volumes/t/t/t/P/later.jpg", "later.jpg")]))
    assert later == 1
    known = await db.read(source_folders.known_paths, pid, up_to)
    assert len(known) == len(paths)  # "later.jpg" came after the rescan began: not among them
    seen = set(rng.sample(sorted(paths), 40))
    listing = [paths[i] for i in seen] + ["/Volumes/t/t/t/P/new.jpg", "/Volumes/t/t/t/P/later.jpg"]
    rng.shuffle(listing)
    fresh: list[str] = []
    for k in range(0, len(listing), 9):  # a batch at a time, as the scan lists them
        batch = listing[k:k + 9]
        fresh += [p for p, new in zip(batch, known.new(batch).tolist(), strict=True) if new]
    assert sorted(fresh) == ["/Volumes/t/t/t/P/later.jpg", "/Volumes/t/t/t/P/new.jpg"]  # later.jpg: insert_new's
    assert known.vanished() == sorted(set(paths) - seen - was_missing)
    assert known.back() == sorted(seen & was_missing)
    empty = KnownPaths(0, 0, 0)
    assert empty.new(["/Volumes/t/t/t/P/a.jpg"]).tolist() == [True] and empty.vanished() == empty.back() == []


@pytest.mark.parametrize(("first", "span"), [(7, 10), (7, 2**33), (2**40, 2**32 - 2), (2**40, 2**32)])
def test_known_paths_keep_ids_far_apart_and_fewer_samples_than_counted(first: int, span: int) -> None:
    """Ids are kept as offsets from the first (4 bytes while they span less than 2^32, 8 beyond); samples deleted
    between the count and the read leave the arrays shorter than sized."""
    ids = [first, first + 3, first + span - 1, first + span]
    known = KnownPaths(len(ids) + 2, first, ids[-1])
    known.add([f"/v/{i}.jpg" for i in range(4)], ids, [False, True, False, True])
    assert len(known) == 4
    assert known.new(["/v/0.jpg", "/v/1.jpg", "/v/9.jpg"]).tolist() == [False, False, True]
    assert known.vanished() == [ids[2]] and known.back() == [ids[1]]


async def test_mark_missing_marks_only_samples_not_yet_missing(db: Database) -> None:
    pid, ids = await seed_project(db, 3)
    await db.write(source_folders.mark_missing, pid, [ids[0]], [])
    first = await db.read(lambda s: s.get(Sample, ids[0]).missing_since)
    assert first is not None and first <= utcnow()
    await db.write(source_folders.mark_missing, pid, [ids[0], ids[1]], [])
    assert await db.read(lambda s: s.get(Sample, ids[0]).missing_since) == first  # kept, not moved on
