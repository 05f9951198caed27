"""Rendered thumbnails kept on disk (under DATA_DIR/thumbnails) and the most recent ones in memory. The disk is a
cache, not a store: when it cannot be written (full, read-only, not a folder) thumbnails are still served."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger("cvx.thumbnails")


class ThumbnailCache:
    def __init__(self, root: Path, memory_bytes: int = 64 * 2**20) -> None:
        self.root = Path(root)
        self.memory_bytes = memory_bytes
        self._mem: OrderedDict[str, bytes] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()
        self._warned = False

    @staticmethod
    def key(volume_path: str, mtime_ns: int, file_size: int, thumb_size: int) -> str:
        return hashlib.sha256(f"{volume_path}\0{mtime_ns}\0{file_size}\0{thumb_size}".encode()).hexdigest()

    def _remember(self, key: str, data: bytes) -> None:
        with self._lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                return
            self._mem[key] = data
            self._used += len(data)
            while self._used > self.memory_bytes and self._mem:
                _, old = self._mem.popitem(last=False)
                self._used -= len(old)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._mem.get(key)
            if data is not None:
                self._mem.move_to_end(key)
                return data
        try:
            data = (self.root / key[:2] / key).read_bytes()
        except OSError:
            return None
        self._remember(key, data)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Remember a thumbnail; written to disk too when the disk takes it (a warning, once, when it does not)."""
        self._remember(key, data)
        folder = self.root / key[:2]
        tmp = folder / f".{key}.{os.getpid()}.{threading.get_ident()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, folder / key)
        except OSError as exc:
            with self._lock:
                warned, self._warned = self._warned, True
            if not warned:
                log.warning("thumbnails cannot be written to %s (%s); they are rendered again when the memory "
                            "cache forgets them", self.root, exc)
            with contextlib.suppress(OSError):  # a half-written file of a full disk
                tmp.unlink(missing_ok=True)
