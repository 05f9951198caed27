"""The import and export dialogs in Chromium: paths picked with the volume browser, the reference snapshot format,
and the project's earlier exports listed with their format, counts and author; at 1440x900 and 1024x768."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e


async def test_pick_paths_export_a_reference_snapshot_and_see_it_listed(page: Page, server: tuple[str, Path],
                                                                      api: Api) -> None:
    base, images = server
    (images / "labels").mkdir()
    (images / "labels" / "boxes.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    (images.parent / "exports" / "runs").mkdir()
    project = api.project("Street", "CLASSIFICATION", ["car", "person"])
    for s in [s for s in api.samples(project["id"]) if s["filename"] != "broken.jpg"][:3]:
        api('mutation($s: ID!){ setClassification(sampleId: $s, labels: ["car"]){ id } }', s=s["id"])
    await page.set_viewport_size({"width": 1024, "height": 768})
    await page.goto(f"{base}/#/projects/{project['id']}")

    await page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import annotations")
    await dialog.get_by_label("a path in a volume").check()
    await dialog.get_by_role("button", name="Browse…").click()
    for folder in ("team", "vision", "images", "labels"):
        await dialog.get_by_role("button", name=folder, exact=True).click()
    await dialog.get_by_role("button", name="boxes.json").click()
    await expect(dialog.get_by_label("volume path")).to_have_value("/Volumes/team/vision/images/labels/boxes.json")
    await shot(page, "import-browse-1024")
    await dialog.get_by_role("button", name="Cancel").click()

    await page.get_by_role("button", name="Export…").click()
    dialog = page.get_by_role("dialog", name="Export dataset")
    await expect(dialog.get_by_label("destination folder")).to_have_value("/Volumes/team/vision/exports")
    await dialog.get_by_label("format").select_option("REFERENCE")
    await expect(dialog.get_by_text("No image is copied")).to_be_visible()
    await expect(dialog.get_by_text("copy the images too")).to_have_count(0)
    await dialog.get_by_role("button", name="Browse…").click()
    await dialog.get_by_role("button", name="runs", exact=True).click()
    await dialog.get_by_role("button", name="Use this folder").click()
    await expect(dialog.get_by_label("destination folder")).to_have_value("/Volumes/team/vision/exports/runs")
    await shot(page, "export-reference-browse-1024")
    await dialog.get_by_role("button", name="Export", exact=True).click()
    await expect(page.locator(".job")).to_contain_text(re.compile(r"export\s+succeeded"), timeout=20_000)

    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.get_by_role("button", name="Export…").click()
    dialog = page.get_by_role("dialog", name="Export dataset")
    await expect(dialog.get_by_label("destination folder")).to_have_value("/Volumes/team/vision/exports")
    await expect(dialog.get_by_text("Earlier exports of this project")).to_have_count(0)  # none in exports itself
    await dialog.get_by_label("destination folder").fill("/Volumes/team/vision/exports/runs")
    await dialog.get_by_text("Earlier exports of this project").click()
    entry = dialog.locator(".past li")
    await expect(entry).to_have_count(1)
    await expect(entry).to_contain_text(re.compile(r"Reference snapshot\s+· v1 · 3 images\s+· 3 labels\s+· local"))
    await shot(page, "export-past-1440")


async def test_import_a_models_predictions_as_drafts_with_i(page: Page, server: tuple[str, Path], api: Api) -> None:
    """I opens the import; "a model's predictions" stores the file's boxes as that model's drafts, confidences kept,
    and asks for the model's name first."""
    base, images = server
    line = {"filename": "street/00.jpg", "annotations": [{"label": "car", "ann_type": "bbox", "confidence": 0.8,
                                                          "bbox_json": {"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.2}}]}
    (images / "predictions.jsonl").write_text(json.dumps(line) + "\n")
    project = api.project("Street", "DETECTION", ["car", "person"])
    await page.set_viewport_size({"width": 1024, "height": 768})
    await page.goto(f"{base}/#/projects/{project['id']}")
    await expect(page.get_by_role("button", name="Import…")).to_be_visible()
    await page.keyboard.press("i")
    dialog = page.get_by_role("dialog", name="Import annotations")
    await dialog.get_by_label("format").select_option("JSONL")
    await dialog.get_by_label("a path in a volume").check()
    await dialog.get_by_label("volume path").fill("/Volumes/team/vision/images/predictions.jsonl")
    await dialog.get_by_label("a model's predictions").check()
    await dialog.get_by_role("button", name="Import", exact=True).click()
    await expect(dialog.get_by_role("alert")).to_have_text("Name the model whose predictions these are.")
    await dialog.get_by_label("model name").fill("detector")
    await expect(dialog.get_by_role("alert")).to_have_count(0)  # answered: the message goes
    await shot(page, "import-predictions-1024")
    await dialog.get_by_role("button", name="Import", exact=True).click()
    await expect(page.locator(".job")).to_contain_text(re.compile(r"import\s+succeeded"), timeout=20_000)
    sample = next(s for s in api.samples(project["id"]) if s["filename"] == "street/00.jpg")
    assert sample["status"] == "PRE_LABELED"
    assert [(a["label"], a["isDraft"]) for a in sample["annotations"]] == [("car", True)]
