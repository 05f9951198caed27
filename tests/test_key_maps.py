"""Keys and labelling settings over GraphQL: the owner's default key map, a user's own over it (class keys, the
"none" key and every other labelling action's keys), after-save, and adding a class while labelling; who may do what;
malformed, conflicting and reserved keys are VALIDATION naming the key and both actions; open views hear of a change
(labelSettingsChanged)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from db import key_maps
from server import Settings
from tests.conftest import make_images
from tests.team import Team, team_app

SETTINGS = "query($p: ID!){ labelSettings(projectId: $p){ projectKeyMap { classes { name key } none } " \
           "myKeyMap { classes { name key } none } afterSave } }"
ACTIONS = "query($p: ID!){ labelSettings(projectId: $p){ projectKeyMap { actions { action keys } } " \
          "myKeyMap { actions { action keys } } } }"
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
    # every other action's keys: the same rules, and keys the browser or the app keeps
    ({"classes": [], "actions": [{"action": "SKIP", "keys": ["Space"]}]}, "Key Space is reserved for panning"),
    ({"classes": [], "actions": [{"action": "UNDO", "keys": ["Ctrl+w"]}]},
     "Key Ctrl+w is reserved for the browser (close the tab); it cannot be given to UNDO"),
    ({"classes": [], "actions": [{"action": "SKIP", "keys": ["shift+s"]}]}, "digit or a letter"),
    ({"classes": [], "actions": [{"action": "SKIP", "keys": ["Shift+?"]}]}, "digit or a letter"),
    ({"classes": [{"name": "cat", "key": "k"}], "actions": [{"action": "SKIP", "keys": ["k"]}]},
     "Key k is given to both class 'cat' and SKIP"),
    ({"classes": [], "actions": [{"action": "SKIP", "keys": ["a", "b", "c", "d", "f"]}]}, "up to 4"),
    # a key the layer below keeps for another action (here the defaults: N = next needing work, 1 = cat)
    ({"classes": [{"name": "dog", "key": "n"}]}, "Key n is given to both NEXT_NEEDING_WORK and class 'dog'"),
    ({"classes": [], "actions": [{"action": "FIT", "keys": ["1"]}]}, "Key 1 is given to both class 'cat' and FIT"),
    ({"classes": [], "actions": [{"action": "NUDGE_UP", "keys": ["Enter"]}]},
     "Key Enter is given to both SAVE_NEXT and NUDGE_UP"),
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


def test_action_keys_layer_over_the_defaults_and_open_views_hear_of_changes(team: Team) -> None:
    root, alice, bob = team["root"], team["alice"], team["bob"]
    pid = root.project("Action keys")  # classes cat, dog
    root.add(pid, "alice", "OWNER")
    root.add(pid, "bob", "ANNOTATOR")
    with team.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {bob.token}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription($p: ID!){ labelSettingsChanged(projectId: $p){ myKeyMap { actions { action keys } "
                     "} projectKeyMap { classes { name key } } } }", "variables": {"p": pid}}})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        # the owner: Enter saves and K too; skip moves to W (a key given to another action in the same map is fine
        # once that action gets another: here class cat gives up 1, the default FIT key 0 moves to 1). Made while
        # bob listens: on PostgreSQL a change made just before he subscribed may still reach him after.
        alice(OWNER_MAP, p=pid, m={"classes": [{"name": "cat", "key": "c"}], "actions": [
            {"action": "SAVE_NEXT", "keys": ["Enter", "k"]}, {"action": "SKIP", "keys": ["w"]},
            {"action": "FIT", "keys": ["1"]}]})
        got = ws.receive_json()
        assert got["payload"]["data"]["labelSettingsChanged"]["projectKeyMap"]["classes"] == [
            {"name": "cat", "key": "c"}], got
        # bob over it: S (free since the owner moved skip) picks dog; the arrows keep browsing and W is his undo once
        # skip has no key; a nudge may share a key with previous / next image (they never act at the same moment)
        alice(MINE, p=pid, a="NEEDS_WORK")  # another user's own settings: not bob's news
        bob(MINE, p=pid, m={"classes": [{"name": "dog", "key": "s"}], "actions": [
            {"action": "SKIP", "keys": []}, {"action": "UNDO", "keys": ["w"]},
            {"action": "NUDGE_LEFT", "keys": ["ArrowRight"]}, {"action": "NUDGE_RIGHT", "keys": ["ArrowLeft"]}]})
        got = ws.receive_json()
        assert got["type"] == "next", got
        assert got["payload"]["data"]["labelSettingsChanged"]["myKeyMap"]["actions"][:2] == [
            {"action": "SKIP", "keys": []}, {"action": "UNDO", "keys": ["w"]}]
        alice(OWNER_MAP, p=pid, m={"classes": [{"name": "dog", "key": "j"}]})  # the owner's map: everyone's news
        got = ws.receive_json()
        assert got["payload"]["data"]["labelSettingsChanged"]["projectKeyMap"]["classes"] == [
            {"name": "dog", "key": "j"}]
    got = bob(ACTIONS, p=pid)["labelSettings"]
    assert got["projectKeyMap"] == {"actions": []}
    assert {a["action"]: a["keys"] for a in got["myKeyMap"]["actions"]}["UNDO"] == ["w"]
    # over the owner's map: a key the owner kept for an action bob's map leaves alone is refused, naming both
    alice(OWNER_MAP, p=pid, m={"classes": [], "actions": [{"action": "SUGGEST", "keys": ["Ctrl+Enter"]}]})
    err = bob.error(MINE, p=pid, m={"classes": [{"name": "cat", "key": "Ctrl+Enter"}]})
    assert err["extensions"]["code"] == "VALIDATION"
    assert "Key Ctrl+Enter is given to both SUGGEST and class 'cat'" in err["message"], err
    assert bob.code(MINE, p=pid, m={"classes": [], "actions": [{"action": "NOPE", "keys": []}]}) == "VALIDATION"


def test_the_readme_keyboard_map_is_the_shipped_one() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert key_maps.keyboard_table() in readme, "regenerate it: python -m db.key_maps"
