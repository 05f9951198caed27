"""Sample queries: one sample, and the filtered keyset page behind Project.samples."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from db import samples as sample_rows
from db.errors import Invalid, NotFound
from resolvers.access import require_sample
from resolvers.ids import lookup_id, parse_cursor
from schema.context import Info
from schema.enums import ReviewStatus, SampleOrder, SampleStatus
from schema.geometry import GeometryFilter
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


def _confidence_cursor(value: str | None) -> tuple[float, int] | None:
    if not value:
        return None
    try:
        tag, conf, key = value.split(":")
        assert tag == "lc"
        return float(conf), int(key)
    except (ValueError, AssertionError):
        raise Invalid(f"Cursor {value!r} is not one this API returned for LEAST_CONFIDENT order.") from None


def _cursor(row: sample_rows.Sample, least_confident: bool) -> str:
    if not least_confident:
        return str(row.id)
    conf = row.min_confidence if row.min_confidence is not None else sample_rows.NO_CONFIDENCE
    return f"lc:{conf!r}:{row.id}"


async def sample_page(
    info: Info, project_id: int, *, status: SampleStatus | None, label: str | None, filename: str | None,
    labeled_by: str | None, first: int, after: str | None, before: str | None = None,
    max_confidence: float | None = None, order: SampleOrder | None = None, review_status: ReviewStatus | None = None,
    labeled_after: datetime | None = None, labeled_before: datetime | None = None, not_labeled_by: str | None = None,
    geometry: GeometryFilter | None = None,
) -> SampleConnection:
    f = sample_filter(status, label, filename, labeled_by, max_confidence, review_status, labeled_after,
                      labeled_before, not_labeled_by, geometry)
    backwards = before is not None
    least = order == SampleOrder.LEAST_CONFIDENT
    if least and backwards:
        raise Invalid("LEAST_CONFIDENT order pages forwards only (use after, not before).")
    rows, more, annotations = await info.context.db.read(
        sample_rows.page_with_annotations, project_id, f, first=first,
        after=_confidence_cursor(after) if least else parse_cursor(after), before=parse_cursor(before),
        annotations=_wants_annotations(info), least_confident=least)
    edges = [SampleEdge(node=Sample.of(r, annotations.get(r.id)), cursor=_cursor(r, least)) for r in rows]
    page_info = PageInfo(has_next_page=more and not backwards, has_previous_page=more and backwards,
                         start_cursor=edges[0].cursor if edges else None,
                         end_cursor=edges[-1].cursor if edges else None)
    return SampleConnection(edges=edges, page_info=page_info, _project_id=project_id, _filter=f)


def sample_filter(status: SampleStatus | None, label: str | None, filename: str | None,
                  labeled_by: str | None, max_confidence: float | None = None,
                  review_status: ReviewStatus | None = None, labeled_after: datetime | None = None,
                  labeled_before: datetime | None = None, not_labeled_by: str | None = None,
                  geometry: GeometryFilter | None = None) -> sample_rows.SampleFilter:
    return sample_rows.SampleFilter(status=status.value if status else None, label=label, filename=filename,
                                    labeled_by=labeled_by, max_confidence=max_confidence,
                                    review_status=review_status.value if review_status else None,
                                    labeled_after=_utc(labeled_after), labeled_before=_utc(labeled_before),
                                    not_labeled_by=not_labeled_by,
                                    geometry=geometry.to_row() if geometry is not None else None)


def _utc(value: datetime | None) -> datetime | None:
    """A date-time without a zone is taken as UTC (the zone every stored time is in)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def sample_position(info: Info, project_id: int, sample_id: str, f: sample_rows.SampleFilter) -> int:
    key = lookup_id(sample_id)
    return await info.context.db.read(sample_rows.position, project_id, f, key) if key else 0


async def sample_at(info: Info, project_id: int, position: int, f: sample_rows.SampleFilter) -> Sample | None:
    row = await info.context.db.read(sample_rows.at_position, project_id, f, position)
    return Sample.of(row) if row else None


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
