"""Workspace credentials for Model Serving: OAuth M2M with the app's service principal through databricks-sdk
(client credentials at the workspace's OIDC token endpoint), renewed when tokens expire, sent only to the
workspace. The real SDK and our httpx client talk to the local emulator (tests/emulated_oauth.py)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server import Settings, create_app
from tests.conftest import create_project, gql, make_images, wait_for_job
from tests.databricks_emulator import DatabricksEmulator
from tests.emulated_oauth import CLIENT_ID, CLIENT_SECRET, OAUTH_ROUTES, issued

RUN = "mutation($p: ID!){ preannotate(projectId: $p, input: {statuses: [UNLABELED, PRE_LABELED]}){ id } }"


@pytest.fixture
def emu(databricks: DatabricksEmulator) -> DatabricksEmulator:
    return databricks.add_routes(OAUTH_ROUTES)


@pytest.fixture
def serving(settings: Settings, emu: DatabricksEmulator) -> Iterator[TestClient]:
    chosen = dataclasses.replace(settings, databricks_host=emu.url, databricks_client_id=CLIENT_ID,
                                 databricks_client_secret=CLIENT_SECRET, model_name="yolo",
                                 serving_url=f"{emu.url}/serving-endpoints/yolo/invocations")
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
    emu.state["oauth_ttl"] = 1
    make_images(images_dir, ["a.jpg"])
    project = create_project(serving, classes=["car"])
    for _ in range(2):
        job = wait_for_job(serving, gql(serving, RUN, p=project["id"])["preannotate"]["id"])
        assert job["status"] == "SUCCEEDED", job
        time.sleep(1.2)
    tokens = issued(emu)
    assert len(tokens) >= 2  # the first expired: a second was minted
    assert {auth.removeprefix("Bearer ") for auth in emu.state["invocations"]} <= set(tokens)


def test_a_wrong_secret_fails_the_job_with_a_clear_reason(settings: Settings, emu: DatabricksEmulator,
                                                           images_dir: Path) -> None:
    chosen = dataclasses.replace(settings, databricks_host=emu.url, databricks_client_id=CLIENT_ID,
                                 databricks_client_secret="wrong", model_name="yolo",
                                 serving_url=f"{emu.url}/serving-endpoints/yolo/invocations")
    make_images(images_dir, ["a.jpg"])
    with TestClient(create_app(chosen)) as client:
        project = create_project(client, classes=["car"])
        job = wait_for_job(client, gql(client, RUN, p=project["id"])["preannotate"]["id"])
    assert job["status"] == "SUCCEEDED" and job["result"]["failed"] == 1, job  # a per-image failure, with its reason
    assert "the workspace credentials were refused (invalid_client" in job["result"]["failures"][0]["reason"]
    assert not emu.state.get("invocations")  # nothing reached the endpoint without a valid token
