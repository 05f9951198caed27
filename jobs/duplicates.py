"""DUPLICATES: hash each image not hashed yet from its gallery thumbnail (the cached one, or one rendered into the
cache), then group the project's hashes within the chosen Hamming distance (jobs.duplicate_groups). Hashes are kept,
so grouping again at another distance decodes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from db import duplicates
from db.errors import DomainError
from jobs.context import JobContext
from jobs.duplicate_groups import groups
from volumes.base import Volumes
from volumes.image_hash import thumbnail_hash
from volumes.images import ImageError, render_thumbnail
from volumes.paths import parse
from volumes.thumbnail_cache import ThumbnailCache

GALLERY_THUMB = 256  # the size the gallery asks for: its cached thumbnails serve the hash
BATCH = 64
MAX_FAILURES_LISTED = 100


def thumbnail(volumes: Volumes, cache: ThumbnailCache | None, path_text: str, max_pixels: int,
              max_bytes: int) -> bytes:
    """The image's gallery thumbnail: from the cache when it is there, else rendered (and cached)."""
    path = parse(path_text)
    st = volumes.stat(path)
    key = ThumbnailCache.key(path.text, st.mtime_ns, st.size, GALLERY_THUMB)
    data = cache.get(key) if cache is not None else None
    if data is None:
        with volumes.open(path) as fp:
            data = render_thumbnail(fp, GALLERY_THUMB, max_pixels, max_bytes).data
        if cache is not None:
            cache.put(key, data)
    return data


def _hash_batch(ctx: JobContext, rows: list[tuple[int, str]]) -> tuple[list[tuple[int, int]], list[dict[str, str]]]:
    """On a worker thread: (sample id, hash) of each readable image, and why the others were not."""
    hashed, failed = [], []
    for sid, path in rows:
        try:
            data = thumbnail(ctx.volumes, ctx.config.thumbnails, path, ctx.config.max_pixels,
                             ctx.config.max_decode_bytes)
            hashed.append((sid, thumbnail_hash(data)))
        except (ImageError, DomainError) as exc:
            failed.append({"sampleId": str(sid), "reason": exc.message})
        except OSError as exc:
            failed.append({"sampleId": str(sid), "reason": f"the file could not be read ({exc.strerror or exc})"})
    return hashed, failed


def group_members(ids: list[int], hashes: list[int], distance: int) -> list[tuple[int, int]]:
    """(sample id, group id) of every sample that has a near-duplicate; a group is named by its first sample id."""
    if not ids:
        return []
    first = groups(np.asarray(hashes, dtype=np.int64), distance)
    size = np.bincount(first, minlength=first.size)
    members = np.flatnonzero(size[first] > 1)
    sample_ids = np.asarray(ids, dtype=np.int64)
    return list(zip(sample_ids[members].tolist(), sample_ids[first[members]].tolist(), strict=True))


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    distance = int(ctx.params["maxDistance"])
    total = await ctx.db.read(duplicates.count_unhashed, ctx.project_id)
    await ctx.progress(0, total, force=True)
    done = hashed = 0
    failures: list[dict[str, str]] = []
    failed = after = 0
    while True:
        rows = await ctx.db.read(duplicates.unhashed, ctx.project_id, after=after, limit=BATCH)
        if not rows:
            break
        ok, bad = await asyncio.to_thread(_hash_batch, ctx, rows)
        await ctx.db.write(duplicates.record_hashes, ok)
        hashed, failed, done, after = hashed + len(ok), failed + len(bad), done + len(rows), rows[-1][0]
        failures.extend(bad[:MAX_FAILURES_LISTED - len(failures)])
        await ctx.progress(done, max(done, total))
    ids, hashes = await ctx.db.read(duplicates.project_hashes, ctx.project_id)
    members = await asyncio.to_thread(group_members, ids, hashes, distance)
    await ctx.db.write(duplicates.replace_groups, ctx.project_id, members)
    await ctx.progress(done, max(done, total), force=True)
    return {"maxDistance": distance, "hashed": hashed, "failed": failed, "failures": failures,
            "groups": len({g for _, g in members}), "samplesInGroups": len(members)}
