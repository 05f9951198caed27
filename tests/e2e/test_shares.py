"""Volume shares in the browser (AUTH_MODE=token): an instance admin shares a folder with a user from the Admin page,
by keyboard, and takes it back; the user reaches the folder only meanwhile."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from bench.live_server import live_server
from tests.conftest import make_images
from tests.e2e.conftest import shot
from tests.e2e.test_accounts import PASSWORD, sign_in
from tests.team import add_users

pytestmark = pytest.mark.e2e
FOLDER = "/Volumes/team/vision/images/street"
BROWSE = {"query": "query($p: String!){ browse(path: $p){ entries { name } } }", "variables": {"p": FOLDER}}


async def test_an_admin_shares_a_folder_with_a_user_and_takes_it_back(page: Page, database_url: str,
                                                                      tmp_path: Path) -> None:
    make_images(tmp_path / "images", ["street/01.jpg"], size=(32, 24))
    tokens = add_users(database_url, {"root": True, "alice": False}, PASSWORD)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "AUTH_MODE": "token",
           "VOLUME_MOUNTS": f"/Volumes/team/vision/images={tmp_path / 'images'}"}
    with live_server(env, forked=True) as base, httpx.Client(base_url=base, timeout=30,
                                                 headers={"Authorization": f"Bearer {tokens['alice']}"}) as alice:
        def alice_browses() -> str:
            body = alice.post("/graphql", json=BROWSE).json()
            return body["errors"][0]["extensions"]["code"] if body.get("errors") else "OK"

        assert alice_browses() == "FORBIDDEN"
        await sign_in(page, base, "root", PASSWORD)
        await page.get_by_role("link", name="Admin").click()
        shares = page.get_by_role("region", name="volume shares")
        await expect(shares.get_by_text("Nothing is shared yet.")).to_be_visible()

        # a typo is refused with the server's message, then the right folder is shared: all from the keyboard
        await shares.get_by_label("path to share").focus()
        await page.keyboard.type(FOLDER + "x")
        await page.keyboard.press("Tab")
        await page.keyboard.press("ArrowDown")  # the only other user: alice
        alice_id = alice.post("/graphql", json={"query": "{ me { id } }"}).json()["data"]["me"]["id"]
        await expect(shares.get_by_label("share with user")).to_have_value(alice_id)
        await page.keyboard.press("Tab")
        await expect(shares.get_by_role("button", name="Share")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(shares.get_by_role("alert")).to_contain_text(f"{FOLDER}x")
        await expect(shares.get_by_label("path to share")).to_be_focused()
        await page.keyboard.press("Backspace")
        await page.keyboard.press("Enter")  # from the path field, the form submits
        await expect(shares.get_by_role("status")).to_have_text(f"Shared {FOLDER} with alice.")
        await expect(shares.get_by_role("table", name="shared paths")).to_contain_text(FOLDER)
        assert alice_browses() == "OK"
        await shot(page, "admin-volume-shares")

        unshare = shares.get_by_role("button", name=f"stop sharing {FOLDER} with alice")
        await unshare.focus()
        await page.keyboard.press("Enter")
        await expect(shares.get_by_role("status")).to_have_text(f"alice no longer reaches {FOLDER}.")
        await expect(shares.get_by_text("Nothing is shared yet.")).to_be_visible()
        assert alice_browses() == "FORBIDDEN"
