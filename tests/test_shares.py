"""Who may reach which volume path (AUTH_MODE=token users with API tokens): an owner reaches their own project's
folders and what an instance admin shares with them, on browse, previews, imports and exports; no export lands in a
project's image folder; the shares themselves are the admins'."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from settings import Settings
from tests.conftest import make_images
from tests.team import Caller, Team, team_app
from tests.waiting import until_ended

IMAGES = "/Volumes/test/cvx/images"
TEAM_B = "/Volumes/test/cvx/team_b"
EXPORTS = "/Volumes/test/cvx/exports"
OCTET = {"Content-Type": "application/octet-stream"}
BROWSE = "query($p: String!){ browse(path: $p){ entries { name } } }"
IMPORT = 'mutation($p: ID!, $f: String!){ importAnnotations(projectId: $p, input: {format: COCO, path: $f}){ id } }'
EXPORT = ("mutation($p: ID!, $d: String!){ exportDataset(projectId: $p, input: {format: COCO, destination: $d})"
          "{ id } }")
SHARE = "mutation($p: String!, $u: ID!){ shareVolume(path: $p, userId: $u){ id path user { name } createdBy } }"
UNSHARE = "mutation($p: String!, $u: ID!){ unshareVolume(path: $p, userId: $u) }"
COCO = json.dumps({"images": [], "annotations": [], "categories": []}).encode()


@pytest.fixture
def team(settings: Settings, images_dir: Path, tmp_path: Path) -> Iterator[Team]:
    make_images(images_dir, ["a1.jpg", "a2.jpg"], size=(16, 12))
    team_b = tmp_path / "team_b"
    make_images(team_b / "images", ["b1.jpg", "b2.jpg"], size=(16, 12))
    (team_b / "out").mkdir()
    (team_b / "labels.json").write_bytes(COCO)
    mounts = {**settings.volume_mounts, TEAM_B: team_b}
    with team_app(dataclasses.replace(settings, volume_mounts=mounts, export_volume=EXPORTS)) as t:
        yield t


def _project(root: Caller, name: str, folder: str, owner: str) -> str:
    project = {"name": name, "taskType": "DETECTION", "classes": ["cat"], "sourceVolume": folder}
    pid = root("mutation($i: CreateProjectInput!){ createProject(input: $i){ id } }", i=project)["createProject"]["id"]
    _wait(root, pid)
    root.add(pid, owner, "OWNER")
    return pid


def _wait(caller: Caller, project_id: str) -> dict[str, str]:
    return until_ended(lambda: caller("query($p: ID!){ jobs(projectId: $p, first: 1){ kind status error } }",
                                      p=project_id)["jobs"][0])


def _label_one(caller: Caller, project_id: str) -> None:
    """Labels one image of the project: an export of nothing is refused."""
    sid = caller("query($p: ID!){ project(id: $p){ samples(first: 1){ edges { node { id } } } } }",
                 p=project_id)["project"]["samples"]["edges"][0]["node"]["id"]
    caller("""mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "cat", kind: BBOX,
        box: {x: 0.1, y: 0.1, w: 0.5, h: 0.5}}]){ id } }""", s=sid)


def _refused(caller: Caller, query: str, path: str, **variables: str) -> str:
    """The FORBIDDEN message of a refused operation; it names the path."""
    err = caller.error(query, **variables)
    assert err["extensions"]["code"] == "FORBIDDEN" and path in err["message"], err
    return err["message"]


def _names(caller: Caller, path: str) -> list[str]:
    return [e["name"] for e in caller(BROWSE, p=path)["browse"]["entries"]]


def test_an_owner_reaches_their_own_folders_and_what_an_admin_shares(team: Team) -> None:
    root, alice, bob = team["root"], team["alice"], team["bob"]
    a = _project(root, "A", IMAGES, "alice")
    b = _project(root, "B", f"{TEAM_B}/images", "bob")

    # browse: her project's image folder, and above it only the way there
    assert _names(alice, IMAGES) == ["a1.jpg", "a2.jpg"]
    assert _names(alice, "/Volumes") == ["test"]
    assert _names(alice, "/Volumes/test/cvx") == ["exports", "images"]  # her export area is in exports
    assert _names(alice, EXPORTS) == [f"project-{a}"]
    _refused(alice, BROWSE, TEAM_B, p=TEAM_B)
    _refused(alice, BROWSE, f"{TEAM_B}/images", p=f"{TEAM_B}/images")
    _refused(alice, BROWSE, "/Volumes/local/cv_explorer/uploads", p="/Volumes/local/cv_explorer/uploads")

    # previews
    assert alice.get(f"/media/volume-thumbnail?path={IMAGES}/a1.jpg&size=64").status_code == 200
    other = alice.get(f"/media/volume-thumbnail?path={TEAM_B}/images/b1.jpg&size=64")
    assert other.status_code == 403 and f"{TEAM_B}/images/b1.jpg" in other.json()["error"]

    # imports: her own project's uploads, never another project's
    bobs = bob.post(f"/uploads/{b}?name=labels.json", content=COCO, headers=OCTET).json()["path"]
    _refused(alice, IMPORT, bobs, p=a, f=bobs)
    hers = alice.post(f"/uploads/{a}?name=labels.json", content=COCO, headers=OCTET).json()["path"]
    assert alice(IMPORT, p=a, f=hers)["importAnnotations"]["id"]
    _refused(bob, IMPORT, hers, p=b, f=hers)
    _refused(alice, IMPORT, f"{TEAM_B}/labels.json", p=a, f=f"{TEAM_B}/labels.json")

    # exports: into her project's export area (made on first use), nowhere else she was not given
    _label_one(alice, a)
    assert alice(EXPORT, p=a, d=f"{EXPORTS}/project-{a}")["exportDataset"]["id"]
    assert _wait(alice, a)["status"] == "SUCCEEDED"
    _refused(alice, EXPORT, f"{EXPORTS}/project-{b}", p=a, d=f"{EXPORTS}/project-{b}")
    _refused(alice, EXPORT, EXPORTS, p=a, d=EXPORTS)
    _refused(alice, EXPORT, f"{TEAM_B}/out", p=a, d=f"{TEAM_B}/out")
    assert "image folder" in _refused(alice, EXPORT, IMAGES, p=a, d=IMAGES)  # she reads it, but a rescan would
    # take the export for new images

    # an admin shares bob's team folder with alice: she reaches it, but still never writes into B's image folder
    alice_id = root.user_id("alice")
    assert root(SHARE, p=f"{TEAM_B}/", u=alice_id)["shareVolume"] == {
        "id": root(SHARE, p=TEAM_B, u=alice_id)["shareVolume"]["id"], "path": TEAM_B, "user": {"name": "alice"},
        "createdBy": "root"}  # normalised, and sharing twice is one share
    assert _names(alice, TEAM_B) == ["images", "out", "labels.json"]
    assert _names(alice, "/Volumes/test/cvx") == ["exports", "images", "team_b"]
    assert alice.get(f"/media/volume-thumbnail?path={TEAM_B}/images/b1.jpg&size=64").status_code == 200
    assert alice(IMPORT, p=a, f=f"{TEAM_B}/labels.json")["importAnnotations"]["id"]
    assert alice(EXPORT, p=a, d=f"{TEAM_B}/out")["exportDataset"]["id"]
    message = _refused(alice, EXPORT, f"{TEAM_B}/images", p=a, d=f"{TEAM_B}/images")
    assert "image folder" in message and f"project {b}" not in message  # B is not hers to name
    assert "image folder" in _refused(root, EXPORT, f"{TEAM_B}/images", p=a, d=f"{TEAM_B}/images")  # admins too

    # the share is listed for admins only, and taken back
    listed = root("{ volumeShares { path user { name } } }")["volumeShares"]
    assert listed == [{"path": TEAM_B, "user": {"name": "alice"}}]
    assert alice.code("{ volumeShares { path } }") == "FORBIDDEN"
    assert alice.code(SHARE, p=TEAM_B, u=root.user_id("bob")) == "FORBIDDEN"
    assert root(UNSHARE, p=TEAM_B, u=alice_id) == {"unshareVolume": True}
    assert root(UNSHARE, p=TEAM_B, u=alice_id) == {"unshareVolume": False}
    _refused(alice, BROWSE, TEAM_B, p=TEAM_B)


def test_a_share_names_an_existing_folder_inside_a_volume_and_a_real_user(team: Team) -> None:
    root = team["root"]
    alice = root.user_id("alice")
    assert root.code(SHARE, p=f"{TEAM_B}/missing", u=alice) == "NOT_FOUND"
    assert root.code(SHARE, p=f"{TEAM_B}/labels.json", u=alice) == "VALIDATION"  # a file, not a folder
    assert root.code(SHARE, p="/Volumes/test/cvx", u=alice) == "VALIDATION"  # above the volumes
    assert root.code(SHARE, p="/Volumes/test/cvx/" + "x" * 1100, u=alice) == "VALIDATION"
    assert root.code(SHARE, p=TEAM_B, u="987654") == "NOT_FOUND"
    assert root("{ volumeShares(userId: \"987654\") { path } }") == {"volumeShares": []}
