"""Perceptual hashes (64-bit DCT pHash) of thumbnails, in a few lines of Pillow and numpy: the same bits as imagehash's
`phash` (grey 32x32 LANCZOS, the 8x8 lowest frequencies of a 2-D DCT-II, each above their median), without its SciPy
and PyWavelets dependencies. Single-colour images all hash alike: they are near-duplicates of one another."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from volumes.images import ImageUnreadable

_SIDE, _LOW = 32, 8
_k = np.arange(_SIDE)
# DCT-II basis (unscaled: scaling changes no coefficient's side of the median)
_DCT = np.cos(np.pi * (2 * _k[None, :] + 1) * _k[:, None] / (2 * _SIDE))[:_LOW]
_BITS = np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)


def hash_pixels(grey: np.ndarray) -> int:
    """The pHash of a 32x32 grey image as a signed 64-bit integer (the first coefficient is the highest bit)."""
    # Rounded: a featureless (single-colour) image has only rounding noise in its non-DC coefficients, whose signs
    # differ between CPUs' matrix kernels; rounded away, every such image hashes to the DC bit alone, everywhere.
    low = np.round(_DCT @ grey.astype(np.float64) @ _DCT.T, 6)
    bits = (low > np.median(low)).ravel()
    return int(np.bitwise_or.reduce(_BITS[bits], initial=np.uint64(0)).astype(np.uint64).view(np.int64))


def thumbnail_hash(jpeg: bytes) -> int:
    """The pHash of a thumbnail (a JPEG from volumes.images.render_thumbnail), decoded at a reduced scale."""
    try:
        im = Image.open(io.BytesIO(jpeg), formats=("JPEG",))
        im.draft("L", (2 * _SIDE, 2 * _SIDE))
        grey = im.convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS)
    except Exception as exc:
        raise ImageUnreadable(f"The thumbnail is not a readable JPEG ({type(exc).__name__}).") from None
    return hash_pixels(np.asarray(grey))
