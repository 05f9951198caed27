"""The Python client on Databricks, against the local stand-ins (no workspace is reachable from here): the
notebook's identity comes from databricks-sdk's Config (OAuth, from the emulator's token endpoint), its bearer token
is what the Apps proxy stand-in lets through as that identity to the app (AUTH_MODE=databricks, Unity Catalog
volumes on the emulator), and an export is read back from its Unity Catalog folder through the Files API."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from databricks.sdk.core import Config
from PIL import Image

import cvexplorer
from bench.live_server import free_port
from server import Settings, create_app
from tests.apps_proxy import AppsProxy, User
from tests.databricks_emulator import DatabricksEmulator
from tests.emulated_oauth import CLIENT_ID, CLIENT_SECRET, OAUTH_ROUTES

NOTEBOOK = User(email="notebook-runner@example.com", user_id=f"{CLIENT_ID}@1234567890123456", name="notebook-runner")


@contextmanager
def _serving(settings: Settings) -> Iterator[int]:
    """The app on a loopback port, in this process (uvicorn on a thread)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(15)


def _jpeg(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (shade, 80, 120)).save(buf, "JPEG")
    return buf.getvalue()


def test_a_notebook_connects_as_itself_and_downloads_an_export_from_its_volume(
        settings: Settings, databricks: DatabricksEmulator, tmp_path: Path) -> None:
    emu = databricks.add_routes(OAUTH_ROUTES)
    photos, exports = emu.add_volume("/Volumes/main/vision/photos"), emu.add_volume("/Volumes/main/vision/exports")
    for i in range(2):
        emu.put_file(f"{photos}/street/{i}.jpg", _jpeg(40 * i))
    app = dataclasses.replace(settings, auth_mode="databricks", databricks_host=emu.url, databricks_client_id=CLIENT_ID,
                              databricks_client_secret=CLIENT_SECRET, databricks_app_name="cv-explorer",
                              volumes_backend="unity_catalog", admin_users=(NOTEBOOK.user_id.casefold(),),
                              allowed_hosts=())

    presented: set[str] = set()

    def identity(token: str) -> User | None:  # the proxy accepts the workspace's OAuth tokens, as that identity
        presented.add(token)
        with emu.lock:
            return NOTEBOOK if emu.state.get("principals", {}).get(token) == CLIENT_ID else None

    with _serving(app) as port, AppsProxy(port, "cv-explorer-1234567890123456.aws.databricksapps.com",
                                          bearer=identity) as proxy:
        # What a notebook on the cluster gets from the runtime; here the emulator's OAuth client stands in.
        cfg = Config(host=emu.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, retry_timeout_seconds=5)
        with cvexplorer.Client.from_databricks(proxy.url, config=cfg) as cvx:
            p = cvx.create_project("Street", f"{photos}/street", ["car"])
            assert p.created_by == NOTEBOOK.email
            sample = next(cvx.samples(p))
            cvx.save_annotations(sample, [{"label": "car", "box": (0.1, 0.1, 0.3, 0.3)}])
            job = cvx.export(p, "JSONL", destination=exports, progress=False)
            folder = cvx.download(job, tmp_path)
        seen = [h.get("Authorization") for h in proxy.seen]
        assert seen and not any(seen)  # the token stopped at the proxy: the app never sees it
        assert presented and presented <= set(emu.state["oauth_tokens"])  # minted by the workspace for the notebook
        with pytest.raises(cvexplorer.Unauthenticated):  # a token the workspace never issued stops at the proxy
            cvexplorer.Client(proxy.url, token="dapi-made-up").projects()
        wrong = Config(host=emu.url, client_id=CLIENT_ID, client_secret="wrong", retry_timeout_seconds=2)
        with pytest.raises(cvexplorer.Unauthenticated, match="databricks-sdk could not authenticate"):
            cvexplorer.Client.from_databricks(proxy.url, config=wrong).projects()
    assert folder == tmp_path / job.result["path"].rsplit("/", 1)[-1]
    assert [p.name for p in (folder / "images").iterdir()] == [sample.filename]  # labelled images only
    assert (folder / "images" / "0.jpg").read_bytes() == emu.read_file(f"{photos}/street/0.jpg")
    assert sample.filename in (folder / "annotations.jsonl").read_text() and (folder / "metadata.json").exists()
    files_api = [c for c in emu.calls("GET", "/api/2.0/fs/files") if c.path.endswith("/metadata.json")]
    assert files_api and files_api[-1].headers["authorization"].removeprefix("Bearer ") in presented
