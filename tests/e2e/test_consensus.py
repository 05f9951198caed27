"""Consensus labelling in Chromium: three people classify the same images with overlap 3, the dashboard shows
their agreement matrix live, and the owner adjudicates the image they disagree on from the keyboard."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import shot
from tests.e2e.test_team import Api, sign_in, team_server  # noqa: F401  (the fixture)

pytestmark = pytest.mark.e2e
SAMPLES = """query($p: ID!){ project(id: $p){ samples(first: 10){ edges { node { filename status labeledBy
  annotations { label } } } } } }"""


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
    pid = api["root"]("""mutation{ createProject(input: {name: "Triple", taskType: CLASSIFICATION,
        classes: ["car", "person"], sourceVolume: "/Volumes/team/vision/images"}){ id } }""")["createProject"]["id"]
    for name, role in (("alice", "OWNER"), ("bob", "ANNOTATOR"), ("carol", "ANNOTATOR")):
        api["root"]("mutation($p: ID!, $u: String!, $r: ProjectRole!){ setProjectMember(projectId: $p, userName: $u, "
                    "role: $r){ role } }", p=pid, u=name, r=role)
    deadline = time.monotonic() + 20
    while api["root"]("query($p: ID!){ jobs(projectId: $p){ status } }", p=pid)["jobs"][0]["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    api["alice"]("""mutation($p: ID!){ setConsensusSettings(projectId: $p, input: {overlap: 3,
        agreementThreshold: 0.6}){ id } }""", p=pid)

    dashboard, bob, carol = pages
    for page, name in ((dashboard, "alice"), (bob, "bob"), (carol, "carol")):
        await sign_in(page, base, name)
    await dashboard.goto(f"{base}/#/projects/{pid}")  # open before anyone saved: the matrix arrives live
    await _label(bob, base, pid, "12")  # the first image a car for everyone; the second: a person, but not for alice
    await _label(carol, base, pid, "12")
    before = {s["node"]["filename"]: s["node"] for s in api["root"](SAMPLES, p=pid)["project"]["samples"]["edges"]}
    assert before["street/00.jpg"]["status"] == "UNLABELED"  # two of three: no labels yet
    await _label(await dashboard.context.new_page(), base, pid, "11")  # alice labels in a second tab
    stored = {s["node"]["filename"]: s["node"] for s in api["root"](SAMPLES, p=pid)["project"]["samples"]["edges"]}
    assert (stored["street/00.jpg"]["labeledBy"], stored["street/00.jpg"]["annotations"]) == (
        "consensus", [{"label": "car"}])
    assert stored["street/01.jpg"]["annotations"] == [{"label": "person"}]

    matrix = dashboard.get_by_role("table", name="labeller by labeller agreement")
    await expect(matrix).to_be_visible()
    await expect(matrix.locator("tbody tr")).to_have_count(3)
    await expect(dashboard.get_by_role("link", name="1 to adjudicate")).to_be_visible()
    for w, h in ((1440, 900), (1024, 768)):
        await dashboard.set_viewport_size({"width": w, "height": h})
        await shot(dashboard, f"consensus-dashboard-{w}")

    await dashboard.get_by_role("link", name="1 to adjudicate").click()
    await expect(dashboard.get_by_role("heading", name="Adjudication")).to_be_visible()
    side = dashboard.get_by_role("complementary", name="adjudication")
    await expect(side.get_by_text("street/01.jpg")).to_be_visible()
    await expect(side.get_by_role("checkbox")).to_have_count(3)
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
