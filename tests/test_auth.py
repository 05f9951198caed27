"""Who is calling: AUTH_MODE=token (passwords, session cookies, API tokens, the users/tokens commands) and
AUTH_MODE=databricks (the Apps proxy's headers), with spoofed headers and leaked secrets as the adversary."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import server
from db import auth
from db import sign_in_failures as failures
from db.engine import sync_url
from db.models import ApiToken, SignInFailure, User
from server import create_app
from settings import Settings, SettingsError
from tests.apps_proxy import User as ProxyUser
from tests.conftest import make_images
from tests.team import Team, team_app

ME = "{ me { name isAdmin } }"
PASSWORD = "correct horse battery"


@pytest.fixture
def team(settings: Settings, images_dir: Path) -> Iterator[Team]:
    make_images(images_dir, ["a.jpg"], size=(16, 12))
    with team_app(settings, {"root": True, "alice": False}) as t:
        yield t


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str, *argv: str,
         stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AUTH_MODE", "token")
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = server.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _rows(database_url: str) -> str:
    """Every row of every table, as text: what a stolen copy of the database would reveal."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return "\n".join(str(row) for table in inspect(conn).get_table_names()
                             for row in conn.execute(text(f'SELECT * FROM "{table}"')))
    finally:
        engine.dispose()


def test_browser_sign_in_sets_a_locked_down_cookie_and_sign_out_ends_it(
        team: Team, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    client = team.client
    url = client.app.state.settings.database_url
    assert _cli(monkeypatch, capsys, url, "users", "set-password", "alice", stdin=PASSWORD + "\n")[0] == 0
    anonymous = client.post("/graphql", json={"query": ME})
    assert anonymous.status_code == 401 and anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert client.get("/media/samples/1/thumbnail").json()["code"] == "UNAUTHENTICATED"
    assert client.get("/").status_code == 200  # the SPA (and its sign-in page) loads without a session
    before = client.get("/auth/session")  # what the SPA asks first: no 401 for a page not yet signed in
    assert before.status_code == 200 and before.json() == {"signedIn": False, "authMode": "token"}
    wrong = client.post("/auth/login", json={"name": "alice", "password": "not it at all"})
    assert wrong.status_code == 401 and "cvx_session" not in wrong.headers.get("set-cookie", "")
    assert client.post("/auth/login", json={"name": "nobody", "password": PASSWORD}).status_code == 401
    ok = client.post("/auth/login", json={"name": " alice", "password": PASSWORD})
    assert ok.status_code == 200 and ok.json() == {"name": "alice", "isAdmin": False}
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie and "secure" not in cookie
    value = client.cookies["cvx_session"]
    assert client.post("/graphql", json={"query": ME}).json()["data"]["me"] == {"name": "alice", "isAdmin": False}
    assert client.get("/auth/session").json() == {"signedIn": True, "authMode": "token"}
    assert value not in _rows(url) and PASSWORD not in _rows(url)  # only hashes are stored
    client.post("/auth/logout")
    assert "cvx_session" not in client.cookies
    client.cookies.set("cvx_session", value)  # a copy of the cookie taken before signing out
    assert client.post("/graphql", json={"query": ME}).status_code == 401
    secure = TestClient(client.app, base_url="https://cvx.example.com").post(
        "/auth/login", json={"name": "alice", "password": PASSWORD})
    assert "secure" in secure.headers["set-cookie"].lower()
    cross = client.post("/auth/login", json={"name": "alice", "password": PASSWORD},
                        headers={"Origin": "https://evil.example.com"})
    assert cross.status_code == 403


def test_repeated_wrong_passwords_make_the_account_wait_doubling_and_cost_no_hash(
        team: Team, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    client = team.client
    _cli(monkeypatch, capsys, client.app.state.settings.database_url, "users", "set-password", "alice",
         stdin=PASSWORD + "\n")
    now = [1000.0]
    client.app.state.sign_in_throttle.clock = lambda: now[0]
    hashed: list[str] = []
    real_verify = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda p, h: hashed.append(p) or real_verify(p, h))

    def sign_in(name: str, password: str) -> tuple[int, dict, str | None]:
        r = client.post("/auth/login", json={"name": name, "password": password})
        return r.status_code, r.json(), r.headers.get("retry-after")

    for _ in range(5):
        assert sign_in("alice", "a wrong guess")[0] == 401
    status, body, retry = sign_in("alice", PASSWORD)  # even the right password waits: the guesser cannot tell
    assert (status, body["code"], retry) == (429, "UNAVAILABLE", "30") and "30 s" in body["error"]
    assert len(hashed) == 5, "a refused attempt must not cost a password hash"
    assert sign_in("root", "a wrong guess")[0] == 401  # other accounts are not held up
    now[0] += 31
    assert sign_in(" ALICE", "a wrong guess")[0] == 401  # the same account however it is typed
    assert sign_in("alice", PASSWORD)[2] == "60"  # the next wait is twice as long
    now[0] += 61
    assert sign_in("alice", PASSWORD)[0] == 200  # a success clears the account's record
    assert sign_in("alice", "a wrong guess")[0] == 401 and sign_in("alice", PASSWORD)[0] == 200


def test_every_server_process_counts_the_same_failed_sign_ins(
        team: Team, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Two app instances on one database stand for two replicas behind a load balancer."""
    settings = team.client.app.state.settings
    _cli(monkeypatch, capsys, settings.database_url, "users", "set-password", "alice", stdin=PASSWORD + "\n")
    with TestClient(create_app(settings)) as other:
        for replica in (team.client, other, team.client, other, team.client):
            assert replica.post("/auth/login", json={"name": "alice", "password": "a guess"}).status_code == 401
        for replica in (team.client, other):
            assert replica.post("/auth/login", json={"name": "alice", "password": PASSWORD}).status_code == 429


def test_parallel_guesses_check_no_more_passwords_than_the_throttle_allows(
        team: Team, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Each attempt is counted before its password is checked, in one statement committed on its own: 60 guesses
    sent at once check 5 passwords (a 401 means a password was checked), and then the right one waits too."""
    client = team.client
    _cli(monkeypatch, capsys, client.app.state.settings.database_url, "users", "set-password", "alice",
         stdin=PASSWORD + "\n")

    async def at_once(n: int) -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app, client=("testclient", 50000)),
                                     base_url="http://testserver", timeout=120) as http:
            answers = await asyncio.gather(*(http.post("/auth/login", json={"name": "alice", "password": f"guess {i}"})
                                             for i in range(n)))
        return [r.status_code for r in answers]

    codes = client.portal.call(at_once, 60)  # type: ignore[union-attr]
    assert sorted(set(codes)) == [401, 429] and codes.count(401) == 5, codes
    assert client.post("/auth/login", json={"name": "alice", "password": PASSWORD}).status_code == 429

    def counts() -> dict[str, int]:
        rows = client.portal.call(client.app.state.services.db.read,  # type: ignore[union-attr]
                                  lambda s: s.scalars(select(SignInFailure)).all())
        return {row.key: row.count for row in rows}

    assert counts() == {"account:alice": 5, "address:testclient": 5}  # refused attempts are not counted
    throttle = client.app.state.sign_in_throttle
    throttle.clock = lambda: time.time() + 31
    assert client.post("/auth/login", json={"name": "alice", "password": PASSWORD}).status_code == 200
    assert counts() == {"address:testclient": 5}  # a right password clears the account and costs its address none


def test_attempts_wait_doubling_count_on_every_key_or_none_and_old_ones_are_tidied_away(database_url: str) -> None:
    policy = failures.Policy(free=2, first_wait=30.0, max_wait=900.0, forget_after=3600.0)
    engine = create_engine(sync_url(database_url))

    def count(s: Session, key: str) -> int | None:
        row = s.get(SignInFailure, key)
        return None if row is None else row.count

    try:
        with Session(engine) as s, s.begin():
            now, waits = 0.0, []
            for _ in range(7):  # each attempt as soon as the last wait is over
                assert failures.attempt(s, [("account:blocked", policy)], now) == 0
                waits.append(failures.waiting(s, ["account:blocked"], now))
                now += waits[-1]
            assert waits == [0, 30, 60, 120, 240, 480, 900]  # from the free-th on, doubling up to the cap
            assert failures.attempt(s, [("account:blocked", policy)], now - 100) == 100  # refused, not counted
            assert count(s, "account:blocked") == 7
            assert failures.attempt(s, [("account:a", policy), ("account:blocked", policy)], now - 100) == 100
            assert count(s, "account:a") is None  # every key counts the attempt, or none does
            assert failures.attempt(s, [("account:old", policy)], 0.0) == 0
            assert failures.attempt(s, [("account:old", policy)], 3601.0) == 0  # an hour later the first no
            assert count(s, "account:old") == 1  # longer counts
            failures.hand_back(s, "account:old", policy)
            assert count(s, "account:old") == 0
            assert failures.attempt(s, [("x" * 500, policy)], 0.0) == 0  # a name longer than any user's is cut
        with Session(engine) as s, s.begin():
            assert failures.forget_stale(s, now + 3600, 3600.0) == 2  # blocked (its wait is over) and the long one
            assert failures.forget_stale(s, 3601.0 + 3601.0, 3600.0) == 1
    finally:
        engine.dispose()


def test_a_new_password_signs_the_user_out_everywhere(
        team: Team, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = team.client.app.state.settings.database_url
    _cli(monkeypatch, capsys, url, "users", "set-password", "alice", stdin=PASSWORD + "\n")
    team.client.post("/auth/login", json={"name": "alice", "password": PASSWORD})
    assert team.client.post("/graphql", json={"query": ME}).status_code == 200
    code, out, _ = _cli(monkeypatch, capsys, url, "users", "set-password", "alice", stdin="another long one\n")
    assert code == 0 and "signed out" in out
    assert team.client.post("/graphql", json={"query": ME}).status_code == 401
    code, _, err = _cli(monkeypatch, capsys, url, "users", "set-password", "alice", stdin="short\n")
    assert code == 1 and "at least 10" in err


def test_spoofed_identity_headers_are_ignored_in_token_mode(team: Team) -> None:
    spoof = {"X-Forwarded-Email": "root", "X-Forwarded-Preferred-Username": "root", "X-Forwarded-User": "root"}
    assert team.client.post("/graphql", json={"query": ME}, headers=spoof).status_code == 401
    alice = team["alice"]
    r = team.client.post("/graphql", json={"query": ME}, headers={**spoof, **alice.headers})
    assert r.json()["data"]["me"] == {"name": "alice", "isAdmin": False}
    bad = team.client.post("/graphql", json={"query": ME}, headers={"Authorization": "Bearer cvx_forged"})
    assert bad.status_code == 401


def test_tokens_from_the_command_line_work_once_shown_and_stop_when_revoked(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = settings.database_url
    code, out, _ = _cli(monkeypatch, capsys, url, "users", "add", "ops@example.com", "--admin", "--password-stdin",
                        stdin=PASSWORD + "\n")
    assert code == 0 and "created ops@example.com (admin)" in out
    assert _cli(monkeypatch, capsys, url, "users", "add", "ops@example.com", stdin=PASSWORD + "\n")[0] == 1
    code, out, _ = _cli(monkeypatch, capsys, url, "tokens", "create", "ops@example.com", "--name", "nightly import")
    token = out.splitlines()[0]
    assert code == 0 and token.startswith("cvx_") and len(token) > 40
    assert _cli(monkeypatch, capsys, url, "users", "list")[1].split("\n")[0].endswith("ops@example.com\tadmin")
    with TestClient(create_app(dataclasses.replace(settings, auth_mode="token"))) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/graphql", json={"query": ME}, headers=headers).json()["data"]["me"] == {
            "name": "ops@example.com", "isAdmin": True}
        listed = _cli(monkeypatch, capsys, url, "tokens", "list")[1]
        assert "nightly import" in listed and "last used never" not in listed and token not in listed
        token_id = listed.split("\t")[0]
        assert _cli(monkeypatch, capsys, url, "tokens", "revoke", token_id)[0] == 0
        assert client.post("/graphql", json={"query": ME}, headers=headers).status_code == 401
    assert token not in _rows(url)
    engine = create_engine(sync_url(url))
    with Session(engine) as s:
        assert s.scalar(select(User.password_hash)).startswith("scrypt$")
        assert s.scalar(select(ApiToken.revoked_at)) is not None
    engine.dispose()
    assert _cli(monkeypatch, capsys, url, "users", "admin", "ops@example.com", "--off")[1].strip() == \
        "ops@example.com is no longer an instance admin"
    assert _cli(monkeypatch, capsys, url, "users", "deactivate", "ops@example.com")[1].strip() == \
        "ops@example.com is deactivated: signed out, tokens revoked"
    assert "\tdeactivated 20" in _cli(monkeypatch, capsys, url, "users", "list")[1]
    assert _cli(monkeypatch, capsys, url, "users", "reactivate", "ops@example.com")[1].strip() == \
        "ops@example.com is active"
    assert _cli(monkeypatch, capsys, url, "users", "list")[1].strip().endswith("ops@example.com")
    assert _cli(monkeypatch, capsys, url, "users", "deactivate", "nobody")[0] == 1


def test_websockets_take_the_session_cookie_or_a_token_in_connection_init(
        team: Team, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    client, alice = team.client, team["alice"]
    sub = {"id": "1", "type": "subscribe", "payload": {"query": "subscription{ jobProgress(jobId: \"1\"){ id } }"}}
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(sub)
        assert "does not exist" in str(ws.receive_json()["payload"])  # alice is in no project: job 1 is not hers
    _cli(monkeypatch, capsys, client.app.state.settings.database_url, "users", "set-password", "alice",
         stdin=PASSWORD + "\n")
    client.post("/auth/login", json={"name": "alice", "password": PASSWORD})
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # the cookie jar's
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
    client.cookies.clear()
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"],
                                  headers={"X-Forwarded-Email": "root"}) as ws:
        ws.send_json({"type": "connection_init", "payload": {"token": "cvx_forged"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


# -- settings ---------------------------------------------------------------------------------------------------

def test_auth_modes_and_where_they_may_listen() -> None:
    assert Settings.from_env({"AUTH_MODE": "token", "HOST": "0.0.0.0"}).host == "0.0.0.0"
    with pytest.raises(SettingsError, match="loopback"):
        Settings.from_env({"AUTH_MODE": "local", "HOST": "0.0.0.0"})
    with pytest.raises(SettingsError, match="DATABRICKS_APP_NAME"):
        Settings.from_env({"AUTH_MODE": "databricks", "HOST": "0.0.0.0", "DATABRICKS_CLIENT_ID": "x"})
    s = Settings.from_env({"AUTH_MODE": "databricks", "HOST": "0.0.0.0", "DATABRICKS_APP_NAME": "cvx",
                           "DATABRICKS_CLIENT_ID": "sp", "ADMIN_USERS": " Boss@Example.com, ops@example.com ,"})
    assert s.admin_users == ("boss@example.com", "ops@example.com")


# -- AUTH_MODE=databricks ---------------------------------------------------------------------------------------

CREATE_P = ('mutation{ createProject(input: {name: "P", taskType: DETECTION, classes: ["a"], '
            'sourceVolume: "/Volumes/test/cvx/images"}){ id } }')
SET_MEMBER = "mutation($p: ID!, $n: String!){ setProjectMember(projectId: $p, userName: $n, role: REVIEWER){ role } }"


def proxied(user_id: str, email: str = "", name: str = "") -> dict[str, str]:
    """What the Apps proxy sends for a signed-in user (headers it would leave out are left out)."""
    return {k: v for k, v in ProxyUser(email=email, user_id=user_id, name=name).forwarded().items() if v}


@pytest.fixture
def platform(settings: Settings, images_dir: Path) -> Iterator[TestClient]:
    make_images(images_dir, ["a.jpg"], size=(8, 8))
    s = dataclasses.replace(settings, auth_mode="databricks", admin_users=("boss@example.com",))
    with TestClient(create_app(s)) as client:
        yield client


def _gql(client: TestClient, query: str, headers: dict[str, str], **variables: object) -> dict:
    return client.post("/graphql", json={"query": query, "variables": variables}, headers=headers).json()


def _me(client: TestClient, headers: dict[str, str]) -> dict | int:
    r = client.post("/graphql", json={"query": ME}, headers=headers)
    return r.json()["data"]["me"] if r.status_code == 200 else r.status_code


def test_the_apps_proxy_headers_name_the_user_and_users_appear_on_first_sight(platform: TestClient) -> None:
    assert _me(platform, proxied("1@9", "Boss@Example.com ", "boss")) == {"name": "boss@example.com", "isAdmin": True}
    assert _me(platform, proxied("2@9", "ann@example.com", "ann")) == {"name": "ann@example.com", "isAdmin": False}
    assert _me(platform, proxied("3@9", name="bo")) == {"name": "bo", "isAdmin": False}  # no e-mail: the user name
    assert _me(platform, proxied("4@9", name="Bo Smith"))["name"] == "4@9"  # not a name (a space): the id
    assert _me(platform, proxied("5@9")) == {"name": "5@9", "isAdmin": False}
    users = _gql(platform, "{ instance { users { name isAdmin } } }", proxied("1@9", "boss@example.com"))
    assert {u["name"]: u["isAdmin"] for u in users["data"]["instance"]["users"]} == {
        "boss@example.com": True, "ann@example.com": False, "bo": False, "4@9": False, "5@9": False}
    # passwords are for AUTH_MODE=token only
    assert platform.post("/auth/login", json={"name": "x", "password": "y" * 12}).status_code == 404


def test_accounts_are_keyed_on_the_stable_user_id_and_the_email_follows_it(platform: TestClient) -> None:
    boss = proxied("1@9", "boss@example.com")
    pid = _gql(platform, CREATE_P, boss)["data"]["createProject"]["id"]
    assert _gql(platform, SET_MEMBER, boss, p=pid, n=" Ann@Example.com")["data"]  # before her first visit

    def projects(headers: dict[str, str]) -> list[dict]:
        return _gql(platform, "{ projects { name myRole } }", headers)["data"]["projects"]

    def email_of(user_id: str) -> str | None:
        return platform.portal.call(platform.app.state.services.db.read,  # type: ignore[union-attr]
                                    lambda s: s.scalar(select(User.email).where(User.platform_id == user_id)))

    ann = proxied("2@9", "ANN@example.com")
    assert projects(ann) == [{"name": "P", "myRole": "REVIEWER"}]  # her first request claims the invited account
    assert _me(platform, ann) == {"name": "ann@example.com", "isAdmin": False}
    married = proxied("2@9", "ann.smith@example.com")
    assert projects(married) == [{"name": "P", "myRole": "REVIEWER"}]  # a changed e-mail keeps her access
    assert _me(platform, married)["name"] == "ann@example.com"  # her name stays on her work
    assert email_of("2@9") == "ann.smith@example.com"
    newcomer = proxied("7@9", "ann@example.com")  # her old address, given to someone else
    assert projects(newcomer) == []  # inherits nothing
    assert _me(platform, newcomer) == {"name": "ann@example.com#2", "isAdmin": False}
    assert _gql(platform, SET_MEMBER, boss, p=pid, n="ann@example.com")["data"]  # the address's holder now
    assert projects(newcomer) == [{"name": "P", "myRole": "REVIEWER"}]
    # case never makes a second account, nor a second admin
    assert _me(platform, proxied("1@9", "BOSS@EXAMPLE.COM")) == {"name": "boss@example.com", "isAdmin": True}
    assert _me(platform, proxied("1@9", " boss@Example.com")) == {"name": "boss@example.com", "isAdmin": True}
    admins = [u["name"] for u in _gql(platform, "{ instance { users { name isAdmin } } }", boss)[
        "data"]["instance"]["users"] if u["isAdmin"]]
    assert admins == ["boss@example.com"] and email_of("1@9") == "boss@example.com"


def test_first_requests_at_once_make_one_account(platform: TestClient) -> None:
    async def at_once(n: int) -> set[str]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=platform.app),
                                     base_url="http://testserver", timeout=60) as http:
            answers = await asyncio.gather(*(http.post("/graphql", json={"query": ME},
                                                       headers=proxied("3@9", "new@example.com")) for _ in range(n)))
        return {r.json()["data"]["me"]["name"] for r in answers}

    assert platform.portal.call(at_once, 8) == {"new@example.com"}  # type: ignore[union-attr]


def test_requests_that_did_not_come_through_the_apps_proxy_are_refused(platform: TestClient) -> None:
    """What tells the proxy's requests apart is only their headers (README: what this does not guarantee)."""
    complete = proxied("1@9", "boss@example.com")
    for missing in ("X-Forwarded-User", "X-Request-Id"):
        r = platform.post("/graphql", json={"query": ME}, headers={k: v for k, v in complete.items() if k != missing})
        error = r.json()["errors"][0]
        assert r.status_code == 401 and error["extensions"]["code"] == "UNAUTHENTICATED", r.text
        assert "Databricks Apps proxy" in error["message"] and missing in error["message"]
    assert _me(platform, {"X-Forwarded-Email": "boss@example.com"}) == 401  # an e-mail alone names nobody
    media = platform.get("/media/samples/1/thumbnail", headers={"X-Forwarded-Email": "boss@example.com"})
    assert media.status_code == 401 and "Databricks Apps proxy" in media.json()["error"]
    with platform.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"],
                                    headers={"X-Forwarded-Email": "boss@example.com"}) as ws:
        ws.send_json({"type": "connection_init"})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403
    with platform.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=complete) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"


def test_identity_headers_no_user_could_have_are_refused_with_a_reason(platform: TestClient) -> None:
    long_email = "a" * 390 + "@example.com"
    for headers, named in ((proxied("1@9", long_email), "X-Forwarded-Email"),
                           (proxied("1@9", "boss @example.com"), "X-Forwarded-Email"),
                           (proxied("1@9", "not-an-address"), "X-Forwarded-Email"),
                           (proxied("1 9", "boss@example.com"), "X-Forwarded-User"),
                           (proxied("9" * 200, "boss@example.com"), "X-Forwarded-User")):
        r = platform.post("/graphql", json={"query": ME}, headers=headers)
        error = r.json()["errors"][0]
        assert r.status_code == 401 and error["extensions"]["code"] == "UNAUTHENTICATED", r.text
        assert named in error["message"]
    boss = proxied("1@9", "boss@example.com")
    pid = _gql(platform, CREATE_P, boss)["data"]["createProject"]["id"]
    for name, reason in ((long_email, "at most 320"), ("ann smith@example.com", "without spaces"),
                         ("nobody", "by their e-mail")):
        error = _gql(platform, SET_MEMBER, boss, p=pid, n=name)["errors"][0]
        assert error["extensions"]["code"] in ("VALIDATION", "NOT_FOUND") and reason in error["message"], error


def test_forwarded_access_tokens_are_never_logged_or_stored(platform: TestClient,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    secret = "eyJhbGciOiJSUzI1NiJ9.forwarded-user-token.signature"
    caplog.set_level(logging.DEBUG)
    ann = {**proxied("2@9", "ann@example.com"), "X-Forwarded-Access-Token": secret}
    for query in (ME, "{ projects { id } }", "{ nosuchfield }"):
        platform.post("/graphql", json={"query": query}, headers=ann)
    platform.get("/media/samples/1/image", headers=ann)
    assert secret not in caplog.text
    assert secret not in _rows(platform.app.state.settings.database_url)
    assert "ann@example.com" in _rows(platform.app.state.settings.database_url)
