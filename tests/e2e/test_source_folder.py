"""A project's image folder in Chromium: a rescan after files vanished marks them missing (notice, gallery tiles),
an owner purges them after a confirmation with the count; the folder is changed after a dry run that says what is
kept, dropped and added."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e


async def test_missing_files_purge_and_a_new_folder(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, images = server
    project = api.project("Folders", "CLASSIFICATION", ["car", "person"])
    sample = next(s for s in api.samples(project["id"]) if s["filename"] == "street/00.jpg")
    api('mutation($s: ID!){ setClassification(sampleId: $s, labels: ["car"]){ id } }', s=sample["id"])
    (images / "street" / "00.jpg").unlink()
    (images / "street" / "13.jpg").unlink()
    moved = images.parent / "exports" / "moved" / "street"
    moved.mkdir(parents=True)
    for i in range(1, 6):
        shutil.copy(images / "street" / f"{i:02}.jpg", moved / f"{i:02}.jpg")

    await page.set_viewport_size({"width": 1024, "height": 768})
    await page.goto(f"{base}/#/projects/{project['id']}")
    await page.get_by_role("button", name="Rescan folder").click()
    notice = page.get_by_role("status").filter(has_text="not found in its folder")
    await expect(notice).to_contain_text("2 images of this project were not found in its folder at the last rescan "
                                         "(1 labelled)", timeout=20_000)
    await expect(page.locator(".tile .missing")).to_have_count(2)
    await shot(page, "missing-notice-1024")
    await notice.get_by_role("button", name="Purge…").click()
    dialog = page.get_by_role("dialog", name="Purge missing images")
    await expect(dialog).to_contain_text("This deletes 2 missing images from the project with 1 label")
    await dialog.get_by_role("button", name="Purge 2 images").click()
    await expect(page.get_by_text("Purged 2 missing images.")).to_be_visible()
    await expect(page.locator(".tile")).to_have_count(13)

    await page.get_by_role("button", name="change…").click()
    dialog = page.get_by_role("dialog", name="Change the image folder")
    await dialog.get_by_role("button", name="vision", exact=True).click()
    await dialog.get_by_role("button", name="exports", exact=True).click()
    await dialog.get_by_role("button", name="moved", exact=True).click()
    await dialog.get_by_role("button", name="Use this folder").click()
    await dialog.get_by_role("button", name="Check what changes").click()
    plan = dialog.get_by_role("list", name="what the change does")
    await expect(plan).to_contain_text("5 images kept with their labels", timeout=20_000)
    await expect(plan).to_contain_text("8 images dropped with 0 labels (0 labelled)")
    await expect(plan).to_contain_text("0 new images added")
    await shot(page, "change-folder-1024")
    await dialog.get_by_role("button", name="Drop 8 images and move").click()
    await expect(page.locator("code").filter(has_text="/Volumes/team/vision/exports/moved")).to_be_visible(
        timeout=20_000)
    await expect(page.locator(".tile")).to_have_count(5)
    await page.set_viewport_size({"width": 1440, "height": 900})
    await shot(page, "change-folder-done-1440")

    await page.goto(f"{base}/#/admin")  # the admin page counts the rows of every table
    counts = page.get_by_role("table", name="rows per table")
    await expect(counts.get_by_role("row").filter(has_text="samples")).to_contain_text("5")
    await shot(page, "admin-tables-1440")
