"""Review: reviewers accept or reject labelled samples from a filtered queue; rejected samples go back to their
labeller with the comment; history, per-labeller stats, gallery filters and accepted-only exports follow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from db import counters
from db.engine import sync_url
from settings import Settings
from tests.conftest import make_images
from tests.team import Caller, Team, team_app
from tests.waiting import until_ended

SAVE = """mutation($s: ID!, $l: String!){ saveAnnotations(sampleId: $s, annotations: [
  {label: $l, kind: BBOX, box: {x: 0.1, y: 0.1, w: 0.2, h: 0.2}}]){ version reviewStatus } }"""
REVIEW = """mutation($s: ID!, $a: Boolean!, $c: String, $v: Int){ reviewSample(sampleId: $s, accept: $a, comment: $c,
  expectedVersion: $v){ id version reviewStatus reviewedBy reviewComment } }"""
QUEUE = """query($p: ID!, $by: String, $l: String, $from: DateTime, $to: DateTime, $r: ReviewStatus){
  reviewQueue(projectId: $p, labeledBy: $by, label: $l, labeledAfter: $from, labeledBefore: $to, reviewStatus: $r){
    totalCount edges { node { id filename labeledBy annotations { label } } } } }"""
STATS = """query($p: ID!){ project(id: $p){ stats { labeled accepted rejected
  perUser { user labeled accepted rejected } } } }"""
CLAIM = "mutation($p: ID!){ claimNextSample(projectId: $p){ id reviewStatus reviewComment } }"


@pytest.fixture
def team(settings: Settings, images_dir: Path) -> Iterator[Team]:
    make_images(images_dir, [f"{i:02}.jpg" for i in range(5)], size=(16, 12))
    with team_app(settings) as t:
        yield t


def _project(team: Team) -> tuple[str, list[str]]:
    root = team["root"]
    pid = root.project("Review")
    for name, role in (("alice", "OWNER"), ("bob", "ANNOTATOR"), ("carol", "REVIEWER"), ("dave", "ANNOTATOR")):
        root.add(pid, name, role)
    return pid, root.sample_ids(pid)


def _queue(caller: Caller, pid: str, **filters: object) -> list[str]:
    return [e["node"]["id"] for e in caller(QUEUE, p=pid, **filters)["reviewQueue"]["edges"]]


def test_review_queue_accept_reject_and_the_way_back_to_the_labeller(team: Team) -> None:
    pid, (s1, s2, s3, s4, s5) = _project(team)
    bob, carol, dave = team["bob"], team["carol"], team["dave"]
    for sid, label in ((s1, "cat"), (s2, "dog"), (s3, "cat")):
        bob(SAVE, s=sid, l=label)
    dave(SAVE, s=s4, l="cat")
    assert _queue(carol, pid) == [s1, s2, s3, s4]
    assert _queue(carol, pid, by="bob", l="cat") == [s1, s3]
    now = datetime.now(UTC)
    assert _queue(carol, pid, **{"from": (now - timedelta(hours=1)).isoformat(), "to": now.isoformat()}) == \
        [s1, s2, s3, s4]
    assert _queue(carol, pid, **{"from": (now + timedelta(minutes=5)).isoformat()}) == []
    accepted = carol(REVIEW, s=s1, a=True, v=2)["reviewSample"]
    assert accepted == {"id": s1, "version": 3, "reviewStatus": "ACCEPTED", "reviewedBy": "carol",
                        "reviewComment": None}
    rejected = carol(REVIEW, s=s2, a=False, c="  the box misses the tail  ")["reviewSample"]
    assert (rejected["reviewStatus"], rejected["reviewComment"]) == ("REJECTED", "the box misses the tail")
    assert _queue(carol, pid) == [s3, s4]
    assert _queue(carol, pid, r="REJECTED") == [s2] and _queue(carol, pid, r=None) == [s1, s2, s3, s4]
    stats = carol(STATS, p=pid)["project"]["stats"]
    assert (stats["labeled"], stats["accepted"], stats["rejected"]) == (4, 1, 1)
    assert {u["user"]: (u["labeled"], u["accepted"], u["rejected"]) for u in stats["perUser"]} == {
        "bob": (3, 1, 1), "dave": (1, 0, 0)}
    gallery = "query($p: ID!, $r: ReviewStatus){ project(id: $p){ samples(reviewStatus: $r){ totalCount } } }"
    assert [carol(gallery, p=pid, r=r)["project"]["samples"]["totalCount"] for r in ("ACCEPTED", "REJECTED", "NONE")] \
        == [1, 1, 3]
    history = carol("query($s: ID!){ sample(id: $s){ history { action actor comment } } }", s=s2)["sample"]["history"]
    assert history[0] == {"action": "review_reject", "actor": "carol", "comment": "the box misses the tail"}
    # the rejected sample goes back to bob, first, with the comment; nobody else gets it
    assert dave(CLAIM, p=pid)["claimNextSample"]["id"] == s5  # the one unlabelled sample
    back = bob(CLAIM, p=pid)["claimNextSample"]
    assert back == {"id": s2, "reviewStatus": "REJECTED", "reviewComment": "the box misses the tail"}
    fixed = bob(SAVE, s=s2, l="dog")["saveAnnotations"]
    assert fixed["reviewStatus"] == "NONE"
    assert _queue(carol, pid) == [s2, s3, s4]
    stats = carol(STATS, p=pid)["project"]["stats"]
    assert (stats["accepted"], stats["rejected"]) == (1, 0)
    # changing an accepted sample's labels voids the acceptance
    assert dave(SAVE, s=s1, l="dog")["saveAnnotations"]["reviewStatus"] == "NONE"
    assert carol(STATS, p=pid)["project"]["stats"]["accepted"] == 0
    _counters_match_a_recount(team, pid)


def _counters_match_a_recount(team: Team, pid: str) -> None:
    engine = create_engine(sync_url(team.client.app.state.settings.database_url))
    try:
        with Session(engine) as s, s.begin():
            incremental = counters.read(s, [int(pid)])
            counters.recount(s, int(pid))
            assert counters.read(s, [int(pid)]) == incremental
    finally:
        engine.dispose()


def test_who_may_review_and_what_can_be_reviewed(team: Team) -> None:
    pid, (s1, s2, s3, *_) = _project(team)
    bob, carol, alice = team["bob"], team["carol"], team["alice"]
    bob(SAVE, s=s1, l="cat")
    assert bob.code(REVIEW, s=s1, a=True) == "FORBIDDEN"
    assert bob.code(QUEUE, p=pid) == "FORBIDDEN"
    carol(SAVE, s=s2, l="dog")
    assert _queue(carol, pid) == [s1] and _queue(alice, pid) == [s1, s2]  # not in her own queue; in an owner's
    own = carol.error(REVIEW, s=s2, a=True)  # a reviewer does not pass their own labels
    assert own["extensions"]["code"] == "FORBIDDEN" and "another reviewer" in own["message"]
    alice(SAVE, s=s2, l="cat")
    assert alice(REVIEW, s=s2, a=True)["reviewSample"]["reviewStatus"] == "ACCEPTED"  # an owner may
    assert alice(REVIEW, s=s1, a=True)["reviewSample"]["reviewStatus"] == "ACCEPTED"  # owners review too
    stale = carol.error(REVIEW, s=s1, a=False, v=2)
    assert stale["extensions"]["code"] == "CONFLICT" and stale["extensions"]["currentVersion"] == 3
    unlabelled = carol.error(REVIEW, s=s3, a=True)
    assert unlabelled["extensions"]["code"] == "VALIDATION" and "labelled" in unlabelled["message"]
    assert carol.code(REVIEW, s=s1, a=False, c="x" * 2001) == "VALIDATION"


def test_exports_can_be_limited_to_accepted_samples(team: Team, tmp_path: Path) -> None:
    pid, (s1, s2, s3, *_) = _project(team)
    bob, carol, alice = team["bob"], team["carol"], team["alice"]
    for sid in (s1, s2, s3):
        bob(SAVE, s=sid, l="cat")
    carol(REVIEW, s=s2, a=True)
    carol(REVIEW, s=s3, a=False, c="no")
    export = """mutation($p: ID!, $a: Boolean, $d: String!){ exportDataset(projectId: $p, input: {format: COCO,
      destination: $d, includeImages: false, acceptedOnly: $a}){ id } }"""
    team["root"].share("/Volumes/test/cvx/exports", "alice")  # an owner exports where an admin lets them
    folders = []
    for accepted_only, sub in ((True, "accepted"), (False, "all")):  # two folders: both exports start this second
        (tmp_path / "exports" / sub).mkdir()
        job_id = alice(export, p=pid, a=accepted_only, d=f"/Volumes/test/cvx/exports/{sub}")["exportDataset"]["id"]
        job = until_ended(lambda j=job_id: alice("query($j: ID!){ job(id: $j){ status result error } }", j=j)["job"])
        assert job["status"] == "SUCCEEDED", job
        folders.append(tmp_path / "exports" / sub / job["result"]["path"].rsplit("/", 1)[1])
    only, every = (json.loads((f / "annotations.json").read_text()) for f in folders)
    accepted_file = alice("query($s: ID!){ sample(id: $s){ filename } }", s=s2)["sample"]["filename"]
    assert [i["file_name"] for i in only["images"]] == [accepted_file] and len(every["images"]) == 3
    assert json.loads((folders[0] / "metadata.json").read_text())["acceptedOnly"] is True
