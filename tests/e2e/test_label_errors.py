"""The likely-errors queue in Chromium: after an evaluation the panel links to it (X), the review page shows each
image with its reason, strongest first, and N records "not an error", which takes the image out of the queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from db.records import AnnotationRecord
from tests.e2e.conftest import Api, model_drafts, shot

pytestmark = pytest.mark.e2e

SAVE = """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [
  {label: "car", kind: BBOX, box: {x: 0.1, y: 0.1, w: 0.4, h: 0.5}}]){ id } }"""


async def test_walk_the_likely_errors(page: Page, server: tuple[str, Path], api: Api, database_url: str) -> None:
    base, _ = server
    project = api.project("Errors", "DETECTION", ["car", "person"])
    samples = {s["filename"]: s["id"] for s in api.samples(project["id"])}
    labelled = [samples[f"street/{i:02}.jpg"] for i in range(3)]
    for sid in labelled:
        api(SAVE, s=sid)
    # 00 agrees, 01 is a class flip at 0.8, 02 has a confident person nobody drew at 0.95 (and the car)
    drafts = [[AnnotationRecord("car", "BBOX", (0.1, 0.1, 0.4, 0.5), 0.9)],
              [AnnotationRecord("person", "BBOX", (0.1, 0.1, 0.4, 0.5), 0.8)],
              [AnnotationRecord("car", "BBOX", (0.1, 0.1, 0.4, 0.5), 0.9),
               AnnotationRecord("person", "BBOX", (0.6, 0.5, 0.2, 0.3), 0.95)]]
    await model_drafts(database_url, dict(zip(labelled, drafts, strict=True)))

    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.goto(f"{base}/#/projects/{project['id']}")
    panel = page.get_by_role("region", name="model evaluation")
    await expect(panel).to_contain_text("No evaluation yet")
    await page.keyboard.press("e")
    await expect(panel.get_by_role("link", name="Likely errors (2)")).to_be_visible(timeout=20_000)
    await page.keyboard.press("x")
    side = page.get_by_role("complementary", name="likely label error")
    await expect(side.get_by_role("note")).to_have_text("Confident box nobody drew: person at 0.95")
    await expect(side).to_contain_text("street/02.jpg")
    await expect(page.locator(".box.draft")).to_have_count(2)
    await shot(page, "label-errors-1440")
    await page.set_viewport_size({"width": 1024, "height": 768})
    await shot(page, "label-errors-1024")
    await page.keyboard.press("n")
    await expect(side.get_by_role("note")).to_have_text("Class flip: drawn car, the model says person at 0.80")
    await expect(page.get_by_text("1 likely label errors waiting for a verdict")).to_be_visible()
    await page.keyboard.press("f")
    await expect(page).to_have_url(f"{base}/#/projects/{project['id']}/label/{labelled[1]}")
