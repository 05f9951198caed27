"""Workspace credentials for Model Serving: OAuth M2M with the app's service principal through databricks-sdk
(client credentials at the workspace's OIDC token endpoint), renewed when tokens expire, sent only to the
workspace. The real SDK and our httpx client talk to the local emulator (tests/emulated_oauth.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from jobs.models.egress import AllowList
from server import create_app
from settings import Settings
from tests.apps_proxy import User as ProxyUser
from tests.conftest import create_project, gql, make_images, wait_for_job
from tests.databricks_emulator import DatabricksEmulator
from tests.emulated_apps import APPS_ROUTES, add_app
from tests.emulated_oauth import CLIENT_ID, CLIENT_SECRET, OAUTH_ROUTES, issued

LOOPBACK = AllowList.parse("127.0.0.1")
RUN = "mutation($p: ID!){ preannotate(projectId: $p, input: {statuses: [UNLABELED, PRE_LABELED]}){ id } }"


@pytest.fixture
def emu(databricks: DatabricksEmulator) -> DatabricksEmulator:
    return databricks.add_routes(OAUTH_ROUTES)


@pytest.fixture
def serving(settings: Settings, emu: DatabricksEmulator) -> Iterator[TestClient]:
    chosen = dataclasses.replace(settings, databricks_host=emu.url, databricks_client_id=CLIENT_ID,
                                 databricks_client_secret=CLIENT_SECRET, model_name="yolo",
                                 serving_url=f"{emu.url}/serving-endpoints/yolo/invocations",
                                 model_url_allow=LOOPBACK)  # the emulated workspace runs on loopback
    with TestClient(create_app(chosen)) as c:
        yield c


def test_serving_is_called_with_the_service_principals_oauth_token(serving: TestClient, emu: DatabricksEmulator,
                                                                    images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = create_project(serving, classes=["car"])
    job = wait_for_job(serving, gql(serving, RUN, p=project["id"])["preannotate"]["id"])
    assert job["status"] == "SUCCEEDED" and job["result"]["drafts"] == 2, job
    [token] = issued(emu)
    assert emu.state["invocations"] == [f"Bearer {token}"]  # one batch, with the OAuth token, not a PAT
    status = gql(serving, "{ modelStatus { protocol ready message } }")["modelStatus"]
    assert status == {"protocol": "serving", "ready": True, "message": "ready"}
    [state_call] = emu.calls("GET", "/api/2.0/serving-endpoints/yolo")
    assert state_call.headers["authorization"] == f"Bearer {token}"
    [token_call] = emu.calls("POST", "/oidc/v1/token")
    assert token_call.headers["authorization"].startswith("Basic ")


def test_expired_tokens_are_renewed(serving: TestClient, emu: DatabricksEmulator, images_dir: Path) -> None:
    emu.state["oauth_ttl"] = 30  # inside the SDK's 40 s expiry margin: stale at once, renewed at its next use
    make_images(images_dir, ["a.jpg"])
    project = create_project(serving, classes=["car"])
    for _ in range(2):
        job = wait_for_job(serving, gql(serving, RUN, p=project["id"])["preannotate"]["id"])
        assert job["status"] == "SUCCEEDED", job
    tokens = issued(emu)
    assert len(tokens) >= 2  # the first expired: a second was minted
    assert {auth.removeprefix("Bearer ") for auth in emu.state["invocations"]} <= set(tokens)


def test_a_wrong_secret_fails_the_job_with_a_clear_reason(settings: Settings, emu: DatabricksEmulator,
                                                           images_dir: Path) -> None:
    chosen = dataclasses.replace(settings, databricks_host=emu.url, databricks_client_id=CLIENT_ID,
                                 databricks_client_secret="wrong", model_name="yolo",
                                 serving_url=f"{emu.url}/serving-endpoints/yolo/invocations",
                                 model_url_allow=LOOPBACK)
    make_images(images_dir, ["a.jpg"])
    with TestClient(create_app(chosen)) as client:
        project = create_project(client, classes=["car"])
        job = wait_for_job(client, gql(client, RUN, p=project["id"])["preannotate"]["id"])
    assert job["status"] == "SUCCEEDED" and job["result"]["failed"] == 1, job  # a per-image failure, with its reason
    assert "the workspace credentials were refused (invalid_client" in job["result"]["failures"][0]["reason"]
    assert not emu.state.get("invocations")  # nothing reached the endpoint without a valid token


def test_the_apps_managers_are_instance_admins_after_a_deploy(settings: Settings, emu: DatabricksEmulator,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """ADMIN_USERS ships empty: whoever may manage the app (its deployer, users the bundle names) is an admin."""
    emu.add_routes(APPS_ROUTES)
    add_app(emu, "cv-explorer", {"Dep@Example.com": "CAN_MANAGE", "viewer@example.com": "CAN_USE"},
            {CLIENT_ID: "CAN_MANAGE"})
    chosen = dataclasses.replace(settings, auth_mode="databricks", databricks_host=emu.url,
                                 databricks_client_id=CLIENT_ID, databricks_client_secret=CLIENT_SECRET,
                                 databricks_app_name="cv-explorer")

    def me(client: TestClient, email: str) -> dict:
        headers = ProxyUser(email=email, user_id=f"{abs(hash(email)) % 10**6}@1234567890123456",
                            name=email.split("@")[0]).forwarded()
        return client.post("/graphql", json={"query": "{ me { isAdmin } }"}, headers=headers).json()["data"]["me"]

    with TestClient(create_app(chosen)) as client:
        assert me(client, "dep@example.com") == {"isAdmin": True}
        assert me(client, "viewer@example.com") == {"isAdmin": False}
    [call] = emu.calls("GET", "/api/2.0/permissions/apps/cv-explorer")
    assert call.headers["authorization"] == f"Bearer {issued(emu)[0]}"  # read as the app's service principal
    add_app(emu, "cv-explorer", {"Dep@Example.com": "CAN_MANAGE"}, {})  # the principal may not read them
    with TestClient(create_app(chosen)) as client:
        assert me(client, "dep@example.com") == {"isAdmin": False}
    assert "only ADMIN_USERS are instance admins" in caplog.text
