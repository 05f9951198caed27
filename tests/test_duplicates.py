"""Near-duplicates: the pHash is imagehash's, the multi-index grouping finds exactly the all-pairs groups, and the
DUPLICATES job hashes each image once from its thumbnail and feeds the gallery's duplicate filters."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import scipy.fftpack
from PIL import Image, ImageEnhance
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage import data
from starlette.testclient import TestClient

from jobs import duplicate_groups
from jobs.duplicate_groups import as_unsigned, groups
from tests.conftest import create_project, gql, gql_error, wait_for_job
from volumes.image_hash import thumbnail_hash
from volumes.images import render_thumbnail

FIND = "mutation($p: ID!, $d: Int){ findDuplicates(projectId: $p, maxDistance: $d){ id kind status } }"
GALLERY = """query($p: ID!, $of: ID, $has: Boolean){ project(id: $p){ samples(duplicatesOf: $of, hasDuplicates: $has,
  first: 100){ edges { node { id filename duplicateGroup } } } } }"""


def _random_hashes(n: int, seed: int) -> np.ndarray:
    """n random hashes, a tenth of them copies of others with up to four bits flipped, a few identical."""
    rng = np.random.default_rng(seed)
    h = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n, dtype=np.int64, endpoint=True)
    copies = n // 10
    src = rng.integers(0, n - copies, copies)
    flips = np.zeros(copies, dtype=np.uint64)
    for _ in range(4):
        flips |= np.uint64(1) << rng.integers(0, 64, copies).astype(np.uint64)
    h[n - copies:] = (as_unsigned(h[src]) ^ flips).view(np.int64)
    h[:5] = h[5]  # identical hashes
    return h


def _all_pairs_groups(h: np.ndarray, distance: int) -> list[frozenset[int]]:
    bits = as_unsigned(h)
    close = np.bitwise_count(bits[:, None] ^ bits[None, :]) <= distance
    _, label = connected_components(coo_matrix(close), directed=False)
    return _partition(label)


def _partition(label: np.ndarray) -> list[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for i, g in enumerate(label.tolist()):
        out.setdefault(g, set()).add(i)
    return sorted(frozenset(s) for s in out.values() if len(s) > 1)


@pytest.mark.parametrize("distance", [0, 1, 3, 5, 6, 8])
def test_multi_index_groups_are_the_all_pairs_groups(distance: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duplicate_groups, "_EDGE_BATCH", 40)  # candidate pairs verified a few at a time
    h = _random_hashes(1000, seed=distance)
    first = groups(h, distance)
    assert (first <= np.arange(h.size)).all() and (first[first] == first).all()  # named by their first member
    assert _partition(first) == _all_pairs_groups(h, distance)
    assert _partition(first) != []


def test_a_distance_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.8"):
        groups(np.zeros(3, dtype=np.int64), 9)


def _thumb(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    buf.seek(0)
    return render_thumbnail(buf, 256, 10**8).data


def _imagehash_phash(jpeg: bytes) -> int:
    """imagehash.phash's definition (SciPy's DCT) on the same reduced decode."""
    im = Image.open(io.BytesIO(jpeg))
    im.draft("L", (64, 64))
    px = np.asarray(im.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = scipy.fftpack.dct(scipy.fftpack.dct(px, axis=0), axis=1)[:8, :8]
    return int("".join("1" if b else "0" for b in (low > np.median(low)).ravel()), 2)


def _distance(a: int, b: int) -> int:
    return bin((a ^ b) & (2**64 - 1)).count("1")


def test_the_hash_is_imagehash_phash_and_survives_resizing() -> None:
    astronaut, chelsea = Image.fromarray(data.astronaut()), Image.fromarray(data.chelsea())
    thumbs = [_thumb(astronaut), _thumb(astronaut.resize((300, 300))), _thumb(chelsea)]
    hashes = [thumbnail_hash(t) for t in thumbs]
    assert [h & (2**64 - 1) for h in hashes] == [_imagehash_phash(t) for t in thumbs]
    assert _distance(hashes[0], hashes[1]) <= 2
    assert _distance(hashes[0], hashes[2]) > 20


def test_single_colour_images_hash_alike_on_any_cpu() -> None:
    """Their non-DC coefficients are rounding noise, whose signs vary with the CPU's kernels: rounded away, each
    hashes to the DC bit alone (the highest, so the signed value is the smallest int64); black has no bit at all."""
    flat = [_thumb(Image.new("RGB", (320, 240), c)) for c in [(37, 91, 120), (250, 10, 200), (255, 255, 255)]]
    assert {thumbnail_hash(t) for t in flat} == {np.iinfo(np.int64).min}
    assert thumbnail_hash(_thumb(Image.new("RGB", (320, 240)))) == 0


def _pictures(folder: Path) -> None:
    """Three pictures, a resized copy and a brighter re-encoded copy of the first, an identical copy of the second,
    and a file that is no image."""
    rocket, coffee, camera = (Image.fromarray(data.rocket()), Image.fromarray(data.coffee()),
                              Image.fromarray(data.camera()).convert("RGB"))
    rocket.save(folder / "a_rocket.jpg", quality=92)
    rocket.resize((320, 200)).save(folder / "b_rocket_small.jpg", quality=80)
    ImageEnhance.Brightness(rocket).enhance(1.1).save(folder / "c_rocket_bright.jpg", quality=60)
    coffee.save(folder / "d_coffee.png")
    coffee.save(folder / "e_coffee_again.png")
    camera.save(folder / "f_camera.jpg")
    (folder / "g_broken.jpg").write_bytes(b"not a picture")


def _nodes(client: TestClient, pid: str, **filters: object) -> dict[str, str | None]:
    edges = gql(client, GALLERY, p=pid, **filters)["project"]["samples"]["edges"]
    return {e["node"]["filename"]: e["node"]["duplicateGroup"] for e in edges}


def test_find_duplicates_then_filter_the_gallery(client: TestClient, images_dir: Path) -> None:
    _pictures(images_dir)
    pid = create_project(client)["id"]
    edges = gql(client, GALLERY, p=pid)["project"]["samples"]["edges"]
    ids = {e["node"]["filename"]: e["node"]["id"] for e in edges}

    job = gql(client, FIND, p=pid, d=5)["findDuplicates"]
    assert job["kind"] == "DUPLICATES"
    done = wait_for_job(client, job["id"])
    assert done["status"] == "SUCCEEDED", done
    result = done["result"]
    assert {k: result[k] for k in ("maxDistance", "hashed", "failed", "groups", "samplesInGroups")} == {
        "maxDistance": 5, "hashed": 6, "failed": 1, "groups": 2, "samplesInGroups": 5}
    assert result["failures"] == [{"sampleId": ids["g_broken.jpg"], "reason": result["failures"][0]["reason"]}]
    assert "not a JPEG" in result["failures"][0]["reason"]
    rocket, coffee = ids["a_rocket.jpg"], ids["d_coffee.png"]
    assert _nodes(client, pid, has=True) == {"a_rocket.jpg": rocket, "b_rocket_small.jpg": rocket,
                                            "c_rocket_bright.jpg": rocket, "d_coffee.png": coffee,
                                            "e_coffee_again.png": coffee}
    assert set(_nodes(client, pid, has=False)) == {"f_camera.jpg", "g_broken.jpg"}
    assert set(_nodes(client, pid, of=ids["c_rocket_bright.jpg"])) == {"a_rocket.jpg", "b_rocket_small.jpg",
                                                                        "c_rocket_bright.jpg"}
    assert set(_nodes(client, pid, of=ids["f_camera.jpg"])) == {"f_camera.jpg"}  # alone: only itself
    # the gallery's thumbnails were made on the way: the job left them in the cache
    assert client.get(f"/media/samples/{rocket}/thumbnail?size=256").status_code == 200
    assert client.app.state.decodes.started == 0

    # hashes are kept: grouping again at distance 0 decodes nothing and keeps the pictures hashed identically (the
    # brighter re-encoded copy among them, not the resized one)
    again = wait_for_job(client, gql(client, FIND, p=pid, d=0)["findDuplicates"]["id"])["result"]
    assert (again["hashed"], again["failed"], again["groups"], again["samplesInGroups"]) == (0, 1, 2, 4)
    assert set(_nodes(client, pid, has=True)) == {"a_rocket.jpg", "c_rocket_bright.jpg", "d_coffee.png",
                                                  "e_coffee_again.png"}


def test_find_duplicates_refuses_bad_input(client: TestClient, images_dir: Path) -> None:
    pid = create_project(client)["id"]
    for d in (-1, 9):
        err = gql_error(client, FIND, p=pid, d=d)
        assert err["extensions"]["code"] == "VALIDATION" and "between 0 and 8" in err["message"]
    assert gql_error(client, FIND, p="999", d=3)["extensions"]["code"] == "NOT_FOUND"
    assert gql_error(client, GALLERY, p=pid, of="nope")["extensions"]["code"] == "NOT_FOUND"
    assert _nodes(client, pid, of="999") == {}
