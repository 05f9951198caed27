"""Where a model URL may lead: loopback, link-local, private and unspecified addresses (in every spelling) are
refused when saved and on every connection unless MODEL_URL_ALLOW names them; redirects are never followed;
viewers never make the server call out; users never see an endpoint's status codes or bodies. The model is a real
HTTP server on loopback."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from jobs.models.egress import AllowList
from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job
from tests.team import team_app

SET = """mutation($p: ID!, $i: ModelSettingsInput){ setModelSettings(projectId: $p, input: $i){
  modelSettings { location } } }"""
STATUS = "query($p: ID){ modelStatus(projectId: $p){ configured ready message } }"
RUN = "mutation($p: ID!){ preannotate(projectId: $p, input: {minConfidence: 0}){ id } }"
BOX = {"type": "rectanglelabels", "score": 0.9,
       "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["car"]}}


class Backend(ThreadingHTTPServer):
    """A Label Studio ML backend on loopback that answers `status` (a redirect to `location` when 3xx, with a
    telling body otherwise) and records each request's method, path and Host header."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status, self.location = 200, ""
        self.seen: list[tuple[str, str, str]] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    server: Backend

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        tasks = json.loads(self.rfile.read(length)).get("tasks", []) if length else []
        self.server.seen.append((self.command, self.path, self.headers["Host"]))
        status = self.server.status
        if status == 200:
            answer: Any = {"status": "UP"} if self.path == "/health" else {"model_version": "1"} \
                if self.path == "/setup" else {"results": [{"result": [BOX]} for _ in tasks]}
        else:
            answer = {"error": "internal secret: db password is hunter2"}
        body = json.dumps(answer).encode()
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", self.server.location + self.path)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _app(settings: Settings, allow: str = "", **changes: Any) -> TestClient:
    return TestClient(create_app(dataclasses.replace(settings, model_url_allow=AllowList.parse(allow), **changes)))


def _ls(location: str) -> dict[str, Any]:
    return {"protocol": "LABEL_STUDIO", "name": "m", "location": location}


REFUSED = [  # location -> what the refusal names
    ("http://127.0.0.1:{port}", "127.0.0.1 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[::ffff:127.0.0.1]:{port}", "a loopback address (it carries 127.0.0.1)"),
    ("http://[::ffff:169.254.169.254]/", "a link-local address (it carries 169.254.169.254)"),
    ("http://2130706433:{port}", "2130706433 resolves to 127.0.0.1, a loopback address"),
    ("http://0x7f.1:{port}", "resolves to 127.0.0.1, a loopback address"),
    ("http://0.0.0.0:{port}", "0.0.0.0 is an unspecified address"),
    ("http://localhost:{port}", "localhost resolves to"),
    ("http://[::1]:{port}", "::1 is a loopback address"),
    ("http://10.1.2.3:9090", "10.1.2.3 is a private address"),
    ("http://192.168.0.10:9090", "192.168.0.10 is a private address"),
    ("http://[fe80::1]:9090", "fe80::1 is a link-local address"),
    ("http://224.0.0.1:9090", "224.0.0.1 is a multicast address"),
    ("http://[2002:7f00:1::]:9090", "a loopback address (it carries 127.0.0.1)"),
]


def test_every_spelling_of_an_internal_address_is_refused_on_save(settings: Settings, images_dir: Path,
                                                                  backend: Backend) -> None:
    make_images(images_dir, ["a.jpg"])
    with _app(settings) as client:
        project = create_project(client, classes=["car"])
        for location, reason in REFUSED:
            error = gql_error(client, SET, p=project["id"], i=_ls(location.format(port=backend.port)))
            assert error["extensions"]["code"] == "VALIDATION", (location, error)
            assert reason in error["message"] and "MODEL_URL_ALLOW" in error["message"], (location, error)
        assert gql(client, "query($p: ID!){ project(id: $p){ modelSettings { name } } }",
                   p=project["id"])["project"]["modelSettings"] is None
    assert backend.seen == []


def test_an_allow_listed_loopback_model_works(settings: Settings, images_dir: Path, backend: Backend) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    with _app(settings, "127.0.0.0/8") as client:
        project = create_project(client, classes=["car"])
        gql(client, SET, p=project["id"], i=_ls(backend.url))
        assert gql(client, STATUS, p=project["id"])["modelStatus"] == {"configured": True, "ready": True,
                                                                      "message": "ready"}
        job = wait_for_job(client, gql(client, RUN, p=project["id"])["preannotate"]["id"])
    assert job["status"] == "SUCCEEDED" and job["result"]["drafts"] == 2, job
    assert ("POST", "/predict", f"127.0.0.1:{backend.port}") in backend.seen


def test_a_name_resolving_to_loopback_is_refused_and_allow_listed_networks_keep_the_host(
        settings: Settings, images_dir: Path, backend: Backend) -> None:
    """localhost is refused by what it resolves to; allowed by network, the request still names localhost (the
    connection goes to the checked address, the Host header stays)."""
    make_images(images_dir, ["a.jpg"])
    url = f"http://localhost:{backend.port}"
    with _app(settings, model_backend_url=url) as client:
        status = gql(client, STATUS)["modelStatus"]
    assert status["ready"] is False and "localhost resolves to" in status["message"], status
    assert backend.seen == []
    with _app(settings, "127.0.0.0/8, ::1", model_backend_url=url) as client:
        assert gql(client, STATUS)["modelStatus"]["ready"] is True
    assert backend.seen == [("GET", "/health", f"localhost:{backend.port}")]


def test_every_connection_is_checked_not_only_saves(settings: Settings, images_dir: Path, backend: Backend) -> None:
    """The server's default model (or a project's, saved before the allow-list changed) is checked when called."""
    make_images(images_dir, ["a.jpg"])
    with _app(settings, model_backend_url=backend.url) as client:
        project = create_project(client, classes=["car"])
        status = gql(client, STATUS, p=project["id"])["modelStatus"]
        assert status["ready"] is False and "127.0.0.1 is a loopback address" in status["message"], status
        job = wait_for_job(client, gql(client, RUN, p=project["id"])["preannotate"]["id"])
    assert job["status"] == "FAILED" and "127.0.0.1 is a loopback address" in job["error"], job
    assert backend.seen == []


def test_redirects_are_not_followed(settings: Settings, images_dir: Path, backend: Backend) -> None:
    target = Backend()
    threading.Thread(target=target.serve_forever, daemon=True).start()
    try:
        backend.status, backend.location = 302, target.url
        make_images(images_dir, ["a.jpg"])
        with _app(settings, "127.0.0.1", model_backend_url=backend.url) as client:
            project = create_project(client, classes=["car"])
            status = gql(client, STATUS, p=project["id"])["modelStatus"]
            job = wait_for_job(client, gql(client, RUN, p=project["id"])["preannotate"]["id"])
    finally:
        target.shutdown()
        target.server_close()
    assert status["ready"] is False and "302" not in status["message"], status
    assert job["status"] == "FAILED" and "302" not in job["error"], job
    assert [path for _, path, _ in backend.seen] == ["/health", "/setup"]
    assert target.seen == []


def test_users_see_no_status_code_or_body_of_the_endpoint(settings: Settings, images_dir: Path,
                                                          backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    backend.status = 500
    make_images(images_dir, ["a.jpg"])
    with _app(settings, "127.0.0.1", model_backend_url=backend.url) as client:
        project = create_project(client, classes=["car"])
        status = gql(client, STATUS, p=project["id"])["modelStatus"]
        job = wait_for_job(client, gql(client, RUN, p=project["id"])["preannotate"]["id"])
    for told in (status["message"], job["error"]):
        assert "refused" in told and "500" not in told and "hunter2" not in told, told
    assert "HTTP 500" in caplog.text  # the admin finds the details in the log


def test_a_viewers_model_status_makes_no_call(settings: Settings, images_dir: Path, backend: Backend) -> None:
    make_images(images_dir, ["a.jpg"])
    with team_app(settings, model_url_allow=AllowList.parse("127.0.0.1"), model_backend_url=backend.url) as team:
        pid = team["root"].project("p", ["car"])
        team["root"].add(pid, "bob", "VIEWER")
        team["root"].add(pid, "carol", "ANNOTATOR")
        viewer = team["bob"](STATUS, p=pid)["modelStatus"]
        assert backend.seen == []
        assert viewer == {"configured": True, "ready": False, "message": viewer["message"]}
        assert "not checked" in viewer["message"]
        assert team["carol"](STATUS, p=pid)["modelStatus"]["ready"] is True
        assert "not checked" in team["carol"](STATUS)["modelStatus"]["message"]  # the default: admins only
        assert team["root"](STATUS)["modelStatus"]["ready"] is True
    assert len(backend.seen) == 2
