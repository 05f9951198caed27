"""Near-duplicates and splits in Chromium: Find duplicates… (F) runs the job, the gallery's duplicates filter and a
tile's group badge narrow the grid, K keeps the selected image of a group and skips the others; Splits… (T) deals the
images and the split filter shows one split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.async_api import Page, expect
from skimage import data

from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e


async def test_find_a_group_keep_one_then_split(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, images = server  # besides a broken file, fourteen plain images: made noise here (plain ones all hash alike)
    for i, plain in enumerate(sorted(images.glob("street/*.jpg"))):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(plain)
    rocket = Image.fromarray(data.rocket())
    rocket.save(images / "rocket.jpg", quality=92)
    rocket.resize((320, 200)).save(images / "rocket_small.jpg", quality=80)
    Image.fromarray(data.coffee()).save(images / "coffee.jpg")
    project = api.project("Dups", "DETECTION", ["car"])

    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.goto(f"{base}/#/projects/{project['id']}")
    await expect(page.locator(".tile")).to_have_count(18)
    await page.keyboard.press("f")
    dialog = page.get_by_role("dialog", name="Find near-duplicates")
    await expect(dialog).to_contain_text("resized or re-encoded copies (recommended)")
    await shot(page, "duplicates-dialog-1440")
    await page.keyboard.press("Enter")
    await expect(page.locator(".job.succeeded")).to_contain_text("1 groups of near-duplicates · 2 images in them",
                                                                      timeout=20_000)

    await page.get_by_label("duplicates filter").select_option("yes")
    tiles = page.locator(".tile")
    await expect(tiles).to_have_count(2)  # the two rockets
    await shot(page, "duplicates-filter-1440")
    await tiles.filter(has_text="rocket_small.jpg").get_by_role("button", name="show near-duplicates").click()
    group = page.get_by_role("region", name="near-duplicate group")
    await expect(group).to_contain_text("Near-duplicates of rocket_small.jpg: 2 images")
    await expect(tiles).to_have_count(2)
    await tiles.filter(has_text="rocket.jpg").first.click()
    await expect(group.get_by_role("button", name="Keep rocket.jpg, skip the others")).to_be_visible()
    await page.set_viewport_size({"width": 1024, "height": 768})
    await shot(page, "duplicates-group-1024")
    await page.keyboard.press("k")
    await expect(page.get_by_role("toolbar", name="bulk actions").get_by_role("status")).to_contain_text(
        "Skipping all but rocket.jpg: 1 done")
    status = {s["filename"]: s["status"] for s in api.samples(project["id"])}
    assert status["rocket_small.jpg"] == "SKIPPED" and status["rocket.jpg"] == "UNLABELED"
    await page.keyboard.press("Escape")  # the selection
    await page.keyboard.press("Escape")  # the group
    await expect(group).to_have_count(0)
    await expect(tiles).to_have_count(2)

    await page.get_by_label("duplicates filter").select_option("")
    await page.keyboard.press("t")
    dialog = page.get_by_role("dialog", name="Train, validation and test splits")
    await page.keyboard.type("50")  # the train field is selected on opening
    await dialog.get_by_label("Validation %").fill("25")
    await dialog.get_by_label("Test %").fill("20")
    await dialog.get_by_label("Test %").press("Enter")
    await expect(dialog.get_by_role("alert")).to_have_text("The three add up to 95%, not 100%.")
    await dialog.get_by_label("Test %").fill("25")
    await shot(page, "splits-dialog-1024")
    await dialog.get_by_label("Test %").press("Enter")
    await expect(page.locator(".job.succeeded")).to_contain_text("18 assigned", timeout=20_000)
    await page.get_by_label("split filter").select_option("TEST")
    await expect(tiles.first.locator(".split")).to_have_text("test")
    count = await tiles.count()
    assert 3 <= count <= 6, count  # a quarter of 18, rounded by strata and the group of two
    await page.set_viewport_size({"width": 1440, "height": 900})
    await shot(page, "splits-filter-1440")
