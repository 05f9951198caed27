"""Keyset paging, shared by every connection type."""

from __future__ import annotations

import strawberry

from db.errors import Invalid


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = strawberry.field(default=False, description="Only known when paging with `before`.")
    start_cursor: str | None = None


def ranked_page(first: int | None, after: str | None, most: int = 200) -> tuple[int, tuple[float, int] | None]:
    """A ranked queue's page size (20 unless given, 0 to `most`) and the keyset of its `after` cursor."""
    size = 20 if first is None else first
    if not 0 <= size <= most:
        raise Invalid(f"first must be between 0 and {most}.", field="first")
    return size, score_cursor(after)


def score_cursor(cursor: str | None) -> tuple[float, int] | None:
    """A ranked queue's `after` cursor, "<score>:<sample id>", as its keyset; None for the first page."""
    if cursor is None:
        return None
    score, _, sid = cursor.partition(":")
    try:
        return float(score), int(sid)
    except ValueError:
        raise Invalid(f"after: {cursor!r} is not a cursor of this queue.", field="after") from None
