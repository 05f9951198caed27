"""The HTTP protocol `serve` runs uvicorn with: its httptools parser plus a deadline for a request's headers, which
uvicorn lacks (a client that connects, or starts a request, and then sends nothing would hold its connection for
ever). Bodies have their own deadline in the ASGI guard (resolvers/guard.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BODY = b'{"code":"VALIDATION","error":"The request headers did not arrive in time (REQUEST_HEADER_TIMEOUT_SECONDS)."}'
TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nx-content-type-options: nosniff\r\n"
             b"connection: close\r\ncontent-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class HeaderDeadline(HttpToolsProtocol):
    """A connection must deliver each request's headers within `seconds` of opening (or of the request's first
    byte); otherwise it gets 408 and is closed. Idle keep-alive connections are uvicorn's (timeout_keep_alive)."""

    seconds = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a kept-alive connection starts its next request: its headers get the same time

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(TIMED_OUT)
            self.transport.close()


def header_deadline(seconds: float) -> type[HeaderDeadline]:
    """The protocol class for uvicorn.run(http=...), with this deadline."""
    return type("HeaderDeadline", (HeaderDeadline,), {"seconds": seconds})
