"""Which database errors mean the database cannot be reached right now (down, restarting, connections cut, locked
past its timeout, its file unreadable), turned into one retryable DatabaseUnavailable; every other error stays what
it was (a bug or a constraint is not an outage)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import exc as sa_exc

from db.errors import DatabaseUnavailable

log = logging.getLogger("cvx.db")
LOG_EVERY_SECONDS = 10.0  # an outage fails every request: one warning per reason this often, not one per request

# PostgreSQL SQLSTATEs of a server that is going away or cannot take us: class 08 (connection exception), admin or
# crash shutdown, "cannot connect now" (starting up), too many connections, and the database itself gone.
_PG_STATES = ("57P01", "57P02", "57P03", "53300", "3D000")
# SQLite primary result codes of a file that cannot be used right now: busy/locked past busy_timeout, cannot be
# opened, an I/O error, no permission, read-only, disk full.
_SQLITE_CODES = {5: "the database is locked by another process", 6: "the database is locked by another process",
                 14: "the database file cannot be opened", 10: "the database file cannot be read or written",
                 3: "the database file cannot be opened", 8: "the database file is read-only",
                 13: "the disk holding the database is full"}

LOST = "the connection to the database was lost"
_logged: dict[str, float] = {}
_lock = threading.Lock()


def reason(error: BaseException, lost: bool = False, connecting: bool = False) -> str | None:
    """Why the database cannot be reached, if error says it cannot; None for every other error. For errors raised
    by the driver directly: lost, the connection they came from is closed or broken; connecting, they came from
    making a connection (SQLAlchemy's raw_connection() passes those on unwrapped)."""
    if isinstance(error, sa_exc.TimeoutError):
        return "every database connection is busy"
    wrapped = error if isinstance(error, sa_exc.DBAPIError) else None
    driver = wrapped.orig if wrapped is not None else error
    if lost or (wrapped is not None and wrapped.connection_invalidated):
        return LOST
    if isinstance(driver, psycopg.Error):
        state = driver.sqlstate or ""
        if state.startswith("08") or state in _PG_STATES:
            return "the database server is shutting down, starting or refusing connections"
        if isinstance(driver, psycopg.OperationalError) and (connecting or (wrapped is not None and
                                                                         wrapped.statement is None)):
            return "the database server cannot be reached"  # connecting failed: refused, unknown host, no database
        return None  # e.g. "number of parameters must be between 0 and 65535": an OperationalError, not an outage
    if isinstance(driver, sqlite3.Error) and getattr(driver, "sqlite_errorcode", None) is not None:
        return _SQLITE_CODES.get(driver.sqlite_errorcode & 0xFF)
    return None


@contextmanager
def translated(lost: Callable[[], bool] = lambda: False, connecting: bool = False) -> Iterator[None]:
    """Run database work; an outage leaves it as DatabaseUnavailable (its cause logged now and then). For work on a
    driver connection directly: lost tells whether it has gone (closed or broken); connecting, that the work is
    getting one."""
    try:
        yield
    except Exception as error:
        why = reason(error, lost(), connecting)
        if why is None:
            raise
        _log(why, error)
        raise DatabaseUnavailable(f"The database cannot be reached right now ({why}); try again in a few seconds.",
                                  retryAfter=DatabaseUnavailable.retry_after) from error


def _log(why: str, error: BaseException) -> None:
    now = time.monotonic()
    with _lock:
        if now - _logged.get(why, -LOG_EVERY_SECONDS) < LOG_EVERY_SECONDS:
            return
        _logged[why] = now
    detail = (str(getattr(error, "orig", None) or error).strip().splitlines() or [type(error).__name__])[0]
    log.warning("database unavailable: %s (%s)", why, detail)
