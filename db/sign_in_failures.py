"""Rows of sign-in attempts by key (an account or a client address): counting an attempt before its password is
checked (refused while the key must wait), handing one back after a success, and forgetting stale rows. The policy
(how many are free, how long the waits) is the caller's: routes.sign_in_throttle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db.engine import dialect_of, rowcount
from db.models import SignInFailure

KEY_LENGTH = 400  # the column's; longer keys (names no user can have) are cut
TABLE = SignInFailure.__table__


@dataclass(frozen=True)
class Policy:
    free: int  # attempts before the first wait (the last free one starts it, unless it succeeds)
    first_wait: float
    max_wait: float
    forget_after: float  # attempts older than this, with no wait running, no longer count

    def blocked_until(self, count: ColumnElement[int], now: float) -> ColumnElement[float]:
        """When a key with `count` attempts may try again: from the free-th on, a wait doubling with each attempt
        up to the cap. Spelt out case by case: SQLite may lack power()."""
        doublings: list[tuple[ColumnElement[bool], ColumnElement[float]]] = []
        wait = self.first_wait
        while wait < self.max_wait:
            doublings.append((count == self.free + len(doublings), literal(now + wait)))
            wait *= 2
        return case((count < self.free, literal(0.0)), *doublings, else_=literal(now + self.max_wait))


def waiting(session: Session, keys: Sequence[str], now: float) -> float:
    """Seconds until every one of the keys may try again (0: now)."""
    until = session.scalar(select(func.max(SignInFailure.blocked_until)).where(
        SignInFailure.key.in_([k[:KEY_LENGTH] for k in keys])))
    return max(0.0, (until or 0.0) - now)


def attempt(session: Session, keys: Sequence[tuple[str, Policy]], now: float) -> float:
    """Counts one attempt on every key, or on none if any of them must wait: returns 0 when counted, else the
    seconds to wait. Each key's count is one INSERT … ON CONFLICT DO UPDATE … WHERE not waiting … RETURNING, so
    attempts at the same time (threads, processes) each see the count the one before them left."""
    with session.begin_nested() as savepoint:
        counted = all(_count(session, key[:KEY_LENGTH], now, policy) for key, policy in keys)
        if not counted:
            savepoint.rollback()
    if counted:
        return 0.0
    # at least a second: a success elsewhere may have lifted the wait since, but this attempt was refused
    return max(1.0, waiting(session, [k for k, _ in keys], now))


def _count(session: Session, key: str, now: float, policy: Policy) -> bool:
    insert = pg_insert if dialect_of(session) == "postgresql" else sqlite_insert
    count = case((literal(now) - TABLE.c.last_at > policy.forget_after, 1), else_=TABLE.c.count + 1)
    stmt = insert(TABLE).values(key=key, count=1, last_at=now, blocked_until=policy.blocked_until(literal(1), now))
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], where=TABLE.c.blocked_until <= now,
        set_={"count": count, "last_at": now, "blocked_until": policy.blocked_until(count, now)})
    return session.execute(stmt.returning(TABLE.c.count)).first() is not None


def clear(session: Session, key: str) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.key == key[:KEY_LENGTH]))


def hand_back(session: Session, key: str, policy: Policy) -> None:
    """One attempt of the key turned out right: it no longer counts (and a wait it started is lifted)."""
    left = SignInFailure.count - 1
    session.execute(update(SignInFailure).where(SignInFailure.key == key[:KEY_LENGTH], SignInFailure.count > 0)
                    .values(count=left, blocked_until=case((left < policy.free, 0.0),
                                                           else_=SignInFailure.blocked_until)))


def forget_stale(session: Session, now: float, forget_after: float) -> int:
    """Deletes the rows that no longer count; returns how many."""
    return rowcount(session.execute(delete(SignInFailure).where(
        SignInFailure.last_at < now - forget_after, SignInFailure.blocked_until <= now)))
