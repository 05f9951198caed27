"""Image decodes for the media routes: each on a worker thread, at most DECODE_CONCURRENCY at once (the others wait
on the event loop, holding no thread), and one per thumbnail however many requests ask for it meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Decodes:
    """One per app. `started` and `peak` (decodes begun, most at once) are for tests and benchmarks."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._gate: asyncio.Semaphore | None = None
        self._flights: dict[str, asyncio.Future[Any]] = {}
        self.started = self.running = self.peak = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on a worker thread once a decode slot is free."""
        if self._gate is None:  # made on the app's loop, the first time it is needed
            self._gate = asyncio.Semaphore(self.concurrency)
        async with self._gate:
            self.started += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                return await asyncio.to_thread(fn, *args)
            finally:
                self.running -= 1

    async def once(self, key: str, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) through run(), shared by every caller that asks for the same key while it runs. A caller that
        goes away does not cancel it for the others."""
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self.run(fn, *args))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    def _landed(self, key: str, flight: asyncio.Future[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here: its callers (if any are left) got it already
