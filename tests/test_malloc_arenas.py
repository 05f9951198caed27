"""The server process keeps to two malloc arenas (server.fewer_malloc_arenas): threads that allocate, as the
database and job threads do, share them instead of each growing one of its own. Counted with glibc's malloc_info
in a fresh process, with and without the call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import ctypes, os, sys, tempfile, threading
sys.path.insert(0, {root!r})
import server
if {tuned}:
    assert server.fewer_malloc_arenas()
import time
together = threading.Barrier(8)
def churn():
    together.wait()  # all alive at once: an exiting thread's arena would be handed to the next
    kept = []
    for _ in range(200):
        kept.append(bytes(2000))  # past pymalloc's 512 bytes: glibc's malloc
        time.sleep(0)
    together.wait()
threads = [threading.Thread(target=churn) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fdopen.restype = ctypes.c_void_p
fd, path = tempfile.mkstemp()
stream = libc.fdopen(fd, b"w")
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
print(open(path).read().count("<heap nr="))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_threads_share_two_arenas() -> None:
    def heaps(tuned: bool) -> int:
        env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_ARENA_MAX from outside
        out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(ROOT), tuned=tuned)], env=env,
                             capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    assert heaps(True) <= 2 < heaps(False)
