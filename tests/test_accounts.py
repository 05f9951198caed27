"""Accounts through the API in AUTH_MODE=token: your own password and API tokens; users, admin rights and password
resets for instance admins; refused in the other modes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server import create_app
from settings import Settings
from tests.conftest import make_images
from tests.team import Team, team_app

PASSWORD = "correct horse battery"
ME = "{ me { name isAdmin } }"
CHANGE = "mutation($c: String!, $n: String!){ changePassword(currentPassword: $c, newPassword: $n) }"
NEW_TOKEN = "mutation($n: String!){ createApiToken(name: $n){ token apiToken { id name prefix revokedAt } } }"
REVOKE = "mutation($t: ID!){ revokeApiToken(id: $t){ id revokedAt } }"
CREATE_USER = """mutation($n: String!, $p: String!, $a: Boolean){
  createUser(name: $n, password: $p, isAdmin: $a){ name isAdmin } }"""
SET_ADMIN = "mutation($n: String!, $a: Boolean!){ setUserAdmin(name: $n, isAdmin: $a){ name isAdmin } }"
SET_PASSWORD = "mutation($n: String!, $p: String!){ setUserPassword(name: $n, password: $p) }"
SET_ACTIVE = "mutation($n: String!, $a: Boolean!){ setUserActive(name: $n, active: $a){ name deactivatedAt } }"
CLAIM = "mutation($p: ID!){ claimNextSample(projectId: $p){ id } }"


@pytest.fixture
def team(settings: Settings, images_dir: Path) -> Iterator[Team]:
    make_images(images_dir, ["a.jpg"], size=(16, 12))
    with team_app(settings, {"root": True, "alice": False, "bob": False}) as t:
        yield t


def _sign_in(client: TestClient, name: str, password: str) -> int:
    return client.post("/auth/login", json={"name": name, "password": password}).status_code


def test_admins_create_users_grant_admin_and_reset_passwords(team: Team) -> None:
    root, alice = team["root"], team["alice"]
    assert root(CREATE_USER, n="dana", p=PASSWORD)["createUser"] == {"name": "dana", "isAdmin": False}
    assert root.code(CREATE_USER, n="dana", p=PASSWORD) == "CONFLICT"
    short = root.error(CREATE_USER, n="erin", p="short")
    assert short["extensions"]["code"] == "VALIDATION" and "10 characters" in short["message"]
    assert alice.code(CREATE_USER, n="eve", p=PASSWORD) == "FORBIDDEN"
    assert [u["name"] for u in root("{ accounts { name isAdmin } }")["accounts"]] == ["alice", "bob", "dana", "root"]
    assert alice.code("{ accounts { name } }") == "FORBIDDEN"

    browser = TestClient(team.client.app)
    assert _sign_in(browser, "dana", PASSWORD) == 200
    assert root(SET_ADMIN, n="dana", a=True)["setUserAdmin"]["isAdmin"] is True
    assert browser.post("/graphql", json={"query": ME}).json()["data"]["me"]["isAdmin"] is True  # at once
    assert root.code(SET_ADMIN, n="root", a=False) == "VALIDATION"  # not your own rights
    assert root(SET_ADMIN, n="dana", a=False)["setUserAdmin"]["isAdmin"] is False
    assert alice.code(SET_ADMIN, n="alice", a=True) == "FORBIDDEN"

    assert root(SET_PASSWORD, n="dana", p="a brand new password")["setUserPassword"] is True
    assert browser.post("/graphql", json={"query": ME}).status_code == 401  # her sessions ended
    assert _sign_in(browser, "dana", PASSWORD) == 401 and _sign_in(browser, "dana", "a brand new password") == 200
    assert root.code(SET_PASSWORD, n="nobody", p=PASSWORD) == "NOT_FOUND"


def test_users_change_their_password_and_keep_their_own_api_tokens(team: Team) -> None:
    root, alice, bob = team["root"], team["alice"], team["bob"]
    root(SET_PASSWORD, n="alice", p=PASSWORD)
    browser = TestClient(team.client.app)
    assert _sign_in(browser, "alice", PASSWORD) == 200

    def call(query: str, **variables: object) -> dict:
        return browser.post("/graphql", json={"query": query, "variables": variables}).json()

    wrong = call(CHANGE, c="not my password", n="another long one")["errors"][0]
    assert wrong["extensions"] == {"code": "VALIDATION", "field": "currentPassword"}
    assert call(CHANGE, c=PASSWORD, n="short")["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert call(CHANGE, c=PASSWORD, n="another long one")["data"]["changePassword"] is True
    assert browser.post("/graphql", json={"query": ME}).status_code == 401  # signed out here too
    assert _sign_in(browser, "alice", "another long one") == 200

    made = alice(NEW_TOKEN, n="nightly import")["createApiToken"]
    token, row = made["token"], made["apiToken"]
    assert token.startswith(row["prefix"]) and row["name"] == "nightly import" and row["revokedAt"] is None
    pipeline = {"Authorization": f"Bearer {token}"}
    assert team.client.post("/graphql", json={"query": ME}, headers=pipeline).json()["data"]["me"]["name"] == "alice"
    listed = alice("{ myApiTokens { id name lastUsedAt } }")["myApiTokens"]
    assert listed[0]["id"] == row["id"] and listed[0]["lastUsedAt"] is not None  # newest first, just used
    assert bob.code(REVOKE, t=row["id"]) == "NOT_FOUND"  # not his
    assert alice.code(NEW_TOKEN, n="  ") == "VALIDATION"
    assert alice(REVOKE, t=row["id"])["revokeApiToken"]["revokedAt"] is not None
    assert team.client.post("/graphql", json={"query": ME}, headers=pipeline).status_code == 401
    other = bob(NEW_TOKEN, n="bob's")["createApiToken"]["apiToken"]["id"]
    assert root(REVOKE, t=other)["revokeApiToken"]["revokedAt"] is not None  # an admin may revoke anyone's


def test_a_deactivated_user_is_shut_out_at_once_and_their_work_stays(team: Team, images_dir: Path) -> None:
    make_images(images_dir, ["b.jpg"], size=(16, 12))
    root, alice, bob = team["root"], team["alice"], team["bob"]
    project = root.project("Streets", ["cat", "dog"], task="CLASSIFICATION")
    for name in ("alice", "bob"):
        root("mutation($p: ID!, $u: String!){ setProjectMember(projectId: $p, userName: $u, role: ANNOTATOR){ role } }",
             p=project, u=name)
    first = alice(CLAIM, p=project)["claimNextSample"]["id"]
    alice('mutation($s: ID!){ setClassification(sampleId: $s, labels: ["cat"]){ id } }', s=first)
    leased = alice(CLAIM, p=project)["claimNextSample"]["id"]
    root(SET_PASSWORD, n="alice", p=PASSWORD)
    browser = TestClient(team.client.app)
    assert _sign_in(browser, "alice", PASSWORD) == 200

    assert alice.code(SET_ACTIVE, n="bob", a=False) == "FORBIDDEN"
    assert root.code(SET_ACTIVE, n="root", a=False) == "VALIDATION"  # not yourself
    assert root.code(SET_ACTIVE, n="nobody", a=False) == "NOT_FOUND"
    assert root(SET_ACTIVE, n="alice", a=False)["setUserActive"]["deactivatedAt"] is not None

    assert alice.raw_status(ME) == 401  # her API token is revoked
    assert browser.post("/graphql", json={"query": ME}).status_code == 401  # her browser is signed out
    refused = browser.post("/auth/login", json={"name": "alice", "password": PASSWORD})
    assert refused.status_code == 403 and "deactivated" in refused.json()["error"]
    assert _sign_in(browser, "alice", "not her password") == 401  # a guesser learns nothing new
    assert bob(CLAIM, p=project)["claimNextSample"]["id"] == leased  # her lease went back to the queue
    stats = root("query($p: ID!){ project(id: $p){ stats { perUser { user labeled } } } }", p=project)
    assert {"user": "alice", "labeled": 1} in stats["project"]["stats"]["perUser"]  # her work keeps her name
    listed = {u["name"]: u["deactivatedAt"] for u in root("{ accounts { name deactivatedAt } }")["accounts"]}
    assert listed["alice"] is not None and listed["bob"] is None
    assert [u["name"] for u in root('{ users(search: "") { name } }')["users"]] == ["bob", "root"]  # to add: active
    members = root("query($p: ID!){ project(id: $p){ members { user { name deactivatedAt } } } }", p=project)
    assert {m["user"]["name"]: m["user"]["deactivatedAt"] is not None for m in members["project"]["members"]} == {
        "alice": True, "bob": False, "root": False}  # still a member, shown as deactivated

    assert root(SET_ACTIVE, n="alice", a=True)["setUserActive"]["deactivatedAt"] is None
    assert _sign_in(browser, "alice", PASSWORD) == 200
    assert browser.post("/graphql", json={"query": ME}).json()["data"]["me"]["name"] == "alice"
    assert alice.raw_status(ME) == 401  # old tokens stay revoked


def test_wrong_current_passwords_are_throttled_like_sign_ins(team: Team) -> None:
    team["root"](SET_PASSWORD, n="alice", p=PASSWORD)
    browser = TestClient(team.client.app)
    assert _sign_in(browser, "alice", PASSWORD) == 200
    codes = [browser.post("/graphql", json={"query": CHANGE, "variables": {"c": f"guess {i}", "n": "x" * 12}})
             .json()["errors"][0]["extensions"]["code"] for i in range(6)]
    assert codes == ["VALIDATION"] * 5 + ["UNAVAILABLE"]


def test_accounts_are_managed_elsewhere_in_the_other_modes(settings: Settings) -> None:
    with TestClient(create_app(settings)) as local:  # AUTH_MODE=local: one user, an admin
        body = local.post("/graphql", json={"query": CREATE_USER, "variables": {"n": "x", "p": PASSWORD}}).json()
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION" and "AUTH_MODE=token" in \
            body["errors"][0]["message"]
        assert local.post("/graphql", json={"query": "{ myApiTokens { id } }"}).json()["errors"][0][
            "extensions"]["code"] == "VALIDATION"
