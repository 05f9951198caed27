"""folderImageCount(path): how many image files a project made from a folder would get, counted through its
sub-folders the way the scan walks them, with a cap so a huge tree answers quickly."""

from __future__ import annotations

import asyncio
import itertools
import os

import strawberry

from db.errors import Invalid
from schema.context import Info
from volumes.images import IMAGE_EXTENSIONS
from volumes.paths import parse

COUNT_CAP = 10_000  # past this the answer is "at least": the folder picker says "10,000+"


@strawberry.type(description="Image files below a folder, sub-folders included (as a scan finds them); complete is "
                             f"false when the count stopped at {COUNT_CAP:,}.")
class FolderImageCount:
    images: int
    complete: bool


@strawberry.type
class FolderCountQueries:
    @strawberry.field(description="The image files a scan of the folder would find (sub-folders included), counted "
                                  f"up to {COUNT_CAP:,}; for folders the caller may read.")
    async def folder_image_count(self, info: Info, path: str) -> FolderImageCount:
        vp = parse(path)
        if vp.depth < 3:
            raise Invalid(f"{vp} is not inside a volume: pick a volume or a folder in one.")
        await info.context.reach.read(vp, "count the images in")
        images = (e for e in info.context.services.volumes.walk_files(vp)
                  if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS)  # what jobs.scan keeps
        found = await asyncio.to_thread(lambda: sum(1 for _ in itertools.islice(images, COUNT_CAP + 1)))
        return FolderImageCount(images=min(found, COUNT_CAP), complete=found <= COUNT_CAP)
