"""One way for a test to wait for a job: read its state until it has ended, or fail at a deadline saying what it
was doing (no test waits without one)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


def until_ended(read: Callable[[], dict[str, Any]], timeout: float = 20.0, every: float = 0.05) -> dict[str, Any]:
    """Calls `read` (a job's fields, `status` among them) until the job has ended; its last answer."""
    deadline = time.monotonic() + timeout
    while (job := read())["status"] not in ENDED:
        assert time.monotonic() < deadline, f"the job is still {job['status']} after {timeout:g} s: {job}"
        time.sleep(every)
    return job


async def until_ended_async(read: Callable[[], Awaitable[dict[str, Any]]], timeout: float = 20.0,
                            every: float = 0.05) -> dict[str, Any]:
    """The same for a test on an event loop."""
    deadline = time.monotonic() + timeout
    while (job := await read())["status"] not in ENDED:
        assert time.monotonic() < deadline, f"the job is still {job['status']} after {timeout:g} s: {job}"
        await asyncio.sleep(every)
    return job
