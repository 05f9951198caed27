"""Reads a zip archive member by member without trusting it: the central directory is walked one entry at a time
(never more than `max_members`), each wanted member's name, method, declared size and compression ratio are checked
before anything is inflated, and a member is inflated in bounded chunks that stop at its declared size (and at
the import's byte budget), then checked against its CRC. Nothing else of the archive is ever held in memory."""

from __future__ import annotations

import io
import posixpath
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from db.errors import Invalid, TooLarge
from jobs.formats.reading import CHUNK, Budget, breathe, metered

MAX_RATIO = 100  # deflated text compresses 3-10x; zip bombs rely on 1,000x and more
RATIO_FLOOR = 1 << 20  # smaller members are never refused for their ratio (the byte budget bounds them)
ARCHIVES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst")

_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    method: int
    crc: int
    compressed: int
    size: int
    offset: int  # of the local header


def _bad(message: str) -> Invalid:
    return Invalid(f"The zip file cannot be read: {message}.")


def _directory(fp: BinaryIO) -> tuple[int, int, int]:
    """(entries, where the central directory starts, how far prepended bytes shift every offset), from the end
    records (zip64 too)."""
    end = fp.seek(0, io.SEEK_END)
    tail_start = max(0, end - (_EOCD.size + 0xFFFF))  # the record sits before a comment of at most 64 KB
    fp.seek(tail_start)
    tail = fp.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise _bad("it is not a zip file (no end of central directory record)")
    _, disk, _, _, entries, size, offset, _ = _EOCD.unpack_from(tail, at)
    if disk != 0:
        raise _bad("archives split over several files are not read")
    record = tail_start + at
    if entries == 0xFFFF or 0xFFFFFFFF in (size, offset):
        loc = at - _ZIP64_LOCATOR_SIZE
        if loc < 0 or tail[loc:loc + 4] != b"PK\x06\x07":
            raise _bad("its zip64 end record is missing")
        # Right before its locator (as zipfile assumes: no extensible data), not where the locator says: that
        # offset does not count bytes prepended to the archive.
        z64 = tail_start + loc - _ZIP64_EOCD.size
        fp.seek(max(0, z64))
        raw = fp.read(_ZIP64_EOCD.size)
        if len(raw) < _ZIP64_EOCD.size or raw[:4] != b"PK\x06\x06":
            raise _bad("its zip64 end record is damaged")
        _, _, _, _, _, _, _, entries, size, offset = _ZIP64_EOCD.unpack(raw)
        record = z64
    # Bytes prepended to the archive (a self-extracting stub) shift every offset by the same amount.
    shift = record - size - offset
    if shift < 0:
        raise _bad("its central directory lies outside the file")
    return entries, offset + shift, shift


def _zip64(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset that the entry's fixed fields mark as 0xFFFFFFFF come from its zip64 extra field."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        at += 4 + length
    return size, compressed, offset


def members(fp: BinaryIO, max_members: int) -> Iterator[Member]:
    """Every entry of the central directory, in order; more than max_members stops the import."""
    entries, start, shift = _directory(fp)
    if entries > max_members:
        raise TooLarge(f"The zip file has {entries:,} members; a zip may hold at most {max_members:,} (twice "
                       "IMPORT_MAX_ITEMS, room for each image and its label file).")
    fp.seek(start)
    for n in range(entries):  # the count from the end record: a longer directory is not read past it
        breathe(n + 1)
        head = fp.read(_CENTRAL.size)
        if len(head) < _CENTRAL.size or head[:4] != b"PK\x01\x02":
            raise _bad(f"entry {n + 1} of its central directory is damaged")
        (_, _, _, flags, method, _, _, crc, compressed, usize, name_len, extra_len, comment_len, _, _, _,
         offset) = _CENTRAL.unpack(head)
        raw_name = fp.read(name_len)
        extra = fp.read(extra_len)
        fp.seek(comment_len, io.SEEK_CUR)
        usize, compressed, offset = _zip64(extra, usize, compressed, offset)
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        if flags & 0x1:
            method = -1  # encrypted: refused if it is read
        yield Member(name, method, crc, compressed, usize, offset + shift)


def check_name(name: str) -> None:
    """A member name used as a path: relative, no `..`, no backslashes, no NUL, not an archive inside the archive."""
    if "\x00" in name or "\\" in name or name.startswith("/") or ":" in name.split("/")[0] or \
            ".." in posixpath.normpath(name).split("/"):
        raise Invalid(f"The zip member {name!r} is not a safe relative path; nothing was read.")
    if name.lower().endswith(ARCHIVES):
        raise Invalid(f"The zip member {name!r} is an archive inside the archive; archives are read one level "
                      "deep only: unpack it and import the folder or a flat zip.")


def check_member(m: Member, max_bytes: int) -> None:
    """What the headers say, before anything is inflated."""
    if m.method == -1:
        raise Invalid(f"The zip member {m.name!r} is encrypted; nothing was read.")
    if m.method not in (0, 8):
        raise Invalid(f"The zip member {m.name!r} uses compression method {m.method}; only stored and deflated "
                      "members are read.")
    if m.size > max_bytes:
        raise TooLarge(f"The zip member {m.name!r} unpacks to {m.size / 2**20:,.1f} MB; imports take at most "
                       f"{max_bytes / 2**20:,.0f} MB (IMPORT_MAX_BYTES).")
    if m.size > RATIO_FLOOR and m.size > MAX_RATIO * max(m.compressed, 1):
        raise TooLarge(f"The zip member {m.name!r} expands {m.size // max(m.compressed, 1):,} times; members "
                       f"larger than 1 MB may expand at most {MAX_RATIO} times (a zip bomb?).")


class _Inflated(io.RawIOBase):
    """One member's bytes, inflated a chunk at a time; never more than the declared size, CRC checked at the end."""

    def __init__(self, fp: BinaryIO, m: Member) -> None:
        self.fp, self.m = fp, m
        self.left_in, self.left_out, self.crc = m.compressed, m.size, 0
        self.inflate = zlib.decompressobj(-15) if m.method == 8 else None
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), CHUNK)
        while not self.pending and (self.left_in or (self.inflate and self.inflate.unconsumed_tail)):
            if self.inflate and self.inflate.unconsumed_tail:
                data = self.inflate.unconsumed_tail
            else:
                data = self.fp.read(min(CHUNK, self.left_in))
                if not data:
                    raise Invalid(f"The zip member {self.m.name!r} is cut short.")
                self.left_in -= len(data)
            # max_length: a bomb never gets to allocate more than one chunk past what is asked for
            self.pending = self.inflate.decompress(data, want) if self.inflate else data
        out, self.pending = self.pending[:want], self.pending[want:]
        if len(out) > self.left_out:
            raise TooLarge(f"The zip member {self.m.name!r} unpacks to more than the {self.m.size:,} bytes its "
                           "header says; nothing more was read.")
        self.left_out -= len(out)
        self.crc = zlib.crc32(out, self.crc)
        if not out and (self.left_out or self.crc != self.m.crc):
            raise Invalid(f"The zip member {self.m.name!r} is damaged (its size or checksum does not match).")
        buffer[: len(out)] = out
        return len(out)


def open_member(fp: BinaryIO, m: Member, budget: Budget) -> io.BufferedReader:
    """The member's bytes (check_member first), charged to the budget; read it to the end before opening another."""
    fp.seek(m.offset)
    head = fp.read(_LOCAL.size)
    if len(head) < _LOCAL.size or head[:4] != b"PK\x03\x04":
        raise _bad(f"the local header of {m.name!r} is missing")
    *_, name_len, extra_len = _LOCAL.unpack(head)
    fp.seek(name_len + extra_len, io.SEEK_CUR)
    return metered(_Inflated(fp, m), budget)  # type: ignore[arg-type]
