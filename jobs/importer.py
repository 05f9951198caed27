"""IMPORT: read a COCO / JSONL / YOLO file (or YOLO folder or zip) from a volume, check every row against the
project (pass 1), then write everything in one transaction (pass 2), or only count it for a dry run. Readers
stream their source and stop at the first limit it passes (Limits), so an import's memory is bounded by the
limits, never by the file."""

from __future__ import annotations

import asyncio
from typing import Any

from db import gc_pause, imports, projects
from db.errors import Invalid, NotFound, TooLarge
from jobs.context import JobContext
from jobs.formats import Limits, Parsed, coco, jsonl, yolo
from jobs.formats.reading import Budget, metered
from volumes.base import Volumes
from volumes.paths import VolumePath, parse


def _yolo_folder(volumes: Volumes, folder: VolumePath, limits: Limits, budget: Budget) -> Parsed:
    """The folder's label files and class lists, listed first (each counted as it is found), then read one by
    one, their bytes charged to the budget however big they have grown since."""
    files: list[yolo.TreeFile] = []
    declared = 0
    prefix = len(folder.text) + 1
    for entry in volumes.walk_files(folder):
        if not yolo.wanted(entry.name):
            continue
        declared += entry.size or 0
        if declared > limits.max_bytes:
            raise TooLarge(f"The label files under {folder} pass {limits.max_bytes / 2**20:.0f} MB "
                           "(IMPORT_MAX_BYTES).")
        files.append(yolo.TreeFile(entry.path[prefix:], entry.size or 0, entry.path))
        limits.items(len(files) - yolo.EXTRA_FILES)
    return yolo.read_tree(files, lambda f: metered(volumes.open(parse(f.ref)), budget), limits)


def read_file(volumes: Volumes, raw_path: str, fmt: str, limits: Limits) -> Parsed:
    """Parse the import source: the file's size is checked before it is opened, everything else as it is read."""
    path = parse(raw_path)
    budget = Budget(limits.max_bytes, f"{path}")
    try:
        size = volumes.stat(path).size
    except Invalid:  # not a file: a folder, for YOLO (listing it to find out would read all of it)
        if fmt != "YOLO":
            raise
        return _yolo_folder(volumes, path, limits, budget)
    if size > limits.max_bytes:
        raise TooLarge(f"{path} is {size / 2**20:.1f} MB; imports take at most {limits.max_bytes / 2**20:.0f} MB "
                       "(IMPORT_MAX_BYTES).")
    if fmt == "YOLO" and not path.text.lower().endswith(".zip"):
        raise Invalid("A YOLO import is a folder or a .zip with labels/*.txt and classes.txt or data.yaml.")
    with volumes.open(path) as raw:
        if fmt == "YOLO":  # the zip reader seeks; its members are charged to the budget as they inflate
            return yolo.read_tree(*yolo.zip_tree(raw, limits, budget), limits)
        with metered(raw, budget) as fp:
            return coco.read(fp, limits) if fmt == "COCO" else jsonl.read(fp, limits)


def _parse(volumes: Volumes, raw_path: str, fmt: str, limits: Limits) -> Parsed:
    with gc_pause.paused():
        return read_file(volumes, raw_path, fmt, limits)


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    p = ctx.params
    parsed = await asyncio.to_thread(_parse, ctx.volumes, p["path"], p["format"], ctx.config.limits)
    if parsed.errors and not parsed.items:
        raise imports.Outcome(errors=parsed.errors).failure()
    drafts_by = f"model:{p['asDraftsOf']}" if p.get("asDraftsOf") else None
    options = imports.Options(on_missing=p.get("onMissingSample", "ERROR"),
                              on_existing=p.get("onExistingAnnotations", "REPLACE"), match_stem=p["format"] == "YOLO",
                              drafts_by=drafts_by)
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
    project_id = ctx.project_id
    assert project_id is not None, "an import job belongs to a project"

    dry_run = bool(p.get("dryRun"))

    def pass_one(session: Any) -> tuple[Any, ...]:
        return (imports.fingerprint(session, project_id),
                *imports.plan(session, project_id, parsed.items, options, ctx.created_by, file_exists,
                              count_only=dry_run))

    seen, out, changes, create = await ctx.db.read(pass_one)
    if out.errors or parsed.errors:  # every problem of the file at once, in file order
        out.errors = parsed.errors.merged(out.errors)
        raise out.failure()
    await ctx.progress(rows, 2 * rows, force=True)
    if dry_run:
        return {**out.counters(), "dryRun": True}

    def pass_two(session: Any) -> imports.Outcome:
        if imports.fingerprint(session, project_id, lock=True) == seen:
            # nothing moved: pass 1's plan holds
            imports.apply(session, project_id, changes, create, out, drafts=bool(drafts_by))
            outcome: imports.Outcome = out
            return outcome
        again, fresh, create_now = imports.plan(session, project_id, parsed.items, options, ctx.created_by,
                                                file_exists, lock=True)
        if again.errors:  # someone changed the project between the passes
            raise again.failure()
        imports.apply(session, project_id, fresh, create_now, again, drafts=bool(drafts_by))
        return again

    out = await ctx.db.write(pass_two)
    await ctx.progress(2 * rows, 2 * rows, force=True)
    return {**out.counters(), "dryRun": False}
