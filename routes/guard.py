"""ASGI middleware in front of every route: in local mode only loopback Host names (a DNS-rebinding page names its
own), same-origin checks on POSTs and websocket handshakes (CSRF), JSON-only
/graphql POSTs, no GET /graphql outside local mode, URL, request and websocket message caps, a deadline for request
bodies, `nosniff` on every response, a database outage answered 503 with Retry-After, and unexpected errors masked
to a request id (logged in full)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.errors import DatabaseUnavailable

log = logging.getLogger("cvx.http")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_URL_BYTES = 16384  # path and query: room for a 4,096-byte volume path, percent-encoded, and then some
NOSNIFF = (b"x-content-type-options", b"nosniff")
RETRY_AFTER = (b"retry-after", str(DatabaseUnavailable.retry_after).encode())


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower() if url else ""


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def local_hosts(host: str, public_url: str, extra: tuple[str, ...]) -> frozenset[str]:
    """The Host names local mode answers: loopback ones, the one it listens on, PUBLIC_URL's, ALLOWED_HOSTS."""
    names = {*LOOPBACK_NAMES, host.lower(), *extra}
    if public_url:
        names.add((urlsplit(public_url).hostname or "").lower())
    return frozenset(n for n in names if n)


def _hostname(host: bytes) -> str:
    """`example.com:8000` / `[::1]:8000` -> `example.com` / `::1`."""
    return (urlsplit("//" + host.decode("latin-1")).hostname or "").lower()


class Guard:
    """`local` relaxes only what local mode allows (GraphQL queries over GET, for GraphiQL); `uncapped` are path
    prefixes whose handlers enforce their own, larger body cap (uploads: IMPORT_MAX_BYTES)."""

    def __init__(self, app: ASGIApp, *, local: bool, public_url: str, max_body: int,
                 uncapped: tuple[str, ...] = ("/uploads/",), hosts: frozenset[str] | None = None,
                 body_seconds: float = 30.0) -> None:
        self.app = app
        self.hosts = hosts  # None: any Host (the platform's proxy or the operator decides what reaches us)
        self.local = local
        self.public = _netloc(public_url)
        self.max_body = max_body
        self.uncapped = uncapped
        self.body_seconds = body_seconds  # a body must arrive this fast; uploads get as long again per max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def same_origin(self, headers: dict[bytes, bytes]) -> bool:
        """No Origin (not a browser), or an Origin naming the host the request was sent to, or PUBLIC_URL.
        X-Forwarded-Host counts because a page cannot set it on a cross-site request without a preflight."""
        origin = headers.get(b"origin")
        if origin is None:
            return True
        netloc = _netloc(origin.decode("latin-1"))
        hosts = {headers.get(b"host", b""), headers.get(b"x-forwarded-host", b"")}
        return bool(netloc) and (netloc == self.public or netloc.encode() in {h.lower() for h in hosts if h})

    def known_host(self, headers: dict[bytes, bytes]) -> bool:
        return self.hosts is None or _hostname(headers.get(b"host", b"")) in self.hosts

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        if not self.known_host(headers) or not self.same_origin(headers):
            log.warning("refused a websocket handshake from origin %r", headers.get(b"origin"))
            await send({"type": "websocket.close", "code": 1008, "reason": "cross-origin websocket refused"})
            return

        async def capped() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                size = len(message.get("text") or "") + len(message.get("bytes") or b"")
                if size > self.max_body:
                    await send({"type": "websocket.close", "code": 1009, "reason": "message too big"})
                    return {"type": "websocket.disconnect", "code": 1009}
            return message

        await self.app(scope, capped, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        method, path = scope["method"], scope["path"]
        if not self.known_host(headers):
            return await _reject(scope, send, 403, "FORBIDDEN", "This Host is not served here: AUTH_MODE=local "
                                 "answers only to loopback names (add others to ALLOWED_HOSTS).")
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_URL_BYTES:
            return await _reject(scope, send, 414, "TOO_LARGE", f"The URL is longer than {MAX_URL_BYTES:,} bytes.")
        if method not in SAFE_METHODS and not self.same_origin(headers):
            return await _reject(scope, send, 403, "FORBIDDEN", "Cross-origin requests are refused.")
        if path == "/graphql":
            if method in ("GET", "HEAD") and not self.local:
                return await _reject(scope, send, 405, "VALIDATION", "Send GraphQL requests as POST.")
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if method == "POST" and ctype != b"application/json":
                return await _reject(scope, send, 415, "VALIDATION",
                                     "Send GraphQL requests as POST with Content-Type: application/json.")
        capped = not path.startswith(self.uncapped)
        declared = headers.get(b"content-length", b"")
        if capped and declared.isdigit() and int(declared) > self.max_body:
            return await _reject(scope, send, 413, "TOO_LARGE", self._too_large())

        received, complete = 0, False
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def counting() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what follows is waiting for a disconnect, as long as a response streams
                return await receive()
            # a whole body within body_seconds; an upload earns that long again for each max_body it has sent
            allowed = self.body_seconds * (1 + (0 if capped else received // self.max_body))
            try:
                async with asyncio.timeout(start + allowed - loop.time()):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if capped and received > self.max_body:
                    raise _TooLarge
            return message

        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", ())}
                extra = [NOSNIFF] if NOSNIFF[0] not in names else []
                if message["status"] == 503 and RETRY_AFTER[0] not in names:  # every 503 says when to come back
                    extra.append(RETRY_AFTER)
                if extra:
                    message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except _TooLarge:
            if not started:
                await _reject(scope, send, 413, "TOO_LARGE", self._too_large())
        except _TooSlow:
            log.info("%s %s: the body did not arrive within %g s; answered 408", method, path, self.body_seconds)
            if not started:  # and the connection is closed: what the client still sends belongs to no request
                await _reject(scope, send, 408, "VALIDATION", "The request body did not arrive in time: it must "
                              f"come within {self.body_seconds:g} s (REQUEST_BODY_TIMEOUT_SECONDS).", close=True)
        except DatabaseUnavailable as exc:  # from any handler (sign-in, identity, …): an outage, not a bug
            if started:
                raise
            await _reject(scope, send, 503, "UNAVAILABLE", exc.message, retryAfter=exc.retry_after)
        except Exception:
            if started:
                raise
            request_id = uuid.uuid4().hex[:12]
            log.exception("unexpected error (request %s) on %s %s", request_id, method, path)
            await _reject(scope, send, 500, "INTERNAL", f"Unexpected error (request id {request_id}).",
                          requestId=request_id)

    def _too_large(self) -> str:
        return f"The request body is larger than {self.max_body:,} bytes (MAX_REQUEST_BYTES)."


async def _reject(scope: Scope, send: Send, status: int, code: str, message: str, close: bool = False,
                  **extra: Any) -> None:
    """A GraphQL-shaped error on /graphql (clients read errors[0].extensions.code), {code, error} elsewhere;
    close: end the connection after it."""
    body: dict[str, Any]
    if scope["path"] == "/graphql":
        body = {"errors": [{"message": message, "extensions": {"code": code, **extra}}]}
    else:
        body = {"code": code, "error": message, **extra}
    data = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), NOSNIFF]
    if status == 503:
        headers.append(RETRY_AFTER)
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
