"""browse(path): catalogs, schemas, volumes and folders, filtered and paged, as far as the caller may reach (see
schema.reach); and the folder check createProject uses."""

from __future__ import annotations

import asyncio

import strawberry

from db.errors import Invalid
from schema.context import Info
from schema.paging import PageInfo
from schema.volumes import VolumeEntry, VolumeListing
from volumes.base import paginate
from volumes.paths import VolumePath, parse

BROWSE_MAX = 1000


async def checked_folder(info: Info, path: str) -> VolumePath:
    """A volume path that names an existing folder inside a volume (VALIDATION / NOT_FOUND otherwise)."""
    vp = parse(path)
    if vp.depth < 3:
        raise Invalid(f"{vp} is not inside a volume: pick a volume or a folder in one.")
    await asyncio.to_thread(info.context.services.volumes.check_folder, vp)
    return vp


@strawberry.type
class VolumeQueries:
    @strawberry.field(description="Entries under path, folders first then by name. `filter` keeps names containing it "
                                  f"(any case); `first` (at most {BROWSE_MAX}) and `after` page; without `first`, all.")
    async def browse(self, info: Info, path: str, filter: str | None = None, first: int | None = None,
                     after: str | None = None) -> VolumeListing:
        vp = parse(path)
        first = None if first is None else min(first, BROWSE_MAX)
        lead_ins = await info.context.reach.lead_ins(vp)
        if lead_ins is not None:
            page = paginate(lead_ins, name_filter=filter, first=first, after=after)
        else:
            page = await asyncio.to_thread(info.context.services.volumes.browse, vp, name_filter=filter,
                                           first=first, after=after)
        return VolumeListing(
            path=vp.text, total_count=page.total,
            page_info=PageInfo(has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor),
            entries=[VolumeEntry(name=e.name, path=e.path, is_dir=e.is_dir, size=e.size) for e in page.entries])
