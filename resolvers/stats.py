"""The projectStats subscription: current stats at once, then after committed changes, throttled per subscriber."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import strawberry

from db import stats as stats_rows
from resolvers.still_allowed import StillAllowed
from schema.access import require
from schema.context import Info
from schema.ids import parse_id
from schema.services import Services
from schema.stats import ProjectStats

MIN_INTERVAL = 0.2  # at most five emissions a second per subscriber, however busy the project


class SharedStats:
    """One stats read per project per burst of changes, however many dashboards are subscribed."""

    def __init__(self) -> None:
        self._inflight: dict[int, tuple[int, asyncio.Task[ProjectStats]]] = {}

    async def get(self, services: Services, project_id: int, seen: int) -> ProjectStats:
        """Stats that include every change up to event number `seen` (a read started earlier is not shared)."""
        current = self._inflight.get(project_id)
        if current is None or current[0] < seen:
            task = asyncio.ensure_future(self._read(services, project_id))
            current = (services.broker.seq(f"project:{project_id}"), task)
            self._inflight[project_id] = current
            task.add_done_callback(lambda t: self._forget(project_id, t))
        return await asyncio.shield(current[1])

    def _forget(self, project_id: int, task: asyncio.Task[ProjectStats]) -> None:
        if project_id in self._inflight and self._inflight[project_id][1] is task:
            del self._inflight[project_id]

    @staticmethod
    async def _read(services: Services, project_id: int) -> ProjectStats:
        found = await services.db.read(stats_rows.stats_by_project, [project_id])
        return ProjectStats.of(found[project_id])


@strawberry.type
class StatsSubscriptions:
    @strawberry.subscription(description="Emits the current stats at once, then again after every committed "
                                         "change to the project.")
    async def project_stats(self, info: Info, project_id: strawberry.ID) -> AsyncGenerator[ProjectStats, None]:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        allowed = StillAllowed(info, lambda access: access.project(pid, "viewer"))
        services = info.context.services
        shared: SharedStats = services.info.setdefault("shared_stats", SharedStats())
        async with services.broker.subscribe(f"project:{pid}") as events:
            yield await SharedStats._read(services, pid)
            last = time.monotonic()
            while True:
                await events.get()
                wait = MIN_INTERVAL - (time.monotonic() - last)
                if wait > 0:  # a burst: let it land, then send one update that covers it
                    await asyncio.sleep(wait)
                while not events.empty():
                    events.get_nowait()
                await allowed()
                info.context.forget()
                yield await shared.get(services, pid, services.broker.seq(f"project:{pid}"))
                last = time.monotonic()
