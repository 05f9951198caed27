"""A file swapped for a symbolic link to outside the mount while it is being fetched: the swap can land between any
two system calls, and no fetch may ever return the outside bytes. Links are never followed, so a link found at any
moment is refused, and what is read comes from the descriptor that was opened, not from the name again."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from db.errors import Invalid, NotFound
from tests.conftest import create_project, gql, make_images
from volumes.local import LocalVolumes
from volumes.paths import parse

FETCHES = 1000
HTTP_FETCHES = 300  # through the app: a few milliseconds each
SECRET = b"outside the mount: must never be served"


def swap_file(target: Path, keep: Path, outside: Path) -> None:
    """target becomes a hard link of `keep` (inside), then a symbolic link to `outside`, each by an atomic rename."""
    tmp = target.with_name(f".{target.name}.swap")
    os.link(keep, tmp)
    os.replace(tmp, target)
    time.sleep(0)
    os.symlink(outside, tmp)
    os.replace(tmp, target)


def swap_folder(target: Path, parked: Path, outside: Path) -> None:
    """target becomes the real folder (parked in between), then a symbolic link to the `outside` folder."""
    target.unlink(missing_ok=True)
    parked.rename(target)
    time.sleep(0)
    target.rename(parked)
    os.symlink(outside, target)


@contextmanager
def swapping(swap: Callable[[], None]) -> Iterator[None]:
    """A thread that keeps swapping until the block ends. Threads switch every
    0.1 ms meanwhile (instead of 5), so swaps land inside fetches, not only between them."""
    stop, started = threading.Event(), threading.Event()

    def run() -> None:
        while not stop.is_set():
            swap()
            started.set()
            time.sleep(0)  # let the fetches run a while on this state too

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert started.wait(5), "the swapping thread did not start"
        yield
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)


def _more(done: int, least: int, both_met: bool, deadline: float) -> bool:
    """Whether to fetch again: at least `least` fetches, and more until both the file and the link have been met
    (on a loaded machine the swapping thread can leave one state in place for a whole run: once, 1,000 fetches were
    all refused)."""
    return done < least or (not both_met and time.monotonic() < deadline)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(SECRET)
    return folder


def test_a_file_or_folder_swapped_for_a_link_never_serves_outside_bytes(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "mount"
    (root / ".parked").mkdir(parents=True)
    (root / ".parked" / "a.jpg").write_bytes(b"inside")
    (root / ".a.jpg").write_bytes(b"inside")
    volumes = LocalVolumes({"/Volumes/c/s/v": root})
    for swap, path in (
            (lambda: swap_file(root / "a.jpg", root / ".a.jpg", outside / "a.jpg"), "/Volumes/c/s/v/a.jpg"),
            (lambda: swap_folder(root / "sub", root / ".parked", outside), "/Volumes/c/s/v/sub/a.jpg")):
        read, refused = [], 0
        deadline = time.monotonic() + 60
        with swapping(swap):
            while _more(len(read) + refused, FETCHES, bool(read and refused), deadline):
                try:
                    with volumes.open(parse(path)) as fp:
                        read.append(fp.read())
                except (Invalid, NotFound):
                    refused += 1
        assert SECRET not in read and set(read) <= {b"inside"}, f"{read.count(SECRET)} reads from outside ({path})"
        assert read and refused, (len(read), refused)  # both the file and the link were met


def test_sample_images_fetched_during_swaps_never_serve_outside_bytes(client: TestClient, images_dir: Path,
                                                                     outside: Path, tmp_path: Path) -> None:
    make_images(images_dir, ["a.jpg"])
    inside_bytes = (images_dir / "a.jpg").read_bytes()
    project = create_project(client)
    sid = gql(client, "query($p: ID!){ project(id: $p){ samples { edges { node { id } } } } }",
              p=project["id"])["project"]["samples"]["edges"][0]["node"]["id"]
    keep = images_dir / ".a.jpg"
    keep.write_bytes(inside_bytes)  # a file of its own: a rename between links of one file does nothing
    Image.new("RGB", (8, 8), (255, 0, 0)).save(outside / "secret.jpg")  # an image the server would show
    served: dict[int, int] = {}
    with swapping(lambda: swap_file(images_dir / "a.jpg", keep, outside / "secret.jpg")):
        deadline = time.monotonic() + 60
        while _more(sum(served.values()), HTTP_FETCHES, bool(served.get(200) and served.get(400)), deadline):
            r = client.get(f"/media/samples/{sid}/image")
            assert r.status_code in (200, 400, 404), r.text
            assert r.status_code != 200 or r.content == inside_bytes, "bytes from outside the mount were served"
            served[r.status_code] = served.get(r.status_code, 0) + 1
    assert served.get(200) and served.get(400), served  # both the file and the link were met
