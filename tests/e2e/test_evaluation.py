"""The evaluation panel in Chromium: E scores the model's drafts on the labelled images, and the panel shows the
headline numbers, the per-class table, PR curves and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from db.records import AnnotationRecord
from tests.e2e.conftest import Api, model_drafts, shot

pytestmark = pytest.mark.e2e

SAVE = """mutation($s: ID!, $l: String!){ saveAnnotations(sampleId: $s, annotations: [
  {label: $l, kind: BBOX, box: {x: 0.1, y: 0.1, w: 0.4, h: 0.5}},
  {label: "person", kind: BBOX, box: {x: 0.6, y: 0.5, w: 0.2, h: 0.3}}]){ id } }"""


async def test_evaluate_and_read_the_panel(page: Page, server: tuple[str, Path], api: Api, database_url: str) -> None:
    base, _ = server
    project = api.project("Eval", "DETECTION", ["car", "person"])
    samples = {s["filename"]: s["id"] for s in api.samples(project["id"])}
    labelled = [samples[f"street/{i:02}.jpg"] for i in range(6)]
    for n, sid in enumerate(labelled):
        api(SAVE, s=sid, l="car" if n % 3 else "person")
    # the model finds every car, calls one person a car and misses the small people on half the images
    await model_drafts(database_url, {
        sid: [AnnotationRecord("car", "BBOX", (0.11, 0.1, 0.4, 0.5), 0.9 - n / 20),
              *([AnnotationRecord("person", "BBOX", (0.6, 0.52, 0.2, 0.3), 0.6)] if n % 2 else [])]
        for n, sid in enumerate(labelled)})

    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.goto(f"{base}/#/projects/{project['id']}")
    panel = page.get_by_role("region", name="model evaluation")
    await expect(panel).to_contain_text("No evaluation yet")
    await page.keyboard.press("e")
    await expect(panel).to_contain_text("model:yolo · 6 labelled images (6 with predictions)", timeout=20_000)
    await expect(panel).to_contain_text("AP50")
    await expect(panel.locator("path.curve")).to_have_count(2)
    matrix = panel.get_by_role("img", name="confusion matrix")
    await expect(matrix.locator("rect")).to_have_count(9)  # car, person, background x car, person, missed
    await expect(matrix.locator("rect").nth(0).locator("title")).to_have_text("car → car: 4")
    await expect(matrix.locator("rect").nth(3).locator("title")).to_have_text("person → car: 2")
    await panel.scroll_into_view_if_needed()
    await shot(page, "evaluation-1440")
    await page.set_viewport_size({"width": 1024, "height": 768})
    await shot(page, "evaluation-1024")
