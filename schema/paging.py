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


def score_cursor(cursor: str | None) -> tuple[float, int] | None:
    """A ranked queue's `after` cursor, "<score>:<sample id>", as its keyset; None for the first page."""
    if cursor is None:
        return None
    score, _, sid = cursor.partition(":")
    try:
        return float(score), int(sid)
    except ValueError:
        raise Invalid(f"after: {cursor!r} is not a cursor of this queue.", field="after") from None
