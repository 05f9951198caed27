"""Volume paths and the local volume jail: traversal, encoded traversal, absolute paths, symlink escapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from db.errors import Invalid, NotFound
from tests.conftest import gql, gql_error, make_images
from volumes.local import LocalVolumes
from volumes.paths import parse


@pytest.mark.parametrize("bad", [
    "", "relative/path", "/etc/passwd", "/Volumes/../etc", "/Volumes/a/b/c/../../../x",
    "/Volumes/a/b/c/%2e%2e/x", "/Volumes/a/b/c/..%2Fx", "/Volumes/a/b/c\\..\\x", "/Volumes/a/b/c/\x00",
    "/VolumesX/a", "/Volumes/a b/c/d",
])
def test_parse_refuses(bad: str) -> None:
    with pytest.raises(Invalid):
        parse(bad)


def test_parse_normalises() -> None:
    assert parse("/Volumes//main/s/v/a//b/").text == "/Volumes/main/s/v/a/b"
    assert parse("/Volumes/main/s/v/100% real.jpg").inner == ("100% real.jpg",)


def test_local_jail(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir(), outside.mkdir()
    make_images(root, ["in.jpg", "sub/in2.jpg"])
    make_images(outside, ["secret.jpg"])
    os.symlink(outside, root / "escape")
    os.symlink(outside / "secret.jpg", root / "escape.jpg")
    os.symlink(root / "sub", root / "inside_link")
    v = LocalVolumes({"/Volumes/c/s/v": root})
    names = [e.name for e in v.list(parse("/Volumes/c/s/v"))]
    assert names == ["sub", "in.jpg"]  # links are not followed, even those that stay inside the mount
    for linked in ("escape/secret.jpg", "escape.jpg", "inside_link/in2.jpg"):
        for call in (v.open, v.stat, v.list, v.check_folder):
            with pytest.raises(Invalid, match="symbolic link"):
                call(parse(f"/Volumes/c/s/v/{linked}"))
        with pytest.raises(Invalid, match="symbolic link"):
            v.write(parse(f"/Volumes/c/s/v/{linked}/new.jpg"), b"x")
    walked = sorted(e.path for e in v.walk_files(parse("/Volumes/c/s/v")))
    assert walked == ["/Volumes/c/s/v/in.jpg", "/Volumes/c/s/v/sub/in2.jpg"]
    v.write(parse("/Volumes/c/s/v/escape.jpg"), b"replaced", overwrite=True)  # the link is replaced, not followed
    assert (root / "escape.jpg").read_bytes() == b"replaced" and (outside / "secret.jpg").read_bytes() != b"replaced"
    with pytest.raises(NotFound):
        v.list(parse("/Volumes/c/s/other"))
    assert [e.name for e in v.list(parse("/Volumes"))] == ["c"]
    assert [e.path for e in v.list(parse("/Volumes/c/s"))] == ["/Volumes/c/s/v"]


def test_browse(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["b.jpg", "a.png", "sub/c.jpg"])
    q = "query($p: String!){ browse(path: $p){ path entries { name path isDir size } } }"
    top = gql(client, q, p="/Volumes")["browse"]
    assert [e["name"] for e in top["entries"]] == ["local", "test"]  # local: the uploads volume, always mounted
    vols = gql(client, q, p="/Volumes/test/cvx")["browse"]["entries"]
    assert [e["path"] for e in vols] == ["/Volumes/test/cvx/exports", "/Volumes/test/cvx/images"]
    listing = gql(client, q, p="/Volumes/test/cvx/images")["browse"]["entries"]
    assert [(e["name"], e["isDir"]) for e in listing] == [("sub", True), ("a.png", False), ("b.jpg", False)]
    assert listing[1]["size"] > 0
    assert gql_error(client, q, p="/Volumes/test/cvx/images/../..")["extensions"]["code"] == "VALIDATION"
    assert gql_error(client, q, p="/tmp")["extensions"]["code"] == "VALIDATION"
    assert gql_error(client, q, p="/Volumes/test/cvx/images/nope")["extensions"]["code"] == "NOT_FOUND"


def test_browse_filter_and_pages_on_local_mounts(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, [f"IMG_{i:03}.jpg" for i in range(25)] + ["cover.png", "sub/x.jpg"])
    q = """query($p: String!, $f: String, $first: Int, $after: String){ browse(path: $p, filter: $f, first: $first,
      after: $after){ totalCount pageInfo { hasNextPage endCursor } entries { name } } }"""
    names, after = [], None
    while True:
        page = gql(client, q, p="/Volumes/test/cvx/images", first=10, after=after)["browse"]
        assert page["totalCount"] == 27
        names += [e["name"] for e in page["entries"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert names[:2] == ["sub", "IMG_000.jpg"] and len(names) == 27 and names[-1] == "cover.png"
    hits = gql(client, q, p="/Volumes/test/cvx/images", f="img_01")["browse"]
    assert [e["name"] for e in hits["entries"]] == [f"IMG_{i:03}.jpg" for i in range(10, 20)]
    whole = gql(client, q, p="/Volumes/test/cvx/images")["browse"]  # no `first`: everything, as before
    assert len(whole["entries"]) == 27 and not whole["pageInfo"]["hasNextPage"]
    assert gql_error(client, q, p="/Volumes/test/cvx/images", first=5, after="%%")["extensions"]["code"] == "VALIDATION"


def test_folder_image_count_looks_through_sub_folders_as_the_scan_does(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["top/a/1.jpg", "top/a/2.png", "top/b/deep/3.webp"])
    (images_dir / "top" / "a" / "notes.txt").write_text("not an image")
    q = "query($p: String!){ folderImageCount(path: $p){ images complete } }"
    got = gql(client, q, p="/Volumes/test/cvx/images/top")["folderImageCount"]
    assert got == {"images": 3, "complete": True}  # none directly in top/: all in sub-folders
    assert gql_error(client, q, p="/Volumes/test/cvx")["extensions"]["code"] == "VALIDATION"
    assert gql_error(client, q, p="/Volumes/test/cvx/images/nowhere")["extensions"]["code"] == "NOT_FOUND"
