"""A lean keep-alive HTTP/1.1 GET load generator on asyncio streams (httpx would be the bottleneck)."""

from __future__ import annotations

import asyncio
import time
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


async def get_rate(base: str, paths: list[str], seconds: float, connections: int = 16) -> float:
    """Requests per second over `seconds`, cycling through paths on `connections` keep-alive connections."""
    url = urlsplit(base)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        i = k
        try:
            while time.perf_counter() < deadline:
                path = paths[i % len(paths)]
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
                status, body = await _read_response(reader)
                assert status == 200 and body, status
                done += 1
                i += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    return done / (time.perf_counter() - t0)
