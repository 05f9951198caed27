"""A sample is only written under its own project: every labelling write that names a projectId refuses a sample of
another project with NOT_FOUND and changes nothing, for admins and members alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from settings import Settings
from tests.conftest import make_images
from tests.team import Team, team_app

WRITES = {
    "setClassification": """mutation($s: ID!, $p: ID){ w: setClassification(sampleId: $s, labels: ["cat"],
                             projectId: $p){ version } }""",
    "saveAnnotations": """mutation($s: ID!, $p: ID){ w: saveAnnotations(sampleId: $s, annotations: [], allowEmpty: true,
                           projectId: $p){ version } }""",
    "skipSample": "mutation($s: ID!, $p: ID){ w: skipSample(sampleId: $s, projectId: $p){ version } }",
    "reviewSample": """mutation($s: ID!, $p: ID){ w: reviewSample(sampleId: $s, accept: true, projectId: $p){
                        version } }""",
}
STATE = "query($s: ID!){ sample(id: $s){ version status reviewStatus annotations { label } } }"


@pytest.fixture
def team(settings: Settings, images_dir: Path) -> Iterator[Team]:
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(8, 8))
    with team_app(settings) as t:
        yield t


def _projects(team: Team) -> tuple[str, str, str, str]:
    """Two classification projects on the same images, alice owns both; (project A, B, a sample of A, of B)."""
    root = team["root"]
    a = root.project("A", task="CLASSIFICATION")
    b = root.project("B", task="CLASSIFICATION")
    for pid in (a, b):
        root.add(pid, "alice", "OWNER")
    return a, b, root.sample_ids(a)[0], root.sample_ids(b)[0]


@pytest.mark.parametrize("who", ["root", "alice"])  # an instance admin, a member of both projects
def test_a_write_under_the_wrong_project_is_refused_and_changes_nothing(team: Team, who: str) -> None:
    a, b, in_a, in_b = _projects(team)
    caller = team[who]
    team["root"](WRITES["setClassification"], s=in_b, p=b)  # labelled, so a review is possible
    before = caller(STATE, s=in_b)["sample"]
    for name, mutation in WRITES.items():
        error = caller.error(mutation, s=in_b, p=a)
        assert error["extensions"]["code"] == "NOT_FOUND", name
        assert error["message"] == f"Sample {in_b} is not in project {a}.", name
        assert caller(STATE, s=in_b)["sample"] == before, name
    assert caller(WRITES["skipSample"], s=in_a, p=a)["w"]["version"] == 2  # its own project: written


def test_a_stranger_learns_nothing_from_the_project_check(team: Team) -> None:
    a, _, _, in_b = _projects(team)
    team["root"].add(a, "bob", "ANNOTATOR")  # bob is in A only: B's sample must look like no sample at all
    error = team["bob"].error(WRITES["skipSample"], s=in_b, p=a)
    assert (error["extensions"]["code"], error["message"]) == ("NOT_FOUND", f"Sample {in_b} does not exist.")
    missing = team["bob"].error(WRITES["skipSample"], s="999999", p=a)
    assert missing["message"] == "Sample 999999 does not exist."
