"""A lean keep-alive HTTP/1.1 client on asyncio streams, for load and latency figures: httpx spends more CPU
per request than the server does, and on a 2-core machine the client's CPU is the server's loss."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlsplit


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return status, body


def _request(netloc: str, method: str, path: str, body: bytes | None) -> bytes:
    if body is None:
        return f"{method} {path} HTTP/1.1\r\nHost: {netloc}\r\n\r\n".encode()
    return (f"{method} {path} HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _rate(base: str, make: Callable[[int], tuple[str, str, bytes | None]], seconds: float,
                connections: int, check: Callable[[int, bytes], bool]) -> float:
    url = urlsplit(base)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        i = k
        try:
            while time.perf_counter() < deadline:
                method, path, body = make(i)
                writer.write(_request(url.netloc, method, path, body))
                status, payload = await _read_response(reader)
                assert check(status, payload), (status, payload[:300])
                done += 1
                i += connections
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    return done / (time.perf_counter() - t0)


async def get_rate(base: str, paths: list[str], seconds: float, connections: int = 16) -> float:
    """GET requests per second over `seconds`, cycling through paths on keep-alive connections."""
    return await _rate(base, lambda i: ("GET", paths[i % len(paths)], None), seconds, connections,
                       lambda status, body: status == 200 and bool(body))


async def post_rate(base: str, path: str, bodies: Callable[[int], bytes], seconds: float, connections: int,
                    check: Callable[[int, bytes], bool]) -> float:
    """POSTs per second with bodies(i) as the i-th request body, on `connections` keep-alive connections."""
    return await _rate(base, lambda i: ("POST", path, bodies(i)), seconds, connections, check)


async def post_latencies(base: str, path: str, bodies: list[bytes], check: Callable[[int, bytes], bool]
                         ) -> list[float]:
    """Milliseconds per POST, one after the other on one keep-alive connection."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    out = []
    try:
        for body in bodies:
            t0 = time.perf_counter()
            writer.write(_request(url.netloc, "POST", path, body))
            status, payload = await _read_response(reader)
            out.append((time.perf_counter() - t0) * 1000)
            assert check(status, payload), (status, payload[:300])
    finally:
        writer.close()
    return out


async def fetch_all(base: str, paths: list[str], connections: int = 6) -> float:
    """Seconds to GET every path once over `connections` keep-alive connections, as a browser loads a page's
    images (six connections per host); every answer must be a 200 with a body."""
    url = urlsplit(base)
    todo = list(reversed(paths))
    conns = [await asyncio.open_connection(url.hostname, url.port) for _ in range(min(connections, len(paths)))]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while todo:
            path = todo.pop()
            writer.write(_request(url.netloc, "GET", path, None))
            status, body = await _read_response(reader)
            assert status == 200 and body, (path, status, body[:300])

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker(r, w) for r, w in conns))
        return time.perf_counter() - t0
    finally:
        for _, w in conns:
            w.close()
