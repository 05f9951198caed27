"""Opening files and folders under a mount's root without ever following a symbolic link: each name is opened
relative to the folder opened before it (openat) with O_NOFOLLOW, so a link swapped in at any moment is refused
instead of leading outside, and the caller reads from the descriptor it got, never from the path again."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class LinkRefused(OSError):
    """A name on the way is a symbolic link; `name` is the first one."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is a symbolic link")
        self.name = name


def _is_link(name: str, folder: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _open_child(name: str, folder: int, flags: int) -> int:
    """os.open relative to folder, never through a link: a link answers LinkRefused (O_NOFOLLOW says ELOOP for a
    file and ENOTDIR for a folder; ENOTDIR is also a plain file's answer, so that case is looked at again)."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (isinstance(exc, NotADirectoryError) and _is_link(name, folder)):
            raise LinkRefused(name) from None
        raise


def open_folder(root: Path, names: Sequence[str], *, create: bool = False) -> int:
    """A descriptor of root/names…, each folder opened from its parent without following links; with `create`,
    missing folders are made on the way (the root too: it is the admin's). OSError as the system says."""
    if create:
        root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, _DIR)
    try:
        for name in names:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, dir_fd=fd)
            child = _open_child(name, fd, _DIR)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def folder(root: Path, names: Sequence[str], *, create: bool = False) -> Iterator[int]:
    fd = open_folder(root, names, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


def open_file(root: Path, names: Sequence[str]) -> int:
    """A read-only descriptor of the regular file root/names…; IsADirectoryError for anything but a regular file
    (O_NONBLOCK: a FIFO answers at once instead of waiting for a writer)."""
    with folder(root, names[:-1]) as parent:
        fd = _open_child(names[-1], parent, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(names[-1])
    os.set_blocking(fd, True)
    return fd


def lstat(root: Path, names: Sequence[str]) -> os.stat_result:
    """The entry root/names… itself (a link is not followed: its own stat comes back)."""
    if not names:
        return os.stat(root)
    with folder(root, names[:-1]) as parent:
        return os.stat(names[-1], dir_fd=parent, follow_symlinks=False)


def create_file(parent: int, name: str) -> int:
    """A new file opened for writing in the folder `parent`; FileExistsError when the name is taken (by a link too)."""
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=parent)
