"""Domain errors raised by db/, jobs/ and volumes/; the GraphQL layer maps each to an `extensions.code`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    """An expected failure with a message a user can act on."""

    code = "VALIDATION"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class NotFound(DomainError):
    code = "NOT_FOUND"


class Conflict(DomainError):
    code = "CONFLICT"


class Invalid(DomainError):
    code = "VALIDATION"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class TooLarge(DomainError):
    code = "TOO_LARGE"


class Unavailable(DomainError):
    code = "UNAVAILABLE"


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached right now (db.outages): worth a retry after retry_after seconds."""

    retry_after = 5


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


def unknown_ids(what: str, ids: Sequence[object], shown: int = 10) -> Invalid:
    """VALIDATION naming the ids of a bulk request that name nothing the caller can see (the first few, and how
    many in all): the request changed nothing."""
    names = ", ".join(str(i) if isinstance(i, int) else repr(i) for i in ids[:shown])
    more = f" and {len(ids) - shown:,} more" if len(ids) > shown else ""
    return Invalid(f"Unknown {what} ids: {names}{more} ({len(ids):,} in all); nothing was changed. Send only ids "
                   "that exist.", unknownIds=[str(i) for i in ids[:100]], unknownCount=len(ids))
