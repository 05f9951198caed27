"""GraphQL type of the images a rescan no longer finds (what purging them would delete)."""

from __future__ import annotations

import strawberry


@strawberry.type(description="Samples whose image file the last rescan did not find: how many, how many of them are "
                             "labelled, and how many labels and boxes (model drafts too) they carry.")
class MissingSamples:
    samples: int
    labelled: int
    annotations: int
