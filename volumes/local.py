"""Local folders mounted under volume paths; every path is jailed inside its mount (no '..', no symlink escape)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from db.errors import Invalid, NotFound
from volumes.base import Entry, FileStat, Page, paginate, sort_key
from volumes.paths import MAX_PATH_BYTES, VolumePath, parse, shown


class LocalVolumes:
    """Implements volumes.base.Volumes over a mapping `/Volumes/c/s/v` -> local folder."""

    def __init__(self, mounts: dict[str, Path]) -> None:
        self.mounts: dict[tuple[str, ...], Path] = {}
        for volume, folder in mounts.items():
            vp = parse(volume)
            if vp.depth != 3:
                raise ValueError(f"mount {volume!r} must name exactly /Volumes/<catalog>/<schema>/<volume>")
            self.mounts[vp.parts] = Path(os.path.realpath(folder))

    # -- resolution -------------------------------------------------------------------------------

    def local_path(self, path: VolumePath) -> Path:
        """The real local path for a volume path inside a mount; refuses anything that leaves the mount."""
        if path.depth < 3:
            raise Invalid(f"{path} is not inside a volume.")
        root = self.mounts.get(path.parts[:3])
        if root is None:
            raise NotFound(f"Volume {path.volume} is not mounted. Mounted: {', '.join(self.volume_names()) or 'none'}.")
        real = os.path.realpath(root.joinpath(*path.inner))
        if real != str(root) and not real.startswith(str(root) + os.sep):
            raise Invalid(f"{shown(path.text)} points outside its volume.")
        if len(os.fsencode(real)) >= MAX_PATH_BYTES:  # the mount's own folder makes it longer than the volume path
            raise Invalid(f"{shown(path.text)} is too long to be stored on this server: with the folder its volume is "
                          f"mounted on it passes {MAX_PATH_BYTES - 1:,} bytes.")
        return Path(real)

    def volume_names(self) -> list[str]:
        return sorted("/".join(("/Volumes", *k)) for k in self.mounts)

    # -- protocol ---------------------------------------------------------------------------------

    def list(self, path: VolumePath) -> list[Entry]:
        if path.depth < 3:
            names = sorted({k[path.depth] for k in self.mounts if k[: path.depth] == path.parts})
            if not names and path.depth > 0:
                raise NotFound(f"{path} does not exist.")
            return [Entry(name=n, path=path.child(n).text, is_dir=True) for n in names]
        folder = self.local_path(path)
        if not folder.exists():
            raise NotFound(f"{path} does not exist.")
        if not folder.is_dir():
            raise Invalid(f"{path} is a file, not a folder.")
        entries = []
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith("."):
                    continue
                try:
                    is_dir = e.is_dir()
                    st = e.stat()
                except OSError:
                    continue
                if e.is_symlink() and not self._inside(path, e.path):
                    continue
                entries.append(Entry(name=e.name, path=f"{path.text}/{e.name}", is_dir=is_dir,
                                     size=None if is_dir else st.st_size, mtime_ns=st.st_mtime_ns))
        entries.sort(key=sort_key)
        return entries

    def browse(self, path: VolumePath, *, name_filter: str | None = None, first: int | None = None,
               after: str | None = None) -> Page:
        return paginate(self.list(path), name_filter=name_filter, first=first, after=after)

    def check_folder(self, path: VolumePath) -> None:
        if path.depth < 3:
            self.list(path)
            return
        folder = self.local_path(path)
        if not folder.exists():
            raise NotFound(f"{path} does not exist.")
        if not folder.is_dir():
            raise Invalid(f"{path} is a file, not a folder.")

    def walk_files(self, path: VolumePath) -> Iterator[Entry]:
        root = self.local_path(path)
        if not root.is_dir():
            raise NotFound(f"Folder {path} does not exist.")
        seen: set[str] = {str(root)}
        stack: list[tuple[str, str]] = [(str(root), path.text)]
        while stack:
            folder, vpath = stack.pop()
            try:
                it = os.scandir(folder)
            except FileNotFoundError as exc:
                raise NotFound(f"Folder {vpath} vanished while it was being read.") from exc
            except NotADirectoryError as exc:
                raise NotFound(f"Folder {vpath} vanished while it was being read.") from exc
            subfolders, files = [], []
            with it:
                for e in it:
                    if e.name.startswith(".") or "\\" in e.name:
                        continue
                    child = f"{vpath}/{e.name}"
                    try:
                        if e.is_symlink():
                            real = os.path.realpath(e.path)
                            if not self._inside(path, real) or real in seen:
                                continue
                            if os.path.isdir(real):
                                seen.add(real)
                                subfolders.append((real, child))
                                continue
                        elif e.is_dir(follow_symlinks=False):
                            subfolders.append((e.path, child))
                            continue
                        st = e.stat()
                    except OSError:
                        continue
                    files.append(Entry(name=e.name, path=child, is_dir=False, size=st.st_size,
                                       mtime_ns=st.st_mtime_ns))
            files.sort(key=lambda f: f.name)
            yield from files
            stack.extend(sorted(subfolders, key=lambda s: s[1], reverse=True))

    def stat(self, path: VolumePath) -> FileStat:
        local = self.local_path(path)
        try:
            st = local.stat()
        except FileNotFoundError as exc:
            raise NotFound(f"File {path} does not exist.") from exc
        if not local.is_file():
            raise Invalid(f"{path} is not a file.")
        return FileStat(size=st.st_size, mtime_ns=st.st_mtime_ns)

    def stat_nowait(self, path: VolumePath) -> FileStat:
        return self.stat(path)

    def open(self, path: VolumePath) -> BinaryIO:
        local = self.local_path(path)
        try:
            return local.open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise NotFound(f"File {path} does not exist.") from exc

    def write(self, path: VolumePath, data: bytes, *, overwrite: bool = False) -> None:
        local = self.local_path(path)
        if local.exists() and not overwrite:
            raise Invalid(f"{path} already exists.")
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary(local)
        tmp.write_bytes(data)
        os.replace(tmp, local)

    @contextlib.contextmanager
    def writer(self, path: VolumePath) -> Iterator[BinaryIO]:
        local = self.local_path(path)
        if local.exists():
            raise Invalid(f"{path} already exists.")
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary(local)
        try:
            with tmp.open("wb") as fp:
                yield fp
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)

    def make_dirs(self, path: VolumePath) -> None:
        self.local_path(path).mkdir(parents=True, exist_ok=True)

    def _inside(self, path: VolumePath, real: str) -> bool:
        root = str(self.mounts[path.parts[:3]])
        real = os.path.realpath(real)
        return real == root or real.startswith(root + os.sep)


def _temporary(local: Path) -> Path:
    """A hidden sibling to write before the rename: short whatever the name (a 255-byte name has no room for a
    suffix), and unique, so two writers never share one."""
    return local.with_name(f".{uuid.uuid4().hex}.tmp")
