"""The project settings dialog in Chromium: an owner edits the name, then adds, removes, moves, renames and merges
classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e

SAVE = """mutation($s: ID!, $a: [AnnotationInput!]!){ saveAnnotations(sampleId: $s, annotations: $a) { version } }"""


def _box(label: str, x: float) -> dict[str, object]:
    return {"label": label, "kind": "BBOX", "box": {"x": x, "y": 0.2, "w": 0.3, "h": 0.4}}


async def test_an_owner_edits_the_project_and_its_classes(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, _ = server
    project = api.project("Streets", "DETECTION", ["car", "person", "bike"])
    api.project("Taken", "DETECTION", ["car"])
    first, second = sorted((s for s in api.samples(project["id"]) if s["filename"].startswith("street/")),
                           key=lambda s: s["filename"])[:2]
    api(SAVE, s=first["id"], a=[_box("car", 0.1)])
    api(SAVE, s=second["id"], a=[_box("car", 0.1), _box("bike", 0.5)])

    await page.goto(f"{base}/#/projects/{project['id']}")
    opener = page.get_by_role("button", name="Settings…")
    await opener.click()
    dialog = page.get_by_role("dialog", name="Project settings")
    name = dialog.get_by_label("Name", exact=True)
    await expect(name).to_be_focused()
    await expect(name).to_have_value("Streets")

    # Name and description: a taken name is the server's CONFLICT, shown as it says it; Enter saves.
    await name.fill("Taken")
    await dialog.get_by_role("button", name="Save", exact=True).click()
    await expect(dialog.get_by_role("alert")).to_contain_text("A project named 'Taken' already exists.")
    await expect(name).to_have_attribute("aria-invalid", "true")
    await expect(name).to_be_focused()
    await name.fill("Street scenes")
    await dialog.get_by_label("Description", exact=True).fill("Cars & bikes <b>downtown</b>")
    await name.press("Enter")
    await expect(dialog.get_by_role("status")).to_have_text("Saved.")
    await expect(page.locator("h1")).to_contain_text("Street scenes")
    await expect(page.locator(".head")).to_contain_text("Cars & bikes <b>downtown</b>")  # text, not markup

    rows = dialog.locator("ol.classes li")
    chips = page.locator(".head .chips .chip")

    # Add, with Enter; then a refused removal of a class in use, and an allowed one.
    await dialog.get_by_label("new class").fill("truck")
    await dialog.get_by_label("new class").press("Enter")
    await expect(rows).to_have_count(4)
    await expect(rows.locator(".key")).to_have_text(["1", "2", "3", "4"])
    await expect(chips).to_have_text(["1car", "2person", "3bike", "4truck"])
    await expect(dialog.get_by_label("new class")).to_be_focused()
    await expect(dialog.get_by_label("new class")).to_have_value("")

    await dialog.get_by_label("new class").fill("person")
    await dialog.get_by_label("new class").press("Enter")
    await expect(dialog.get_by_role("alert")).to_have_text('"person" is already in the list.')
    long = "a-very-long-class-name-without-any-space-" * 3
    await dialog.get_by_label("new class").fill(long)
    await dialog.get_by_role("button", name="Add").click()
    await expect(rows).to_have_count(5)
    assert await dialog.evaluate("d => d.scrollWidth <= d.clientWidth"), "a long class name overflows the dialog"
    await shot(page, "project-settings-long-name")
    await dialog.get_by_role("button", name=f"remove class {long}").click()
    await expect(rows).to_have_count(4)

    await dialog.get_by_role("button", name="remove class car").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Classes still in use cannot be removed: car.")
    await expect(rows).to_have_count(4)
    await shot(page, "project-settings-in-use")
    await dialog.get_by_role("button", name="remove class truck").click()
    await expect(rows).to_have_count(3)
    await expect(dialog.get_by_role("status")).to_have_text("Removed truck.")

    # Order: bike up, from the keyboard too (the focus stays on the moved class's button).
    await dialog.get_by_role("button", name="move bike up").click()
    await expect(rows.locator(".name")).to_have_text(["car", "bike", "person"])
    await expect(dialog.get_by_role("button", name="move bike up")).to_be_focused()
    await expect(chips).to_have_text(["1car", "2bike", "3person"])

    # Rename: Escape cancels back to the Rename button; Enter renames every label.
    await dialog.get_by_role("button", name="rename class car").click()
    field = dialog.get_by_label("new name for car")
    await expect(field).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(field).to_have_count(0)
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("button", name="rename class car")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(field).to_be_focused()
    await field.fill(" ")
    await field.press("Enter")  # the server's VALIDATION, in the row
    await expect(rows.nth(0).get_by_role("alert")).to_have_text("The new class name is empty.")
    await expect(field).to_be_focused()
    await shot(page, "project-settings-rename-refused")
    await field.fill("automobile")
    await field.press("Enter")
    await expect(dialog.get_by_role("status")).to_have_text("Renamed car to automobile: 2 labels on 2 images.",
                                                            timeout=20_000)  # a job: the runner may be busy
    await expect(dialog.get_by_role("button", name="rename class automobile")).to_be_focused()
    await expect(chips).to_have_text(["1automobile", "2bike", "3person"])
    await expect(page.get_by_label("class distribution")).to_contain_text("automobile")
    await shot(page, "project-settings-renamed")

    # Merge: the name of another class asks first.
    await dialog.get_by_role("button", name="rename class bike").click()
    await dialog.get_by_label("new name for bike").fill("automobile")
    await dialog.get_by_label("new name for bike").press("Enter")
    confirm = rows.nth(1)
    await expect(confirm).to_contain_text("Merge bike into automobile? Every bike label becomes automobile, "
                                          "on every image.")
    await expect(confirm.get_by_role("button", name="Merge")).to_be_focused()
    await shot(page, "project-settings-merge")
    assert [a["label"] for s in api.samples(project["id"]) for a in s["annotations"]].count("bike") == 1  # not yet
    await confirm.get_by_role("button", name="Merge").click()
    await expect(dialog.get_by_role("status")).to_have_text("Merged bike into automobile: 1 label on 1 image.",
                                                            timeout=20_000)
    await expect(rows).to_have_count(2)
    await expect(chips).to_have_text(["1automobile", "2person"])
    await expect(page.locator(".tile .chip")).to_have_text(["automobile", "automobile"])  # the gallery's labels
    await shot(page, "project-settings")

    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(opener).to_be_focused()

    stored = api("query($p: ID!){ project(id: $p){ name description classes } }", p=project["id"])["project"]
    assert stored == {"name": "Street scenes", "description": "Cars & bikes <b>downtown</b>",
                      "classes": ["automobile", "person"]}
    labels = {s["id"]: sorted(a["label"] for a in s["annotations"]) for s in api.samples(project["id"])}
    assert labels[first["id"]] == ["automobile"]
    assert labels[second["id"]] == ["automobile", "automobile"]
    assert sum(map(len, labels.values())) == 3


    # Deleting asks for the project's name; then the Projects page no longer lists it.
    await opener.click()
    confirm_name = dialog.get_by_label("type Street scenes to delete the project")
    delete = dialog.get_by_role("button", name="Delete project")
    await confirm_name.fill("Street")
    await expect(delete).to_be_disabled()
    await confirm_name.fill("Street scenes")
    await shot(page, "project-settings-delete")
    await delete.click()
    await expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    await expect(page.get_by_text("Taken")).to_be_visible()
    await expect(page.get_by_text("Street scenes")).to_have_count(0)
    assert api("query($p: ID!){ project(id: $p){ id } }", p=project["id"])["project"] is None


async def test_the_review_page_follows_a_class_rename(page: Page, server: tuple[str, Path], api: Api) -> None:
    base, _ = server
    project = api.project("Reviewed", "DETECTION", ["car", "person"])
    sample = next(s for s in api.samples(project["id"]) if s["filename"].startswith("street/"))
    api(SAVE, s=sample["id"], a=[_box("car", 0.1)])
    await page.goto(f"{base}/#/projects/{project['id']}/review")
    classes = page.get_by_role("combobox").filter(has=page.get_by_role("option", name="Any class"))
    await expect(classes.get_by_role("option")).to_have_text(["Any class", "car", "person"])
    api('mutation($p: ID!){ renameClass(projectId: $p, from: "car", to: "automobile"){ id } }', p=project["id"])
    await expect(classes.get_by_role("option")).to_have_text(["Any class", "automobile", "person"],
                                                             timeout=20_000)  # once the rename job has run
