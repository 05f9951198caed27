"""The suite's guard against unexpected errors (tests/conftest.py no_internal_errors) sees them in this process and in
live servers a test starts: a test that provokes one is failed unless it is marked expects_internal_error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from bench import live_server
from tests.conftest import make_images
from tests.live import server


@pytest.mark.expects_internal_error  # on purpose: the guard must see the 500 a live server answers
def test_an_unexpected_error_in_a_live_server_is_seen(tmp_path: Path) -> None:
    images = tmp_path / "images"
    make_images(images, ["b.jpg"])
    db = tmp_path / "app.db"
    env = {"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": f"sqlite:///{db}",
           "VOLUME_MOUNTS": f"/Volumes/t/c/images={images}"}
    before = len(live_server.unexpected_lines)
    with server(env) as live:
        pid = live.scanned_project("/Volumes/t/c/images")
        sid = live.gql("query($p: ID!){ project(id: $p){ samples { edges { node { id } } } } }",
                       p=pid)["project"]["samples"]["edges"][0]["node"]["id"]
        with sqlite3.connect(db) as conn:  # a table gone from under the app: nobody expects that (as test_security)
            conn.execute("ALTER TABLE samples RENAME TO samples_gone")
        r = httpx.get(f"{live.base}/media/samples/{sid}/image", timeout=30)
        assert r.status_code == 500 and r.json()["code"] == "INTERNAL"
    seen = live_server.unexpected_lines[before:]
    assert len(seen) == 1 and r.json()["requestId"] in seen[0], seen
