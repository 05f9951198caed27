"""Class keys and labelling settings over GraphQL: the owner's default key map, a user's own over it, after-save,
and adding a class while labelling; who may do what; malformed key maps are VALIDATION naming the problem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server import Settings
from tests.conftest import make_images
from tests.team import Team, team_app

SETTINGS = "query($p: ID!){ labelSettings(projectId: $p){ projectKeyMap { classes { name key } none } " \
           "myKeyMap { classes { name key } none } afterSave } }"
OWNER_MAP = """mutation($p: ID!, $m: KeyMapInput){ setProjectKeyMap(projectId: $p, keyMap: $m){ id } }"""
MINE = """mutation($p: ID!, $m: KeyMapInput, $c: Boolean! = false, $a: AfterSave){ setMyLabelSettings(projectId: $p,
  keyMap: $m, clearKeyMap: $c, afterSave: $a){ myKeyMap { classes { name key } none } afterSave } }"""
ADD = "mutation($p: ID!, $n: String!){ addClass(projectId: $p, name: $n){ classes } }"


@pytest.fixture
def team(settings: Settings, images_dir: Path) -> Iterator[Team]:
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(16, 12))
    with team_app(settings) as t:
        yield t


def test_owner_default_user_override_after_save_and_roles(team: Team) -> None:
    root, alice, bob = team["root"], team["alice"], team["bob"]
    pid = root.project("Keys")  # classes cat, dog
    root.add(pid, "alice", "OWNER")
    root.add(pid, "bob", "ANNOTATOR")
    assert bob(SETTINGS, p=pid)["labelSettings"] == {"projectKeyMap": None, "myKeyMap": None, "afterSave": "ORDER"}

    alice(OWNER_MAP, p=pid, m={"classes": [{"name": "dog", "key": "d"}], "none": "Shift+0"})
    assert bob.code(OWNER_MAP, p=pid, m={"classes": []}) == "FORBIDDEN"
    mine = bob(MINE, p=pid, m={"classes": [{"name": "cat", "key": "q"}]}, a="NEEDS_WORK")["setMyLabelSettings"]
    assert mine == {"myKeyMap": {"classes": [{"name": "cat", "key": "q"}], "none": None}, "afterSave": "NEEDS_WORK"}
    # only what is given changes; each user has their own
    assert bob(MINE, p=pid, a="ORDER")["setMyLabelSettings"]["myKeyMap"]["classes"] == [{"name": "cat", "key": "q"}]
    got = bob(SETTINGS, p=pid)["labelSettings"]
    assert got["projectKeyMap"] == {"classes": [{"name": "dog", "key": "d"}], "none": "Shift+0"}
    assert got["afterSave"] == "ORDER"
    assert alice(SETTINGS, p=pid)["labelSettings"]["myKeyMap"] is None
    assert bob(MINE, p=pid, c=True)["setMyLabelSettings"]["myKeyMap"] is None
    alice(OWNER_MAP, p=pid, m=None)
    assert bob(SETTINGS, p=pid)["labelSettings"]["projectKeyMap"] is None

    # adding a class while labelling: owners only; the same name twice changes nothing
    assert bob.code(ADD, p=pid, n="bird") == "FORBIDDEN"
    assert alice(ADD, p=pid, n=" bird ")["addClass"]["classes"] == ["cat", "dog", "bird"]
    assert alice(ADD, p=pid, n="bird")["addClass"]["classes"] == ["cat", "dog", "bird"]
    assert alice.code(ADD, p=pid, n="  ") == "VALIDATION"


BAD = [
    ({"classes": [{"name": "cow", "key": "c"}]}, "not a class"),
    ({"classes": [{"name": "cat", "key": "ctrl+c"}]}, "digit or a letter"),
    ({"classes": [{"name": "cat", "key": "Q"}]}, "digit or a letter"),
    ({"classes": [{"name": "cat", "key": "q"}, {"name": "dog", "key": "q"}]}, "both class 'cat' and class 'dog'"),
    ({"classes": [{"name": "cat", "key": "q"}], "none": "q"}, "both class 'cat' and “none of these”"),
    ({"classes": [{"name": "cat", "key": "q"}, {"name": "cat", "key": "w"}]}, "twice"),
]


def test_malformed_key_maps_are_validation_naming_the_problem(team: Team) -> None:
    root = team["root"]
    pid = root.project("Bad keys")
    for key_map, needle in BAD:
        for query in (OWNER_MAP, MINE):
            err = root.error(query, p=pid, m=key_map)
            assert err["extensions"]["code"] == "VALIDATION" and needle in err["message"], (key_map, err)
    got = root(SETTINGS, p=pid)["labelSettings"]
    assert got["projectKeyMap"] is None and got["myKeyMap"] is None
