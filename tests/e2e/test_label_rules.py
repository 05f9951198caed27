"""The labelling view's rules, each from a reproduction that once changed a stored label nobody chose: browsing never
writes, an undone edit never comes back, a sample of another project is never labelled here, and multi-label
'none of these' is the same on every key."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Api, shot

pytestmark = pytest.mark.e2e
IMAGE_W, IMAGE_H = 320, 240


@pytest.fixture(autouse=True)
def _only_good_images(server: tuple[str, Path]) -> None:
    (server[1] / "broken.jpg").unlink()


async def _open(page: Page, base: str, project_id: str, sample_id: str) -> None:
    await page.goto(f"{base}/#/projects/{project_id}/label/{sample_id}")
    await page.wait_for_function("id => window.__cvxPaint && window.__cvxPaint.sampleId === id", arg=sample_id)


async def _keys(page: Page, keys: str) -> None:
    """Presses space-separated keys, each once the previous one's work is done."""
    for key in keys.split():
        await page.keyboard.press(key)
        await expect(page.locator(".label-view")).to_have_attribute("aria-busy", "false")
    await expect(page.locator(".save-state")).not_to_have_text("Saving…")


def _state(api: Api, project_id: str) -> dict[str, tuple]:
    return {s["id"]: (s["status"], s["version"], tuple(sorted(a["label"] for a in s["annotations"])))
            for s in api.samples(project_id)}


SET = 'mutation($s: ID!, $l: [String!]!){ setClassification(sampleId: $s, labels: $l){ version } }'


@pytest.mark.parametrize("keys", ["ArrowRight ArrowLeft ArrowRight ArrowLeft ArrowRight",
                                  "ArrowRight ArrowRight ArrowLeft ArrowLeft ArrowRight ArrowRight"])
async def test_browsing_a_single_label_project_changes_nothing(page: Page, server: tuple[str, Path], api: Api,
                                                               keys: str) -> None:
    project = api.project("Browse", "CLASSIFICATION", ["cat", "bird"])
    first = api.samples(project["id"])[0]["id"]
    api(SET, s=first, l=["bird"])
    before = _state(api, project["id"])
    await _open(page, server[0], project["id"], first)
    await _keys(page, keys)
    assert _state(api, project["id"]) == before


async def test_a_class_key_then_browsing_labels_only_the_image_it_was_pressed_on(
        page: Page, server: tuple[str, Path], api: Api) -> None:
    project = api.project("One key", "CLASSIFICATION", ["cat", "bird"])
    ids = [s["id"] for s in api.samples(project["id"])]
    api(SET, s=ids[1], l=["bird"])
    before = _state(api, project["id"])
    await _open(page, server[0], project["id"], ids[0])
    await _keys(page, "1 ArrowLeft ArrowRight ArrowRight")  # cat on the first image, then browse
    after = _state(api, project["id"])
    assert after[ids[0]] == ("LABELED", 2, ("cat",))
    assert after[ids[1]] == before[ids[1]]  # the bird stays a bird
    assert {k: v for k, v in after.items() if k != ids[0]} == {k: v for k, v in before.items() if k != ids[0]}


async def test_browsing_a_multi_label_project_never_erases_a_label(page: Page, server: tuple[str, Path],
                                                                   api: Api) -> None:
    project = api.project("Multi", "CLASSIFICATION", ["cat", "dog"], multi=True)
    ids = [s["id"] for s in api.samples(project["id"])]
    api(SET, s=ids[1], l=["cat", "dog"])
    before = _state(api, project["id"])
    await _open(page, server[0], project["id"], ids[0])
    await _keys(page, "ArrowRight ArrowLeft ArrowRight ArrowRight")
    assert _state(api, project["id"]) == before


async def test_a_label_toggled_back_is_not_saved(page: Page, server: tuple[str, Path], api: Api) -> None:
    project = api.project("Toggle", "CLASSIFICATION", ["cat", "dog"], multi=True)
    first = api.samples(project["id"])[0]["id"]
    before = _state(api, project["id"])
    await _open(page, server[0], project["id"], first)
    await _keys(page, "1 1 ArrowRight ArrowLeft ArrowRight")
    assert _state(api, project["id"]) == before
    assert not any(k.startswith("cvx:draft:") for k in await page.evaluate("Object.keys(localStorage)"))


async def test_an_undone_box_is_never_saved(page: Page, server: tuple[str, Path], api: Api) -> None:
    project = api.project("Undo", "DETECTION", ["car"])
    first = api.samples(project["id"])[0]["id"]
    before = _state(api, project["id"])
    await _open(page, server[0], project["id"], first)
    canvas = await page.get_by_label("image canvas").bounding_box()
    assert canvas
    cx, cy = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    await page.mouse.move(cx - 60, cy - 40)
    await page.mouse.down()
    await page.mouse.move(cx + 60, cy + 40, steps=5)
    await page.mouse.up()
    await expect(page.locator("section[aria-label=boxes] li")).to_have_count(1)
    await _keys(page, "Control+z Escape ArrowRight ArrowLeft ArrowRight")
    assert _state(api, project["id"]) == before
    await page.reload()
    await page.wait_for_function("window.__cvxPaint && window.__cvxPaint.sampleId")
    await expect(page.locator("section[aria-label=boxes] li")).to_have_count(0)


async def test_enter_and_the_arrows_agree_on_none_of_these(page: Page, server: tuple[str, Path], api: Api) -> None:
    """Multi-label: Enter with every label off saves 'none of these'; the arrows send an edit that turned the last
    label off as the same thing."""
    project = api.project("None", "CLASSIFICATION", ["cat", "dog"], multi=True)
    ids = [s["id"] for s in api.samples(project["id"])]
    api(SET, s=ids[1], l=["cat"])
    await _open(page, server[0], project["id"], ids[0])
    await _keys(page, "Enter")  # nothing toggled on an unlabelled image: none of these
    await _keys(page, "1 ArrowRight")  # the cat of the second image turned off, then moved on
    state = _state(api, project["id"])
    assert state[ids[0]] == ("LABELED", 2, ())
    assert state[ids[1]] == ("LABELED", 3, ())


async def test_a_sample_of_another_project_is_not_labelled_here(page: Page, server: tuple[str, Path],
                                                                api: Api) -> None:
    here = api.project("Here", "CLASSIFICATION", ["cat", "dog"])
    there = api.project("There", "CLASSIFICATION", ["cat", "dog"])
    foreign = api.samples(there["id"])[0]["id"]
    before = _state(api, there["id"])
    await page.goto(f"{server[0]}/#/projects/{here['id']}/label/{foreign}")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("belongs to another project")
    await shot(page, "label-foreign-sample")
    await page.keyboard.press("1")
    assert _state(api, there["id"]) == before
    await alert.get_by_role("link", name="Open it in its own project").click()
    await page.wait_for_function("id => window.__cvxPaint && window.__cvxPaint.sampleId === id", arg=foreign)
    await _keys(page, "1")
    assert _state(api, there["id"])[foreign] == ("LABELED", 2, ("cat",))


async def test_pressing_the_stored_class_again_changes_nothing(page: Page, server: tuple[str, Path],
                                                               api: Api) -> None:
    project = api.project("Again", "CLASSIFICATION", ["cat", "dog"])
    first = api.samples(project["id"])[0]["id"]
    api(SET, s=first, l=["dog"])
    before = _state(api, project["id"])
    await _open(page, server[0], project["id"], first)
    await _keys(page, "2 ArrowLeft Enter")
    assert _state(api, project["id"]) == before


async def test_s_on_an_edited_image_skips_it_as_stored(page: Page, server: tuple[str, Path], api: Api) -> None:
    project = api.project("Skip", "CLASSIFICATION", ["cat", "dog"], multi=True)
    first = api.samples(project["id"])[0]["id"]
    api(SET, s=first, l=["cat"])
    await _open(page, server[0], project["id"], first)
    await page.keyboard.press("2")  # dog toggled on, not sent
    await page.keyboard.press("s")
    await expect(page.get_by_text("Your unsaved edit of this image was dropped")).to_be_visible()
    await shot(page, "label-skip-dropped-edit")
    await _keys(page, "ArrowLeft")
    assert _state(api, project["id"])[first] == ("SKIPPED", 3, ("cat",))
