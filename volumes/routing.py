"""Local mounts beside Unity Catalog: a mounted volume (VOLUME_MOUNTS, the uploads volume) is a local folder, every
other /Volumes path goes to Unity Catalog, and the listings above the volumes merge both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO

from db.errors import NotFound
from volumes.base import Entry, FileStat, Page, Volumes, paginate, sort_key
from volumes.local import LocalVolumes
from volumes.paths import VolumePath


class RoutingVolumes:
    """Implements volumes.base.Volumes by sending each path to the local mounts or to the remote backend."""

    def __init__(self, local: LocalVolumes, remote: Volumes) -> None:
        self.local = local
        self.remote = remote

    def backend(self, path: VolumePath) -> Volumes:
        if path.depth >= 3 and path.parts[:3] in self.local.mounts:
            return self.local
        return self.remote

    def volume_names(self) -> list[str]:
        """The locally mounted volumes (for the admin page); Unity Catalog's are listed by browsing."""
        return self.local.volume_names()

    def _merged(self, path: VolumePath) -> list[Entry]:
        found: dict[str, Entry] = {}
        missing = 0
        for side in (self.local, self.remote):
            try:
                for e in side.list(path):
                    found.setdefault(e.name, e)
            except NotFound:
                missing += 1
        if missing == 2:
            raise NotFound(f"{path} does not exist.")
        return sorted(found.values(), key=sort_key)

    def list(self, path: VolumePath) -> list[Entry]:
        return self._merged(path) if path.depth < 3 else self.backend(path).list(path)

    def browse(self, path: VolumePath, *, name_filter: str | None = None, first: int | None = None,
               after: str | None = None) -> Page:
        if path.depth < 3:
            return paginate(self._merged(path), name_filter=name_filter, first=first, after=after)
        return self.backend(path).browse(path, name_filter=name_filter, first=first, after=after)

    def check_folder(self, path: VolumePath) -> None:
        if path.depth < 3:
            self._merged(path)
        else:
            self.backend(path).check_folder(path)

    def walk_files(self, path: VolumePath) -> Iterator[Entry]:
        return self.backend(path).walk_files(path)

    def stat(self, path: VolumePath) -> FileStat:
        return self.backend(path).stat(path)

    def stat_nowait(self, path: VolumePath) -> FileStat | None:
        return self.backend(path).stat_nowait(path)

    def open(self, path: VolumePath) -> BinaryIO:
        return self.backend(path).open(path)

    def write(self, path: VolumePath, data: bytes, *, overwrite: bool = False) -> None:
        self.backend(path).write(path, data, overwrite=overwrite)

    def writer(self, path: VolumePath) -> AbstractContextManager[BinaryIO]:
        return self.backend(path).writer(path)

    def make_dirs(self, path: VolumePath) -> None:
        self.backend(path).make_dirs(path)

    def start_folder(self, path: VolumePath, scratch: str) -> VolumePath:
        return self.backend(path).start_folder(path, scratch)

    def publish_folder(self, work: VolumePath, path: VolumePath) -> None:
        self.backend(path).publish_folder(work, path)

    def discard_folder(self, work: VolumePath) -> None:
        self.backend(work).discard_folder(work)
