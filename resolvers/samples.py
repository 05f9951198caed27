"""Sample queries: one sample, and the filtered keyset page behind Project.samples."""

from __future__ import annotations

import strawberry

from db import samples as sample_rows
from resolvers.ids import lookup_id, parse_cursor
from schema.context import Info
from schema.enums import SampleStatus
from schema.types import PageInfo, Sample, SampleConnection, SampleEdge


def _wants_annotations(info: Info) -> bool:
    """Whether the query asks for edges { node { annotations } }: then they come with the page, in one query."""
    for field in info.selected_fields:
        for edges in field.selections:
            if getattr(edges, "name", None) != "edges":
                continue
            for node in edges.selections:
                if getattr(node, "name", None) == "node" and any(
                    getattr(f, "name", None) == "annotations" for f in node.selections
                ):
                    return True
    return False


async def sample_page(
    info: Info, project_id: int, *, status: SampleStatus | None, label: str | None, filename: str | None,
    labeled_by: str | None, first: int, after: str | None,
) -> SampleConnection:
    f = sample_rows.SampleFilter(status=status.value if status else None, label=label, filename=filename,
                                 labeled_by=labeled_by)
    rows, has_next, annotations = await info.context.db.read(
        sample_rows.page_with_annotations, project_id, f, first=first, after=parse_cursor(after),
        annotations=_wants_annotations(info))
    edges = [SampleEdge(node=Sample.of(r, annotations.get(r.id)), cursor=str(r.id)) for r in rows]
    return SampleConnection(
        edges=edges, page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
        _project_id=project_id, _filter=f,
    )


@strawberry.type
class SampleQueries:
    @strawberry.field
    async def sample(self, info: Info, id: strawberry.ID) -> Sample | None:
        key = lookup_id(id)
        row = await info.context.db.read(sample_rows.find_sample, key) if key else None
        return Sample.of(row) if row else None
