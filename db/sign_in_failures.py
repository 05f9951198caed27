"""Rows of failed sign-ins by key (an account or a client address): how long a key must wait, a new failure with
its doubling wait, a success, and forgetting stale rows. The policy (how many are free, how long) is the caller's:
resolvers.sign_in_throttle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db.models import SignInFailure

KEY_LENGTH = 400  # the column's; longer keys (names no user can have) are cut


@dataclass(frozen=True)
class Policy:
    free: int  # failures before the first wait
    first_wait: float
    max_wait: float
    forget_after: float  # failures older than this, with no wait running, no longer count


def waiting(session: Session, keys: Sequence[str], now: float) -> float:
    """Seconds until every one of the keys may try again (0: now)."""
    until = session.scalar(select(func.max(SignInFailure.blocked_until)).where(
        SignInFailure.key.in_([k[:KEY_LENGTH] for k in keys])))
    return max(0.0, (until or 0.0) - now)


def record(session: Session, key: str, now: float, policy: Policy) -> None:
    """One more failure of the key; past the free ones it must wait, twice as long each time, up to the cap. The
    row is locked while it changes, so failures at once in several processes all count."""
    key = key[:KEY_LENGTH]
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(SignInFailure).values(key=key, count=0, last_at=now, blocked_until=0.0)
                    .on_conflict_do_nothing(index_elements=["key"]))
    row = session.scalar(select(SignInFailure).where(SignInFailure.key == key).with_for_update())
    assert row is not None
    if now - row.last_at > policy.forget_after and now >= row.blocked_until:
        row.count = 0
    row.count, row.last_at = row.count + 1, now
    if row.count >= policy.free:
        row.blocked_until = now + min(policy.max_wait, policy.first_wait * 2 ** (row.count - policy.free))
    session.flush()


def clear(session: Session, key: str) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.key == key[:KEY_LENGTH]))


def forget_stale(session: Session, now: float, forget_after: float) -> int:
    """Deletes the rows that no longer count; returns how many."""
    return session.execute(delete(SignInFailure).where(
        SignInFailure.last_at < now - forget_after, SignInFailure.blocked_until <= now)).rowcount
