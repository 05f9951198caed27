"""The Volume protocol every storage backend implements, and the entry type listings return."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from volumes.paths import VolumePath


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    is_dir: bool
    size: int | None = None
    mtime_ns: int | None = None


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int


class Volumes(Protocol):
    """Storage addressed by volume paths. Errors: db.errors.Invalid (bad path) or NotFound (missing)."""

    def list(self, path: VolumePath) -> list[Entry]:
        """Entries directly under path, sorted by name; at depths 0-2 the catalogs, schemas and volumes."""
        ...

    def walk_files(self, path: VolumePath) -> Iterator[Entry]:
        """Every file below the folder at path, recursively, hidden entries skipped; raises NotFound if it vanishes."""
        ...

    def stat(self, path: VolumePath) -> FileStat: ...

    def open(self, path: VolumePath) -> BinaryIO:
        """A readable binary file object for the file at path."""
        ...

    def write(self, path: VolumePath, data: bytes, *, overwrite: bool = False) -> None: ...

    def make_dirs(self, path: VolumePath) -> None: ...

    def writer(self, path: VolumePath) -> AbstractContextManager[BinaryIO]:
        """A new file written in pieces; it appears at path only when the block ends without an error."""
        ...
