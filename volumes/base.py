"""The Volume protocol every storage backend implements, and the entry type listings return."""

from __future__ import annotations

import base64
import bisect
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from db.errors import Invalid
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


@dataclass(frozen=True)
class Page:
    """One page of a listing: its entries, how many entries match in all, the cursor to pass as `after` next."""

    entries: list[Entry]
    total: int
    next_cursor: str | None


def sort_key(e: Entry) -> tuple[bool, str]:
    """The order every listing uses: folders first, then by name."""
    return (not e.is_dir, e.name)


def paginate(entries: Sequence[Entry], *, name_filter: str | None = None, first: int | None = None,
             after: str | None = None) -> Page:
    """A page of a sorted listing: names containing name_filter (any case), the first `first` after the cursor.
    The cursor is the position of the last entry shown, so entries added or removed meanwhile shift nothing."""
    if name_filter:
        needle = name_filter.casefold()
        entries = [e for e in entries if needle in e.name.casefold()]
    start = 0
    if after:
        start = bisect.bisect_right(entries, _decode_cursor(after), key=sort_key)
    if first is not None and first < 0:
        raise Invalid(f"first={first} must be zero or more.")
    end = len(entries) if first is None else start + first
    page = list(entries[start:end])
    more = end < len(entries) and bool(page)
    return Page(page, len(entries), _encode_cursor(page[-1]) if more else None)


def _encode_cursor(e: Entry) -> str:
    return base64.urlsafe_b64encode(("d" if e.is_dir else "f").encode() + e.name.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[bool, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError:
        raw = ""
    if raw[:1] not in ("d", "f"):
        raise Invalid(f"after={cursor!r} is not a cursor from this listing.")
    return (raw[0] == "f", raw[1:])


class Volumes(Protocol):
    """Storage addressed by volume paths. Errors are db.errors: Invalid (bad path), NotFound (missing),
    Forbidden (no permission on it), Unavailable (the storage cannot be reached or keeps refusing)."""

    def list(self, path: VolumePath) -> list[Entry]:
        """Entries directly under path, folders first then by name; at depths 0-2 the catalogs, schemas and volumes."""
        ...

    def browse(self, path: VolumePath, *, name_filter: str | None = None, first: int | None = None,
               after: str | None = None) -> Page:
        """A page of list(path), filtered by name (see paginate); for pickers over thousands of catalogs."""
        ...

    def check_folder(self, path: VolumePath) -> None:
        """Returns if path is an existing folder, volume, schema or catalog; raises NotFound (Invalid for a file)."""
        ...

    def walk_files(self, path: VolumePath) -> Iterator[Entry]:
        """Every file below the folder at path, recursively, hidden entries skipped: each folder's files by name, then
        its subfolders the same way (the order a scan numbers samples in); raises NotFound if it vanishes."""
        ...

    def stat(self, path: VolumePath) -> FileStat: ...

    def stat_nowait(self, path: VolumePath) -> FileStat | None:
        """stat(path) if it needs no network round trip (a local file, a remote one seen moments ago), else None:
        lets a handler on the event loop skip the hop to a worker thread."""
        ...

    def open(self, path: VolumePath) -> BinaryIO:
        """A readable binary file object for the file at path."""
        ...

    def write(self, path: VolumePath, data: bytes, *, overwrite: bool = False) -> None: ...

    def make_dirs(self, path: VolumePath) -> None: ...

    def writer(self, path: VolumePath) -> AbstractContextManager[BinaryIO]:
        """A new file written in pieces; it appears at path only when the block ends without an error."""
        ...

    def start_folder(self, path: VolumePath, scratch: str) -> VolumePath:
        """Where to write a new folder that must appear at path whole or not at all; refuses a path that exists.
        Where the storage can rename (local folders) that is a fresh hidden sibling `.<scratch>.partial` (one an
        earlier, killed run with the same scratch name left is cleared first); where it cannot (Unity Catalog) it is
        path itself, made now, and the caller writes a marker file last. Then publish_folder or discard_folder."""
        ...

    def publish_folder(self, work: VolumePath, path: VolumePath) -> None:
        """Makes what was written into start_folder's answer appear at path (a rename, or nothing to do)."""
        ...

    def discard_folder(self, work: VolumePath) -> None:
        """Removes start_folder's answer and everything written into it; never raises (it runs after a failure)."""
        ...
