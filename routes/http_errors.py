"""Domain errors as the answers of the plain HTTP routes (images, uploads, export zips): one mapping, registered
once in server.py as Starlette exception handlers, as schema/errors.py does for GraphQL. Routes just raise."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from db.errors import DatabaseUnavailable, DomainError
from volumes.images import ImageError, ImageTooLarge

STATUS = {"NOT_FOUND": 404, "TOO_LARGE": 413, "UNAUTHENTICATED": 401, "FORBIDDEN": 403, "CONFLICT": 409,
          "UNAVAILABLE": 503}  # VALIDATION and anything else: 400


def answer(exc: DomainError | ImageError) -> JSONResponse:
    """`{"code", "error"}` with the status the code means (an image too big to decode 413, one unreadable 422)."""
    if isinstance(exc, ImageTooLarge):
        code, status = "TOO_LARGE", 413
    elif isinstance(exc, ImageError):
        code, status = "UNREADABLE", 422
    else:
        code, status = exc.code, STATUS.get(exc.code, 400)
    return JSONResponse({"code": code, "error": exc.message}, status_code=status)


async def _handle(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DatabaseUnavailable):
        raise exc  # an outage is answered by routes.guard, alike for every route (503, Retry-After)
    assert isinstance(exc, DomainError | ImageError)
    return answer(exc)


HANDLERS = {DomainError: _handle, ImageError: _handle}
