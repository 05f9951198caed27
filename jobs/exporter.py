"""EXPORT: write a project's labelled samples in one format into a new folder of a volume, with metadata.json
(written last) and optionally the images (never for REFERENCE, a snapshot that points at the images in place). The
data comes from one consistent snapshot, so saves during an export never tear it; the folder appears whole or not at
all (volumes.base start_folder)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson

from db import export_samples, exports
from db import samples as sample_rows
from db.errors import DomainError, Invalid, NotFound
from db.records import SPLIT_NAMES, ExportSample, ExportSnapshot
from jobs import spark_export, spark_fanout
from jobs.context import JobContext
from jobs.formats import coco as coco_format
from jobs.formats import csv_labels, jsonl, reference, voc, yolo
from volumes.base import Volumes
from volumes.images import ImageError, read_info
from volumes.paths import VolumePath, parse

DETECTION_ONLY = {"YOLO", "PASCAL_VOC"}
FILES_A_STEP = 500  # label files written between two progress reports (YOLO and VOC write one per image)
COPY_STEP = 64  # images copied between two progress reports (and looks at a cancel), or measured at once
IMAGE_FOLDER = {"COCO": "images", "CSV": "images", "JSONL": "images", "YOLO": "images", "PASCAL_VOC": "JPEGImages"}


def folder_name(snap: ExportSnapshot, now: datetime, job_id: int) -> str:
    """`<name>_v<version>_<UTC time to the millisecond>_job<job id>`: the job id makes it unique, the rest readable."""
    safe = (re.sub(r"[^A-Za-z0-9._-]+", "_", snap.name).strip("._") or "project")[:120]
    return f"{safe}_v{snap.version}_{now.strftime('%Y%m%dT%H%M%S')}.{now.microsecond // 1000:03}Z_job{job_id}"


def metadata(snap: ExportSnapshot, fmt: str, user: str, now: datetime, with_images: bool,
             accepted_only: bool) -> dict[str, Any]:
    """The original tool's keys (pipelines read them), then this app's own."""
    return {"project_id": snap.project_id, "project_name": snap.name, "version": snap.version,
            "task_type": snap.task_type, "class_list": snap.classes, "source_volume": snap.source_volume,
            "image_count": len(snap.samples), "annotation_count": export_samples.annotation_count(snap.samples),
            "exported_at": now.isoformat(timespec="milliseconds"), "exported_by": user, "format": fmt,
            "multiLabel": snap.multi_label, "includeImages": with_images, "acceptedOnly": accepted_only,
            **({"splits": split_counts(snap)} if snap.has_splits else {})}


def split_counts(snap: ExportSnapshot) -> dict[str, int]:
    """Images per split; `unassigned` counts images added since the splits were assigned (assign them again)."""
    counts = dict.fromkeys([*SPLIT_NAMES.values(), "unassigned"], 0)
    for s in snap.samples:
        counts[SPLIT_NAMES[s.split] if s.split else "unassigned"] += 1
    return counts


def reference_metadata(snap: ExportSnapshot, folder: VolumePath) -> dict[str, Any]:
    """What a REFERENCE snapshot adds: that its images stay in the volume, and how to load them from there."""
    return {"snapshot": "reference", "images_copied": False,
            "note": "A reference snapshot: the images are not copied; every path in it is the image's full volume "
                    "path, read in place. Moving or deleting those files breaks the snapshot.",
            "files": ["labels.tsv", "classes.txt"] if snap.task_type == "CLASSIFICATION" else ["annotations.json"],
            "loading": reference.loading(snap, folder.text)}


def check_reference(snap: ExportSnapshot) -> None:
    """Refuses the whole snapshot, before anything is written, naming how many images are not fit for one."""
    count, examples = reference.problems(snap)
    if count:
        raise Invalid(f"{count:,} labelled image{'s' if count != 1 else ''} of {snap.name} cannot go into a reference "
                      f"snapshot: {'; '.join(examples)}{' …' if count > len(examples) else ''}. Fix "
                      f"{'them' if count != 1 else 'it'} (or skip {'them' if count != 1 else 'it'}), then export "
                      "again.")


def _with_sizes(volumes: Volumes, snap: ExportSnapshot, max_pixels: int
                ) -> tuple[ExportSnapshot, dict[int, tuple[int, int]]]:
    """Images never decoded have no size yet: read it from their headers (COCO, YOLO and VOC need pixels),
    spark_export.IN_FLIGHT at a time; the first image (in sample order) that cannot be read fails the export."""

    def size_of(s: ExportSample) -> tuple[int, int] | str:
        try:
            with volumes.open(parse(s.path)) as fp:
                info = read_info(fp, max_pixels)
            return info.width, info.height
        except (ImageError, NotFound) as exc:
            return exc.message if isinstance(exc, ImageError) else "the file is gone"

    found: dict[int, tuple[int, int]] = {}
    unsized = export_samples.unsized(snap.samples)
    with ThreadPoolExecutor(spark_export.IN_FLIGHT) as pool:
        while step := list(itertools.islice(unsized, COPY_STEP)):  # a step at a time: never a million futures
            for s, size in zip(step, pool.map(size_of, step), strict=True):
                if isinstance(size, str):
                    raise Invalid(f"{s.filename}: its size is needed for {snap.name}'s export and cannot be read "
                                  f"({size}). Fix or remove the file, or skip the image, then export again.")
                found[s.sample_id] = size
    return dataclasses.replace(snap, samples=export_samples.with_sizes(snap.samples, found)), found


def _files(snap: ExportSnapshot, fmt: str, user: str, with_images: bool
           ) -> Iterator[tuple[str, bytes | Iterable[bytes]]]:
    """The format's files: each a name and its bytes, or its pieces (written as they are made)."""
    if fmt == "REFERENCE":
        yield from reference.files(snap, user)
    elif fmt == "COCO":
        yield "annotations.json", coco_format.parts(snap, user)
        for split, name in SPLIT_NAMES.items():  # with splits, one file per split as well
            part = snap.of_split(split)
            if part.samples:
                yield f"instances_{name}.json", coco_format.parts(part, user)
    elif fmt == "CSV":
        yield "labels.csv", b"".join(csv_labels.rows(snap))
    elif fmt == "JSONL":
        yield "annotations.jsonl", b"".join(jsonl.lines(snap))
    elif fmt == "YOLO":
        yield from yolo.label_files(snap)
        yield from yolo.split_lists(snap)
        yield "classes.txt", ("\n".join(snap.classes) + "\n").encode()
        yield "data.yaml", yolo.data_yaml(snap, with_images)
    elif fmt == "PASCAL_VOC":
        yield from voc.files(snap)


def _image_path(folder: VolumePath, fmt: str, filename: str) -> VolumePath:
    """Where an export writes an image: under the format's image folder, by its name (VOC: flattened)."""
    return parse(f"{folder.text}/{IMAGE_FOLDER[fmt]}/{voc.flat_name(filename) if fmt == 'PASCAL_VOC' else filename}")


def _write_some(volumes: Volumes, folder: VolumePath, files: Iterator[tuple[str, bytes | Iterable[bytes]]],
                most: int) -> int:
    """Up to `most` of the format's files made and written, in a worker thread (making a big one takes seconds of
    CPU, which must not hold up the event loop); how many."""
    count = 0
    for name, data in itertools.islice(files, most):
        path = parse(f"{folder.text}/{name}")
        if isinstance(data, bytes):
            volumes.write(path, data)
        else:
            with volumes.writer(path) as fp:
                for piece in data:
                    fp.write(piece)
        count += 1
    return count


def _copy_all(volumes: Volumes, pairs: list[tuple[str, VolumePath]]) -> None:
    """Each (image path, destination) copied, spark_export.IN_FLIGHT at a time: a remote volume's latency overlaps."""
    with ThreadPoolExecutor(spark_export.IN_FLIGHT) as pool:
        for _ in pool.map(lambda pair: _copy(volumes, *pair), pairs):
            pass


def _copy(volumes: Volumes, src: str, dest: VolumePath) -> None:
    with volumes.open(parse(src)) as fp:
        volumes.write(dest, fp.read())


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    p = ctx.params
    fmt = p["format"]
    with_images = bool(p.get("includeImages", True)) and fmt != "REFERENCE"
    destination = parse(p["destination"])
    accepted_only = bool(p.get("acceptedOnly"))
    every_submission = bool(p.get("everySubmission"))
    snap = await ctx.db.read(exports.snapshot, ctx.project_id, accepted_only, every_submission)
    snap.annotators = every_submission
    if fmt in DETECTION_ONLY and snap.task_type != "DETECTION":
        raise Invalid(f"{fmt} export is for detection projects; use COCO, CSV or JSONL for classification.")
    if not snap.samples:  # checked when the job was asked for too; labels may have been removed since
        raise exports.nothing_to_export(snap.name, accepted_only)
    total = len(snap.samples) * (2 if with_images else 1)
    await ctx.progress(0, total, force=True)
    spark = spark_export.recipe_for(ctx) if fmt != "REFERENCE" and spark_fanout.wanted(ctx, len(snap.samples)) \
        else None
    if fmt == "REFERENCE":  # normalised boxes need no pixel sizes: a million images are not opened
        await asyncio.to_thread(check_reference, snap)
    elif spark is None:
        snap, found = await asyncio.to_thread(_with_sizes, ctx.volumes, snap, ctx.config.max_pixels)
        await ctx.db.write(sample_rows.record_sizes, found)
    now = datetime.now(UTC)
    folder = destination.child(folder_name(snap, now, ctx.job_id))
    work = await asyncio.to_thread(_started, ctx.volumes, folder, destination, f"export-job{ctx.job_id}")
    try:
        done = partitions = 0
        if spark is not None:  # the executors read the missing sizes and copy the images, then the labels follow
            copy_to = {s.sample_id: _image_path(work, fmt, s.filename) for s in snap.samples} if with_images else None
            executed = spark_export.items(snap, copy_to)
            total = len(executed) + len(snap.samples)
            snap, found, partitions = await spark_export.run(ctx, spark, snap, executed, total)
            await ctx.db.write(sample_rows.record_sizes, found)
            done = len(executed)
        await _write(ctx, snap, fmt, with_images and spark is None, work, done, total)
        meta = metadata(snap, fmt, ctx.created_by, now, with_images, accepted_only)
        if every_submission:
            meta["everySubmission"] = True
        if fmt == "REFERENCE":
            meta.update(reference_metadata(snap, folder))
        await asyncio.to_thread(ctx.volumes.write, work.child("metadata.json"),  # last: it marks a finished export
                                orjson.dumps(meta, option=orjson.OPT_INDENT_2))
        await ctx.progress(total, total, force=True)  # a cancel asked until now is honoured: nothing is published
        await asyncio.to_thread(ctx.volumes.publish_folder, work, folder)
    except BaseException as exc:
        await asyncio.to_thread(ctx.volumes.discard_folder, work)
        if isinstance(exc, DomainError):
            raise _failed(exc, destination) from exc
        raise
    return {"path": folder.text, "format": fmt, "images": meta["image_count"], "annotations": meta["annotation_count"],
            **({"sparkPartitions": partitions} if partitions else {})}


def _started(volumes: Volumes, folder: VolumePath, destination: VolumePath, scratch: str) -> VolumePath:
    try:
        return volumes.start_folder(folder, scratch)
    except DomainError as exc:
        raise _failed(exc, destination) from exc


def _failed(exc: DomainError, destination: VolumePath) -> DomainError:
    """The same kind of error, saying where the export was going and that nothing of it was left there."""
    return type(exc)(f"The export into {destination} failed and nothing was published there: {exc.message}",
                     **exc.extensions)


async def _write(ctx: JobContext, snap: ExportSnapshot, fmt: str, with_images: bool, folder: VolumePath,
                 done: int, total: int) -> None:
    """The format's files, then the images, into folder; progress goes on from done, out of total."""
    files = _files(snap, fmt, ctx.created_by, with_images)
    written = 0
    while count := await asyncio.to_thread(_write_some, ctx.volumes, folder, files, FILES_A_STEP):
        written += count
        await ctx.progress(done + min(written, len(snap.samples)), total)
    done += len(snap.samples)
    await ctx.progress(done, total, force=True)
    if with_images:
        samples = iter(snap.samples)
        while step := [(s.path, _image_path(folder, fmt, s.filename)) for s in itertools.islice(samples, COPY_STEP)]:
            await asyncio.to_thread(_copy_all, ctx.volumes, step)
            done += len(step)
            await ctx.progress(done, total)
