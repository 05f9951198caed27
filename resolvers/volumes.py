"""browse(path): catalogs, schemas, volumes and folders; and the folder check createProject uses."""

from __future__ import annotations

import asyncio

import strawberry

from db.errors import Invalid
from schema.context import Info
from schema.types import VolumeEntry, VolumeListing
from volumes.paths import VolumePath, parse


async def checked_folder(info: Info, path: str) -> VolumePath:
    """A volume path that names an existing folder inside a volume (VALIDATION / NOT_FOUND otherwise)."""
    vp = parse(path)
    if vp.depth < 3:
        raise Invalid(f"{vp} is not inside a volume: pick a volume or a folder in one.")
    await asyncio.to_thread(info.context.services.volumes.list, vp)
    return vp


@strawberry.type
class VolumeQueries:
    @strawberry.field
    async def browse(self, info: Info, path: str) -> VolumeListing:
        vp = parse(path)
        entries = await asyncio.to_thread(info.context.services.volumes.list, vp)
        return VolumeListing(path=vp.text, entries=[
            VolumeEntry(name=e.name, path=e.path, is_dir=e.is_dir, size=e.size) for e in entries
        ])
