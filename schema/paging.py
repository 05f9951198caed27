"""Keyset paging, shared by every connection type."""

from __future__ import annotations

import strawberry


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = strawberry.field(default=False, description="Only known when paging with `before`.")
    start_cursor: str | None = None
