"""The project dashboard in Chromium: bulk actions from the gallery, a job's live progress, Jobs and Admin pages."""

from __future__ import annotations

import json
import zipfile
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
    await expect(job).to_contain_text("40 added")  # in words, not field names
    await expect(page.get_by_text("55 of 55")).to_be_visible()
    progress = await page.locator(".card [role=progressbar]").bounding_box()
    assert progress is not None and progress["height"] >= 4, progress  # the dashboard's bar is drawn, not 0 px
    # no model is set up here: Pre-label is off, says why, and leads to the Model dialog
    await expect(page.get_by_role("button", name="Pre-label", exact=True)).to_be_disabled()
    await page.get_by_role("button", name="Set up a model…").click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    await page.keyboard.press("Escape")
    # New version asks first and says what is copied and what is not
    await page.get_by_role("button", name="New version…").click()
    dialog = page.get_by_role("dialog", name="New version of Rescan")
    await expect(dialog).to_contain_text("starts empty")
    await expect(dialog).to_contain_text("Not copied: labels, model drafts, reviews and history")
    await shot(page, "new-version-confirm")
    await dialog.get_by_role("button", name="Create the new version").click()
    await expect(page.get_by_role("heading", name="Rescan v2")).to_be_visible()

    await page.get_by_role("link", name="Jobs").click()
    await expect(page.get_by_role("cell", name="Rescan").first).to_be_visible()
    await shot(page, "jobs")
    await page.get_by_role("link", name="Admin").click()
    await expect(page.get_by_text("/Volumes/team/vision/images")).to_be_visible()
    await shot(page, "admin")


def _jsonl(rows: list[tuple[str, str]]) -> str:
    box = {"x": 0.1, "y": 0.1, "w": 0.5, "h": 0.5}
    return "\n".join(json.dumps({"filename": f, "annotations": [{"label": label, "ann_type": "bbox",
                                                                  "bbox_json": box}]}) for f, label in rows)


async def test_import_an_uploaded_file_then_export_and_download(page: Page, server: tuple[str, Path], api: Api,
                                                                tmp_path: Path) -> None:
    base, _ = server
    project = api.project("Trade", "DETECTION", ["car", "person"])
    await page.goto(f"{base}/#/projects/{project['id']}")
    job = page.locator(".job")

    bad = tmp_path / "bad.jsonl"
    bad.write_text(_jsonl([("street/00.jpg", "car"), ("street/01.jpg", "horse")]))
    await page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import annotations")
    await dialog.get_by_label("format").select_option("JSONL")
    await dialog.get_by_label("file to import").set_input_files(str(bad))
    await dialog.get_by_role("button", name="Import", exact=True).click()
    await expect(job).to_contain_text("failed", timeout=20_000)
    await expect(page.get_by_role("table", name="import problems")).to_contain_text("not one of the project's classes")
    await shot(page, "import-problems")
    assert all(s["status"] == "UNLABELED" for s in api.samples(project["id"]))

    good = tmp_path / "good.jsonl"
    good.write_text(_jsonl([("street/00.jpg", "car"), ("01.jpg", "person")]))
    await page.get_by_role("button", name="Import…").click()
    await dialog.get_by_label("format").select_option("JSONL")
    await dialog.get_by_label("file to import").set_input_files(str(good))
    await dialog.get_by_role("button", name="Import", exact=True).click()
    await expect(job).to_contain_text("succeeded", timeout=20_000)
    await expect(job).to_contain_text("2 annotations created")
    card = page.locator(".card").filter(has=page.get_by_text("Labelled", exact=True))
    await expect(card.locator("strong")).to_have_text("2")

    await page.get_by_role("button", name="Export…").click()
    export = page.get_by_role("dialog", name="Export dataset")
    await export.get_by_label("format").select_option("YOLO")
    await expect(export.get_by_label("destination folder")).to_have_value("/Volumes/team/vision/exports")
    await export.get_by_role("button", name="Export", exact=True).click()
    await expect(job).to_contain_text("succeeded", timeout=20_000)
    await shot(page, "export-done")
    async with page.expect_download() as info:
        await job.get_by_role("link", name="Download zip").click()
    download = await info.value
    target = tmp_path / "export.zip"
    await download.save_as(target)
    with zipfile.ZipFile(target) as z:
        names = set(z.namelist())
    assert {"data.yaml", "classes.txt", "metadata.json", "labels/street/00.txt", "images/street/01.jpg"} <= names


async def test_l_starts_labelling_and_r_opens_review_but_not_while_typing(page: Page, server: tuple[str, Path],
                                                                          api: Api) -> None:
    base, _ = server
    project = api.project("Keys", "CLASSIFICATION", ["car", "person"])
    await page.goto(f"{base}/#/projects/{project['id']}")
    search = page.get_by_placeholder("Filter by file name")
    await search.click()
    await page.keyboard.type("rl")  # letters in a text field are the field's
    await expect(search).to_have_value("rl")
    await expect(page).to_have_url(f"{base}/#/projects/{project['id']}")
    await search.press("Escape")
    await page.locator("h1").click()
    await page.keyboard.press("r")
    await expect(page.get_by_role("heading", name="Review")).to_be_visible()
    await page.go_back()
    await page.locator("h1").click()
    await page.keyboard.press("l")
    await expect(page.get_by_role("button", name="Save & next")).to_be_visible()
    assert f"/projects/{project['id']}/label" in page.url
