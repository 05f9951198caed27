"""The cyclic garbage collector, paused while import files are parsed. Readers build up to millions of small
tracked objects and no cycles; with the collector running, each full collection (a pause of every thread, the
event loop's included) would walk all of them, a few hundred milliseconds at a time. Process-wide, so counted
across concurrent imports: the last one to finish turns it back on."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pausing = 0
_was_enabled = False


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
