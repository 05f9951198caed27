"""A websocket client that goes away while the server is still answering it (here: before its refusal for want of
a sign-in can be sent) is not an error of the app: the connection just ends."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from server import create_app
from settings import Settings


async def test_a_client_gone_before_its_refusal_is_sent_is_no_error(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, auth_mode="token"))
    incoming: list[dict[str, Any]] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": json.dumps({"type": "connection_init", "payload": {}})}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "websocket.close":
            raise OSError("the client is gone")  # what the server sees when the client reset the connection

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "path": "/graphql", "raw_path": b"/graphql",
             "query_string": b"", "scheme": "ws", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
             "root_path": "", "subprotocols": ["graphql-transport-ws"],
             "headers": [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000"),
                         (b"sec-websocket-protocol", b"graphql-transport-ws")]}
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app(scope, receive, send), 10)
    assert sent == ["websocket.accept", "websocket.close"]
