"""Detection power tools in Chromium: drawing anywhere (inside boxes too) and click-click, multi-select with group
relabel/delete as one undo step, class keys past nine and remapped keys, the "no objects" key, zoom kept across
images with a fit key, brightness, "New class…" reaching a colleague's open view, and "after saving: next that
needs work"."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import Api, shot
from tests.e2e.test_labelling_view import _click, _drag, _open

pytestmark = pytest.mark.e2e
CLASSES = [f"c{i}" for i in range(1, 13)]  # twelve: the tenth to twelfth are Shift+1..3
BOXES = "section[aria-label=boxes] li"


@pytest.fixture(autouse=True)
def _only_good_images(server: tuple[str, Path]) -> None:
    (server[1] / "broken.jpg").unlink()


async def _labels(page: Page) -> list[str]:
    return [(t or "").split(". ", 1)[1].strip() for t in await page.locator(f"{BOXES} .pick").all_text_contents()]


async def _centre_pixel(page: Page) -> int:
    return await page.evaluate("""() => { const c = document.querySelector('canvas');
        const d = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data;
        return d[0] + d[1] + d[2]; }""")


async def test_boxes_multi_select_keys_zoom_and_new_class(browser: Browser, server: tuple[str, Path],
                                                          api: Api) -> None:
    base, _ = server
    project = api.project("Tools", "DETECTION", CLASSES)
    pid = project["id"]
    samples = sorted(api.samples(pid), key=lambda s: s["filename"])
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await _open(page, base, pid)
    await expect(page.locator(".file")).to_have_text(samples[0]["filename"])
    await expect(page.get_by_label("drawing convention")).to_contain_text("drag or click\u2013click draws")

    # a box, then one drawn by a drag that starts inside it (the first stays put), then one by two clicks
    await _drag(page, (0.1, 0.1), (0.7, 0.9))
    await _drag(page, (0.3, 0.3), (0.5, 0.6))
    await page.keyboard.press("Escape")
    await _click(page, (0.8, 0.1))
    await _click(page, (0.95, 0.4))
    await expect(page.locator(BOXES)).to_have_count(3)
    await shot(page, "boxes-1440")

    # all selected, relabelled to the tenth class (Shift+1) in one step, undone in one step
    await page.keyboard.press("Control+a")
    await expect(page.get_by_text("Relabel the 3 selected boxes")).to_be_visible()
    await page.keyboard.press("Shift+1")
    assert await _labels(page) == ["c10", "c10", "c10"]
    await page.keyboard.press("Control+z")
    assert await _labels(page) == ["c1", "c1", "c1"]
    # Shift+click picks two (the nested box is the smaller one under the pointer); Delete takes both
    await page.keyboard.press("Escape")
    await _click(page, (0.4, 0.45))
    await page.keyboard.down("Shift")
    await _click(page, (0.9, 0.2))
    await page.keyboard.up("Shift")
    await expect(page.locator(f"{BOXES}.selected")).to_have_count(2)
    await page.keyboard.press("Delete")
    await expect(page.locator(BOXES)).to_have_count(1)
    await page.keyboard.press("Control+z")
    await expect(page.locator(BOXES)).to_have_count(3)
    await page.keyboard.press("Escape")

    # zoom in, save: the next image keeps the zoom; 0 fits again; brightness brightens the drawn image
    fitted = await page.evaluate("window.__cvxView.scale")
    await page.keyboard.press("+")
    await page.keyboard.press("+")
    await page.wait_for_function(f"window.__cvxView.scale > {fitted} * 1.5")
    zoomed = await page.evaluate("window.__cvxView.scale")
    await page.keyboard.press("Enter")
    await expect(page.locator(".file")).to_have_text(samples[1]["filename"])
    await page.wait_for_function(f"window.__cvxPaint.sampleId === '{samples[1]['id']}'")
    assert abs(await page.evaluate("window.__cvxView.scale") - zoomed) < 1e-6
    await page.keyboard.press("0")
    await page.wait_for_function(f"Math.abs(window.__cvxView.scale - {fitted}) < 1e-6")
    before = await _centre_pixel(page)
    await page.get_by_label("brightness").fill("2")
    await page.wait_for_function(f"""() => {{ const c = document.querySelector('canvas');
        const d = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data;
        return d[0] + d[1] + d[2] > {before} + 30; }}""")

    # the "no objects" key saves this image empty and moves on
    await page.keyboard.press("e")
    await expect(page.locator(".file")).to_have_text(samples[2]["filename"])

    # remap: c2 on Q (my own keys); the panel and the key sheet show it, and Q picks c2 for new boxes
    await page.get_by_role("button", name="Keys…").click()
    await page.get_by_label("key for c2").click()
    await page.keyboard.press("q")
    await page.get_by_role("button", name="Save as my keys").click()
    await expect(page.get_by_role("dialog", name="Keys")).to_have_count(0)  # closed: keys go to the view again
    await expect(page.get_by_role("button", name="Q c2")).to_be_visible()
    await page.keyboard.press("q")
    await expect(page.get_by_label("drawing convention")).to_contain_text("Draw: c2")
    await page.keyboard.press("?")
    sheet = page.get_by_role("dialog", name="keyboard shortcuts")
    await expect(sheet.get_by_role("row").filter(has_text="class “c2”")).to_contain_text("Q")
    await expect(sheet.get_by_role("row").filter(has_text="class “c11”")).to_contain_text("⇧2")
    await page.keyboard.press("Escape")

    # "New class…" here; a colleague's open view gets the class and its key at once
    other = await context.new_page()
    other.on("pageerror", lambda e: errors.append(str(e)))
    await _open(other, base, pid)
    await page.get_by_role("button", name="New class…").click()
    await page.get_by_label("new class name").fill("zebra")
    await page.get_by_label("new class name").press("Enter")
    await expect(page.get_by_role("button", name="⇧4 zebra")).to_be_visible()
    await expect(other.get_by_role("button", name="⇧4 zebra")).to_be_visible()
    await other.close()

    # after saving: the next image that needs work (the one in order is labelled already)
    api("mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [], allowEmpty: true) { id } }",
        s=samples[3]["id"])
    await page.get_by_label("after saving").select_option("NEEDS_WORK")
    await _drag(page, (0.2, 0.2), (0.4, 0.4))
    await page.keyboard.press("Enter")
    await expect(page.locator(".file")).to_have_text(samples[4]["filename"])
    await page.set_viewport_size({"width": 1024, "height": 768})
    await shot(page, "boxes-1024")

    # the gallery and the review queue find the image with a box inside another of its class
    await page.goto(f"{base}/#/projects/{pid}")
    await expect(page.locator(".tile")).to_have_count(len(samples))
    await page.get_by_label("box quality filter").select_option("nested")
    await expect(page.locator(".tile")).to_have_count(1)
    await expect(page.locator(".tile")).to_have_attribute("title", samples[0]["filename"])
    await shot(page, "gallery-quality-1024")
    await page.goto(f"{base}/#/projects/{pid}/review")
    await page.get_by_label("box quality filter").select_option("many")
    await page.get_by_label("quality threshold").fill("2")
    await page.get_by_label("quality threshold").press("Tab")
    await shot(page, "review-quality-1024")
    await expect(page.get_by_text("1 in the queue")).to_be_visible()
    await context.close()
    assert errors == [], errors

    stored = {s["filename"]: s for s in api.samples(pid)}
    first = stored[samples[0]["filename"]]
    assert first["status"] == "LABELED" and len(first["annotations"]) == 3
    big = next(a["box"] for a in first["annotations"] if a["box"]["w"] > 0.5)
    assert abs(big["x"] - 0.1) < 0.01 and abs(big["w"] - 0.6) < 0.01  # the drag inside it drew, not moved
    empty = stored[samples[1]["filename"]]
    assert empty["status"] == "LABELED" and empty["annotations"] == []
    assert [a["label"] for a in stored[samples[2]["filename"]]["annotations"]] == ["zebra"]  # a new class is drawn next
    settings = api("query($p: ID!){ labelSettings(projectId: $p){ myKeyMap { classes { name key } } afterSave } "
                   "project(id: $p){ classes } }", p=pid)
    assert settings["labelSettings"] == {"myKeyMap": {"classes": [{"name": "c2", "key": "q"}]},
                                         "afterSave": "NEEDS_WORK"}
    assert settings["project"]["classes"] == [*CLASSES, "zebra"]
