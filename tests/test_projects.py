"""Projects over GraphQL: create + scan, list, update, delete, clone lineage, rescan; errors by code."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

STATS = """query($id: ID!){ project(id: $id){ stats { total unlabeled preLabeled labeled skipped
    perClass { label count } } } }"""


def test_create_project_scans_images_recursively(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.PNG", "sub/c.jpeg", "sub/deep/d.webp", "e.TIFF", "f.gif", "g.bmp"])
    (images_dir / "notes.txt").write_text("not an image")
    (images_dir / ".hidden.jpg").write_bytes(b"x")
    (images_dir / ".cache").mkdir()
    make_images(images_dir / ".cache", ["h.jpg"])
    project = create_project(client)
    assert project["scan"]["status"] == "SUCCEEDED"
    assert project["scan"]["result"] == {"imagesFound": 7, "samplesAdded": 7, "missing": 0, "foundAgain": 0}
    assert project["root"]["id"] == project["id"] and project["version"] == 1
    stats = gql(client, STATS, id=project["id"])["project"]["stats"]
    assert stats["total"] == 7 and stats["unlabeled"] == 7
    assert stats["perClass"] == [{"label": "cat", "count": 0}, {"label": "dog", "count": 0}]
    page = gql(client, """query($id: ID!){ project(id: $id){ samples(first: 100){ totalCount
        edges { node { filename path status width } } } } }""", id=project["id"])["project"]["samples"]
    names = sorted(e["node"]["filename"] for e in page["edges"])
    assert names == ["a.jpg", "b.PNG", "e.TIFF", "f.gif", "g.bmp", "sub/c.jpeg", "sub/deep/d.webp"]
    assert page["totalCount"] == 7
    assert {e["node"]["path"] for e in page["edges"]} >= {"/Volumes/test/cvx/images/sub/c.jpeg"}


def test_rescan_adds_only_new_files(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = create_project(client)
    make_images(images_dir, ["c.jpg"])
    job = gql(client, "mutation($id: ID!){ rescanProject(id: $id){ id kind status } }", id=project["id"])
    done = wait_for_job(client, job["rescanProject"]["id"])
    assert done["result"] == {"imagesFound": 3, "samplesAdded": 1, "missing": 0, "foundAgain": 0}
    assert gql(client, STATS, id=project["id"])["project"]["stats"]["total"] == 3


def test_duplicate_name_is_conflict_and_bad_input_is_validation(client: TestClient, images_dir: Path) -> None:
    create_project(client, name="Cats")
    err = gql_error(client, """mutation { createProject(input: {name: "Cats", taskType: DETECTION,
        classes: ["a"], sourceVolume: "/Volumes/test/cvx/images"}) { id } }""")
    assert err["extensions"]["code"] == "CONFLICT" and "Cats" in err["message"]
    for classes, needle in (([], "at least one class"), (["a", "a"], "twice"), (["a", " "], "empty")):
        err = gql_error(client, """mutation($c: [String!]!) { createProject(input: {name: "X", taskType: DETECTION,
            classes: $c, sourceVolume: "/Volumes/test/cvx/images"}) { id } }""", c=classes)
        assert err["extensions"]["code"] == "VALIDATION" and needle in err["message"]
    err = gql_error(client, """mutation { createProject(input: {name: "M", taskType: DETECTION, multiLabel: true,
        classes: ["a"], sourceVolume: "/Volumes/test/cvx/images"}) { id } }""")
    assert err["extensions"]["code"] == "VALIDATION"
    assert [p["name"] for p in gql(client, "{ projects { name } }")["projects"]] == ["Cats"]


def test_source_folder_must_be_a_real_folder_inside_a_mount(client: TestClient, tmp_path: Path) -> None:
    cases = {
        "/Volumes/test/cvx/images/../../etc": "VALIDATION",
        "/Volumes/test/cvx/images/%2e%2e/x": "VALIDATION",
        "/etc/passwd": "VALIDATION",
        "images": "VALIDATION",
        "/Volumes/test/cvx": "VALIDATION",
        "/Volumes/test/cvx/nope": "NOT_FOUND",
        "/Volumes/test/cvx/images/missing": "NOT_FOUND",
    }
    for path, code in cases.items():
        err = gql_error(client, """mutation($p: String!) { createProject(input: {name: "X", taskType: DETECTION,
            classes: ["a"], sourceVolume: $p}) { id } }""", p=path)
        assert err["extensions"]["code"] == code, (path, err)
    assert gql(client, "{ projects { id } }")["projects"] == []


def test_update_and_delete(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg"])
    p = create_project(client)
    upd = gql(client, """mutation($id: ID!) { updateProject(id: $id, input: {name: "Kittens", description: "d",
        classes: ["dog", "cat", "bird"]}) { name description classes } }""", id=p["id"])["updateProject"]
    assert upd == {"name": "Kittens", "description": "d", "classes": ["dog", "cat", "bird"]}
    assert gql(client, "mutation($id: ID!) { deleteProject(id: $id) }", id=p["id"])["deleteProject"] is True
    assert gql(client, "query($id: ID!) { project(id: $id) { id } }", id=p["id"])["project"] is None
    err = gql_error(client, "mutation($id: ID!) { deleteProject(id: $id) }", id=p["id"])
    assert err["extensions"]["code"] == "NOT_FOUND"
    for bad in ("abc", "-1", "99999999999999999999999"):
        err = gql_error(client, "mutation($id: ID!) { deleteProject(id: $id) }", id=bad)
        assert err["extensions"]["code"] == "NOT_FOUND"


def test_clone_builds_a_lineage(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"])
    v1 = create_project(client, name="Cats")
    clone = """mutation($id: ID!) { cloneProject(id: $id) { id name version parent { id } root { id }
        stats { total unlabeled } } }"""
    v2 = gql(client, clone, id=v1["id"])["cloneProject"]
    v3 = gql(client, clone, id=v2["id"])["cloneProject"]
    assert (v2["name"], v2["version"], v2["parent"]["id"], v2["root"]["id"]) == ("Cats v2", 2, v1["id"], v1["id"])
    assert (v3["name"], v3["version"], v3["parent"]["id"], v3["root"]["id"]) == ("Cats v3", 3, v2["id"], v1["id"])
    assert v3["stats"] == {"total": 3, "unlabeled": 3}
    versions = gql(client, "query($id: ID!){ project(id: $id){ versions { name } } }", id=v2["id"])
    assert [v["name"] for v in versions["project"]["versions"]] == ["Cats", "Cats v2", "Cats v3"]
    # Deleting the root keeps the lineage together under the oldest remaining version.
    gql(client, "mutation($id: ID!) { deleteProject(id: $id) }", id=v1["id"])
    left = gql(client, "query($id: ID!){ project(id: $id){ root { name } parent { name } versions { name } } }",
               id=v3["id"])["project"]
    assert left == {"root": {"name": "Cats v2"}, "parent": {"name": "Cats v2"},
                    "versions": [{"name": "Cats v2"}, {"name": "Cats v3"}]}
