"""A project's consensus settings (projects.consensus): how many labellers see each image, for which images, and
the thresholds its agreement is judged by."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

from db.errors import Invalid

MAX_OVERLAP = 10


@dataclass(frozen=True)
class ConsensusSettings:
    overlap: int = 1  # labellers per image; 1: no submissions, every save is the image's labels
    fraction: float = 1.0  # the share of images labelled `overlap` times (the others once), chosen by sample_share
    iou_threshold: float = 0.5  # boxes of two labellers match at this IoU or more
    agreement_threshold: float = 0.5  # images whose agreement is below go to adjudication
    models_as_labellers: bool = False  # model drafts join an image's agreement and consensus as one more labeller

    @staticmethod
    def of(stored: dict[str, Any] | None) -> ConsensusSettings:
        return ConsensusSettings(**stored) if stored else ConsensusSettings()

    def stored(self) -> dict[str, Any] | None:
        return None if self == ConsensusSettings() else asdict(self)

    def needed(self, project_id: int, sample_id: int) -> int:
        """How many labellers this image needs: `overlap` for the chosen share of the images, else 1."""
        if self.overlap <= 1 or self.fraction >= 1.0:
            return self.overlap
        return self.overlap if sample_share(project_id, sample_id) < self.fraction else 1


def takes_submissions(consensus: dict[str, Any] | None, project_id: int, sample_id: int) -> bool:
    """Whether a save of this sample is its saver's own submission: the project has overlap and the image is one of
    those labelled `overlap` times."""
    return bool(consensus) and ConsensusSettings.of(consensus).needed(project_id, sample_id) > 1


def sample_share(project_id: int, sample_id: int) -> float:
    """A number in [0, 1) fixed by the project and the sample (a hash, so the same images are chosen on every
    server and every run, and about `fraction` of them whatever their order)."""
    digest = hashlib.blake2b(f"{project_id}:{sample_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def checked(overlap: int, fraction: float, iou_threshold: float, agreement_threshold: float,
            models_as_labellers: bool) -> ConsensusSettings:
    """Settings from an owner's input; VALIDATION names the value that is out of range."""
    if not 1 <= overlap <= MAX_OVERLAP:
        raise Invalid(f"overlap is the number of labellers per image, 1 to {MAX_OVERLAP} (got {overlap}).",
                      field="overlap")
    for name, value, low in (("fraction", fraction, 0.0), ("iouThreshold", iou_threshold, 0.0),
                             ("agreementThreshold", agreement_threshold, 0.0)):
        if not math.isfinite(value) or (not low < value <= 1.0 and not (name == "agreementThreshold" and value == 0)):
            raise Invalid(f"{name} must be a number above 0 and at most 1 (got {value:g}).", field=name)
    return ConsensusSettings(overlap, float(fraction), float(iou_threshold), float(agreement_threshold),
                             bool(models_as_labellers))
