"""The labelling view in Chromium: keys only, boxes with the mouse, reload safety, conflicts, live stats."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e
IMAGE_W, IMAGE_H = 320, 240  # the test images (tests/e2e/conftest.py)


@pytest.fixture(autouse=True)
def _only_good_images(server: tuple[str, Path]) -> None:
    """These tests draw on the images; the broken one is the gallery test's business."""
    (server[1] / "broken.jpg").unlink()


async def _open(page: Page, base: str, project_id: str) -> None:
    await page.goto(f"{base}/#/projects/{project_id}/label")
    await page.wait_for_function("window.__cvxPaint && window.__cvxPaint.sampleId")


async def _to_page(page: Page, x: float, y: float) -> tuple[float, float]:
    """Normalised image coordinates to page pixels, by the same fit the view uses (12-px margin, at most 4x)."""
    r = await page.get_by_label("image canvas").bounding_box()
    assert r is not None
    scale = min(4, (r["width"] - 24) / IMAGE_W, (r["height"] - 24) / IMAGE_H)
    left = r["x"] + (r["width"] - IMAGE_W * scale) / 2
    top = r["y"] + (r["height"] - IMAGE_H * scale) / 2
    return left + x * IMAGE_W * scale, top + y * IMAGE_H * scale


async def _drag(page: Page, a: tuple[float, float], b: tuple[float, float]) -> None:
    await page.mouse.move(*await _to_page(page, *a))
    await page.mouse.down()
    await page.mouse.move(*await _to_page(page, *b), steps=6)
    await page.mouse.up()


async def _click(page: Page, at: tuple[float, float]) -> None:
    await page.mouse.click(*await _to_page(page, *at))


async def test_classify_five_images_with_number_keys_only(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, _ = server
    classes = ["car", "person", "bike"]
    project = api.project("Streets", "CLASSIFICATION", classes)
    await _open(page, base, project["id"])
    given: dict[str, str] = {}
    for key in "12312":
        name = await page.locator(".file").text_content()
        assert name
        given[name] = classes[int(key) - 1]
        await page.keyboard.press(key)
        await expect(page.locator(".file")).not_to_have_text(name)
    await expect(page.get_by_text("All changes saved")).to_be_visible()
    await shot(page, "label-classification")
    stored = {s["filename"]: s for s in api.samples(project["id"])}
    for name, label in given.items():
        assert stored[name]["status"] == "LABELED"
        assert [a["label"] for a in stored[name]["annotations"]] == [label]
    assert sum(s["status"] == "LABELED" for s in stored.values()) == 5


async def test_draw_move_resize_relabel_delete_and_undo_boxes(page: Page, server: tuple[str, Path],
                                                              api: Api) -> None:
    base, _ = server
    project = api.project("Boxes", "DETECTION", ["car", "person"])
    await _open(page, base, project["id"])
    name = await page.locator(".file").text_content()

    await _drag(page, (0.1, 0.1), (0.4, 0.5))  # a car (the first class)
    await page.keyboard.press("Escape")
    await page.keyboard.press("2")  # new boxes are people
    await _drag(page, (0.6, 0.6), (0.9, 0.9))
    await page.mouse.click(5, 5)  # outside the canvas: nothing happens
    await expect(page.locator("section[aria-label=boxes] li")).to_have_count(2)
    await page.mouse.move(0, 0)

    await page.keyboard.down("Alt")  # a plain drag would draw: boxes move by Alt+drag (or the centre grip)
    await _drag(page, (0.25, 0.3), (0.35, 0.3))  # move the car right by 0.1
    await page.keyboard.up("Alt")
    await _drag(page, (0.5, 0.5), (0.55, 0.6))  # its south-east handle (it is selected after the move)
    await page.keyboard.press("1")  # relabel the selected box: person -> no, it is the car -> car stays car
    await page.keyboard.press("2")  # and now a person
    await _click(page, (0.75, 0.75))  # select the second box
    await page.keyboard.press("Delete")
    await expect(page.locator("section[aria-label=boxes] li")).to_have_count(1)
    await page.keyboard.press("Control+z")
    await expect(page.locator("section[aria-label=boxes] li")).to_have_count(2)
    await page.keyboard.press("Control+Shift+z")
    await expect(page.locator("section[aria-label=boxes] li")).to_have_count(1)
    await expect(page.get_by_text("Edited: Enter saves")).to_be_visible()  # not "saved" before it is
    await shot(page, "label-boxes")
    await page.keyboard.press("Enter")
    await expect(page.locator(".file")).not_to_have_text(name or "")
    await expect(page.get_by_text("All changes saved")).to_be_visible()

    sample = next(s for s in api.samples(project["id"]) if s["filename"] == name)
    assert sample["status"] == "LABELED"
    [box] = sample["annotations"]
    assert box["label"] == "person" and not box["isDraft"]
    for got, want in zip((box["box"][k] for k in "xywh"), (0.2, 0.1, 0.35, 0.5), strict=True):
        assert abs(got - want) < 0.01, box["box"]


async def test_unsaved_edits_survive_a_reload(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, _ = server
    project = api.project("Reload", "DETECTION", ["car"])
    await _open(page, base, project["id"])
    name = await page.locator(".file").text_content()
    await _drag(page, (0.2, 0.2), (0.6, 0.7))
    await page.reload()
    await page.wait_for_function("window.__cvxPaint && window.__cvxPaint.sampleId")
    await expect(page.locator(".file")).to_have_text(name or "")
    await expect(page.get_by_text("Restored your unsaved edits")).to_be_visible()
    await expect(page.locator("section[aria-label=boxes] li")).to_have_count(1)
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("All changes saved")).to_be_visible()
    sample = next(s for s in api.samples(project["id"]) if s["filename"] == name)
    assert len(sample["annotations"]) == 1 and sample["status"] == "LABELED"


async def test_a_colleagues_save_first_shows_the_conflict(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, _ = server
    project = api.project("Clash", "DETECTION", ["car", "person"])
    await _open(page, base, project["id"])
    name = await page.locator(".file").text_content()
    sample = next(s for s in api.samples(project["id"]) if s["filename"] == name)
    await _drag(page, (0.2, 0.2), (0.6, 0.7))
    api("""mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "person", kind: BBOX,
        box: {x: 0.5, y: 0.5, w: 0.2, h: 0.2}}]) { version } }""", s=sample["id"])
    await expect(page.get_by_role("status").filter(has_text="changed this image")).to_be_visible()
    await page.get_by_role("button", name="Keep editing").click()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("alertdialog")
    await expect(dialog).to_contain_text("Someone else saved")
    await expect(dialog).to_contain_text("person")
    await shot(page, "label-conflict")
    await dialog.get_by_role("button", name="Keep mine").click()
    await expect(page.get_by_text("All changes saved")).to_be_visible()
    stored = next(s for s in api.samples(project["id"]) if s["filename"] == name)
    assert [a["label"] for a in stored["annotations"]] == ["car"]


async def test_a_stat_card_changes_when_another_client_saves(page: Page, server: tuple[str, Path],
                                                             api: Api) -> None:
    base, _ = server
    project = api.project("Live", "CLASSIFICATION", ["car", "person"])
    await page.goto(f"{base}/#/projects/{project['id']}")
    labelled = page.locator(".card").filter(has=page.get_by_text("Labelled", exact=True))
    await expect(labelled.locator("strong")).to_have_text("0")
    first = api.samples(project["id"])[0]
    api('mutation($s: ID!){ setClassification(sampleId: $s, labels: ["car"]) { id } }', s=first["id"])
    await expect(labelled.locator("strong")).to_have_text("1")


async def test_an_open_view_follows_a_class_rename_and_saves_with_the_new_name(
        page: Page, server: tuple[str, Path], api: Api) -> None:
    base, _ = server
    project = api.project("Renamed", "CLASSIFICATION", ["car", "person"])
    await _open(page, base, project["id"])
    name = await page.locator(".file").text_content()
    api('mutation($p: ID!){ renameClass(projectId: $p, from: "car", to: "automobile"){ id } }', p=project["id"])
    await expect(page.get_by_role("button", name="automobile")).to_be_visible(timeout=20_000)  # after the job
    await page.keyboard.press("1")
    await expect(page.locator(".file")).not_to_have_text(name or "")
    await expect(page.get_by_text("All changes saved")).to_be_visible()
    stored = next(s for s in api.samples(project["id"]) if s["filename"] == name)
    assert [a["label"] for a in stored["annotations"]] == ["automobile"]


async def test_suggest_asks_the_model_then_accept_or_reject(page: Page, server: tuple[str, Path], api: Api) -> None:
    """The owner points the project at a Label Studio ML backend; S asks it about the open image."""
    from bench.preannotate import instant_model

    base, _ = server
    with instant_model() as model:
        project = api.project("Suggest", "DETECTION", ["car", "person"])
        api("""mutation($p: ID!, $m: String!){ setModelSettings(projectId: $p,
            input: {protocol: LABEL_STUDIO, name: "instant", location: $m}) { id } }""", p=project["id"], m=model)
        await _open(page, base, project["id"])
        name = await page.locator(".file").text_content()
        boxes = page.locator("section[aria-label=boxes] li")
        await page.keyboard.press("m")
        await expect(boxes).to_have_count(2)
        await expect(page.locator("section[aria-label=boxes] li.draft")).to_have_count(2)
        await shot(page, "label-suggest")
        await page.keyboard.press("x")
        await expect(boxes).to_have_count(0)
        await page.keyboard.press("Control+z")
        await expect(boxes).to_have_count(2)
        await page.keyboard.press("a")
        await expect(page.locator("section[aria-label=boxes] li.draft")).to_have_count(0)
        await page.keyboard.press("Enter")
        await expect(page.locator(".file")).not_to_have_text(name or "")
        await expect(page.get_by_text("All changes saved")).to_be_visible()
        stored = next(s for s in api.samples(project["id"]) if s["filename"] == name)
        assert stored["status"] == "LABELED"
        assert sorted((a["label"], a["isDraft"]) for a in stored["annotations"]) == [("car", False), ("person", False)]


async def test_an_imported_image_lists_each_imported_box_in_its_history(page: Page, server: tuple[str, Path],
                                                                        api: Api) -> None:
    """An import stores one history row per image (db.history_items); the History panel still shows one line per
    box it added, newest first, under the other changes."""
    import json

    base, images = server
    project = api.project("Imported", "DETECTION", ["car", "person"])
    coco = {"images": [{"id": 1, "file_name": "street/00.jpg", "width": IMAGE_W, "height": IMAGE_H}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 40]},
                            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [100, 60, 30, 80]}],
            "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}]}
    (images.parent / "exports" / "coco.json").write_text(json.dumps(coco))
    job = api("""mutation($p: ID!){ importAnnotations(projectId: $p, input: {
        path: "/Volumes/team/vision/exports/coco.json", format: COCO}) { id } }""", p=project["id"])
    for _ in range(200):
        done = api("query($j: ID!){ job(id: $j){ status } }", j=job["importAnnotations"]["id"])["job"]
        if done["status"] not in ("QUEUED", "RUNNING"):
            break
        await page.wait_for_timeout(50)
    assert done["status"] == "SUCCEEDED", done
    sample = next(s for s in api.samples(project["id"]) if s["filename"] == "street/00.jpg")
    await page.goto(f"{base}/#/projects/{project['id']}/label/{sample['id']}")
    await page.wait_for_function("window.__cvxPaint && window.__cvxPaint.sampleId")
    await page.get_by_role("button", name="History").click()
    lines = page.locator("section[aria-label=history] li")
    await expect(lines).to_have_count(2)
    await expect(lines.nth(0)).to_contain_text("import person")
    await expect(lines.nth(1)).to_contain_text("import car")
    await shot(page, "label-history-import")
