"""The cyclic garbage collector, paused while bulk work builds or holds millions of small objects and no cycles:
import files being parsed (jobs.importer), planned and written (db.imports), a batch of agreement being recomputed
(db.submissions.recompute_batch), a model evaluation turning its rows into arrays and scoring them (jobs.evaluate).
With the collector running, each full collection (a pause of every thread, the event loop's included) would walk
all of them, a few hundred milliseconds at a time (in the evaluation, two thirds of turning two million rows into
columns; in an import's plan of 100,000 samples, 1.4 of 3.3 s). Process-wide, so counted across concurrent users:
the last one to finish turns it back on."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_pausing = 0
_was_enabled = False


def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """fn(*args, **kwargs) with the collector paused (for asyncio.to_thread)."""
    with paused():
        return fn(*args, **kwargs)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    global _pausing, _was_enabled
    with _lock:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                gc.enable()
