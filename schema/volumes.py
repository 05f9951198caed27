"""Volume listings for the folder browser."""

from __future__ import annotations

import strawberry

from schema.paging import PageInfo


@strawberry.type
class VolumeEntry:
    name: str
    path: str
    is_dir: bool
    size: int | None


@strawberry.type
class VolumeListing:
    path: str
    entries: list[VolumeEntry]
    total_count: int = strawberry.field(description="Entries matching `filter` in all pages.")
    page_info: PageInfo = strawberry.field(description="With `first`: whether more follow and the cursor for `after`.")
