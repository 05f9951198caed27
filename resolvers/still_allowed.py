"""A subscription outlives the access check it started with: StillAllowed repeats it before the subscription emits."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from db.errors import Unauthenticated
from routes.identity import SIGN_IN, identify
from schema.access import Access
from schema.context import Info

RECHECK_SECONDS = 5.0


class StillAllowed:
    """For a subscription: before an emission (at most every RECHECK_SECONDS), identify the caller again from
    what their websocket signed in with and repeat its access check with nothing cached. A signed-out session, a
    revoked token, a removed user or a lost membership ends the subscription with the error a new one would get."""

    def __init__(self, info: Info, check: Callable[[Access], Awaitable[object]]) -> None:
        self.context, self.check = info.context, check
        self.checked_at = time.monotonic()  # the subscription was allowed just now

    async def __call__(self) -> None:
        if time.monotonic() - self.checked_at < RECHECK_SECONDS:
            return
        ctx = self.context
        user = await identify(ctx.services, ctx.request, ctx.connection_params or {})
        if user is None or user.id != ctx.user.id:
            raise Unauthenticated(SIGN_IN)
        await self.check(Access(ctx.services.db, user))
        self.checked_at = time.monotonic()
