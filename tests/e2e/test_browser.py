"""The built SPA in Debian's Chromium, against the real server on loopback: create a project, watch it scan, browse."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import shot as _shot

pytestmark = pytest.mark.e2e


async def test_create_a_project_and_browse_its_gallery(browser: Browser, server: tuple[str, Path]) -> None:
    base, _ = server
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(base + "/")
    await expect(page.get_by_text("No projects yet")).to_be_visible()
    await page.keyboard.press("n")  # the page's own shortcut
    await expect(page.get_by_role("heading", name="New project")).to_be_visible()
    await page.get_by_placeholder("e.g. Street objects").fill("Street")
    classes = page.get_by_placeholder("type a class and press Enter")
    for name in ("car", "person", "car"):
        await classes.fill(name)
        await classes.press("Enter")
    await expect(page.get_by_text('"car" is already in the list.')).to_be_visible()
    for crumb in ("team", "vision", "images"):
        await page.get_by_role("button", name=crumb, exact=False).first.click()
    await expect(page.get_by_text("15 image files here and in sub-folders")).to_be_visible()  # 14 in street/
    await page.get_by_role("button", name="Use this folder").click()
    await expect(page.get_by_role("alert")).to_have_count(0)  # browsing never submits the form
    await _shot(page, "create-project")
    await page.get_by_role("button", name="Create project").click()

    await expect(page.get_by_role("heading", name="Street")).to_be_visible()
    await expect(page.locator(".tile")).to_have_count(15, timeout=15_000)
    await expect(page.get_by_text("15 of 15")).to_be_visible()
    await expect(page.get_by_text("cannot display")).to_have_count(1)  # the broken file, and the grid goes on
    await expect(page.locator(".card").filter(has_text="Total")).to_contain_text("15")
    await _shot(page, "dashboard")
    await page.get_by_label("file name filter").fill("03")
    await expect(page.locator(".tile")).to_have_count(1)
    await page.get_by_role("button", name="Labelled", exact=True).click()
    await expect(page.get_by_text("No images match.")).to_be_visible()

    # a second project with the same name is refused with the server's message
    await page.goto(base + "/#/new")
    await page.get_by_placeholder("e.g. Street objects").fill("Street")
    await classes.fill("car")
    await classes.press("Enter")
    for crumb in ("team", "vision", "images"):
        await page.get_by_role("button", name=crumb, exact=False).first.click()
    await page.get_by_role("button", name="Use this folder").click()
    await page.get_by_role("button", name="Create project").click()
    await expect(page.get_by_role("alert")).to_contain_text("already exists")
    assert errors == []
