"""IMPORT: read a COCO / JSONL / YOLO file (or YOLO folder or zip) from a volume, check every row against the
project (pass 1), then write everything in one transaction (pass 2), or only count it for a dry run."""

from __future__ import annotations

import asyncio
from typing import Any

from db import imports, projects
from db.errors import Invalid, NotFound, TooLarge
from jobs.context import JobContext
from jobs.formats import Parsed, coco, jsonl, yolo
from volumes.base import Volumes
from volumes.paths import VolumePath, parse

DEFAULT_LIMITS = {"import_max_bytes": 200 * 2**20, "import_max_items": 500_000,
                  "import_max_annotations": 2_000_000}


def _size_check(volumes: Volumes, path: VolumePath, max_bytes: int) -> int:
    size = volumes.stat(path).size
    if size > max_bytes:
        raise TooLarge(f"{path} is {size / 2**20:.1f} MB; imports take at most {max_bytes / 2**20:.0f} MB "
                       "(IMPORT_MAX_BYTES).")
    return size


def _yolo_folder(volumes: Volumes, folder: VolumePath, max_bytes: int) -> Parsed:
    files: dict[str, bytes] = {}
    total = 0
    prefix = len(folder.text) + 1
    for entry in volumes.walk_files(folder):
        if not entry.name.endswith((".txt", ".yaml", ".yml")):
            continue
        total += entry.size or 0
        if total > max_bytes:
            raise TooLarge(f"The label files under {folder} pass {max_bytes / 2**20:.0f} MB (IMPORT_MAX_BYTES).")
        with volumes.open(parse(entry.path)) as fp:
            files[entry.path[prefix:]] = fp.read()
    return yolo.read_tree(files)


def read_file(volumes: Volumes, raw_path: str, fmt: str, limits: dict[str, int]) -> Parsed:
    """Parse the import source; size caps are checked before parsing, item caps right after."""
    path = parse(raw_path)
    try:
        is_folder = fmt == "YOLO" and volumes.list(path) is not None
    except (NotFound, Invalid, NotADirectoryError, OSError):
        is_folder = False
    if is_folder:
        parsed = _yolo_folder(volumes, path, limits["import_max_bytes"])
    else:
        _size_check(volumes, path, limits["import_max_bytes"])
        with volumes.open(path) as fp:
            if fmt == "COCO":
                parsed = coco.read(fp)
            elif fmt == "JSONL":
                parsed = jsonl.read(fp)
            elif path.text.lower().endswith(".zip"):
                parsed = yolo.read_zip(fp)
            else:
                raise Invalid("A YOLO import is a folder or a .zip with labels/*.txt and classes.txt or data.yaml.")
    if len(parsed.items) > limits["import_max_items"]:
        raise TooLarge(f"The file lists {len(parsed.items):,} images; imports take at most "
                       f"{limits['import_max_items']:,} (IMPORT_MAX_ITEMS).")
    if parsed.annotation_count > limits["import_max_annotations"]:
        raise TooLarge(f"The file holds {parsed.annotation_count:,} annotations; imports take at most "
                       f"{limits['import_max_annotations']:,} (IMPORT_MAX_ANNOTATIONS).")
    return parsed


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    p = ctx.params
    limits = {**DEFAULT_LIMITS, **ctx.config}
    parsed = await asyncio.to_thread(read_file, ctx.volumes, p["path"], p["format"], limits)
    if parsed.errors and not parsed.items:
        raise imports.Outcome(errors=parsed.errors).failure()
    options = imports.Options(on_missing=p.get("onMissingSample", "ERROR"),
                              on_existing=p.get("onExistingAnnotations", "REPLACE"), match_stem=p["format"] == "YOLO")
    project = await ctx.db.read(projects.get_project, ctx.project_id)
    root = project.source_volume

    def file_exists(name: str) -> bool:
        try:
            ctx.volumes.stat(parse(f"{root}/{name}"))
            return True
        except (NotFound, Invalid):
            return False

    rows = len(parsed.items)
    await ctx.progress(0, 2 * rows, force=True)
    def pass_one(session: Any) -> tuple:
        return (imports.fingerprint(session, ctx.project_id),
                *imports.plan(session, ctx.project_id, parsed.items, options, ctx.created_by, file_exists))

    seen, out, changes, create = await ctx.db.read(pass_one)
    if out.errors or parsed.errors:  # every problem of the file at once, in file order
        out.errors = sorted(parsed.errors + out.errors, key=lambda e: e.row)
        raise out.failure()
    await ctx.progress(rows, 2 * rows, force=True)
    if p.get("dryRun"):
        return {**out.counters(), "dryRun": True}

    def pass_two(session: Any) -> imports.Outcome:
        if imports.fingerprint(session, ctx.project_id, lock=True) == seen:
            imports.apply(session, ctx.project_id, changes, create, out.sizes)  # nothing moved: pass 1's plan holds
            return out
        again, fresh, create_now = imports.plan(session, ctx.project_id, parsed.items, options, ctx.created_by,
                                                file_exists, lock=True)
        if again.errors:  # someone changed the project between the passes
            raise again.failure()
        imports.apply(session, ctx.project_id, fresh, create_now, again.sizes)
        return again

    out = await ctx.db.write(pass_two)
    await ctx.progress(2 * rows, 2 * rows, force=True)
    return {**out.counters(), "dryRun": False}
