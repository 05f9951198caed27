"""SCAN of a project made from a table: list the table's paths through the SQL warehouse, add a sample per new path
inside the project's image folder, mark the samples whose path left the table as missing (unmarked when it comes
back); paths that are not volume paths, not images or outside the folder are refused and counted, never stored nor
read. A listing that fails part-way keeps what it added and marks nothing missing."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from db import samples, source_folders
from db.errors import Invalid, Unavailable
from db.models import Project
from db.path_digests import PathDigests
from jobs.context import JobContext
from volumes.images import IMAGE_EXTENSIONS
from volumes.paths import VolumePath, parse, relative_to, shown
from volumes.table_sources import TableSource

EXAMPLES = 5  # refused paths named in the result
MAX_ROWS = 10_000_000  # a sync keeps a 16-byte digest of each path it found (db.path_digests): 160 MB at most


def accepted(raw: str, folder: VolumePath) -> tuple[str, str] | str:
    """(path, path relative to the folder), or why the path is refused."""
    try:
        path = parse(raw)
    except Invalid as exc:
        return exc.message
    if not path.within(folder) or path.depth == folder.depth:
        return f"outside the project's image folder {folder}"
    if os.path.splitext(path.parts[-1])[1].lower() not in IMAGE_EXTENSIONS:
        return "not an image file"
    return path.text, relative_to(folder, path)


async def run(ctx: JobContext, project: Project) -> dict[str, Any]:
    if ctx.config.tables is None:
        raise Unavailable("This server has no SQL warehouse to list tables with: set DATABRICKS_WAREHOUSE_ID.")
    assert project.source_table is not None
    source, folder = TableSource.of_json(project.source_table), parse(project.source_volume)
    known_up_to = await ctx.db.read(source_folders.last_sample_id, project.id)
    chunks = ctx.config.tables.paths(source)
    found = PathDigests()
    rows = added = refused = 0
    examples: list[dict[str, str]] = []
    await ctx.progress(0, None, force=True)
    while True:
        chunk = await asyncio.to_thread(next, chunks, None)  # a warehouse round trip: keep it off the loop
        if chunk is None:
            break
        files: dict[str, tuple[str, str]] = {}  # rows that name one path two ways are one image
        for raw in chunk:
            verdict = accepted(raw, folder)
            if isinstance(verdict, str):
                refused += 1
                if len(examples) < EXAMPLES:
                    examples.append({"path": shown(raw), "reason": verdict})
            else:
                files.setdefault(verdict[0], verdict)
        await asyncio.to_thread(found.add, list(files))
        added += await ctx.db.write(samples.insert_new, project.id, list(files.values()))  # known ones: skipped
        rows += len(chunk)
        if rows > MAX_ROWS:
            raise Invalid(f"{source.name} lists more than {MAX_ROWS:,} paths: filter it (or point the project at a "
                          f"view of fewer rows). The {added:,} new images read so far were added; nothing was "
                          "marked missing.")
        await ctx.progress(rows)
    vanished, back = await ctx.db.read(source_folders.compare_found, project.id, found, known_up_to)
    await ctx.db.write(source_folders.mark_missing, project.id, vanished, back)
    await ctx.progress(rows, rows, force=True)
    return {"table": source.name, "rowsRead": rows, "imagesFound": len(found), "samplesAdded": added,
            "missing": len(vanished), "foundAgain": len(back), "refused": refused, "refusedExamples": examples}
