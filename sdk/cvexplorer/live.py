"""Subscriptions over graphql-transport-ws, as iterators that reconnect: after a dropped connection (a server
restart, a proxy's idle cut) the operation is subscribed again and the server sends the current state at once, so
a watcher never misses where things stand. GraphQL errors (NOT_FOUND, a revoked token) end the iteration with
their exception; only the connection is retried."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import websockets
from websockets.asyncio.client import connect as aconnect
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from cvexplorer.errors import Unauthenticated, Unavailable, from_graphql
from cvexplorer.operations import document

PROTOCOL = Subprotocol("graphql-transport-ws")
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


class _Dropped(Exception):
    """The server closed the connection without completing the operation."""


RETRYABLE = (OSError, websockets.exceptions.ConnectionClosed, websockets.exceptions.InvalidHandshake, TimeoutError,
             _Dropped)


def ws_url(base: str) -> str:
    scheme, rest = base.rstrip("/").split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/graphql"


def _init(headers: dict[str, str]) -> str:
    payload = {"authorization": headers["Authorization"]} if "Authorization" in headers else {}
    return json.dumps({"type": "connection_init", "payload": payload})


def _subscribe(operation: str, variables: dict[str, Any]) -> str:
    return json.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": document(operation), "operationName": operation, "variables": variables}})


def _payload(raw: str | bytes) -> tuple[str, Any]:
    """(what happened, its data): ("data", ...), ("complete", None), ("ping", None) or ("other", None)."""
    msg = json.loads(raw)
    kind = msg.get("type")
    if kind == "next":
        payload = msg.get("payload") or {}
        if payload.get("errors"):
            raise from_graphql(payload["errors"][0])
        return "data", payload.get("data")
    if kind == "error":
        raise from_graphql((msg.get("payload") or [{}])[0])
    if kind == "complete":
        return "complete", None
    return ("ping", None) if kind == "ping" else ("other", None)


def _refused(exc: BaseException) -> None:
    """A connection the server closed for its credentials (4401 / 4403 in graphql-transport-ws) is not retried."""
    if isinstance(exc, websockets.exceptions.ConnectionClosed) and exc.rcvd and exc.rcvd.code in (4401, 4403):
        raise Unauthenticated(f"The server refused the subscription's credentials: {exc.rcvd.reason or exc}") from exc


def _backoff(base: str, exc: Exception, failures: int, retries: int) -> float:
    """How long to wait before connecting again; refused credentials, or too many failures in a row, raise."""
    _refused(exc)
    if failures > retries:
        raise Unavailable(f"The subscription to {base} kept failing ({failures} times): {exc}") from exc
    return BACKOFF[min(failures - 1, len(BACKOFF) - 1)]


def subscribe(base: str, auth: Callable[[], dict[str, str]], operation: str, variables: dict[str, Any], *,
              retries: int = 5, open_timeout: float = 10) -> Iterator[dict[str, Any]]:
    """The operation's data, event by event, until the server completes it; reconnects after a dropped connection
    (at most `retries` times in a row)."""
    failures = 0
    while True:
        try:
            headers = auth()
            with connect(ws_url(base), subprotocols=[PROTOCOL], additional_headers=headers, proxy=None,
                         open_timeout=open_timeout) as ws:
                ws.send(_init(headers))
                while _payload(ws.recv(open_timeout))[0] != "other":  # connection_ack
                    pass
                ws.send(_subscribe(operation, variables))
                for raw in ws:
                    kind, data = _payload(raw)
                    if kind == "ping":
                        ws.send(json.dumps({"type": "pong"}))
                    elif kind == "complete":
                        return
                    elif kind == "data":
                        failures = 0
                        yield data
                raise _Dropped("the connection was closed")
        except RETRYABLE as exc:
            failures += 1
            time.sleep(_backoff(base, exc, failures, retries))


async def subscribe_async(base: str, auth: Callable[[], dict[str, str]], operation: str, variables: dict[str, Any],
                          *, retries: int = 5, open_timeout: float = 10) -> AsyncIterator[dict[str, Any]]:
    """subscribe() on an event loop."""
    import asyncio

    failures = 0
    while True:
        try:
            headers = auth()
            async with aconnect(ws_url(base), subprotocols=[PROTOCOL], additional_headers=headers, proxy=None,
                                open_timeout=open_timeout) as ws:
                await ws.send(_init(headers))
                while _payload(await asyncio.wait_for(ws.recv(), open_timeout))[0] != "other":
                    pass
                await ws.send(_subscribe(operation, variables))
                async for raw in ws:
                    kind, data = _payload(raw)
                    if kind == "ping":
                        await ws.send(json.dumps({"type": "pong"}))
                    elif kind == "complete":
                        return
                    elif kind == "data":
                        failures = 0
                        yield data
                raise _Dropped("the connection was closed")
        except RETRYABLE as exc:
            failures += 1
            await asyncio.sleep(_backoff(base, exc, failures, retries))
