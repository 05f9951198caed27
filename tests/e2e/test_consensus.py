"""Consensus labelling in Chromium: three people classify the same images with overlap 3, the dashboard shows
their agreement matrix live, and the owner adjudicates the image they disagree on from the keyboard."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from tests.e2e.conftest import shot
from tests.e2e.test_box_tools import BOXES
from tests.e2e.test_labelling_view import _drag, _open
from tests.e2e.test_team import Api, sign_in, team_server  # noqa: F401  (the fixture)

pytestmark = pytest.mark.e2e
SAMPLES = """query($p: ID!){ project(id: $p){ samples(first: 10){ edges { node { filename status labeledBy
  annotations { label } } } } } }"""


def _project_of_three(api: dict[str, Api], task: str) -> str:
    """A project (classes car, person) scanned, owned by alice, bob and carol annotators; overlap 3, agreement
    below 0.6 goes to adjudication."""
    pid: str = api["root"]("""mutation($t: TaskType!){ createProject(input: {name: "Triple", taskType: $t,
        classes: ["car", "person"], sourceVolume: "/Volumes/team/vision/images"}){ id } }""", t=task)[
        "createProject"]["id"]
    for name, role in (("alice", "OWNER"), ("bob", "ANNOTATOR"), ("carol", "ANNOTATOR")):
        api["root"]("mutation($p: ID!, $u: String!, $r: ProjectRole!){ setProjectMember(projectId: $p, userName: $u, "
                    "role: $r){ role } }", p=pid, u=name, r=role)
    deadline = time.monotonic() + 20
    while api["root"]("query($p: ID!){ jobs(projectId: $p){ status } }", p=pid)["jobs"][0]["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    api["alice"]("""mutation($p: ID!){ setConsensusSettings(projectId: $p, input: {overlap: 3, iouThreshold: 0.5,
        agreementThreshold: 0.6}){ id } }""", p=pid)
    return pid


async def _dashboard(page: Page, base: str, pid: str) -> None:
    """Open the project's dashboard before anyone saved (its agreement arrives live), and wait for its 4 thumbnails:
    a first decode stores the image's size, and on PostgreSQL a claim passes over a row being written (SKIP LOCKED),
    so a labeller starting meanwhile would be handed the second image first."""
    await page.goto(f"{base}/#/projects/{pid}")
    await expect(page.locator(".tile img")).to_have_count(4)
    await page.wait_for_function("[...document.querySelectorAll('.tile img')].every(i => i.complete "
                                 "&& i.naturalWidth > 0)")


async def _matrix_then_adjudication(dashboard: Page, shots: str, waiting: str) -> Locator:
    """The dashboard's labeller-by-labeller matrix (3 rows) and its "1 to adjudicate" link, arrived live; then,
    through the link, adjudication showing the image `waiting` with a checkbox per labeller. Its side panel."""
    matrix = dashboard.get_by_role("table", name="labeller by labeller agreement")
    await expect(matrix).to_be_visible()
    await expect(matrix.locator("tbody tr")).to_have_count(3)
    await expect(dashboard.get_by_role("link", name="1 to adjudicate")).to_be_visible()
    for w, h in ((1440, 900), (1024, 768)):
        await dashboard.set_viewport_size({"width": w, "height": h})
        await shot(dashboard, f"{shots}-{w}")
    await dashboard.get_by_role("link", name="1 to adjudicate").click()
    await expect(dashboard.get_by_role("heading", name="Adjudication")).to_be_visible()
    side = dashboard.get_by_role("complementary", name="adjudication")
    await expect(side.get_by_text(waiting)).to_be_visible()
    await expect(side.get_by_role("checkbox")).to_have_count(3)
    return side


async def _label(page: Page, base: str, pid: str, keys: str) -> None:
    await page.goto(f"{base}/#/projects/{pid}/label")
    await page.wait_for_function("window.__cvxPaint && window.__cvxPaint.sampleId")
    for key in keys:
        name = await page.locator(".file").text_content()
        await page.keyboard.press(key)
        await expect(page.locator(".file")).not_to_have_text(name or "")
    await expect(page.get_by_text("All changes saved")).to_be_visible()


async def test_three_labellers_agreement_on_the_dashboard_and_adjudication(
        pages: list[Page], team_server: tuple[str, dict[str, Api]]) -> None:  # noqa: F811
    base, api = team_server
    pid = _project_of_three(api, "CLASSIFICATION")

    dashboard, bob, carol = pages
    for page, name in ((dashboard, "alice"), (bob, "bob"), (carol, "carol")):
        await sign_in(page, base, name)
    await _dashboard(dashboard, base, pid)
    await _label(bob, base, pid, "12")  # the first image a car for everyone; the second: a person, but not for alice
    await _label(carol, base, pid, "12")
    before = {s["node"]["filename"]: s["node"] for s in api["root"](SAMPLES, p=pid)["project"]["samples"]["edges"]}
    assert before["street/00.jpg"]["status"] == "UNLABELED"  # two of three: no labels yet
    await _label(await dashboard.context.new_page(), base, pid, "11")  # alice labels in a second tab
    stored = {s["node"]["filename"]: s["node"] for s in api["root"](SAMPLES, p=pid)["project"]["samples"]["edges"]}
    assert (stored["street/00.jpg"]["labeledBy"], stored["street/00.jpg"]["annotations"]) == (
        "consensus", [{"label": "car"}])
    assert stored["street/01.jpg"]["annotations"] == [{"label": "person"}]

    side = await _matrix_then_adjudication(dashboard, "consensus-dashboard", "street/01.jpg")
    await dashboard.keyboard.press("2")  # hide bob
    await expect(side.get_by_role("checkbox", name="show bob")).not_to_be_checked()
    for w, h in ((1440, 900), (1024, 768)):
        await dashboard.set_viewport_size({"width": w, "height": h})
        await shot(dashboard, f"consensus-adjudication-{w}")
    await dashboard.keyboard.press("p")
    await dashboard.keyboard.press("1")  # keep alice's labels: a car after all
    await expect(dashboard.get_by_text("No image waits for adjudication.")).to_be_visible()
    decided = {s["node"]["filename"]: s["node"] for s in api["root"](SAMPLES, p=pid)["project"]["samples"]["edges"]}
    assert (decided["street/01.jpg"]["labeledBy"], decided["street/01.jpg"]["annotations"]) == (
        "alice", [{"label": "car"}])


DETECTIONS = """query($p: ID!){ project(id: $p){ samples(first: 10){ edges { node { id filename status labeledBy
  agreement { score state } annotations { label isDraft box { x y w h } } } } } } }"""
Corners = tuple[tuple[float, float], tuple[float, float]]
A_BOXES: dict[str, Corners] = {"alice": ((0.19, 0.23), (0.6, 0.72)), "bob": ((0.2, 0.2), (0.6, 0.7)),
                               "carol": ((0.24, 0.2), (0.64, 0.7))}  # one car, drawn a little differently
B_BOXES: dict[str, Corners] = {"alice": ((0.05, 0.05), (0.35, 0.35)), "bob": ((0.5, 0.4), (0.9, 0.9)),
                               "carol": ((0.52, 0.42), (0.9, 0.88))}  # alice sees the car elsewhere


def _detections(api: Api, pid: str) -> dict[str, dict[str, Any]]:
    return {e["node"]["filename"]: e["node"] for e in api(DETECTIONS, p=pid)["project"]["samples"]["edges"]}


def _close(box: dict[str, float], corners: Corners) -> bool:
    """A stored box is where the mouse drew it (its corners), to a hundredth of the image."""
    (x0, y0), (x1, y1) = corners
    return all(abs(box[k] - v) < 0.01 for k, v in zip("xywh", (x0, y0, x1 - x0, y1 - y0), strict=True))


async def _draw(page: Page, base: str, pid: str, images: list[dict[str, Any]], boxes: list[Corners]) -> None:
    """Open the labelling view, draw one box (the first class, car) on each image with the mouse, Enter saves."""
    await _open(page, base, pid)
    for image, (a, b) in zip(images, boxes, strict=True):
        await expect(page.locator(".file")).to_have_text(image["filename"])
        await page.wait_for_function(f"window.__cvxPaint.sampleId === '{image['id']}'")
        await _drag(page, a, b)
        await expect(page.locator(BOXES)).to_have_count(1)
        await page.keyboard.press("Enter")
        await expect(page.locator(".file")).not_to_have_text(image["filename"])
    await expect(page.get_by_text("All changes saved")).to_be_visible()


async def test_three_labellers_draw_boxes_agreement_consensus_box_and_adjudication_in_colours(
        pages: list[Page], team_server: tuple[str, dict[str, Api]]) -> None:  # noqa: F811
    base, api = team_server
    pid = _project_of_three(api, "DETECTION")
    images = sorted(_detections(api["root"], pid).values(), key=lambda s: s["filename"])[:2]
    a_name, b_name = (i["filename"] for i in images)

    dashboard, bob, carol = pages
    for page, name in ((dashboard, "alice"), (bob, "bob"), (carol, "carol")):
        await sign_in(page, base, name)
    await _dashboard(dashboard, base, pid)
    for page, name in ((bob, "bob"), (carol, "carol")):
        await _draw(page, base, pid, images, [A_BOXES[name], B_BOXES[name]])
    before = _detections(api["root"], pid)
    assert before[a_name]["status"] == "UNLABELED" and before[a_name]["annotations"] == []  # two of three: no labels
    await _draw(await dashboard.context.new_page(), base, pid, images, [A_BOXES["alice"], B_BOXES["alice"]])

    stored = _detections(api["root"], pid)
    a = stored[a_name]
    assert (a["status"], a["labeledBy"], [x["label"] for x in a["annotations"]]) == ("LABELED", "consensus", ["car"])
    mean = tuple(sum(c[i][j] for c in A_BOXES.values()) / 3 for i in (0, 1) for j in (0, 1))  # x0, y0, x1, y1
    assert _close(a["annotations"][0]["box"], ((mean[0], mean[1]), (mean[2], mean[3]))), a["annotations"]
    assert a["agreement"]["state"] == "AGREED" and a["agreement"]["score"] == 1.0
    b = stored[b_name]
    assert b["agreement"]["state"] == "ADJUDICATE" and b["agreement"]["score"] < 0.6, b["agreement"]
    [kept] = b["annotations"]  # until decided: the majority's box (bob's and carol's, averaged)
    assert _close(kept["box"], ((0.51, 0.41), (0.9, 0.89))), kept

    side = await _matrix_then_adjudication(dashboard, "consensus-detection-dashboard", b_name)
    drawn = dashboard.locator(".frame .box[data-user]")
    await expect(drawn).to_have_count(3)  # one box per labeller, each in the labeller's colour
    colours = {await d.get_attribute("data-user"): await d.evaluate("e => getComputedStyle(e).borderTopColor")
               for d in await drawn.all()}
    assert set(colours) == {"alice", "bob", "carol"} and len(set(colours.values())) == 3, colours
    await shot(dashboard, "consensus-detection-adjudication-all-1024")
    await dashboard.keyboard.press("2")  # hide bob
    await expect(side.get_by_role("checkbox", name="show bob")).not_to_be_checked()
    await expect(drawn).to_have_count(2)
    for w, h in ((1440, 900), (1024, 768)):
        await dashboard.set_viewport_size({"width": w, "height": h})
        await shot(dashboard, f"consensus-detection-adjudication-{w}")
    await dashboard.keyboard.press("p")
    await dashboard.keyboard.press("1")  # keep alice's box: the car is where she drew it
    await expect(dashboard.get_by_text("No image waits for adjudication.")).to_be_visible()
    decided = _detections(api["root"], pid)[b_name]
    assert (decided["labeledBy"], decided["agreement"]["state"]) == ("alice", "ADJUDICATED")
    [box] = decided["annotations"]
    assert box["label"] == "car" and _close(box["box"], B_BOXES["alice"]), box
