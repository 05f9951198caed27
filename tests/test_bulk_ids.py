"""Mutations over many sample ids (acceptDrafts, clearDrafts): unknown ids are named, the list size is capped, and
a refused batch changes nothing; a model re-run that replaces drafts leaves history."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from db import labels
from db.engine import Database
from db.records import AnnotationRecord
from settings import Settings
from tests.conftest import create_project, gql, gql_error, make_images, seed_project
from tests.team import team_app

ACCEPT = "mutation($ids: [ID!]!){ acceptDrafts(sampleIds: $ids) }"
CLEAR = "mutation($ids: [ID!]!){ clearDrafts(sampleIds: $ids) }"
STATUS = "query($id: ID!){ sample(id: $id){ status version } }"


def _predict(client: TestClient, ids: list[str]) -> None:
    async def predict() -> None:
        for sid in ids:
            await labels.replace_drafts(client.app.state.services.db, int(sid),
                                        [AnnotationRecord("cat", "BBOX", (0.1, 0.1, 0.3, 0.3), 0.9)], "model:m")

    client.portal.call(predict)


def _drafted(client: TestClient, images_dir: Path) -> list[str]:
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(8, 8))
    pid = create_project(client)["id"]
    q = "query($id: ID!){ project(id: $id){ samples { edges { node { id } } } } }"
    ids = [e["node"]["id"] for e in gql(client, q, id=pid)["project"]["samples"]["edges"]]
    _predict(client, ids)
    return ids


def test_unknown_ids_are_named_and_nothing_changes(client: TestClient, images_dir: Path) -> None:
    ids = _drafted(client, images_dir)
    unknown = [str(900_000 + i) for i in range(12)]
    for mutation in (ACCEPT, CLEAR):
        error = gql_error(client, mutation, ids=[ids[0], *unknown, "not-an-id"])
        assert error["extensions"]["code"] == "VALIDATION", error
        message = error["message"]
        assert "900000, 900001" in message and "and 3 more (13 in all)" in message, message
        assert error["extensions"]["unknownCount"] == 13 and "not-an-id" in error["extensions"]["unknownIds"]
        assert gql(client, STATUS, id=ids[0])["sample"] == {"status": "PRE_LABELED", "version": 2}
    assert gql(client, ACCEPT, ids=ids)["acceptDrafts"] == 2


def test_a_list_over_the_cap_is_refused_naming_it(client: TestClient, images_dir: Path) -> None:
    ids = _drafted(client, images_dir)
    for mutation in (ACCEPT, CLEAR):
        error = gql_error(client, mutation, ids=[ids[0]] + [str(i) for i in range(1, 300_000)])
        assert error["extensions"]["code"] == "VALIDATION", error
        assert "10,000" in error["message"] and "300,000" in error["message"], error["message"]
    assert gql(client, STATUS, id=ids[0])["sample"]["status"] == "PRE_LABELED"


def test_ids_a_member_cannot_see_are_unknown_too(settings: Settings, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg"], size=(8, 8))
    with team_app(settings) as team:
        root = team["root"]
        mine, theirs = root.project("Mine"), root.project("Theirs")
        root.add(mine, "alice", "ANNOTATOR")
        [own] = root.sample_ids(mine)
        [other] = root.sample_ids(theirs)
        error = team["alice"].error(ACCEPT, ids=[own, other, "424242"])
        assert error["extensions"]["code"] == "VALIDATION"
        assert f"{other}, 424242" in error["message"] and "2 in all" in error["message"], error["message"]


async def test_a_model_rerun_that_replaces_drafts_writes_history(db: Database) -> None:
    from db.samples import history_for

    _, [sid] = await seed_project(db, 1)
    await labels.replace_drafts(db, sid, [AnnotationRecord("cat", "BBOX", (0.1, 0.1, 0.3, 0.3), 0.9)], "model:m")
    await labels.replace_drafts(db, sid, [AnnotationRecord("dog", "BBOX", (0.2, 0.1, 0.3, 0.3), 0.8)], "model:m")
    await labels.replace_drafts(db, sid, [], "model:m")  # the re-run found nothing: its drafts go
    history = (await db.read(history_for, [sid]))[sid]
    assert [(e.action, e.label_before, e.label_after, e.actor) for e in reversed(history)] == [
        ("draft", None, "cat", "model:m"),
        ("clear_draft", "cat", None, "model:m"), ("draft", None, "dog", "model:m"),
        ("clear_draft", "dog", None, "model:m"),
    ]
