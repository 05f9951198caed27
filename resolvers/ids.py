"""Parsing of GraphQL IDs and cursors into database keys."""

from __future__ import annotations

from db.errors import Invalid, NotFound


def parse_id(value: str, what: str) -> int:
    """An unknown-looking id is simply an id that does not exist."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"{what} {value!r} does not exist.") from None
    if n <= 0 or n > 2**62:
        raise NotFound(f"{what} {value!r} does not exist.")
    return n


def lookup_id(value: str) -> int | None:
    """For nullable lookups: an id that cannot exist simply finds nothing."""
    try:
        return parse_id(value, "")
    except NotFound:
        return None


def parse_cursor(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"Cursor {value!r} is not one this API returned.") from None
