"""Slows password guessing at POST /auth/login and changePassword: after a few failed sign-ins an account (and,
more generously, a client address) must wait before the next attempt, doubling each time, up to a cap; a success
clears the account. A refused attempt costs no password hash. The counts are rows in the database
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
TIDY_EVERY = 100  # failures (in this process) between deletions of stale rows


class SignInThrottle:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock
        self._failures = 0

    @staticmethod
    def of(request: HTTPConnection) -> tuple[SignInThrottle, str]:
        """The app's throttle (server.create_app) and the address this request comes from."""
        return request.app.state.sign_in_throttle, request.client.host if request.client else "unknown"

    async def wait_seconds(self, account: str, address: str) -> int:
        """Whole seconds this attempt must wait (0: go ahead and check the password)."""
        return math.ceil(await self.db.read(failures.waiting, (_account(account), _address(address)), self.clock()))

    async def failed(self, account: str, address: str) -> None:
        now = self.clock()
        self._failures += 1
        tidy = self._failures % TIDY_EVERY == 0

        def record(session: Session) -> None:
            failures.record(session, _account(account), now, ACCOUNTS)
            failures.record(session, _address(address), now, ADDRESSES)
            if tidy:
                failures.forget_stale(session, now, max(ACCOUNTS.forget_after, ADDRESSES.forget_after))

        await self.db.write(record)

    async def succeeded(self, account: str) -> None:
        await self.db.write(failures.clear, _account(account))


def _account(name: str) -> str:
    return f"account:{name.strip().lower()}"


def _address(host: str) -> str:
    return f"address:{host}"
