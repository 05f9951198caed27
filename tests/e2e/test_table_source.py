"""A project made from a Unity Catalog table in Chromium: the New project page's Table source (table, column, a
filter, the image folder), the project listed from the table through the emulated SQL warehouse with its refused
rows named, then Sync from table (key S) after the table changed, with the counts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from bench.live_server import live_server
from tests.conftest import make_images
from tests.databricks_emulator import DatabricksEmulator
from tests.e2e.conftest import shot
from tests.emulated_sql import SqlWarehouses

pytestmark = pytest.mark.e2e
FOLDER = "/Volumes/team/vision/images"


@pytest.fixture
def table_server(database_url: str, tmp_path: Path, databricks: DatabricksEmulator
                 ) -> Iterator[tuple[str, SqlWarehouses]]:
    images = tmp_path / "images"
    make_images(images, [f"street/{i:02}.jpg" for i in range(8)], size=(320, 240))
    warehouse = SqlWarehouses(databricks, "wh-e2e", rows_per_chunk=3, pending_polls=1)
    rows = [{"path": f"{FOLDER}/street/{i:02}.jpg", "split": "train" if i < 6 else "test"} for i in range(8)]
    rows.append({"path": "/Volumes/other/place/x/secret.jpg", "split": "train"})
    warehouse.add_table("main.vision.frames", {"path": "STRING", "split": "STRING"}, rows)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "VOLUME_MOUNTS": f"{FOLDER}={images}",
           "DATABRICKS_HOST": databricks.url, "DATABRICKS_TOKEN": databricks.token,
           "DATABRICKS_WAREHOUSE_ID": "wh-e2e", "DATABRICKS_CONFIG_FILE": os.environ["DATABRICKS_CONFIG_FILE"]}
    with live_server(env, forked=True) as base:
        yield base, warehouse


async def test_a_project_from_a_table_and_a_sync(page: Page, table_server: tuple[str, SqlWarehouses]) -> None:
    base, warehouse = table_server
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.goto(f"{base}/#/new")
    await page.get_by_placeholder("e.g. Street objects").fill("Frames")
    await page.get_by_label("Classification").check()
    classes = page.get_by_placeholder("type a class and press Enter")
    await classes.fill("car")
    await classes.press("Enter")
    await page.get_by_label("Table: paths listed in a Unity Catalog table").check()
    await page.get_by_label("Table", exact=True).fill("main.vision.frames")
    await page.get_by_label("Column of image paths").fill("path")
    await page.get_by_role("button", name="+ Add a condition").click()
    await page.get_by_label("filter column 1").fill("split")
    await page.get_by_label("filter value 1").fill("train")
    for crumb in ("team", "vision", "images"):
        await page.get_by_role("button", name=crumb, exact=False).first.click()
    await page.get_by_role("button", name="Use this folder").click()
    await shot(page, "table-source-new-1440")
    await page.get_by_role("button", name="Create project").click()

    await expect(page.get_by_text("listed from")).to_contain_text("main.vision.frames", timeout=20_000)
    await expect(page.locator(".job")).to_contain_text("6 images found · 6 added", timeout=20_000)
    await expect(page.locator(".job")).to_contain_text("1 refused")
    await expect(page.locator(".refused")).to_contain_text("/Volumes/other/place/x/secret.jpg: outside the "
                                                           "project's image folder")
    await expect(page.locator(".tile")).to_have_count(6)
    await expect(page.locator(".card").first).to_contain_text("6")
    await shot(page, "table-source-project-1440")

    _, rows = warehouse.tables[("main", "vision", "frames")]
    rows[:] = [r for r in rows if not r["path"].endswith("/00.jpg")]
    for r in rows:
        r["split"] = "train"
    await page.set_viewport_size({"width": 1024, "height": 768})
    await page.keyboard.press("s")  # Sync from table
    await expect(page.locator(".job")).to_contain_text("7 images found · 2 added · 1 missing", timeout=20_000)
    await expect(page.get_by_role("status").filter(has_text="no longer listed in its table")).to_contain_text(
        "1 image of this project was no longer listed in its table at the last sync")
    await expect(page.get_by_role("button", name="Sync from table")).to_be_visible()
    await expect(page.get_by_role("button", name="Rescan folder")).to_have_count(0)
    await shot(page, "table-source-synced-1024")

    rows.append({"path": f"{FOLDER}/street/00.jpg", "split": "train"})  # back in the table
    await page.get_by_role("button", name="Settings…").click()
    dialog = page.get_by_role("dialog", name="Project settings")
    section = dialog.get_by_role("region", name="Images from a table")
    await expect(section).to_contain_text("Listed from main.vision.frames, column path, rows where split = train")
    await section.scroll_into_view_if_needed()
    await shot(page, "table-source-settings-1024")
    await section.get_by_role("button", name="Sync from table").click()
    await expect(dialog).to_have_count(0)
    await expect(page.locator(".job")).to_contain_text("0 added · 0 missing · 1 found again", timeout=20_000)
