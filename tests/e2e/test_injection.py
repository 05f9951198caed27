"""User-supplied text in Chromium: project, class and file names written as HTML must show literally and never run."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import make_images
from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e

PROJECT = '<img src=x onerror="window.__pwned=\'project\'">Street'
CLASS_A = "<img src=x onerror=window.__pwned='class'>"
CLASS_B = "<script>window.__pwned='script'</script>"
FILE = "<img src=x onerror=window.__pwned='file'>.jpg"  # a legal file name: no slash
DESCRIPTION = "<iframe src=javascript:window.__pwned='description'></iframe>"
SAVE = """mutation($id: ID!, $l: String!){ saveAnnotations(sampleId: $id, annotations: [{label: $l, kind: BBOX,
  box: {x: 0.1, y: 0.1, w: 0.5, h: 0.5}}]){ version } }"""


async def _nothing_ran(page: Page) -> None:
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("img[src='x'], script:not([src]), iframe").count() == 0


async def test_names_written_as_html_are_shown_as_text(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, images = server
    make_images(images, [FILE], size=(320, 240))
    (images / "broken.jpg").unlink()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    project = api.project(PROJECT, "DETECTION", [CLASS_A, CLASS_B])
    api("mutation($id: ID!, $d: String!){ updateProject(id: $id, input: {description: $d}){ id } }",
        id=project["id"], d=DESCRIPTION)
    sample = next(s for s in api.samples(project["id"]) if s["filename"] == FILE)
    api(SAVE, id=sample["id"], l=CLASS_A)

    await page.goto(base + "/")
    await expect(page.get_by_text(PROJECT, exact=True)).to_be_visible()
    await _nothing_ran(page)

    await page.goto(f"{base}/#/projects/{project['id']}")
    await expect(page.get_by_role("heading", name=PROJECT)).to_be_visible()
    await expect(page.locator(".tile").filter(has_text=FILE)).to_have_count(1, timeout=15_000)
    await page.get_by_label("file name filter").fill("onerror")
    await expect(page.locator(".tile")).to_have_count(1)
    await expect(page.locator(".tile .name")).to_have_text(FILE)
    await shot(page, "injection-dashboard")
    await _nothing_ran(page)

    await page.goto(f"{base}/#/projects/{project['id']}/label/{sample['id']}")
    await page.wait_for_function("window.__cvxPaint && window.__cvxPaint.sampleId")
    await expect(page.get_by_text(FILE, exact=True)).to_be_visible()
    for name in (CLASS_A, CLASS_B):
        await expect(page.get_by_text(name, exact=True).first).to_be_visible()
    await shot(page, "injection-label")
    await _nothing_ran(page)

    await page.goto(base + "/#/new")  # the folder browser lists file names too
    for crumb in ("team", "vision", "images"):
        await page.get_by_role("button", name=crumb, exact=False).first.click()
    await expect(page.get_by_text(f"Directly in this folder: {FILE}")).to_be_visible()
    await _nothing_ran(page)
    assert dialogs == []
