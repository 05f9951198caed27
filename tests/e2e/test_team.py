"""A team in Chromium (AUTH_MODE=token): sign in from the keyboard, an owner adds members in the Members panel, a
reviewer accepts and rejects with A and R, and the labeller gets the rejected image back with the comment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from bench.live_server import live_server
from tests.conftest import make_images
from tests.e2e.conftest import shot
from tests.graphql_client import gql
from tests.team import add_users

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough password"
SAVE = """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "car", kind: BBOX,
  box: {x: 0.2, y: 0.2, w: 0.4, h: 0.3}}]){ version } }"""


class Api:
    """One user's GraphQL over HTTP with their API token (what a pipeline does)."""

    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        return gql(self.http, query, **variables)


@pytest.fixture
def team_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, Api]]]:
    images = tmp_path / "images"
    make_images(images, [f"street/{i:02}.jpg" for i in range(4)], size=(320, 240))
    tokens = add_users(database_url, {"root": True, "alice": False, "bob": False, "carol": False}, PASSWORD)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "AUTH_MODE": "token",
           "VOLUME_MOUNTS": f"/Volumes/team/vision/images={images}"}
    with live_server(env, forked=True) as base:
        apis = {name: Api(base, token) for name, token in tokens.items()}
        yield base, apis
        for api in apis.values():
            api.http.close()


async def sign_in(page: Page, base: str, name: str) -> None:
    await page.goto(base)
    await expect(page.get_by_role("heading", name="Sign in to CV Explorer")).to_be_visible()
    await page.keyboard.type(name)  # the name field has the focus
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_title("signed in as")).to_have_text(name)


async def test_sign_in_members_review_and_the_rejected_image_back_to_its_labeller(
        pages: list[Page], team_server: tuple[str, dict[str, Api]]) -> None:
    base, api = team_server
    owner_page, reviewer_page, labeller_page = pages
    pid = api["root"]("""mutation{ createProject(input: {name: "Street", taskType: DETECTION,
        classes: ["car", "person"], sourceVolume: "/Volumes/team/vision/images"}){ id } }""")["createProject"]["id"]
    api["root"]('mutation($p: ID!){ setProjectMember(projectId: $p, userName: "alice", role: OWNER){ role } }', p=pid)
    deadline = time.monotonic() + 20
    while api["root"]("query($p: ID!){ jobs(projectId: $p){ status } }", p=pid)["jobs"][0]["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    # a wrong password says so; then the owner signs in with the keyboard and adds the team by name
    await owner_page.goto(base)
    await owner_page.get_by_label("Name").fill("alice")
    await owner_page.get_by_label("Password").fill("not the password")
    await owner_page.keyboard.press("Enter")
    await expect(owner_page.get_by_role("alert")).to_have_text("Wrong name or password.")
    await sign_in(owner_page, base, "alice")
    await owner_page.get_by_role("link", name="Street").click()
    members = owner_page.get_by_role("region", name="members")
    for name, role in (("bob", "ANNOTATOR"), ("carol", "REVIEWER")):
        await members.get_by_label("user name").fill(name)
        await members.get_by_label("role", exact=True).select_option(role)
        await members.get_by_label("user name").press("Enter")
        await expect(members.get_by_label(f"role of {name}")).to_have_value(role)
    await shot(owner_page, "members-panel")

    # bob labels three images (through the API, as a script would)
    samples = [e["node"]["id"] for e in api["bob"]("query($p: ID!){ project(id: $p){ samples(first: 10){ edges { "
                                                   "node { id } } } } }", p=pid)["project"]["samples"]["edges"]]
    for sid in samples[:3]:
        api["bob"](SAVE, s=sid)

    # the reviewer: A accepts, C + comment + Ctrl+Enter rejects
    await sign_in(reviewer_page, base, "carol")
    await reviewer_page.goto(f"{base}/#/projects/{pid}/review")
    review = reviewer_page.get_by_role("complementary", name="review")
    await expect(reviewer_page.get_by_text("3 in the queue")).to_be_visible()
    await expect(review).to_contain_text("labelled by bob")
    await reviewer_page.keyboard.press("a")
    await expect(reviewer_page.get_by_text("2 in the queue")).to_be_visible()
    await reviewer_page.keyboard.press("c")
    await reviewer_page.keyboard.type("the car's bumper is outside the box")
    await shot(reviewer_page, "review-view")
    await reviewer_page.keyboard.press("Control+Enter")
    await expect(reviewer_page.get_by_text("1 in the queue")).to_be_visible()
    states = api["carol"]("""query($p: ID!){ project(id: $p){ stats { accepted rejected } samples(first: 3){ edges {
        node { reviewStatus reviewComment } } } } }""", p=pid)["project"]
    assert states["stats"] == {"accepted": 1, "rejected": 1}
    assert [e["node"]["reviewStatus"] for e in states["samples"]["edges"]] == ["ACCEPTED", "REJECTED", "NONE"]
    await reviewer_page.get_by_role("link", name="← Street").click()
    await reviewer_page.get_by_label("review filter").select_option("REJECTED")
    await expect(reviewer_page.locator(".tile")).to_have_count(1)

    # the labeller's next image is the rejected one, with the comment
    await sign_in(labeller_page, base, "bob")
    await labeller_page.goto(f"{base}/#/projects/{pid}/label")
    banner = labeller_page.get_by_role("status", name="review")
    await expect(banner).to_contain_text("Rejected by carol: the car's bumper is outside the box")
    await shot(labeller_page, "rejected-back-to-labeller")
    await labeller_page.keyboard.press("Enter")  # saved as it is: back to review (a labeller may disagree)
    deadline = time.monotonic() + 10
    while api["carol"]("query($p: ID!){ project(id: $p){ stats { rejected } } }", p=pid)["project"]["stats"][
            "rejected"]:
        assert time.monotonic() < deadline, "the rejected sample was not saved"
        await asyncio.sleep(0.1)
    await labeller_page.get_by_role("link", name="← Street").click()
    await labeller_page.get_by_role("button", name="Sign out").click()
    await expect(labeller_page.get_by_role("heading", name="Sign in to CV Explorer")).to_be_visible()
