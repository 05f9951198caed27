"""The project dashboard in Chromium: bulk actions from the gallery, a job's live progress, Jobs and Admin pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import make_images
from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e


async def test_bulk_classify_from_the_gallery(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, _ = server
    project = api.project("Bulk", "CLASSIFICATION", ["car", "person"])
    await page.goto(f"{base}/#/projects/{project['id']}")
    tiles = page.locator(".tile")
    await expect(tiles).to_have_count(15)
    await tiles.nth(0).click()
    await tiles.nth(3).click(modifiers=["Shift"])
    bar = page.get_by_role("toolbar", name="bulk actions")
    await expect(bar).to_contain_text("4 selected")
    await bar.get_by_label("class to assign").select_option("person")
    await shot(page, "gallery-bulk")
    await bar.get_by_role("button", name="Apply").click()
    await expect(bar.get_by_role("status")).to_contain_text("4 done")
    labelled = [s for s in api.samples(project["id"]) if s["status"] == "LABELED"]
    assert len(labelled) == 4 and all([a["label"] for a in s["annotations"]] == ["person"] for s in labelled)
    card = page.locator(".card").filter(has=page.get_by_text("Labelled", exact=True))
    await expect(card.locator("strong")).to_have_text("4")
    await page.get_by_label("label filter").select_option("person")
    await expect(tiles).to_have_count(4)
    await page.get_by_label("labeller filter").select_option("local")
    await expect(tiles).to_have_count(4)
    await page.get_by_label("label filter").select_option("car")
    await expect(page.get_by_text("No images match.")).to_be_visible()
    await page.get_by_label("label filter").select_option("")
    await page.get_by_label("labeller filter").select_option("")
    await expect(tiles).to_have_count(15)

    await tiles.nth(5).click()
    await bar.get_by_role("button", name="Skip").click()
    await expect(bar.get_by_role("status")).to_contain_text("1 done")
    assert sum(s["status"] == "SKIPPED" for s in api.samples(project["id"])) == 1


async def test_a_rescan_shows_live_progress_then_its_result(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, images = server
    project = api.project("Rescan", "DETECTION", ["car"])
    make_images(images, [f"more/{i:03}.jpg" for i in range(40)], size=(32, 24))
    await page.goto(f"{base}/#/projects/{project['id']}")
    await page.get_by_role("button", name="Rescan folder").click()
    job = page.locator(".job")
    await expect(job).to_contain_text("succeeded", timeout=20_000)
    await expect(job).to_contain_text("samplesAdded: 40")
    await expect(page.get_by_text("55 of 55")).to_be_visible()

    await page.get_by_role("link", name="Jobs").click()
    await expect(page.get_by_role("cell", name="Rescan").first).to_be_visible()
    await shot(page, "jobs")
    await page.get_by_role("link", name="Admin").click()
    await expect(page.get_by_text("/Volumes/team/vision/images")).to_be_visible()
    await shot(page, "admin")
