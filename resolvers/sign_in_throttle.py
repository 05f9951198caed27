"""Slows password guessing at POST /auth/login: after a few failed sign-ins an account (and, more generously, a
client address) must wait before the next attempt, doubling each time, up to a cap; a success clears the account.
A refused attempt costs no password hash. Kept in memory: each server process counts its own attempts."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

FREE_FAILURES = 5  # per account, before any wait
FREE_FAILURES_PER_ADDRESS = 50  # one address may be a whole office behind a proxy
FIRST_WAIT = 30.0
MAX_WAIT = 900.0
FORGET_AFTER = 3600.0  # failures older than this (with no wait running) no longer count
MAX_TRACKED = 100_000  # keys kept at most; the stalest go first


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class SignInThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seen: dict[str, _Failures] = {}

    @staticmethod
    def of(request: HTTPConnection) -> tuple[SignInThrottle, str]:
        """The app's throttle (server.create_app) and the address this request comes from."""
        return request.app.state.sign_in_throttle, request.client.host if request.client else "unknown"

    def wait_seconds(self, account: str, address: str) -> int:
        """Whole seconds this attempt must wait (0: go ahead and check the password)."""
        now = self.clock()
        return math.ceil(max(self._wait(f"account:{_norm(account)}", now), self._wait(f"address:{address}", now)))

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        self._fail(f"account:{_norm(account)}", now, FREE_FAILURES)
        self._fail(f"address:{address}", now, FREE_FAILURES_PER_ADDRESS)

    def succeeded(self, account: str) -> None:
        self._seen.pop(f"account:{_norm(account)}", None)

    def _wait(self, key: str, now: float) -> float:
        f = self._seen.get(key)
        return max(0.0, f.blocked_until - now) if f else 0.0

    def _fail(self, key: str, now: float, free: int) -> None:
        f = self._seen.get(key)
        if f is None or (now - f.last > FORGET_AFTER and now >= f.blocked_until):
            f = self._seen[key] = _Failures()
            if len(self._seen) > MAX_TRACKED:
                self._forget_stalest()
        f.count, f.last = f.count + 1, now
        if f.count >= free:
            f.blocked_until = now + min(MAX_WAIT, FIRST_WAIT * 2 ** (f.count - free))

    def _forget_stalest(self) -> None:
        for key, _ in sorted(self._seen.items(), key=lambda kv: kv[1].last)[: MAX_TRACKED // 10]:
            del self._seen[key]


def _norm(account: str) -> str:
    return account.strip().lower()
