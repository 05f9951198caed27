"""Parsing of GraphQL IDs and cursors into database keys."""

from __future__ import annotations

from collections.abc import Sequence

from db.errors import Invalid, NotFound

MAX_IDS = 10_000  # ids in one bulk request (acceptDrafts, clearDrafts)


def parse_id(value: str, what: str) -> int:
    """An unknown-looking id is simply an id that does not exist."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"{what} {value!r} does not exist.") from None
    if n <= 0 or n > 2**62:
        raise NotFound(f"{what} {value!r} does not exist.")
    return n


def parse_ids(values: Sequence[str], what: str) -> tuple[list[int], list[str]]:
    """The ids of a bulk request (at most MAX_IDS, else VALIDATION naming the cap): (keys, values that cannot be
    the id of anything), for the caller to report with the ids that exist no more (db.errors.unknown_ids)."""
    if len(values) > MAX_IDS:
        raise Invalid(f"At most {MAX_IDS:,} {what} ids go in one request (this one has {len(values):,}); send them "
                      "in batches.", maxIds=MAX_IDS)
    keys, malformed = [], []
    for value in values:
        key = lookup_id(value)
        if key is None:
            malformed.append(value)
        else:
            keys.append(key)
    return keys, malformed


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
