"""The project's Model dialog in Chromium: an owner picks a backend and maps its labels onto the classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e


async def test_an_owner_sets_the_project_model_and_its_label_mapping(page: Page, server: tuple[str, Path],
                                                                     api: Api) -> None:
    base, _ = server
    project = api.project("Streets", "DETECTION", ["car", "person"])
    await page.goto(f"{base}/#/projects/{project['id']}")
    await page.get_by_role("button", name="Model…", exact=True).click()
    dialog = page.get_by_role("dialog", name="Model")
    await expect(dialog).to_contain_text("server default")
    await expect(dialog.get_by_label("Protocol")).to_be_focused()

    await dialog.get_by_label("Protocol").select_option("LABEL_STUDIO")
    await expect(dialog.locator('input[name="location"]')).to_have_attribute("placeholder", "http://host:9090")
    await dialog.locator('input[name="name"]').fill("street-detector")
    await dialog.locator('input[name="location"]').fill("http://127.0.0.1:9/")  # nothing listens: not ready
    await dialog.get_by_role("button", name="Add mapping").click()
    await expect(dialog.get_by_label("model label 1", exact=True)).to_be_focused()
    await page.keyboard.type("automobile")
    await dialog.get_by_label("project class for model label 1").select_option("car")
    await dialog.get_by_role("button", name="Add mapping").click()
    await page.keyboard.type("dog")
    await dialog.get_by_label("project class for model label 2").select_option("")  # — drop —
    await dialog.locator('input[name="name"]').press("Enter")  # Enter in a text field saves

    await expect(dialog).to_contain_text("Saved.")
    await expect(dialog).to_contain_text("model:street-detector")
    await expect(dialog).to_contain_text("not ready")
    await shot(page, "model-dialog-saved")
    stored = api("query($p: ID!){ project(id: $p){ modelSettings { protocol name location classes "
                 "labelMap { modelLabel projectClass } } } }", p=project["id"])["project"]["modelSettings"]
    assert stored == {"protocol": "LABEL_STUDIO", "name": "street-detector", "location": "http://127.0.0.1:9",
                      "classes": [], "labelMap": [{"modelLabel": "automobile", "projectClass": "car"},
                                                  {"modelLabel": "dog", "projectClass": None}]}

    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(page.get_by_role("button", name="Model…", exact=True)).to_be_focused()
    await page.reload()
    await page.get_by_role("button", name="Model…", exact=True).click()
    await expect(dialog.locator('input[name="name"]')).to_have_value("street-detector")
    await expect(dialog.get_by_label("model label 2", exact=True)).to_have_value("dog")
    await expect(dialog.get_by_label("project class for model label 1")).to_have_value("car")

    await dialog.locator('input[name="name"]').fill("no spaces allowed")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("name must be")
    await expect(dialog.locator('input[name="name"]')).to_be_focused()
