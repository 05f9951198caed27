"""Volume paths (`/Volumes/<catalog>/<schema>/<volume>/...`): parsing and the checks that keep them inside a volume."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from db.errors import Invalid

ROOT = "/Volumes"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_FORBIDDEN = re.compile(r"[\x00\\\ud800-\udfff]")  # NUL, backslash, lone surrogates
# Linux's limits (PATH_MAX, NAME_MAX), checked before any file is touched: a longer path or name can never be a
# file, and the OS would answer it with an error instead of "not found". volumes.local also checks the local path.
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


def shown(text: str, limit: int = 120) -> str:
    """text for a message: a hostile 100 KB path is not echoed back whole."""
    return text if len(text) <= limit else f"{text[:limit - 30]}…{text[-25:]} ({len(text):,} characters)"


@dataclass(frozen=True)
class VolumePath:
    """A validated path: the volume's three names plus the parts below it (possibly none)."""

    parts: tuple[str, ...]  # catalog, schema, volume, then folders/files

    @property
    def text(self) -> str:
        return "/".join((ROOT, *self.parts))

    @property
    def depth(self) -> int:
        return len(self.parts)

    @property
    def volume(self) -> str:
        """`/Volumes/c/s/v` — only meaningful when depth >= 3."""
        return "/".join((ROOT, *self.parts[:3]))

    @property
    def inner(self) -> tuple[str, ...]:
        return self.parts[3:]

    def within(self, base: VolumePath) -> bool:
        """True when this path is base itself or below it."""
        return self.parts[: base.depth] == base.parts

    def ancestors(self) -> list[VolumePath]:
        """This path and every path above it down to its volume (itself only when it is a volume or above)."""
        return [VolumePath(self.parts[:n]) for n in range(self.depth, min(self.depth, 3) - 1, -1)]

    def child(self, name: str) -> VolumePath:
        return parse(f"{self.text}/{name}")

    def __str__(self) -> str:
        return self.text


def parse(path: str) -> VolumePath:
    """Validate and normalise; refuse anything that could step outside a volume before any file is touched."""
    if not isinstance(path, str) or not path.strip():
        raise Invalid("A path is required, e.g. /Volumes/<catalog>/<schema>/<volume>/folder.")
    raw = path.strip()
    if len(raw) > MAX_PATH_BYTES or len(raw.encode(errors="surrogatepass")) > MAX_PATH_BYTES:
        raise Invalid(f"Path {shown(raw)!r} is too long: a path has at most {MAX_PATH_BYTES:,} bytes.")
    if _FORBIDDEN.search(raw):  # lone surrogates (JSON allows "\ud800") have no bytes on any disk
        raise Invalid(f"Path {shown(raw)!r} contains a forbidden character.")
    decoded = unquote(raw)
    if decoded != raw and any(seg in (".", "..") for seg in decoded.split("/")):
        raise Invalid(f"Path {shown(raw)!r} contains an encoded '..' segment.")
    if not (raw == ROOT or raw.startswith(ROOT + "/")):
        raise Invalid(f"Path {shown(raw)!r} is not a volume path: it must start with {ROOT}/.")
    parts = tuple(p for p in raw[len(ROOT):].split("/") if p != "")
    for seg in parts:
        if seg in (".", ".."):
            raise Invalid(f"Path {shown(raw)!r} contains a '{seg}' segment; use a path inside a volume.")
        if len(seg.encode()) > MAX_NAME_BYTES:
            raise Invalid(f"Path {shown(raw)!r}: the name {shown(seg, 60)!r} is too long; a file or folder name has "
                          f"at most {MAX_NAME_BYTES} bytes.")
    for seg in parts[:3]:
        if not _NAME.match(seg):
            raise Invalid(f"Path {shown(raw)!r}: {shown(seg, 60)!r} is not a valid catalog, schema or volume name.")
    return VolumePath(parts)


def relative_to(base: VolumePath, path: VolumePath) -> str:
    """The part of path below base, '/'-joined; path must be inside base."""
    if not path.within(base):
        raise Invalid(f"{path} is not inside {base}.")
    return "/".join(path.parts[base.depth:])
