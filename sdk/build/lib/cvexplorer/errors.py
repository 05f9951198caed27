"""Exceptions: every API error is a CvxError carrying the server's `extensions.code` and extensions; a job that
ends FAILED or CANCELLED raises JobFailed with its row errors."""

from __future__ import annotations

from typing import Any


class CvxError(Exception):
    """An error the server answered (code is its extensions.code) or the client met (UNAVAILABLE: no answer)."""

    code = "ERROR"

    def __init__(self, message: str, *, code: str | None = None, extensions: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.extensions: dict[str, Any] = extensions or {}

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Row errors of bulk input ({row, filename, reason}, the first 100), if any."""
        return list(self.extensions.get("errors") or [])

    @property
    def error_count(self) -> int:
        return int(self.extensions.get("errorCount") or len(self.errors))

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotFound(CvxError):
    code = "NOT_FOUND"


class Conflict(CvxError):
    """A stale expected_version: extensions carry currentVersion and changedBy."""

    code = "CONFLICT"


class ValidationError(CvxError):
    code = "VALIDATION"


class Forbidden(CvxError):
    code = "FORBIDDEN"


class Unauthenticated(CvxError):
    code = "UNAUTHENTICATED"


class TooLarge(CvxError):
    code = "TOO_LARGE"


class Unavailable(CvxError):
    """The server (or its database) cannot answer now, or could not be reached at all."""

    code = "UNAVAILABLE"


class JobFailed(CvxError):
    """A job ended FAILED or CANCELLED. `job` is its last state; `code` the job's result.code (VALIDATION for an
    import with row errors, listed in `errors`), or CANCELLED."""

    def __init__(self, job: Any) -> None:
        result = job.result or {}
        code = "CANCELLED" if job.status == "CANCELLED" else str(result.get("code") or "FAILED")
        message = job.error or f"Job {job.id} ({job.kind}) ended {job.status}."
        super().__init__(message, code=code, extensions=result)
        self.job = job


BY_CODE: dict[str, type[CvxError]] = {cls.code: cls for cls in (
    NotFound, Conflict, ValidationError, Forbidden, Unauthenticated, TooLarge, Unavailable)}


def from_graphql(error: dict[str, Any]) -> CvxError:
    extensions = dict(error.get("extensions") or {})
    code = str(extensions.get("code") or "INTERNAL")
    return BY_CODE.get(code, CvxError)(str(error.get("message") or "Unknown error"), code=code,
                                        extensions=extensions)
