"""The export dialog in Chromium: with nothing labelled its Export button is disabled and says why; it turns on, live,
as soon as an image is labelled."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


async def test_export_waits_for_something_labelled(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, _ = server
    project = api.project("Empty", "CLASSIFICATION", ["car", "person"])
    await page.goto(f"{base}/#/projects/{project['id']}")
    await page.get_by_role("button", name="Export…").click()
    dialog = page.get_by_role("dialog", name="Export dataset")
    button = dialog.get_by_role("button", name="Export", exact=True)
    await expect(button).to_be_disabled()
    await expect(button).to_have_accessible_description(
        "Nothing to export yet: no image is labelled. Label at least one image first.")
    await expect(dialog.get_by_text("no image is labelled")).to_be_visible()

    sample = next(s for s in api.samples(project["id"]) if s["filename"] == "street/00.jpg")  # not broken.jpg
    api('mutation($s: ID!){ setClassification(sampleId: $s, labels: ["car"]){ id } }', s=sample["id"])
    await expect(button).to_be_enabled()  # the live stats reach the open dialog
    await expect(dialog.get_by_text("no image is labelled")).to_have_count(0)

    await dialog.get_by_label("only samples accepted in review").check()
    await expect(button).to_be_disabled()
    await expect(dialog.get_by_text("no labelled image has been accepted in review")).to_be_visible()
    await dialog.get_by_label("only samples accepted in review").uncheck()
    await button.click()
    await expect(page.locator(".job")).to_contain_text("succeeded", timeout=20_000)
