"""Accounts in the browser (AUTH_MODE=token): an admin creates, promotes, demotes and resets a user in the Admin
page; that user makes and revokes an API token and changes her password in the Account dialog."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Dialog, Page, expect

from bench.live_server import live_server
from tests.e2e.conftest import shot
from tests.team import add_users

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough password"
DANA_FIRST = "dana's first password"
DANA_RESET = "dana's reset password"
DANA_NEW = "dana's very own password"
ME = {"query": "{ me { name } }"}


@pytest.fixture
def accounts_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, httpx.Client]]:
    """The real server in AUTH_MODE=token with one instance admin, root; and root's API client."""
    (tmp_path / "images").mkdir()
    tokens = add_users(database_url, {"root": True}, PASSWORD)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "AUTH_MODE": "token",
           "VOLUME_MOUNTS": f"/Volumes/team/vision/images={tmp_path / 'images'}"}
    with live_server(env, forked=True) as base, httpx.Client(base_url=base, timeout=30,
                                                 headers={"Authorization": f"Bearer {tokens['root']}"}) as root:
        yield base, root


async def sign_in(page: Page, base: str, name: str, password: str) -> None:
    logged: list[str] = []

    def errors(m: ConsoleMessage) -> None:
        if m.type == "error":
            logged.append(m.text)

    page.on("console", errors)
    await page.goto(base)
    await expect(page.get_by_role("heading", name="Sign in to CV Explorer")).to_be_visible()
    page.remove_listener("console", errors)
    assert logged == [], logged  # the sign-in page comes without a 401 (or anything else) in the console
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.keyboard.press("Enter")
    await expect(page.get_by_title("signed in as")).to_have_text(name)


def is_admin(root: httpx.Client, name: str) -> bool:
    users = root.post("/graphql", json={"query": "{ accounts { name isAdmin } }"}).json()["data"]["accounts"]
    return next(u["isAdmin"] for u in users if u["name"] == name)


async def test_an_admin_manages_users_and_a_user_her_tokens_and_password(
        pages: list[Page], accounts_server: tuple[str, httpx.Client]) -> None:
    base, root = accounts_server
    admin_page, dana_page = pages[:2]

    # root creates dana in the Admin page: a too-short password is refused with the server's message
    await sign_in(admin_page, base, "root", PASSWORD)
    await admin_page.get_by_role("link", name="Admin").click()
    users = admin_page.get_by_role("region", name="users")
    await expect(users.get_by_role("button", name="instance admin: root")).to_be_disabled()  # not your own
    await users.get_by_label("new user name").fill("dana")
    await users.get_by_label("initial password").fill("too short")
    await users.get_by_role("button", name="Create").click()
    await expect(users.get_by_role("alert")).to_have_text("A password needs at least 10 characters.")
    await users.get_by_label("initial password").fill(DANA_FIRST)
    await users.get_by_label("initial password").press("Enter")
    await expect(users.get_by_role("status")).to_have_text("Created dana.")
    toggle = users.get_by_role("button", name="instance admin: dana")
    await expect(toggle).to_have_attribute("aria-pressed", "false")

    # admin, then not admin again
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    assert is_admin(root, "dana")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    assert not is_admin(root, "dana")

    # a password reset: too short first, then one that is kept
    await users.get_by_role("button", name="reset password of dana").click()
    field = users.get_by_label("new password for dana", exact=True)
    await expect(field).to_be_focused()
    await field.fill("short")
    await field.press("Enter")
    await expect(users.get_by_role("alert")).to_have_text("A password needs at least 10 characters.")
    await shot(admin_page, "admin-users-reset")
    await field.fill(DANA_RESET)
    await users.get_by_role("button", name="Save").click()
    await expect(users.get_by_role("status")).to_have_text("Password set; their sessions are signed out.")

    # creating dana a second time: the CONFLICT message
    await users.get_by_label("new user name").fill("dana")
    await users.get_by_label("initial password").fill(DANA_FIRST)
    await users.get_by_role("button", name="Create").click()
    await expect(users.get_by_role("alert")).to_have_text("A user named 'dana' already exists.")
    await shot(admin_page, "admin-users")

    # dana signs in with the reset password and opens Account from the keyboard
    await dana_page.goto(base)
    await dana_page.get_by_label("Name").fill("dana")
    await dana_page.get_by_label("Password").fill(DANA_FIRST)  # the first one no longer works
    await dana_page.keyboard.press("Enter")
    await expect(dana_page.get_by_role("alert")).to_have_text("Wrong name or password.")
    await sign_in(dana_page, base, "dana", DANA_RESET)
    await dana_page.get_by_role("button", name="Account").focus()
    await dana_page.keyboard.press("Enter")
    account = dana_page.get_by_role("dialog", name="Account")
    await expect(account.get_by_label("Current password")).to_be_focused()
    await expect(account).to_contain_text("No tokens yet.")

    # a token named nightly, shown once: it calls the API as dana
    await account.get_by_label("New token").fill("nightly")
    await account.get_by_label("New token").press("Enter")
    secret = account.get_by_label("The token nightly")
    await expect(secret).to_have_attribute("readonly", "")
    await expect(account).to_contain_text("Shown only now: store it as a secret.")
    await expect(account).to_contain_text("Authorization: Bearer <token>")
    token = await secret.input_value()
    await account.get_by_role("button", name="Copy").click()
    await expect(account.locator(".secret")).to_contain_text(re.compile(r"Copied\.|Selected: press Ctrl\+C"))
    row = account.get_by_role("row").filter(has_text="nightly")
    await expect(row).to_contain_text(f"{token[:12]}…")
    await expect(row).to_contain_text("never")
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as pipeline:
        answer = pipeline.post("/graphql", json=ME)
        assert answer.status_code == 200 and answer.json()["data"]["me"]["name"] == "dana", answer.text
        await shot(dana_page, "account-dialog")

        # revoked (after a confirm): refused at once
        async def accept(dialog: Dialog) -> None:
            assert "nightly" in dialog.message
            await dialog.accept()
        dana_page.once("dialog", accept)
        await account.get_by_role("button", name="revoke nightly").click()
        await expect(row).to_contain_text("revoked")
        await expect(account.get_by_role("button", name="revoke nightly")).to_have_count(0)
        assert pipeline.post("/graphql", json=ME).status_code == 401

    # Escape closes the dialog; the password change: a wrong current password is refused and she stays signed in
    await dana_page.keyboard.press("Escape")
    await expect(account).to_be_hidden()
    await dana_page.get_by_role("button", name="Account").click()
    form = account.get_by_role("form", name="change password")
    await form.get_by_label("Current password").fill("not my password")
    await form.get_by_label("New password", exact=True).fill(DANA_NEW)
    await form.get_by_label("Repeat new password").fill(DANA_NEW + "!")
    await form.get_by_role("button", name="Change password").click()
    await expect(form.get_by_role("alert")).to_have_text("The two new passwords are not the same.")
    await expect(form.get_by_label("Repeat new password")).to_be_focused()
    await form.get_by_label("Repeat new password").fill(DANA_NEW)
    await form.get_by_role("button", name="Change password").click()
    await expect(form.get_by_role("alert")).to_contain_text("current password")
    await expect(form.get_by_label("Current password")).to_be_focused()
    await expect(dana_page.get_by_title("signed in as")).to_have_text("dana")
    await shot(dana_page, "account-wrong-password")

    # the right one: the session ends and the page goes back to signing in, where the new password works
    await form.get_by_label("Current password").fill(DANA_RESET)
    await form.get_by_role("button", name="Change password").click()
    await expect(form.get_by_role("status")).to_have_text("Password changed: sign in again with the new one.")
    await expect(dana_page.get_by_role("heading", name="Sign in to CV Explorer")).to_be_visible()
    await dana_page.get_by_label("Name").fill("dana")
    await dana_page.get_by_label("Password").fill(DANA_RESET)
    await dana_page.keyboard.press("Enter")
    await expect(dana_page.get_by_role("alert")).to_have_text("Wrong name or password.")
    await sign_in(dana_page, base, "dana", DANA_NEW)


async def test_an_admin_deactivates_a_user_who_is_signed_in_and_reactivates_her(
        pages: list[Page], accounts_server: tuple[str, httpx.Client]) -> None:
    base, root = accounts_server
    admin_page, dana_page = pages[:2]
    root.post("/graphql", json={"query": 'mutation($p: String!){ createUser(name: "dana", password: $p){ id } }',
                                "variables": {"p": DANA_FIRST}})
    await sign_in(dana_page, base, "dana", DANA_FIRST)
    await sign_in(admin_page, base, "root", PASSWORD)
    await admin_page.get_by_role("link", name="Admin").click()
    users = admin_page.get_by_role("region", name="users")
    await expect(users.get_by_role("button", name="deactivate root")).to_be_disabled()  # not yourself

    # the confirm row: Escape cancels and gives the focus back; the second time it is confirmed
    await users.get_by_role("button", name="deactivate dana").click()
    confirm = users.get_by_role("group", name="deactivate dana?")
    await expect(confirm.get_by_role("button", name="Deactivate", exact=True)).to_be_focused()
    await shot(admin_page, "admin-users-deactivate")
    await admin_page.keyboard.press("Escape")
    await expect(confirm).to_be_hidden()
    await expect(users.get_by_role("button", name="deactivate dana")).to_be_focused()
    await admin_page.keyboard.press("Enter")
    await admin_page.keyboard.press("Enter")
    await expect(users.get_by_role("status")).to_contain_text("Deactivated: signed out everywhere")
    await expect(users.get_by_role("row").filter(has_text="dana")).to_contain_text("deactivated")
    await shot(admin_page, "admin-users-deactivated")

    # dana's open page: her next request finds her signed out, and signing in says why
    await dana_page.reload()
    await expect(dana_page.get_by_role("heading", name="Sign in to CV Explorer")).to_be_visible()
    await dana_page.get_by_label("Name").fill("dana")
    await dana_page.get_by_label("Password").fill(DANA_FIRST)
    await dana_page.keyboard.press("Enter")
    await expect(dana_page.get_by_role("alert")).to_have_text(
        "This account is deactivated; an instance admin can reactivate it.")

    await users.get_by_role("button", name="reactivate dana").click()
    await expect(users.get_by_role("status")).to_contain_text("Reactivated")
    await sign_in(dana_page, base, "dana", DANA_FIRST)
