"""Local folders mounted under volume paths; every path is jailed inside its mount: names only (no '..'), and no
symbolic link is ever followed (volumes.nofollow), so nothing outside the mount is reachable even by a link swapped
in while a file is being opened."""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from db.errors import DomainError, Forbidden, Invalid, NotFound, Unavailable
from volumes import nofollow
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

    def _located(self, path: VolumePath) -> tuple[Path, tuple[str, ...]]:
        """The mount's folder and the names below it, for a volume path inside a mount that fits the OS's limits."""
        if path.depth < 3:
            raise Invalid(f"{path} is not inside a volume.")
        root = self.mounts.get(path.parts[:3])
        if root is None:
            raise NotFound(f"Volume {path.volume} is not mounted. Mounted: {', '.join(self.volume_names()) or 'none'}.")
        if len(os.fsencode(root.joinpath(*path.inner))) >= MAX_PATH_BYTES:  # the mount's folder makes it longer
            raise Invalid(f"{shown(path.text)} is too long to be stored on this server: with the folder its volume is "
                          f"mounted on it passes {MAX_PATH_BYTES - 1:,} bytes.")
        return root, path.inner

    @contextlib.contextmanager
    def _told(self, path: VolumePath, what: str = "File") -> Iterator[None]:
        """The OS's answers as the errors a user can act on."""
        try:
            yield
        except nofollow.LinkRefused:
            raise Invalid(f"{shown(path.text)} is or passes through a symbolic link: links are not followed in "
                          "volumes.") from None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"{what} {shown(path.text)} does not exist.") from None

    def volume_names(self) -> list[str]:
        return sorted("/".join(("/Volumes", *k)) for k in self.mounts)

    # -- protocol ---------------------------------------------------------------------------------

    def list(self, path: VolumePath) -> list[Entry]:
        if path.depth < 3:
            names = sorted({k[path.depth] for k in self.mounts if k[: path.depth] == path.parts})
            if not names and path.depth > 0:
                raise NotFound(f"{path} does not exist.")
            return [Entry(name=n, path=path.child(n).text, is_dir=True) for n in names]
        entries = [Entry(name=name, path=f"{path.text}/{name}", is_dir=is_dir, size=None if is_dir else st.st_size,
                         mtime_ns=st.st_mtime_ns) for name, is_dir, st in self._entries(path)]
        entries.sort(key=sort_key)
        return entries

    def _entries(self, path: VolumePath) -> builtins.list[tuple[str, bool, os.stat_result]]:
        """The folder's files and folders (name, is a folder, stat), read from its descriptor; hidden names and
        links (never followed) left out, and so are entries that vanish while being read."""
        fd = self._folder(path)
        out = []
        try:
            with os.scandir(fd) as it:
                for e in it:
                    if e.name.startswith(".") or "\\" in e.name:
                        continue
                    try:
                        if e.is_symlink():
                            continue
                        out.append((e.name, e.is_dir(follow_symlinks=False), e.stat(follow_symlinks=False)))
                    except OSError:
                        continue
        finally:
            os.close(fd)
        return out

    def browse(self, path: VolumePath, *, name_filter: str | None = None, first: int | None = None,
               after: str | None = None) -> Page:
        return paginate(self.list(path), name_filter=name_filter, first=first, after=after)

    def check_folder(self, path: VolumePath) -> None:
        if path.depth < 3:
            self.list(path)
            return
        os.close(self._folder(path))

    def _folder(self, path: VolumePath) -> int:
        """A descriptor of the folder (links refused on the way), or what is wrong with it."""
        root, names = self._located(path)
        with self._told(path, "Folder"):
            try:
                return nofollow.open_folder(root, names)
            except NotADirectoryError:
                if stat.S_ISREG(nofollow.lstat(root, names).st_mode):
                    raise Invalid(f"{path} is a file, not a folder.") from None
                raise

    def walk_files(self, path: VolumePath) -> Iterator[Entry]:
        """Files below the folder, each folder's files in name order then its sub-folders; links are skipped."""
        self.check_folder(path)
        stack = [path]
        while stack:
            folder = stack.pop()
            try:
                entries = self._entries(folder)
            except NotFound as exc:
                raise NotFound(f"Folder {folder} vanished while it was being read.") from exc
            files = sorted((e for e in entries if not e[1]), key=lambda e: e[0])
            yield from (Entry(name=name, path=f"{folder.text}/{name}", is_dir=False, size=st.st_size,
                              mtime_ns=st.st_mtime_ns) for name, _, st in files)
            stack.extend(sorted((folder.child(name) for name, is_dir, _ in entries if is_dir),
                                key=lambda f: f.text, reverse=True))

    def stat(self, path: VolumePath) -> FileStat:
        root, names = self._located(path)
        with self._told(path):
            st = nofollow.lstat(root, names)
        if stat.S_ISLNK(st.st_mode):
            raise Invalid(f"{shown(path.text)} is a symbolic link: links are not followed in volumes.")
        if not stat.S_ISREG(st.st_mode):
            raise Invalid(f"{path} is not a file.")
        return FileStat(size=st.st_size, mtime_ns=st.st_mtime_ns)

    def stat_nowait(self, path: VolumePath) -> FileStat:
        return self.stat(path)

    def open(self, path: VolumePath) -> BinaryIO:
        root, names = self._located(path)
        with self._told(path):
            return os.fdopen(nofollow.open_file(root, names), "rb")

    def write(self, path: VolumePath, data: bytes, *, overwrite: bool = False) -> None:
        with self.writer(path, overwrite=overwrite) as fp:
            fp.write(data)

    @contextlib.contextmanager
    def writer(self, path: VolumePath, *, overwrite: bool = False) -> Iterator[BinaryIO]:
        """A hidden temporary file in the destination folder, renamed onto the name once written; every folder on
        the way is opened (or made) without following links, and the rename replaces a link, never its target."""
        root, names = self._located(path)
        if not names:
            raise Invalid(f"{path} is a volume, not a file.")
        with _writing(path), self._told(path, "Folder"):
            parent = nofollow.open_folder(root, names[:-1], create=True)
        try:
            if not overwrite and _exists(names[-1], parent):
                raise Invalid(f"{path} already exists.")
            tmp = _temporary()
            try:
                with _writing(path):
                    with os.fdopen(nofollow.create_file(parent, tmp), "wb") as fp:
                        yield fp
                    os.replace(tmp, names[-1], src_dir_fd=parent, dst_dir_fd=parent)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=parent)
        finally:
            os.close(parent)

    def make_dirs(self, path: VolumePath) -> None:
        root, names = self._located(path)
        with _writing(path), self._told(path, "Folder"), nofollow.folder(root, names, create=True):
            pass

    def start_folder(self, path: VolumePath, scratch: str) -> VolumePath:
        root, names = self._located(path)
        if not names:
            raise Invalid(f"{path} is a volume, not a new folder.")
        work = parse(path.text.rsplit("/", 1)[0]).child(f".{scratch}.partial")
        with _writing(path), self._told(path, "Folder"), nofollow.folder(root, names[:-1], create=True) as parent:
            if _exists(names[-1], parent):
                raise Invalid(f"{path} already exists.")
            shutil.rmtree(work.parts[-1], dir_fd=parent, ignore_errors=True)  # a killed run's; a link is refused
            os.mkdir(work.parts[-1], dir_fd=parent)
        return work

    def publish_folder(self, work: VolumePath, path: VolumePath) -> None:
        root, names = self._located(path)
        if work.parts[:-1] != path.parts[:-1]:
            raise Invalid(f"{work} and {path} are not in one folder.")
        with _writing(path), self._told(path, "Folder"), nofollow.folder(root, names[:-1]) as parent:
            if _exists(names[-1], parent):  # the rename would replace an empty folder there
                raise Invalid(f"{path} already exists.")
            os.rename(work.parts[-1], names[-1], src_dir_fd=parent, dst_dir_fd=parent)

    def discard_folder(self, work: VolumePath) -> None:
        with contextlib.suppress(OSError, DomainError):
            root, names = self._located(work)
            with nofollow.folder(root, names[:-1]) as parent:
                shutil.rmtree(names[-1], dir_fd=parent, ignore_errors=True)  # links inside are removed, not followed


_REASONS = {errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "operation not permitted", errno.ENOSPC: "no space left on the device",
            errno.EDQUOT: "the disk quota is exceeded", errno.EFBIG: "the file is larger than the file system allows"}
_REFUSED = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextlib.contextmanager
def _writing(path: VolumePath) -> Iterator[None]:
    """An OSError while writing becomes a domain error naming the path and the reason: a read-only folder is
    FORBIDDEN, a full disk or any other failure UNAVAILABLE (fixed by freeing space, not by changing the request)."""
    try:
        yield
    except DomainError:
        raise
    except OSError as exc:
        reason = _REASONS.get(exc.errno or 0) or exc.strerror or type(exc).__name__
        kind = Forbidden if exc.errno in _REFUSED else Unavailable
        raise kind(f"Cannot write {shown(path.text)}: {reason}.") from exc


def _exists(name: str, parent: int) -> bool:
    try:
        os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _temporary() -> str:
    """A hidden sibling's name to write before the rename: short whatever the name (a 255-byte name has no room for
    a suffix), and unique, so two writers never share one."""
    return f".{uuid.uuid4().hex}.tmp"
