"""GraphQL type of a finished export found in a volume (volumes/past_exports.py reads them from metadata.json)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from volumes import past_exports


@strawberry.type(description="A finished export, as its folder's metadata.json describes it (exports of the original "
                             "tool too).")
class PastExport:
    path: str
    project_id: strawberry.ID | None
    project_name: str
    version: int
    task_type: str
    format: str
    image_count: int
    annotation_count: int
    exported_at: datetime | None
    exported_by: str
    reference: bool = strawberry.field(description="A reference snapshot: the images were not copied.")
    images_copied: bool
    accepted_only: bool

    @classmethod
    def of(cls, e: past_exports.PastExport) -> PastExport:
        try:
            at: datetime | None = datetime.fromisoformat(e.exported_at)
        except ValueError:
            at = None
        return cls(path=e.path, project_id=strawberry.ID(str(e.project_id)) if e.project_id is not None else None,
                   project_name=e.project_name, version=e.version, task_type=e.task_type, format=e.format,
                   image_count=e.image_count, annotation_count=e.annotation_count, exported_at=at,
                   exported_by=e.exported_by, reference=e.reference, images_copied=e.images_copied,
                   accepted_only=e.accepted_only)
