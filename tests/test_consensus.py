"""Consensus labelling through the API: overlap settings, claims per labeller, submissions nobody else sees, the
consensus as the image's labels, agreement in projectStats, and adjudication by reviewers; and the AGREEMENT job's
batch recompute (db.submissions.recompute_batch) against image_agreement, image by image."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db import agreement_workers, submissions
from db.agreement import image_agreement
from db.engine import Database
from db.models import Project, SampleAgreement, Submission, utcnow
from jobs import agreement as agreement_job
from settings import Settings
from tests.conftest import make_images, seed_project
from tests.team import Caller, Team, team_app
from tests.waiting import until_ended

SETTINGS = """mutation($p: ID!, $i: ConsensusSettingsInput!){ setConsensusSettings(projectId: $p, input: $i){
  consensus { overlap fraction iouThreshold agreementThreshold modelsAsLabellers } } }"""
CLAIM = "mutation($p: ID!){ claimNextSample(projectId: $p){ id version } }"
SAVE = """mutation($s: ID!, $a: [AnnotationInput!]!, $v: Int){ saveAnnotations(sampleId: $s, annotations: $a,
  allowEmpty: true, expectedVersion: $v){ id status version annotations { label box { x } } } }"""
CLASSIFY = """mutation($s: ID!, $l: [String!]!){ setClassification(sampleId: $s, labels: $l){ status } }"""
SAMPLE = """query($s: ID!){ sample(id: $s){ status version labeledBy annotations { label createdBy box { x y w h } }
  mySubmission { user version annotations { label } } agreement { score state raters } history { action actor } } }"""
AGREEMENT = """query($p: ID!){ project(id: $p){ stats { agreement { images score alpha waiting
  perLabeller { user vsOthers vsConsensus pairs } perClass { label score } matrix { a b score images }
  overTime { score } } } } }"""
QUEUE = """query($p: ID!){ adjudicationQueue(projectId: $p){ totalCount hasNextPage
  items { score raters sample { id } } } }"""
ADJUDICATE = """mutation($s: ID!, $pick: String, $a: [AnnotationInput!]){ adjudicateSample(sampleId: $s, pick: $pick,
  annotations: $a){ id status labeledBy } }"""


def _box(label: str, x: float, y: float = 0.1, w: float = 0.2, h: float = 0.2) -> dict[str, object]:
    return {"label": label, "kind": "BBOX", "box": {"x": x, "y": y, "w": w, "h": h}}


@pytest.fixture
def team(settings: Settings, images_dir: Path) -> Iterator[Team]:
    make_images(images_dir, [f"{i:02}.jpg" for i in range(4)], size=(16, 12))
    people = {"root": True, "alice": False, "bob": False, "carol": False, "dave": False, "erin": False}
    with team_app(settings, people) as t:
        yield t


def _project(team: Team, task: str = "DETECTION", overlap: int = 3) -> tuple[str, list[str]]:
    root = team["root"]
    pid = root.project(f"Consensus {task}", task=task)
    for name, role in (("alice", "OWNER"), ("bob", "ANNOTATOR"), ("carol", "REVIEWER"), ("dave", "ANNOTATOR"),
                       ("erin", "ANNOTATOR")):
        root.add(pid, name, role)
    team["alice"](SETTINGS, p=pid, i={"overlap": overlap, "agreementThreshold": 0.6})
    return pid, root.sample_ids(pid)


def _claims(caller: Caller, pid: str, n: int) -> list[str | None]:
    out = []
    for _ in range(n):
        got = caller(CLAIM, p=pid)["claimNextSample"]
        out.append(got and got["id"])
    return out


def test_three_labellers_form_a_consensus_that_becomes_the_labels(team: Team) -> None:
    pid, (s1, s2, *_rest) = _project(team)
    bob, dave, erin, carol = team["bob"], team["dave"], team["erin"], team["carol"]
    assert bob(CLAIM, p=pid)["claimNextSample"]["id"] == s1
    assert bob(CLAIM, p=pid)["claimNextSample"]["id"] == s1  # their own lease first
    assert dave(CLAIM, p=pid)["claimNextSample"]["id"] == s1  # the same image to a second labeller
    saved = bob(SAVE, s=s1, a=[_box("cat", 0.1), _box("dog", 0.6)], v=1)["saveAnnotations"]
    assert saved["status"] == "UNLABELED" and saved["version"] == 1  # a submission is not the image's labels
    assert [a["label"] for a in saved["annotations"]] == ["cat", "dog"]  # what bob drew, shown back to him
    seen_by_dave = dave(SAMPLE, s=s1)["sample"]
    assert seen_by_dave["annotations"] == [] and seen_by_dave["mySubmission"] is None  # nothing of bob's
    assert bob(SAMPLE, s=s1)["sample"]["mySubmission"]["annotations"] == [{"label": "cat"}, {"label": "dog"}]
    # resaving replaces only bob's own submission; the same labels again change nothing
    bob(SAVE, s=s1, a=[_box("cat", 0.1), _box("dog", 0.6)], v=1)
    assert bob(SAMPLE, s=s1)["sample"]["mySubmission"]["version"] == 1
    dave(SAVE, s=s1, a=[_box("cat", 0.11), _box("dog", 0.6)], v=1)
    assert erin(CLAIM, p=pid)["claimNextSample"]["id"] == s1
    assert bob(CLAIM, p=pid)["claimNextSample"]["id"] == s2  # bob labelled s1 already
    erin(SAVE, s=s1, a=[_box("cat", 0.12)], v=1)
    final = carol(SAMPLE, s=s1)["sample"]
    assert final["status"] == "LABELED" and final["labeledBy"] == "consensus" and final["version"] == 2
    assert [(a["label"], round(a["box"]["x"], 3)) for a in final["annotations"]] == [("cat", 0.11), ("dog", 0.6)]
    actions = [(e["action"], e["actor"]) for e in final["history"]]
    assert actions[0] == ("consensus", "consensus")  # one recorded change, by the consensus
    assert actions.count(("create", "consensus")) == 2 and {("submit", u) for u in ("bob", "dave", "erin")} <= set(
        actions)
    assert final["agreement"] == {"score": pytest.approx((4 / 4 + 2 / 3 + 2 / 3) / 3), "state": "AGREED",
                                  "raters": 3}
    stats = carol(AGREEMENT, p=pid)["project"]["stats"]["agreement"]
    assert stats["images"] == 1 and stats["alpha"] is None and stats["waiting"] == 0
    assert {(m["a"], m["b"]): m["score"] for m in stats["matrix"]} == {
        ("bob", "dave"): 1.0, ("bob", "erin"): pytest.approx(2 / 3), ("dave", "erin"): pytest.approx(2 / 3)}
    per = {p["user"]: (p["vsConsensus"], p["pairs"]) for p in stats["perLabeller"]}
    assert per == {"bob": (1.0, 2), "dave": (1.0, 2), "erin": (pytest.approx(2 / 3), 2)}
    assert {c["label"]: c["score"] for c in stats["perClass"]} == {"cat": 1.0, "dog": pytest.approx(0.5)}
    # a stale version meets CONFLICT: the image's labels changed since dave loaded it
    conflict = dave.raw(SAVE, s=s1, a=[_box("cat", 0.5)], v=1)["errors"][0]
    assert conflict["extensions"]["code"] == "CONFLICT"


def test_claims_never_pass_the_overlap_and_a_fourth_save_is_refused(team: Team) -> None:
    pid, samples = _project(team, overlap=2)
    bob, dave, erin = team["bob"], team["dave"], team["erin"]
    first = [bob(CLAIM, p=pid)["claimNextSample"]["id"], dave(CLAIM, p=pid)["claimNextSample"]["id"]]
    assert first == [samples[0]] * 2
    assert erin(CLAIM, p=pid)["claimNextSample"]["id"] == samples[1]  # s1 is leased to two already
    bob(SAVE, s=samples[0], a=[], v=1)
    dave(SAVE, s=samples[0], a=[], v=1)  # both saw no objects: agreed, no objects
    refused = erin.raw(SAVE, s=samples[0], a=[], v=2)["errors"][0]
    assert refused["extensions"]["code"] == "VALIDATION" and "already has the 2 labellers" in refused["message"]
    assert team["carol"](SAMPLE, s=samples[0])["sample"]["status"] == "LABELED"


def test_classification_disagreement_goes_to_adjudication(team: Team) -> None:
    pid, (s1, s2, s3, s4) = _project(team, task="CLASSIFICATION", overlap=2)
    bob, dave, carol, alice = team["bob"], team["dave"], team["carol"], team["alice"]
    for sid, (b, d) in zip((s1, s2, s3), (("cat", "cat"), ("cat", "dog"), ("dog", "dog")), strict=True):
        bob(CLASSIFY, s=sid, l=[b])
        dave(CLASSIFY, s=sid, l=[d])
    stats = carol(AGREEMENT, p=pid)["project"]["stats"]["agreement"]
    # units (cat,cat) (cat,dog) (dog,dog): n = 6, n_cat = n_dog = 3, one disagreeing pair both ways
    assert stats["images"] == 3 and stats["alpha"] == pytest.approx(1 - 5 * 2 / 18)
    assert stats["waiting"] == 1
    queue = carol(QUEUE, p=pid)["adjudicationQueue"]
    assert [i["sample"]["id"] for i in queue["items"]] == [s2] and queue["items"][0]["score"] == 0.0
    assert carol(SAMPLE, s=s2)["sample"]["status"] == "UNLABELED"  # no majority: no labels yet
    subs = carol("query($s: ID!){ sample(id: $s){ submissions { user annotations { label } } } }", s=s2)
    assert subs["sample"]["submissions"] == [{"user": "bob", "annotations": [{"label": "cat"}]},
                                             {"user": "dave", "annotations": [{"label": "dog"}]}]
    forbidden = bob.raw("query($s: ID!){ sample(id: $s){ submissions { user } } }", s=s2)["errors"][0]
    assert forbidden["extensions"]["code"] == "FORBIDDEN"
    assert bob.raw(ADJUDICATE, s=s2, pick="dave")["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert carol.raw(ADJUDICATE, s=s2, pick="zed")["errors"][0]["extensions"]["code"] == "VALIDATION"
    decided = carol(ADJUDICATE, s=s2, pick="dave")["adjudicateSample"]
    assert decided == {"id": s2, "status": "LABELED", "labeledBy": "carol"}
    after = carol(SAMPLE, s=s2)["sample"]
    assert after["agreement"]["state"] == "ADJUDICATED" and after["history"][0]["action"] == "adjudicate"
    assert carol(QUEUE, p=pid)["adjudicationQueue"]["totalCount"] == 0
    bob(CLASSIFY, s=s2, l=["dog"])  # a later submission moves the figures, never the adjudicated labels
    assert [a["label"] for a in carol(SAMPLE, s=s2)["sample"]["annotations"]] == ["dog"]
    assert carol(AGREEMENT, p=pid)["project"]["stats"]["agreement"]["alpha"] == pytest.approx(1.0)
    edited = carol.raw(ADJUDICATE, s=s4, a=[{"label": "cat", "kind": "CLASSIFICATION"}])["errors"][0]
    assert edited["message"] == "03.jpg has no submissions to adjudicate."
    assert alice(SETTINGS, p=pid, i={"overlap": 1})["setConsensusSettings"]["consensus"]["overlap"] == 1
    assert carol(CLAIM, p=pid)["claimNextSample"]["id"] == s4  # overlap 1 again: the usual queue


def test_settings_out_of_range_are_named(team: Team) -> None:
    root = team["root"]
    pid = root.project("Settings")
    for values, field in (({"overlap": 0}, "overlap"), ({"overlap": 11}, "overlap"),
                          ({"overlap": 2, "fraction": 0}, "fraction"), ({"overlap": 2, "iouThreshold": 1.5},
                                                                        "iouThreshold"),
                          ({"overlap": 2, "agreementThreshold": -0.1}, "agreementThreshold")):
        error = root.raw(SETTINGS, p=pid, i=values)["errors"][0]
        assert error["extensions"]["code"] == "VALIDATION" and field in error["message"], (values, error)


def test_new_thresholds_recomputed_by_a_job_move_images_in_and_out_of_adjudication(team: Team) -> None:
    pid, (s1, s2, *_rest) = _project(team, overlap=2)
    bob, dave, carol, alice = team["bob"], team["dave"], team["carol"], team["alice"]
    for sid, shift in ((s1, 0.0), (s2, 0.06)):  # s2: IoU of the two boxes 0.54
        bob(SAVE, s=sid, a=[_box("cat", 0.1)], v=1)
        dave(SAVE, s=sid, a=[_box("cat", 0.1 + shift)], v=1)
    before = carol(AGREEMENT, p=pid)["project"]["stats"]["agreement"]
    assert (before["score"], before["waiting"]) == (1.0, 0)
    alice(SETTINGS, p=pid, i={"overlap": 2, "iouThreshold": 0.6, "agreementThreshold": 0.6})
    job = alice("mutation($p: ID!){ recomputeAgreement(projectId: $p){ id kind } }", p=pid)["recomputeAgreement"]
    assert job["kind"] == "AGREEMENT"
    ended = until_ended(lambda: alice("query($j: ID!){ job(id: $j){ status } }", j=job["id"])["job"], 20.0)
    assert ended["status"] == "SUCCEEDED"
    after = carol(AGREEMENT, p=pid)["project"]["stats"]["agreement"]
    assert after["images"] == 2 and after["score"] == pytest.approx(0.5) and after["waiting"] == 1
    assert [i["sample"]["id"] for i in carol(QUEUE, p=pid)["adjudicationQueue"]["items"]] == [s2]
    assert {(m["a"], m["b"]): (m["score"], m["images"]) for m in after["matrix"]} == {("bob", "dave"): (0.5, 2)}
    assert carol(SAMPLE, s=s2)["sample"]["status"] == "LABELED"  # the labels formed at the time are kept


EXPORT = """mutation($p: ID!, $f: ExportFormat!, $all: Boolean){ exportDataset(projectId: $p, input: {format: $f,
  destination: "/Volumes/test/cvx/exports", includeImages: false, everySubmission: $all}){ id } }"""


def _exported(team: Team, settings: Settings, pid: str, fmt: str, every: bool) -> Path:
    root = team["root"]  # exports go to a shared volume: an instance admin's
    job = root(EXPORT, p=pid, f=fmt, all=every)["exportDataset"]
    done = until_ended(lambda: root("query($j: ID!){ job(id: $j){ status result error } }", j=job["id"])["job"])
    assert done["status"] == "SUCCEEDED", done
    return settings.volume_mounts["/Volumes/test/cvx/exports"] / done["result"]["path"].rpartition("/")[2]


def test_exports_carry_the_consensus_or_every_submission_with_its_labeller(team: Team, settings: Settings) -> None:
    pid, (s1, *_rest) = _project(team, overlap=2)
    team["bob"](SAVE, s=s1, a=[_box("cat", 0.1), _box("dog", 0.6)], v=1)
    team["dave"](SAVE, s=s1, a=[_box("cat", 0.1)], v=1)
    consensus = orjson.loads((_exported(team, settings, pid, "COCO", False) / "annotations.json").read_bytes())
    assert [a.get("annotator") for a in consensus["annotations"]] == [None]  # the cat both drew
    every = orjson.loads((_exported(team, settings, pid, "COCO", True) / "annotations.json").read_bytes())
    assert [(a["annotator"], a["category_id"]) for a in every["annotations"]] == [("bob", 1), ("bob", 2), ("dave", 1)]
    lines = (_exported(team, settings, pid, "JSONL", True) / "annotations.jsonl").read_bytes().splitlines()
    assert [[(a["label"], a["annotator"]) for a in orjson.loads(line)["annotations"]] for line in lines] == [
        [("cat", "bob"), ("dog", "bob"), ("cat", "dave")]]
    refused = team["root"].raw(EXPORT, p=pid, f="YOLO", all=True)["errors"][0]
    assert refused["extensions"]["code"] == "VALIDATION" and "COCO or JSONL" in refused["message"]


async def test_a_recompute_stores_every_image_as_image_agreement_computes_it(db: Database) -> None:
    pid, ids = await seed_project(db, 6)
    rng = random.Random(5)
    drawn = {sid: {u: [[rng.choice(["cat", "dog"]), 0.1 + rng.random() * 0.02 + 0.3 * (k % 2), 0.1 + 0.3 * (k // 2),
                        0.2, 0.2] for k in range(rng.randint(0, 4))] for u in ("ann", "bob", "cy")} for sid in ids[:5]}
    del drawn[ids[4]]["cy"]  # two of the three labellers: not complete, no agreement

    def stored(s: Session) -> tuple[dict[int, tuple[float, str, int, dict[str, object]]], dict[str, float], object]:
        rows = {r.sample_id: (r.score, r.state, r.raters, r.detail) for r in s.scalars(select(SampleAgreement))}
        return rows, submissions.totals(s, pid), s.execute(text("SELECT updated_at FROM sample_agreements")).scalar()

    await db.write(_submitted, pid, drawn)
    for _ in range(2):  # rows inserted, then updated
        assert await db.write(submissions.recompute_batch, pid, 0, 10) == (ids[-1], 4)
        rows, totals, stamp = await db.read(stored)
        assert sorted(rows) == ids[:4]
        sums: dict[str, float] = {}
        day = utcnow().date().isoformat()
        for sid in ids[:4]:
            expected = image_agreement("DETECTION", [submissions.as_submission(u, items) for u, items in
                                                     drawn[sid].items()], iou_threshold=0.5, multi_label=False, day=day)
            state = "AGREED" if expected.score >= 0.9 else "ADJUDICATE"
            detail = {"pairs": [[a, b, v] for (a, b), v in expected.pairs.items()],
                      "vsConsensus": expected.vs_consensus, "sums": expected.sums}
            assert rows[sid] == (expected.score, state, 3, detail)
            for key, value in expected.sums.items():
                sums[key] = sums.get(key, 0.0) + value
        sums["waiting"] = sum(1.0 for row in rows.values() if row[1] == "ADJUDICATE")
        assert totals == pytest.approx({k: v for k, v in sums.items() if abs(v) > 1e-12})
        if isinstance(stamp, str):  # SQLite: the text SQLAlchemy stores a datetime as
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", stamp), stamp


def _submitted(s: Session, pid: int, drawn: dict[int, dict[str, list[list[object]]]]) -> None:
    """Overlap 3 on the project, and each labeller's submitted items per sample, stored as a submission stores them."""
    project = s.get(Project, pid)
    assert project is not None
    project.consensus = {"overlap": 3, "fraction": 1.0, "iou_threshold": 0.5, "agreement_threshold": 0.9,
                         "models_as_labellers": False}
    s.execute(Submission.__table__.insert(), [
        {"project_id": pid, "sample_id": sid, "user": u, "items": items, "no_objects": not items, "version": 1,
         "submitted_at": utcnow(), "lease_expires_at": None}
        for sid, by in drawn.items() for u, items in by.items()])


async def _three_labellers(db: Database, n: int) -> tuple[int, list[int]]:
    pid, ids = await seed_project(db, n)
    rng = random.Random(9)
    drawn: dict[int, dict[str, list[list[object]]]] = {
        sid: {u: [["cat", 0.1 + rng.random() * 0.05, 0.1 + 0.3 * k, 0.2, 0.2] for k in range(3)]
              for u in ("ann", "bob", "cy")} for sid in ids}
    await db.write(_submitted, pid, drawn)
    return pid, ids


def _rows_and_totals(s: Session) -> tuple[dict[int, tuple[float, str, int, object]], dict[str, float]]:
    rows = {r.sample_id: (r.score, r.state, r.raters, r.detail) for r in s.scalars(select(SampleAgreement))}
    project = s.scalars(select(Project.id)).one()
    return rows, submissions.totals(s, project)


@pytest.fixture(scope="module")
def worker_process() -> Iterator[agreement_workers.Workers]:
    """A worker process that takes part of every batch of two images or more (the job's own takes batches of 500
    or more, once it has started)."""
    workers = agreement_workers.Workers(least=2)
    assert workers.ready(wait=True)
    yield workers
    workers.close()


@pytest.fixture(params=["here", "with a worker process"])
def workers(request: pytest.FixtureRequest) -> agreement_workers.Workers | None:
    return request.getfixturevalue("worker_process") if request.param != "here" else None


async def test_the_job_in_batches_stores_what_one_batch_stores(db: Database,
                                                              workers: agreement_workers.Workers | None) -> None:
    pid, ids = await _three_labellers(db, 9)
    assert await db.write(submissions.recompute_batch, pid, 0, 100) == (ids[-1], 9)
    whole = await db.read(_rows_and_totals)
    for _ in range(2):  # rows updated, then inserted; batches of two overlap on PostgreSQL
        assert await agreement_job.recompute_all(db, pid, batch=2, workers=workers) == 9
        rows, totals = await db.read(_rows_and_totals)
        assert rows == whole[0] and totals == pytest.approx(whole[1])
        await db.write(lambda s: s.execute(text("DELETE FROM sample_agreements")))
        await db.write(lambda s: s.execute(text("DELETE FROM agreement_totals")))


async def test_a_failed_batch_stops_the_job_and_the_batch_after_it_rolls_back(
        db: Database, workers: agreement_workers.Workers | None) -> None:
    """A stored submission gone bad (a coordinate that is text) fails the second batch of two images: the first
    batch stays committed, nothing of the second is stored, nor of the third (which may have started beside it on
    PostgreSQL); the totals are the first batch's alone."""
    pid, ids = await _three_labellers(db, 6)
    assert await db.write(submissions.recompute_batch, pid, 0, 2) == (ids[1], 2)
    first = await db.read(_rows_and_totals)
    await db.write(lambda s: s.execute(text("DELETE FROM sample_agreements")))
    await db.write(lambda s: s.execute(text("DELETE FROM agreement_totals")))
    await db.write(lambda s: s.execute(Submission.__table__.update().where(Submission.sample_id == ids[2]).values(
        items=[["cat", "x", 0.1, 0.2, 0.2]])))
    with pytest.raises(ValueError):
        await agreement_job.recompute_all(db, pid, batch=2, workers=workers)
    rows, totals = await db.read(_rows_and_totals)
    assert sorted(rows) == ids[:2] and totals == pytest.approx(first[1])


def test_the_job_starts_a_worker_process_only_for_a_project_worth_it() -> None:
    with agreement_job.workers_for(agreement_job.WORKERS_FROM - 1) as small:
        assert small is None
    with agreement_job.workers_for(agreement_job.WORKERS_FROM) as big:
        assert isinstance(big, agreement_workers.Workers)
