"""Model backends for pre-annotation: each turns images into predictions (label, kind, box, confidence).

Boxes are normalised (x, y, w, h) of the displayed image, like everywhere else; a backend reports a problem with
one image as ModelError, which fails that sample only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from jobs.models.egress import ALLOW_HINT, refused_reason

log = logging.getLogger("cvx.models")

MAX_RESPONSE_BYTES = 20 * 2**20
TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=30.0, pool=5.0)


class ModelError(Exception):
    """The model could not give a usable answer for an image (HTTP error, timeout, malformed output). `retryable`:
    the endpoint was busy or still starting (HTTP 429, 503, 504, or no answer in time), not wrong. `status`: the
    HTTP status it answered, for the code to act on; messages never carry it (they reach users; the log has it)."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable, self.status = retryable, status


RETRY_STATUSES = (429, 503, 504)


@dataclass(frozen=True)
class Prediction:
    label: str
    kind: str  # "BBOX" | "CLASSIFICATION"
    box: tuple[float, float, float, float] | None
    confidence: float | None


def unreachable(who: str, exc: httpx.HTTPError) -> str:
    """What a user is told when a request to a model failed before any answer: refused by the allow-list (and
    why: that is our rule, not the endpoint's) or simply unreachable (the details go to the log)."""
    reason = refused_reason(exc)
    if reason:
        return f"{who} is refused: {reason}; {ALLOW_HINT}"
    log.warning("%s could not be reached: %s: %s", who, type(exc).__name__, exc)
    return f"{who} is unreachable"


def refused(who: str, url: str, status: int) -> ModelError:
    """An answer other than 200, logged in full and told to the user without its status or body."""
    log.warning("%s at %s answered HTTP %s", who, url, status)
    if status in RETRY_STATUSES:
        return ModelError(f"{who} is busy or starting", retryable=True, status=status)
    return ModelError(f"{who} refused the request (the server log has the details)", status=status)


async def post_json(client: httpx.AsyncClient, url: str, payload: Any, who: str) -> Any:
    """POST payload, return the JSON answer; every transport or protocol problem is a ModelError naming `who`.
    The answer is read in pieces and abandoned once it passes MAX_RESPONSE_BYTES."""
    try:
        async with client.stream("POST", url, json=payload) as r:
            if r.status_code != 200:
                raise refused(who, url, r.status_code)
            body = bytearray()
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise ModelError(f"{who}'s answer is too large (over {MAX_RESPONSE_BYTES // 2**20} MB)")
    except httpx.TimeoutException:
        raise ModelError(f"{who} did not answer in time", retryable=True) from None
    except httpx.HTTPError as exc:
        raise ModelError(unreachable(who, exc)) from None
    try:
        return json.loads(body)
    except ValueError:
        raise ModelError(f"{who}'s answer is not JSON") from None


def one_list(body: Any, key: str, expected: int) -> list[Any]:
    """body[key] as a list of exactly `expected` entries (one per image sent)."""
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) != expected:
        raise ModelError(f"expected {expected} {key}, got {len(items) if isinstance(items, list) else 0}")
    return items
