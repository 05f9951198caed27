"""Image decoding for the browser: header info, thumbnails, display conversions, a thumbnail cache. (interim)"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
_PASSTHROUGH = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp"}


class ImageError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImageTooLarge(ImageError):
    pass


class ImageUnreadable(ImageError):
    pass


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class Rendered:
    data: bytes
    content_type: str
    width: int
    height: int


def browser_mime(format: str) -> str:
    return _PASSTHROUGH.get(format, "application/octet-stream")


def _open(fp: BinaryIO, max_pixels: int) -> tuple[Image.Image, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"The image is too large to decode safely ({exc}).") from None
    except Exception as exc:
        raise ImageUnreadable(f"The file is not a readable image ({type(exc).__name__}).") from None
    w, h = im.size
    if w * h > max_pixels:
        raise ImageTooLarge(f"The image has {w}x{h} = {w * h:,} pixels, above the limit of {max_pixels:,}.")
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    return im, orientation


def _displayed(w: int, h: int, orientation: int) -> tuple[int, int]:
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def read_info(fp: BinaryIO, max_pixels: int) -> ImageInfo:
    im, orientation = _open(fp, max_pixels)
    w, h = _displayed(*im.size, orientation)
    return ImageInfo(w, h, im.format or "")


def _load(im: Image.Image) -> Image.Image:
    try:
        im.load()
    except Exception as exc:
        raise ImageUnreadable(f"The image is damaged or truncated ({type(exc).__name__}).") from None
    return im


def render_thumbnail(fp: BinaryIO, size: int, max_pixels: int) -> Rendered:
    im, orientation = _open(fp, max_pixels)
    w, h = _displayed(*im.size, orientation)
    if im.format == "JPEG":
        im.draft("RGB", (size, size))
    im = _load(im)
    im = ImageOps.exif_transpose(im) or im
    if im.mode not in ("RGB", "L"):
        rgba = im.convert("RGBA")
        im = Image.new("RGB", rgba.size, (255, 255, 255))
        im.paste(rgba, mask=rgba.split()[3])
    im.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=85)
    return Rendered(buf.getvalue(), "image/jpeg", w, h)


def render_display(fp: BinaryIO, max_pixels: int) -> Rendered | None:
    im, orientation = _open(fp, max_pixels)
    if im.format in _PASSTHROUGH and orientation == 1:
        return None
    w, h = _displayed(*im.size, orientation)
    im = ImageOps.exif_transpose(_load(im)) or im
    buf = io.BytesIO()
    if im.mode in ("RGBA", "LA", "P", "PA"):
        im.convert("RGBA").save(buf, "PNG")
        return Rendered(buf.getvalue(), "image/png", w, h)
    im.convert("RGB").save(buf, "JPEG", quality=92)
    return Rendered(buf.getvalue(), "image/jpeg", w, h)


def load_rgb(fp: BinaryIO, max_pixels: int) -> Image.Image:
    """The image as displayed (EXIF orientation applied), decoded to RGB: what a model looks at."""
    im, _ = _open(fp, max_pixels)
    im = ImageOps.exif_transpose(_load(im)) or im
    return im.convert("RGB")


class ThumbnailCache:
    def __init__(self, root: Path, memory_bytes: int = 64 * 2**20) -> None:
        self.root = Path(root)
        self.memory_bytes = memory_bytes
        self._mem: OrderedDict[str, bytes] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

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
        folder = self.root / key[:2]
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.{threading.get_ident()}"
        tmp.write_bytes(data)
        os.replace(tmp, folder / key)
        self._remember(key, data)
