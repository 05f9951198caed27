"""Keys in Chromium: every labelling action remapped in the Keys dialog (reserved keys refused, a key taken from
another action said so), the change reaching a view already open in another page at once (and one made through the
API too), the key sheet and the buttons showing the actual keys; and validation messages that go when their field is
cleared."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e
KEY_MAP = "mutation($p: ID!, $m: KeyMapInput){ setProjectKeyMap(projectId: $p, keyMap: $m){ id } }"


async def _stale_messages_go(page: Page, base: str) -> None:
    """A validation message goes when its field is cleared (the new project's class field)."""
    await page.goto(f"{base}/#/new")
    classes = page.get_by_placeholder("type a class and press Enter")
    for name in ("car", "car"):
        await classes.fill(name)
        await classes.press("Enter")
    message = page.get_by_text('"car" is already in the list.')
    await expect(message).to_be_visible()
    await classes.fill("")
    await expect(message).to_have_count(0)


async def test_remapped_actions_reach_open_views_at_once(browser: Browser, server: tuple[str, Path], api: Api) -> None:
    base, _ = server
    (server[1] / "broken.jpg").unlink()
    pid = api.project("Keys", "DETECTION", ["car", "person"])["id"]
    samples = sorted(api.samples(pid), key=lambda s: s["filename"])
    files = [s["filename"] for s in samples]
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page, other = await context.new_page(), await context.new_page()
    errors: list[str] = []
    await _stale_messages_go(page, base)
    for p in (page, other):  # both on the first image
        p.on("pageerror", lambda e: errors.append(str(e)))
        await p.goto(f"{base}/#/projects/{pid}/label/{samples[0]['id']}")
        await expect(p.locator(".file")).to_have_text(files[0])
    await expect(other.get_by_role("button", name="Skip S")).to_be_visible()

    # skip on W, fit on N (taken from "next image needing work", which the dialog says), Space refused
    await page.get_by_role("button", name="Keys…").click()
    dialog = page.get_by_role("dialog", name="Keys")
    await dialog.get_by_label("key for skip the image as it is stored").click()
    await page.keyboard.press("Space")
    await expect(dialog.get_by_role("alert")).to_have_text(
        "Key Space is reserved for panning (hold Space and drag); it cannot be given to skip the image as it is "
        "stored.")
    await page.keyboard.press("w")
    await dialog.get_by_label("key for fit the image to the view again").click()
    await page.keyboard.press("n")
    await expect(dialog.get_by_role("status")).to_have_text(
        "N was the key of next image needing work, which now has no key.")
    await expect(dialog.get_by_label("key for next image needing work")).to_have_text("—")
    await shot(page, "keys-dialog-1440")
    await dialog.get_by_role("button", name="Save as the project\u2019s keys").click()
    await expect(dialog).to_have_count(0)

    # the other page, opened before, has the new keys at once: its button says W, and W skips there
    await expect(other.get_by_role("button", name="Skip W")).to_be_visible()
    await expect(other.get_by_role("button", name="Next to do —")).to_be_visible()
    await other.keyboard.press("w")
    await expect(other.locator(".file")).to_have_text(files[1])
    await expect(page.locator(".badge.skipped")).to_be_visible()  # the first page saw it skipped (its live event)
    await other.keyboard.press("?")
    sheet = other.get_by_role("dialog", name="keyboard shortcuts")
    await expect(sheet.locator("tr[data-action=SKIP] kbd")).to_have_text("W")
    await expect(sheet.locator("tr[data-action=FIT] kbd")).to_have_text("N")
    await expect(sheet.locator("tr[data-action=DELETE] kbd")).to_have_text("Del / ⌫")
    await other.keyboard.press("Escape")

    # a key map set through the API reaches both open pages as well: Enter no longer saves, K does
    api(KEY_MAP, p=pid, m={"classes": [], "actions": [{"action": "SAVE_NEXT", "keys": ["k"]}]})
    for p in (page, other):
        await expect(p.get_by_role("button", name="Save & next K")).to_be_visible()
    await page.keyboard.press("k")
    await expect(page.locator(".file")).to_have_text(files[1])
    await page.set_viewport_size({"width": 1024, "height": 768})
    await page.get_by_role("button", name="Keys…").click()
    await shot(page, "keys-dialog-1024")
    await page.keyboard.press("Escape")

    # the "New class…" field: an empty name is refused; the message goes once the field changes
    await page.get_by_role("button", name="New class…").click()
    field = page.get_by_label("new class name")
    await field.press("Enter")
    refusal = page.get_by_text("Type the new class\u2019s name.")
    await expect(refusal).to_be_visible()
    await field.fill("b")
    await field.fill("")
    await expect(refusal).to_have_count(0)
    await context.close()
    assert errors == [], errors
    status = {s["filename"]: s["status"] for s in api.samples(pid)}
    assert status[files[0]] == "LABELED" and status[files[1]] == "UNLABELED"  # K saved files[0] ("no objects")

