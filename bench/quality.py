"""Dataset-quality figures: perceptual hashes from cached thumbnails (one core) and near-duplicate grouping of
1,000,000 hashes (random hashes, a tenth of them copies of others with up to three bits changed)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

from bench.figures import Figure
from jobs.duplicate_groups import as_unsigned, groups
from jobs.duplicates import GALLERY_THUMB, thumbnail
from volumes.image_hash import thumbnail_hash
from volumes.local import LocalVolumes
from volumes.thumbnail_cache import ThumbnailCache

WORK = Path(__file__).resolve().parent / ".work" / "quality"
MOUNT = "/Volumes/bench/quality/images"
IMAGES = 500
HASHES = 1_000_000


def _photos(folder: Path, n: int) -> list[str]:
    """n distinct 1024x768 JPEGs cut from the bundled photos (rotated and cropped differently)."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [Image.fromarray(a).convert("RGB").resize((1400, 1050)) for a in
              (skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket(), skdata.camera())]
    names = []
    for i in range(n):
        im = photos[i % len(photos)].rotate(i % 90).crop((i % 300, i % 200, i % 300 + 1024, i % 200 + 768))
        im.save(folder / f"p{i:04}.jpg", quality=85)
        names.append(f"{MOUNT}/p{i:04}.jpg")
    return names


def hashing_figure() -> Figure:
    """The DUPLICATES job's per-image work with the gallery's thumbnails cached on disk: a stat, the cached JPEG
    read from disk (a fresh cache object: nothing in memory), a reduced decode and the hash."""
    shutil.rmtree(WORK, ignore_errors=True)
    folder, cache_dir = WORK / "images", WORK / "thumbnails"
    paths = _photos(folder, IMAGES)
    volumes = LocalVolumes({MOUNT: folder})
    warm = ThumbnailCache(cache_dir)
    for p in paths:  # what the gallery (or an earlier run) left in the cache
        thumbnail(volumes, warm, p, 10**8, 2**30)
    cache = ThumbnailCache(cache_dir)
    t0 = time.perf_counter()
    hashes = [thumbnail_hash(thumbnail(volumes, cache, p, 10**8, 2**30)) for p in paths]
    rate = len(paths) / (time.perf_counter() - t0)
    assert len(set(hashes)) > IMAGES // 2
    return Figure(f"perceptual hash from a cached {GALLERY_THUMB}-px thumbnail, one core", rate, "images/s", 200,
                  higher_is_better=True)


def _hashes(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n, dtype=np.int64, endpoint=True)
    copies = n // 10
    src = rng.integers(0, n - copies, copies)
    flips = np.zeros(copies, dtype=np.uint64)
    for _ in range(3):
        flips |= np.uint64(1) << rng.integers(0, 64, copies).astype(np.uint64)
    h[n - copies:] = (as_unsigned(h[src]) ^ flips).view(np.int64)
    return h


def grouping_figures() -> list[Figure]:
    h = _hashes(HASHES)
    out = []
    for distance in (5, 8):
        t0 = time.perf_counter()
        first = groups(h, distance)
        seconds = time.perf_counter() - t0
        grouped = int((np.bincount(first, minlength=first.size)[first] > 1).sum())
        assert grouped >= HASHES // 10 * 2 * 0.9
        default = " (the default distance)" if distance == 5 else ""
        out.append(Figure(f"group 1,000,000 hashes within {distance} bits{default}", seconds, "s", 30))
    return out


def run() -> list[Figure]:
    figures = [hashing_figure(), *grouping_figures()]
    shutil.rmtree(WORK, ignore_errors=True)
    return figures


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
