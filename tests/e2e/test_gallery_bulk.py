"""The gallery's bulk bar in Chromium at 1024x768: draft actions on the selected tiles and on all N matching the
filter (with the confirmation's counts), one line, a dismissable result, and the scroll position kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from db import labels
from db.engine import Database
from db.records import AnnotationRecord
from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e


async def test_draft_actions_on_selection_and_filter(page: Page, server: tuple[str, Path], api: Api,
                                                      database_url: str) -> None:
    base, _ = server
    project = api.project("Drafts", "DETECTION", ["car", "person"])
    samples = {s["filename"]: s["id"] for s in api.samples(project["id"])}
    db = Database(database_url)
    try:
        for name, sid in samples.items():
            if name != "broken.jpg":
                await labels.replace_drafts(db, int(sid), [AnnotationRecord("car", "BBOX", (0.1, 0.1, 0.3, 0.3),
                                                                                0.7)], "model:m")
    finally:
        await db.dispose()

    await page.set_viewport_size({"width": 1024, "height": 768})
    await page.goto(f"{base}/#/projects/{project['id']}")
    tiles = page.locator(".tile")
    await expect(tiles).to_have_count(15)
    await page.mouse.wheel(0, 2000)
    await page.wait_for_function("window.scrollY > 0")
    await tiles.nth(12).click()
    await tiles.nth(13).click(modifiers=["Shift"])
    bar = page.get_by_role("toolbar", name="bulk actions")
    await expect(bar).to_contain_text("2 selected")
    assert (await bar.bounding_box() or {"height": 99})["height"] < 60  # one line at 1024 px (two: ~85)
    scrolled = await page.evaluate("window.scrollY")
    await bar.get_by_role("button", name="Clear drafts").click()
    await expect(bar.get_by_role("status")).to_have_text("Cleared 2 drafts.")
    assert await page.evaluate("window.scrollY") == scrolled  # the grid was reloaded in place
    await shot(page, "gallery-bulk-1024")
    await bar.get_by_role("button", name="dismiss message").click()
    await expect(bar.get_by_role("status")).to_have_count(0)
    await page.keyboard.press("Escape")
    await expect(bar).to_have_count(0)

    await page.get_by_label("file name filter").fill("street/0")
    await expect(tiles).to_have_count(10)
    await tiles.first.click()
    await bar.get_by_role("button", name="All 10 matching").click()
    await expect(bar).to_contain_text("All 10 matching")
    await bar.get_by_role("button", name="Accept drafts…").click()
    dialog = page.get_by_role("dialog", name="Accept model drafts")
    await expect(dialog).to_contain_text("10 model drafts on 10 images match this filter.")
    await shot(page, "gallery-accept-all-confirm-1024")
    await dialog.get_by_role("button", name="Accept 10 drafts").click()
    await expect(bar.get_by_role("status")).to_have_text("Accepted 10 drafts on 10 images.", timeout=20_000)
    after = {s["filename"]: s for s in api.samples(project["id"])}
    assert {after[f"street/{i:02}.jpg"]["status"] for i in range(10)} == {"LABELED"}
    assert after["street/10.jpg"]["status"] == "PRE_LABELED" and after["street/11.jpg"]["status"] == "UNLABELED"

    await page.set_viewport_size({"width": 1440, "height": 900})
    await shot(page, "gallery-bulk-1440")
