"""Model backends for pre-annotation: each turns images into predictions (label, kind, box, confidence).

Boxes are normalised (x, y, w, h) of the displayed image, like everywhere else; a backend reports a problem with
one image as ModelError, which fails that sample only.
"""

from __future__ import annotations

from dataclasses import dataclass


class ModelError(Exception):
    """The model could not give a usable answer for an image (HTTP error, timeout, malformed output)."""


@dataclass(frozen=True)
class Prediction:
    label: str
    kind: str  # "BBOX" | "CLASSIFICATION"
    box: tuple[float, float, float, float] | None
    confidence: float | None
