"""Slows password guessing at POST /auth/login and changePassword: every attempt is counted before its password is
checked, and after a few an account (and, more generously, a client address) must wait before the next one,
doubling each time, up to a cap. A refused attempt costs no password hash and is not counted; a right password
clears the account and hands the address its attempt back. The counts are rows in the database
(db.sign_in_failures), so every server process sees the same attempts."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from db import sign_in_failures as failures
from db.engine import Database

ACCOUNTS = failures.Policy(free=5, first_wait=30.0, max_wait=900.0, forget_after=3600.0)
ADDRESSES = failures.Policy(free=50, first_wait=30.0, max_wait=900.0, forget_after=3600.0)  # may be a whole office
TIDY_EVERY = 100  # attempts (in this process) between deletions of stale rows


class SignInThrottle:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock
        self._attempts = 0

    @staticmethod
    def of(request: HTTPConnection) -> tuple[SignInThrottle, str]:
        """The app's throttle (server.create_app) and the address this request comes from."""
        return request.app.state.sign_in_throttle, request.client.host if request.client else "unknown"

    async def attempt(self, account: str, address: str) -> int:
        """Counts this attempt, committed before the caller checks the password; returns 0 to go ahead, else the
        whole seconds to wait (the attempt was not counted and its password must not be checked)."""
        now = self.clock()
        self._attempts += 1
        tidy = self._attempts % TIDY_EVERY == 0

        def count(session: Session) -> float:
            wait = failures.attempt(session, [(_account(account), ACCOUNTS), (_address(address), ADDRESSES)], now)
            if tidy:
                failures.forget_stale(session, now, max(ACCOUNTS.forget_after, ADDRESSES.forget_after))
            return wait

        return math.ceil(await self.db.write(count))

    async def succeeded(self, account: str, address: str) -> None:
        def forget(session: Session) -> None:
            failures.clear(session, _account(account))
            failures.hand_back(session, _address(address), ADDRESSES)

        await self.db.write(forget)


def _account(name: str) -> str:
    return f"account:{name.strip().casefold()}"


def _address(host: str) -> str:
    return f"address:{host}"
