"""The database handle: a sync SQLAlchemy engine whose units of work run on worker threads.

`await db.read(fn, *args)` runs fn(session, *args) in a read transaction; `await db.write(fn, *args)` in one write
transaction that commits or rolls back whole, after which the events it queued are published on the event loop.
A unit of work is one thread hop: statements run back to back, so SQLite's write lock and PostgreSQL's row locks
are held only as long as the statements take. (aiosqlite cost five times more per statement here.) A database that
cannot be reached fails a unit of work with DatabaseUnavailable (db.outages).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from db import outages
from db.errors import DatabaseUnavailable

log = logging.getLogger("cvx.db")
Event = tuple[str, Any]  # (topic, payload) published after a successful commit
P = ParamSpec("P")
T = TypeVar("T")
THREADS = 16
# PostgreSQL write threads: each socket wait hands the GIL over, and every thread queued for it adds futex calls
# and context switches (20 clients saving: 16 threads cost 120 syscalls and 60 context switches per save, 4 threads
# 70 and 34, and saved ~30% more per second). A save holds the GIL about as long as it waits on PostgreSQL, so a few
# threads keep it busy. An import holds one for its whole transaction; the job runner runs two jobs by default.
PG_WRITERS = 4
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")
PING_SECONDS = 3.0  # /health: a database that has not answered a SELECT 1 by then is reported unavailable
PING_EVERY = 1.0  # at most one ping a second, whoever polls /health
PING_STALE = 5.0  # an outcome older than this (a ping stuck in flight) is not reported: callers wait for a fresh one


def sync_url(url: str) -> str:
    """The URL SQLAlchemy and Alembic use: plain sqlite, psycopg 3 for PostgreSQL."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return u.set(drivername="sqlite").render_as_string(hide_password=False)
    if u.get_backend_name() == "postgresql":
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database backend {u.get_backend_name()!r}: use sqlite or postgresql")


def _tune_sqlite(engine: Any, busy_seconds: float, synchronous: str) -> None:
    """WAL, foreign keys, busy timeout, durability; and explicit BEGIN so write units of work take the lock up
    front."""
    pragmas = ("journal_mode=WAL", "foreign_keys=ON", f"busy_timeout={round(busy_seconds * 1000)}",
               f"synchronous={synchronous}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        for pragma in pragmas:
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One per process. Reads run on a pool of threads; writes on one thread (SQLite) or a few (PostgreSQL)."""

    def __init__(self, url: str, *, echo: bool = False, password: Callable[[], str] | None = None,
                 recycle_seconds: int = 1800, sqlite_busy_seconds: float = 15.0,
                 sqlite_synchronous: str = "NORMAL") -> None:
        """password: called for every new connection (Lakebase's short-lived OAuth tokens, see db.lakebase).
        sqlite_busy_seconds: how long SQLite waits for another process's lock before the database counts as
        unavailable; sqlite_synchronous: NORMAL or FULL (README, "Security and limits")."""
        if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite_synchronous must be one of {SQLITE_SYNCHRONOUS}")
        self.url = sync_url(url)
        self.backend = make_url(self.url).get_backend_name()
        self.password = password
        # one connection per thread: reads, writes (at most PG_WRITERS) and the ping
        self.engine = create_engine(self.url, echo=echo, pool_size=THREADS, max_overflow=PG_WRITERS + 1,
                                    pool_recycle=recycle_seconds if self.backend == "postgresql" else -1,
                                    json_serializer=_json_dumps, json_deserializer=orjson.loads)
        if self.backend == "sqlite":
            _tune_sqlite(self.engine, sqlite_busy_seconds, sqlite_synchronous)
        if password is not None:
            event.listen(self.engine, "do_connect", lambda _d, _r, _a, params: params.update(password=password()))
        writer = self.engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self.engine
        self._reader = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._writer = sessionmaker(writer, expire_on_commit=False, autoflush=False)
        self._read_pool = ThreadPoolExecutor(THREADS, thread_name_prefix="db-read")
        self._write_pool = ThreadPoolExecutor(1 if self.is_sqlite else PG_WRITERS, thread_name_prefix="db-write")
        self._ping_pool = ThreadPoolExecutor(1, thread_name_prefix="db-ping")
        self._ping: asyncio.Future[None] | None = None
        self._last: DatabaseUnavailable | None = None  # the outcome of the last finished ping (None: it answered)
        self._pinged_at = float("-inf")  # when it finished (event loop time)
        self.on_commit: Callable[[Sequence[Event]], None] | None = None

    def tool_url(self) -> str:
        """The URL with a current password, for tools that open their own connections (Alembic, the CLI)."""
        if self.password is None:
            return self.url
        return make_url(self.url).set(password=self.password()).render_as_string(hide_password=False)

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    # -- sync units of work (for code already on a worker thread, scripts and tests) -----------------------

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    def _read_sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with outages.translated(), self.reading() as session:
            return fn(session, *args, **kwargs)

    def _write_sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
                    ) -> tuple[T, list[Event]]:
        with outages.translated(), self._writer() as session:
            with session.begin():
                result = fn(session, *args, **kwargs)
            return result, session.info.pop("events", [])

    def _direct_sync(self, fn: Callable[..., tuple[T, list[Event]]], args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> tuple[T, list[Event]]:
        with outages.translated(connecting=True):
            record = self.engine.raw_connection()  # from the pool: recycling and fresh Lakebase passwords apply
        conn = record.driver_connection
        assert conn is not None, "a pooled connection has its driver's connection"
        if self.is_sqlite:  # already in autocommit mode (_tune_sqlite): fn begins and commits
            try:
                with outages.translated():
                    return fn(conn, *args, **kwargs)
            finally:
                record.close()
        try:
            with outages.translated(lambda: conn.closed or conn.broken):
                conn.autocommit = True
                try:
                    return fn(conn, *args, **kwargs)
                finally:
                    if not conn.closed:
                        conn.autocommit = False
        except Exception as error:
            if conn.closed:  # the server went away: every connection made before now is suspect, as SQLAlchemy
                self.engine.pool._invalidate(record, error)  # does for its own statements (renewed at checkout)
            raise
        finally:
            record.close()

    def _ping_sync(self) -> None:
        for attempt in (1, 2):  # a pooled connection cut since its last use fails once; the pool then renews it
            try:
                with outages.translated(), self.engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                return
            except DatabaseUnavailable as exc:
                if attempt == 2 or not (isinstance(exc.__cause__, DBAPIError) and
                                        exc.__cause__.connection_invalidated):
                    raise

    # -- async entry points ----------------------------------------------------------------------------------

    async def read(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool, functools.partial(self._read_sync, fn, args, kwargs))

    async def write(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """One unit of work; events queued with `emit` go out only after it committed."""
        return await self._on_writer(functools.partial(self._write_sync, fn, args, kwargs))

    async def write_direct(self, fn: Callable[..., tuple[T, list[Event]]], *args: Any, **kwargs: Any) -> T:
        """fn(driver connection, *args) -> (result, events) on a write thread, without SQLAlchemy in between: a
        psycopg connection in autocommit (fn's statements are atomic one by one, see db.labels_pg) or the sqlite3
        connection with no transaction open (fn begins and commits, see db.labels_sqlite). Events are published
        as after write()."""
        return await self._on_writer(functools.partial(self._direct_sync, fn, args, kwargs))

    async def _on_writer(self, unit: Callable[[], tuple[T, list[Event]]]) -> T:
        """Run a unit of work on a write thread, then publish its events (it has committed by then)."""
        result, events = await asyncio.get_running_loop().run_in_executor(self._write_pool, unit)
        if events and self.on_commit is not None:
            self.on_commit(events)
        return result

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answered a `SELECT 1` lately. /health calls this, and
        anyone may call /health as often as they like: a ping runs at most once every PING_EVERY seconds, on its
        own thread (never queued behind reads or writes), and callers get the last outcome while the next ping
        runs. A first caller, or one whose last outcome is older than PING_STALE, waits for the ping in flight, at
        most PING_SECONDS."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if (self._ping is None or self._ping.done()) and now - self._pinged_at >= PING_EVERY:
            self._ping = loop.run_in_executor(self._ping_pool, self._ping_sync)
            self._ping.add_done_callback(lambda done: self._pinged(done, loop.time()))
        if now - self._pinged_at < PING_STALE:
            outcome = self._last
        else:
            assert self._ping is not None
            try:
                await asyncio.wait_for(asyncio.shield(self._ping), PING_SECONDS)
                outcome = None
            except TimeoutError:
                outcome = DatabaseUnavailable(f"The database cannot be reached right now (it did not answer within "
                                              f"{PING_SECONDS:g} s); try again in a few seconds.",
                                              retryAfter=DatabaseUnavailable.retry_after)
            except DatabaseUnavailable as exc:
                outcome = exc
        if outcome is not None:
            raise outcome

    def _pinged(self, done: asyncio.Future[None], when: float) -> None:
        error = None if done.cancelled() else done.exception()
        self._last = error if isinstance(error, DatabaseUnavailable) else None
        self._pinged_at = when
        if error is not None and not isinstance(error, DatabaseUnavailable):
            log.error("database ping failed", exc_info=error)

    async def dispose(self) -> None:
        self._read_pool.shutdown(wait=False, cancel_futures=True)
        self._write_pool.shutdown(wait=False, cancel_futures=True)
        self._ping_pool.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through a Session changed (the Session types its result loosely)."""
    return cast("CursorResult[Any]", result).rowcount


def dialect_of(session: Session) -> str:
    """"postgresql" or "sqlite": the database the session is bound to."""
    bind = session.bind
    assert bind is not None, "sessions are made by Database, always bound"
    return bind.dialect.name


def emit(session: Session, topic: str, payload: Any = None) -> None:
    """Queue an event on the unit of work; it is published only if the transaction commits."""
    session.info.setdefault("events", []).append((topic, payload))


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def redacted_url(url: str) -> str:
    """The database URL as it may be shown (admin page, logs): any password replaced by ***."""
    return make_url(sync_url(url)).render_as_string(hide_password=True)
