"""EXPORT: write a project's labelled samples in one format into a new folder of a volume, with metadata.json
and (optionally) the images. The data comes from one consistent snapshot, so saves during an export never tear
it."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from db import exports
from db import samples as sample_rows
from db.errors import Invalid, NotFound
from jobs.context import JobContext
from jobs.formats import ExportSnapshot, csv_labels, jsonl, voc, yolo
from jobs.formats import coco as coco_format
from volumes.base import Volumes
from volumes.images import ImageError, read_info
from volumes.paths import VolumePath, parse

DETECTION_ONLY = {"YOLO", "PASCAL_VOC"}
IMAGE_FOLDER = {"COCO": "images", "CSV": "images", "JSONL": "images", "YOLO": "images", "PASCAL_VOC": "JPEGImages"}


def folder_name(snap: ExportSnapshot, now: datetime) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", snap.name).strip("._") or "project"
    return f"{safe}_v{snap.version}_{now.strftime('%Y%m%dT%H%M%SZ')}"


def _with_sizes(volumes: Volumes, snap: ExportSnapshot, max_pixels: int) -> tuple[ExportSnapshot, dict[int, tuple]]:
    """Images never decoded have no size yet: read it from their headers (COCO, YOLO and VOC need pixels)."""
    found: dict[int, tuple[int, int]] = {}
    samples = []
    for s in snap.samples:
        if not s.width or not s.height:
            try:
                with volumes.open(parse(s.path)) as fp:
                    info = read_info(fp, max_pixels)
            except (ImageError, NotFound) as exc:
                reason = exc.message if isinstance(exc, ImageError) else "the file is gone"
                raise Invalid(f"{s.filename}: its size is needed for {snap.name}'s export and cannot be read "
                              f"({reason}). Fix or remove the file, or skip the image, then export again.") from None
            found[s.sample_id] = (info.width, info.height)
            s = dataclasses.replace(s, width=info.width, height=info.height)
        samples.append(s)
    return dataclasses.replace(snap, samples=samples), found


def _files(snap: ExportSnapshot, fmt: str, user: str, with_images: bool) -> Iterable[tuple[str, bytes]]:
    if fmt == "COCO":
        yield "annotations.json", coco_format.document(snap, user)
    elif fmt == "CSV":
        yield "labels.csv", b"".join(csv_labels.rows(snap))
    elif fmt == "JSONL":
        yield "annotations.jsonl", b"".join(jsonl.lines(snap))
    elif fmt == "YOLO":
        yield from yolo.label_files(snap)
        yield "classes.txt", ("\n".join(snap.classes) + "\n").encode()
        yield "data.yaml", yolo.data_yaml(snap, with_images)
    elif fmt == "PASCAL_VOC":
        yield from voc.files(snap)


def _image_name(fmt: str, filename: str) -> str:
    return voc.flat_name(filename) if fmt == "PASCAL_VOC" else filename


def _copy(volumes: Volumes, src: str, dest: VolumePath) -> None:
    with volumes.open(parse(src)) as fp:
        volumes.write(dest, fp.read())


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    p = ctx.params
    fmt, with_images = p["format"], bool(p.get("includeImages", True))
    destination = parse(p["destination"])
    accepted_only = bool(p.get("acceptedOnly"))
    snap = await ctx.db.read(exports.snapshot, ctx.project_id, accepted_only)
    if fmt in DETECTION_ONLY and snap.task_type != "DETECTION":
        raise Invalid(f"{fmt} export is for detection projects; use COCO, CSV or JSONL for classification.")
    total = len(snap.samples) * (2 if with_images else 1)
    await ctx.progress(0, total, force=True)
    snap, found = await asyncio.to_thread(_with_sizes, ctx.volumes, snap, ctx.config.get("max_pixels", 100_000_000))
    for sample_id, (w, h) in found.items():
        await ctx.db.write(sample_rows.record_size, sample_id, w, h)
    now = datetime.now(UTC)
    folder = parse(f"{destination.text}/{folder_name(snap, now)}")
    await asyncio.to_thread(ctx.volumes.make_dirs, folder)
    for written, (name, data) in enumerate(_files(snap, fmt, ctx.created_by, with_images), start=1):
        await asyncio.to_thread(ctx.volumes.write, parse(f"{folder.text}/{name}"), data)
        if written % 500 == 0:
            await ctx.progress(min(written, len(snap.samples)), total)
    done = len(snap.samples)
    await ctx.progress(done, total, force=True)
    if with_images:
        for s in snap.samples:
            dest = parse(f"{folder.text}/{IMAGE_FOLDER[fmt]}/{_image_name(fmt, s.filename)}")
            await asyncio.to_thread(_copy, ctx.volumes, s.path, dest)
            done += 1
            await ctx.progress(done, total)
    n_annotations = sum(len(s.annotations) for s in snap.samples)
    metadata = {"projectId": str(snap.project_id), "name": snap.name, "version": snap.version,
                "taskType": snap.task_type, "multiLabel": snap.multi_label, "classes": snap.classes,
                "sourceVolume": snap.source_volume, "format": fmt, "images": len(snap.samples),
                "annotations": n_annotations, "includeImages": with_images, "acceptedOnly": accepted_only,
                "exportedAt": now.isoformat(timespec="seconds"), "exportedBy": ctx.created_by}
    await asyncio.to_thread(ctx.volumes.write, parse(f"{folder.text}/metadata.json"),
                            orjson.dumps(metadata, option=orjson.OPT_INDENT_2))
    await ctx.progress(total, total, force=True)
    return {"path": folder.text, "format": fmt, "images": len(snap.samples), "annotations": n_annotations}
