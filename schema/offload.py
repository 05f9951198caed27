"""A second event loop, on a thread of its own, for GraphQL operations whose cost (schema/cost.py) reaches
OFFLOAD_COST: resolving a big page is pure Python work that would otherwise hold the app's event loop, and with
it /health, images and everyone's saves. Cheaper operations (saves, claims, small lookups) stay on the app's loop,
where they are quickest."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar

from graphql import GraphQLError, GraphQLSchema, OperationType

from schema.cost import estimate, operation
from schema.limits import limits_of
from schema.prepare import INLINE_CHARS, parse_short

T = TypeVar("T")
OFFLOAD_COST = 500  # the labelling view's save (its answer costs ~230) stays; a gallery page (~4,300) moves
AT_ONCE = 4  # offloaded operations resolving at once; later ones wait their turn, so their answers' memory is bounded


class OffLoop:
    """The loop and its thread start on first use and live as long as the process (one for every app in it)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Semaphore | None = None
        self._lock = threading.Lock()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="graphql-offload", daemon=True).start()
                self._loop = loop
            return self._loop

    async def _gated(self, work: Awaitable[T]) -> T:
        if self._gate is None:  # made on the offload loop, the only one that waits on it
            self._gate = asyncio.Semaphore(AT_ONCE)
        async with self._gate:
            return await work

    async def run(self, work: Awaitable[T]) -> T:
        """Await work on the offload loop; cancelling the caller cancels it there."""
        future = asyncio.run_coroutine_threadsafe(self._gated(work), self._started())
        return await asyncio.wrap_future(future)

    async def iterate(self, source: AsyncIterator[T]) -> AsyncIterator[T]:
        """An async iterator advanced on the offload loop, its items handed back here."""
        async def step() -> T:
            return await anext(source)

        while True:
            try:
                item = await self.run(step())
            except StopAsyncIteration:
                return
            yield item


off_loop = OffLoop()


def is_heavy(schema: GraphQLSchema, query: str | None, operation_name: str | None,
             variables: Mapping[str, Any] | None, context: Any) -> bool:
    """Whether a query or mutation costs OFFLOAD_COST or more (a long document always does: it is parsed on a
    worker thread anyway). Subscriptions stay: each event they send is one small answer."""
    if not query:
        return False
    if len(query) > INLINE_CHARS:
        return True
    try:
        doc = parse_short(query, limits_of(context).max_tokens)  # cached: Prepare finds it parsed
    except GraphQLError:
        return False  # Prepare reports it
    op = operation(doc, operation_name)
    return op is not None and op.operation != OperationType.SUBSCRIPTION and \
        estimate(schema, doc, operation_name, variables) >= OFFLOAD_COST
