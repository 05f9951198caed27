"""Sample queries: one sample by id (the filtered page behind Project.samples is in schema/samples.py)."""

from __future__ import annotations

import strawberry

from db import samples as sample_rows
from db.errors import NotFound
from schema.access import require_sample
from schema.context import Info
from schema.ids import lookup_id
from schema.samples import Sample


@strawberry.type
class SampleQueries:
    @strawberry.field
    async def sample(self, info: Info, id: strawberry.ID) -> Sample | None:
        key = lookup_id(id)
        if key is None:
            return None
        try:
            await require_sample(info, key, "viewer")
        except NotFound:
            return None
        row = await info.context.db.read(sample_rows.find_sample, key)
        return Sample.of(row) if row else None
