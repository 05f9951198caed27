"""Quality filters on box geometry in the gallery (Project.samples) and the review queue: small boxes, slivers,
nested or heavily overlapping boxes of one class, many boxes; images whose size is unknown are not matched by the
pixel criteria; out-of-range values are VALIDATION naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import create_project, gql, gql_error, make_images

SAVE = """mutation($s: ID!, $a: [AnnotationInput!]!){ saveAnnotations(sampleId: $s, annotations: $a){ id } }"""
GALLERY = """query($p: ID!, $g: GeometryFilter){ project(id: $p){ samples(geometry: $g, first: 50){ totalCount
  edges { node { filename } } } } }"""
QUEUE = """query($p: ID!, $g: GeometryFilter){ reviewQueue(projectId: $p, geometry: $g){ totalCount
  edges { node { filename } } } }"""

# images of 100 x 50 pixels: a box of w = 0.05 is 5 px wide
BOXES: dict[str, list[tuple[str, float, float, float, float]]] = {
    "a_small.jpg": [("cat", 0.1, 0.1, 0.05, 0.5)],  # 5 x 25 px: small, ratio 5
    "b_sliver.jpg": [("cat", 0.05, 0.1, 0.9, 0.2)],  # 90 x 10 px: ratio 9
    "c_nested.jpg": [("cat", 0.1, 0.1, 0.5, 0.5), ("cat", 0.2, 0.2, 0.1, 0.2)],
    "d_overlap.jpg": [("cat", 0.1, 0.1, 0.4, 0.4), ("cat", 0.12, 0.1, 0.4, 0.4)],  # IoU 0.905
    "e_classes.jpg": [("cat", 0.1, 0.1, 0.4, 0.4), ("dog", 0.12, 0.1, 0.4, 0.4), ("dog", 0.6, 0.6, 0.1, 0.2)],
    "h_dog_in_cat.jpg": [("cat", 0.1, 0.1, 0.5, 0.5), ("dog", 0.2, 0.2, 0.1, 0.2)],  # nested, but not one class
    "f_many.jpg": [("cat", 0.1 * i, 0.1, 0.09, 0.5) for i in range(4)],  # 9 x 25 px each
    "g_unsized.jpg": [("cat", 0.1, 0.1, 0.01, 0.01)],  # tiny, but the server never saw the image
}


def _names(client: TestClient, query: str, pid: str, key: str, **g: Any) -> list[str]:
    data = gql(client, query, p=pid, g=g)
    conn = data["project"]["samples"] if key == "gallery" else data["reviewQueue"]
    names = sorted(e["node"]["filename"] for e in conn["edges"])
    assert conn["totalCount"] == len(names)
    return names


def test_geometry_filters_in_the_gallery_and_the_review_queue(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, list(BOXES), size=(100, 50))
    pid = create_project(client)["id"]
    nodes = gql(client, "query($p: ID!){ project(id: $p){ samples(first: 50){ edges { node { id filename "
                        "imageUrl } } } } }", p=pid)["project"]["samples"]["edges"]
    for n in (e["node"] for e in nodes):
        boxes = BOXES[n["filename"]]
        gql(client, SAVE, s=n["id"], a=[{"label": lab, "kind": "BBOX", "box": {"x": x, "y": y, "w": w, "h": h}}
                                         for lab, x, y, w, h in boxes])
        if n["filename"] != "g_unsized.jpg":
            assert client.get(n["imageUrl"]).status_code == 200  # showing the image tells the server its size

    gallery = lambda **g: _names(client, GALLERY, pid, "gallery", **g)  # noqa: E731
    assert gallery(smallerThanPx=8) == ["a_small.jpg"]
    assert gallery(smallerThanPx=10) == ["a_small.jpg", "f_many.jpg"]
    assert gallery(sliverRatio=8) == ["b_sliver.jpg"]
    assert gallery(sliverRatio=4.5) == ["a_small.jpg", "b_sliver.jpg"]
    assert gallery(smallerThanPx=10, sliverRatio=4.5) == ["a_small.jpg"]  # every criterion must hold
    assert gallery(nestedSameClass=True) == ["c_nested.jpg"]
    assert gallery(overlapSameClass=0.8) == ["d_overlap.jpg"]
    assert gallery(overlapSameClass=0.05) == ["c_nested.jpg", "d_overlap.jpg"]
    assert gallery(moreBoxesThan=3) == ["f_many.jpg"]
    assert gallery(moreBoxesThan=2) == ["e_classes.jpg", "f_many.jpg"]
    assert len(gallery()) == len(BOXES)
    assert _names(client, QUEUE, pid, "queue", nestedSameClass=True) == ["c_nested.jpg"]
    assert _names(client, QUEUE, pid, "queue", moreBoxesThan=3, smallerThanPx=10) == ["f_many.jpg"]

    tally = gql(client, "query($p: ID!, $f: SampleFilterInput){ projectDrafts(projectId: $p, filter: $f){ samples } }",
                p=pid, f={"geometry": {"nestedSameClass": True}})  # the draft actions take the same filter
    assert tally["projectDrafts"]["samples"] == 0  # no drafts here
    for g, field in (({"overlapSameClass": 1.5}, "overlapSameClass"), ({"sliverRatio": 1}, "sliverRatio"),
                     ({"smallerThanPx": 0}, "smallerThanPx"), ({"moreBoxesThan": -1}, "moreBoxesThan")):
        err = gql_error(client, GALLERY, p=pid, g=g)
        assert err["extensions"]["code"] == "VALIDATION" and field in err["message"], err
