"""In-process publish/subscribe of committed events by topic; subscribers get an asyncio.Queue each."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from db.engine import Event

QUEUE_LIMIT = 1000
LISTEN_WARN_SECONDS = 10.0
log = logging.getLogger("cvx.events")


class Broker:
    def __init__(self) -> None:
        self._subs: defaultdict[str, set[asyncio.Queue[Any]]] = defaultdict(set)
        self._seq: defaultdict[str, int] = defaultdict(int)

    def publish(self, events: Sequence[Event]) -> None:
        """Deliver each (topic, payload); a subscriber too slow to keep up loses its oldest event, not the server."""
        for topic, payload in events:
            self._seq[topic] += 1
            for q in list(self._subs.get(topic, ())):
                if q.full():
                    q.get_nowait()
                q.put_nowait(payload)

    @asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[asyncio.Queue[Any]]:
        q: asyncio.Queue[Any] = asyncio.Queue(QUEUE_LIMIT)
        for t in topics:
            self._subs[t].add(q)
        try:
            yield q
        finally:
            for t in topics:
                self._subs[t].discard(q)
                if not self._subs[t]:
                    del self._subs[t]

    def seq(self, topic: str) -> int:
        """How many events this process has delivered on topic: a read started at seq n has seen them all."""
        return self._seq[topic]

    def subscriber_count(self, topic: str) -> int:
        return len(self._subs.get(topic, ()))


NOTIFY_LIMIT = 7900  # PostgreSQL caps a NOTIFY payload at 8000 bytes


def _payloads(events: Sequence[Event], dumps: Callable[[Any], bytes]) -> list[str]:
    """The events as JSON arrays, each under the NOTIFY size limit, in order."""
    out: list[str] = []
    batch: list[str] = []
    size = 2
    for event in events:
        item = dumps(event).decode()
        if batch and size + len(item) + 1 > NOTIFY_LIMIT:
            out.append("[" + ",".join(batch) + "]")
            batch, size = [], 2
        batch.append(item)
        size += len(item) + 1
    if batch:
        out.append("[" + ",".join(batch) + "]")
    return out


class PostgresFanout:
    """Carries committed events between server processes on one PostgreSQL database via LISTEN/NOTIFY.

    Every event goes out as a NOTIFY and comes back to each process (this one included) through its LISTEN
    connection, which hands it to the local Broker: one delivery path, so no event arrives twice.
    """

    CHANNEL = "cvx_events"

    def __init__(self, url: str, broker: Broker, password: Callable[[], str] | None = None) -> None:
        from sqlalchemy.engine import make_url

        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.broker = broker
        self.password = password  # a fresh one per connection (Lakebase tokens expire)
        self._outbox: asyncio.Queue[list[Event]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._tried = asyncio.Event()  # the first LISTEN connection was made, or failed
        self._warned = -LISTEN_WARN_SECONDS

    def _auth(self) -> dict[str, Any]:
        return {"password": self.password()} if self.password else {}

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="pg-listen"),
                       asyncio.create_task(self._send(), name="pg-notify")]
        async with asyncio.timeout(10):  # a database that is down does not stop start-up: _listen keeps trying
            await self._tried.wait()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def publish(self, events: Sequence[Event]) -> None:
        self._outbox.put_nowait(list(events))

    async def _send(self) -> None:
        import orjson
        import psycopg

        conn: psycopg.AsyncConnection[Any] | None = None
        while True:
            events = await self._outbox.get()
            while not self._outbox.empty() and len(events) < 500:  # under load, one NOTIFY carries many commits
                events += self._outbox.get_nowait()
            payloads, sent = _payloads(events, orjson.dumps), 0
            for attempt in (1, 2):  # a connection cut since the last NOTIFY (a restart, a failover) fails once
                try:
                    if conn is None or conn.closed:
                        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, **self._auth())
                    for payload in payloads[sent:]:
                        await conn.execute("SELECT pg_notify(%s, %s)", (self.CHANNEL, payload))
                        sent += 1
                    break
                except Exception as exc:
                    conn = None
                    if attempt == 2:
                        log.warning("NOTIFY failed (%s); delivering %d events to this process only",
                                    _first_line(exc), len(events))
                        self.broker.publish(events)

    async def _listen(self) -> None:
        import orjson
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                                                 **self._auth()) as conn:
                    await conn.execute(f"LISTEN {self.CHANNEL}")
                    self._tried.set()
                    async for note in conn.notifies():
                        self.broker.publish([tuple(e) for e in orjson.loads(note.payload)])
            except asyncio.CancelledError:
                raise
            except psycopg.OperationalError as exc:  # the database is down or went away: a line now and then
                self._tried.set()
                if asyncio.get_running_loop().time() - self._warned >= LISTEN_WARN_SECONDS:
                    self._warned = asyncio.get_running_loop().time()
                    log.warning("LISTEN connection lost (%s); reconnecting every second", _first_line(exc))
                await asyncio.sleep(1)
            except Exception:
                self._tried.set()
                log.exception("LISTEN connection lost; reconnecting")
                await asyncio.sleep(1)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
