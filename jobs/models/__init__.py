"""Model backends for pre-annotation: each turns images into predictions (label, kind, box, confidence).

Boxes are normalised (x, y, w, h) of the displayed image, like everywhere else; a backend reports a problem with
one image as ModelError, which fails that sample only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

MAX_RESPONSE_BYTES = 20 * 2**20
TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=30.0, pool=5.0)


class ModelError(Exception):
    """The model could not give a usable answer for an image (HTTP error, timeout, malformed output). `retryable`:
    the endpoint was busy or still starting (HTTP 429, 503, 504, or no answer in time), not wrong."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


RETRY_STATUSES = (429, 503, 504)


@dataclass(frozen=True)
class Prediction:
    label: str
    kind: str  # "BBOX" | "CLASSIFICATION"
    box: tuple[float, float, float, float] | None
    confidence: float | None


async def post_json(client: httpx.AsyncClient, url: str, payload: Any, who: str) -> Any:
    """POST payload, return the JSON answer; every transport or protocol problem is a ModelError naming `who`.
    The answer is read in pieces and abandoned once it passes MAX_RESPONSE_BYTES."""
    try:
        async with client.stream("POST", url, json=payload) as r:
            if r.status_code != 200:
                raise ModelError(f"{who} answered HTTP {r.status_code}", retryable=r.status_code in RETRY_STATUSES)
            body = bytearray()
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise ModelError(f"{who}'s answer is too large (over {MAX_RESPONSE_BYTES // 2**20} MB)")
    except httpx.TimeoutException:
        raise ModelError(f"{who} did not answer in time", retryable=True) from None
    except httpx.HTTPError as exc:
        raise ModelError(f"{who} could not be reached ({type(exc).__name__})") from None
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
