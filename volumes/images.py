"""Image decoding for the browser and the models: header info, thumbnails, display conversions. Only allow-listed
formats and pixel modes are decoded, and only when the pixels fit MAX_IMAGE_PIXELS and the memory the decode will
take (from the mode's bytes per pixel) fits MAX_DECODE_BYTES."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
# Pillow recognises some forty formats by content; these are the ones a file named like an image may hold here.
# (EPS would run Ghostscript; FITS, PCX, TGA... are not what labelling teams store, and each plugin is more code
# reading hostile bytes.)
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_PASSTHROUGH = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                "WEBP": "image/webp", "BMP": "image/bmp"}
# Pixel modes that resize and convert to RGB; their bytes per pixel as Pillow stores them (RGB takes four).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "LA": 4, "PA": 4,
                    "RGB": 4, "RGBA": 4, "RGBX": 4, "CMYK": 4, "YCbCr": 4, "LAB": 4, "I": 4, "F": 4}
_PNG_MODES = ("RGBA", "LA", "P", "PA")  # shown as PNG (transparency, palettes); the rest as JPEG
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}
DEFAULT_MAX_BYTES = 256 * 2**20
_DECODER = 4 * 2**20  # the decoder's own buffers and the thumbnail: a few MB whatever the image (measured)


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
    """The image's header, read only by the allow-listed plugins; its pixels are not decoded yet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"The image is too large to decode safely ({exc}).") from None
    except UnidentifiedImageError:
        raise ImageUnreadable("The file is not a JPEG, PNG, WebP, GIF, BMP or TIFF image.") from None
    except Exception as exc:
        raise ImageUnreadable(f"The file is not a readable image ({type(exc).__name__}).") from None
    if im.mode not in _BYTES_PER_PIXEL:
        raise ImageUnreadable(f"{im.format} images with {im.mode} pixels are not supported.")
    w, h = im.size
    if w * h > max_pixels:
        raise ImageTooLarge(f"The image has {w}x{h} = {w * h:,} pixels, above the limit of {max_pixels:,}.")
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    return im, orientation if orientation in _TRANSPOSE else 1


def _resized_mode(im: Image.Image) -> str:
    """The mode a thumbnail is resized in: palettes and bilevel pixels would be resized by nearest neighbour, and
    16-bit pixels not at all, so they are converted first."""
    if im.mode == "P":
        return "RGBA" if "transparency" in im.info else "RGB"
    return {"1": "L", "PA": "RGBA", "I;16": "I", "I;16B": "I", "I;16L": "I", "I;16N": "I"}.get(im.mode, im.mode)


def decode_bytes(im: Image.Image, *, full: bool, rotated: bool) -> int:
    """The most memory decoding im (as opened, after any draft) can hold at once, counted generously.
    A thumbnail: the decoded pixels, the copy they are converted into before resizing (see _resized_mode) and the
    premultiplied copy Pillow resizes pixels with transparency in. A full-size result (full): the decoded pixels,
    their rotated or RGB(A) copy (one at a time) and the encoded file (PNG 4 bytes a pixel at most, JPEG 2)."""
    w, h = im.size
    per_pixel = _BYTES_PER_PIXEL[im.mode]
    if not full:
        resized = _resized_mode(im)
        converted = _BYTES_PER_PIXEL[resized] if resized != im.mode else 0
        return w * h * (per_pixel + converted + (4 if resized in ("LA", "RGBA") else 0)) + _DECODER
    converted = 0 if im.mode in ("RGB", "RGBA") else 4
    encoded = 4 if im.mode in _PNG_MODES else 2
    return w * h * (per_pixel + max(per_pixel if rotated else 0, converted) + encoded) + _DECODER


def _check_memory(im: Image.Image, needed: int, max_bytes: int) -> None:
    if needed > max_bytes:
        w, h = im.size
        raise ImageTooLarge(f"Decoding this {w}x{h} {im.format} image ({im.mode} pixels) would take "
                            f"{needed / 2**20:,.0f} MB, above the limit of {max_bytes / 2**20:,.0f} MB "
                            "(MAX_DECODE_BYTES).")


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


def _upright(im: Image.Image, orientation: int) -> Image.Image:
    """EXIF orientation applied (from the value read with the header: a converted copy no longer carries it)."""
    return im.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else im


def _on_white(im: Image.Image) -> Image.Image:
    if im.mode in ("RGB", "L"):
        return im
    rgba = im.convert("RGBA")
    out = Image.new("RGB", rgba.size, (255, 255, 255))
    out.paste(rgba, mask=rgba.split()[3])
    return out


def render_thumbnail(fp: BinaryIO, size: int, max_pixels: int, max_bytes: int = DEFAULT_MAX_BYTES) -> Rendered:
    """A JPEG at most size x size. JPEGs decode at a reduced scale (draft); the others are resized before they
    are converted or rotated, so only their decoded pixels are ever held at full size."""
    im, orientation = _open(fp, max_pixels)
    w, h = _displayed(*im.size, orientation)
    if im.format in ("JPEG", "MPO"):
        im.draft("RGB", (size, size))
    _check_memory(im, decode_bytes(im, full=False, rotated=orientation != 1), max_bytes)
    im = _as_mode(_load(im), _resized_mode(im))
    im.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    im = _on_white(_upright(im, orientation))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=85)
    return Rendered(buf.getvalue(), "image/jpeg", w, h)


def shown_as_is(fp: BinaryIO, max_pixels: int) -> ImageInfo | None:
    """The image's info when a browser can show the file as it is (from its header), else None: it needs
    render_display (TIFF, EXIF rotation)."""
    im, orientation = _open(fp, max_pixels)
    if im.format in _PASSTHROUGH and orientation == 1:
        return ImageInfo(*im.size, im.format)
    return None


def render_display(fp: BinaryIO, max_pixels: int, max_bytes: int = DEFAULT_MAX_BYTES) -> Rendered:
    """The image upright in a format a browser shows: PNG when it has transparency or a palette, else JPEG."""
    im, orientation = _open(fp, max_pixels)
    w, h = _displayed(*im.size, orientation)
    _check_memory(im, decode_bytes(im, full=True, rotated=orientation != 1), max_bytes)
    im = _upright(_load(im), orientation)
    buf = io.BytesIO()
    if im.mode in _PNG_MODES:
        _as_mode(im, "RGBA").save(buf, "PNG")
        return Rendered(buf.getvalue(), "image/png", w, h)
    _as_mode(im, "RGB").save(buf, "JPEG", quality=92)
    return Rendered(buf.getvalue(), "image/jpeg", w, h)


def _as_mode(im: Image.Image, mode: str) -> Image.Image:
    return im if im.mode == mode else im.convert(mode)  # convert() to the same mode copies every pixel


def load_rgb(fp: BinaryIO, max_pixels: int, max_bytes: int = DEFAULT_MAX_BYTES) -> Image.Image:
    """The image as displayed (EXIF orientation applied), decoded to RGB: what a model looks at."""
    im, orientation = _open(fp, max_pixels)
    _check_memory(im, decode_bytes(im, full=True, rotated=orientation != 1), max_bytes)
    return _as_mode(_upright(_load(im), orientation), "RGB")
