"""The client's types, one per GraphQL type it reads: each field is the schema's field of the same name in
snake_case (tests/test_sdk_schema.py checks them against schema/schema.graphql and the operations' fragments).
Boxes are normalised x, y, w, h of the displayed image (top-left origin), as the server stores them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    def xyxy(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.x + self.w, self.y + self.h


@dataclass(slots=True)  # not frozen: a frozen dataclass is built through object.__setattr__, twice as slow
class Annotation:
    label: str
    kind: str = "BBOX"  # BBOX | CLASSIFICATION
    box: Box | None = None
    confidence: float | None = None
    is_draft: bool = False
    created_by: str = ""
    id: str = ""

    @classmethod
    def of(cls, d: dict[str, Any]) -> Annotation:
        b = d.get("box")
        if isinstance(b, list):  # the NDJSON stream sends [x, y, w, h]
            b = Box(*b)
        elif b is not None:
            b = Box(b["x"], b["y"], b["w"], b["h"])
        return cls(d["label"], d["kind"], b, d.get("confidence"), d.get("isDraft", False), d.get("createdBy", ""),
                   str(d.get("id", "")))  # the NDJSON stream sends ids as numbers, GraphQL as strings

    def as_input(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "kind": self.kind}
        if self.box is not None:
            out["box"] = {"x": self.box.x, "y": self.box.y, "w": self.box.w, "h": self.box.h}
        return out


@dataclass(slots=True)
class Sample:
    id: str
    filename: str
    path: str
    status: str
    width: int | None
    height: int | None
    version: int
    annotations: list[Annotation] = field(default_factory=list)
    project_id: str = ""
    locked_by: str | None = None
    labeled_by: str | None = None

    @classmethod
    def of(cls, d: dict[str, Any], project_id: str = "") -> Sample:
        return cls(str(d["id"]), d["filename"], d["path"], d["status"], d.get("width"), d.get("height"), d["version"],
                   [Annotation.of(a) for a in d.get("annotations") or ()], d.get("projectId", project_id),
                   d.get("lockedBy"), d.get("labeledBy"))


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    description: str
    task_type: str  # DETECTION | CLASSIFICATION
    classes: list[str]
    multi_label: bool
    source_volume: str
    version: int
    created_by: str
    created_at: datetime | None
    export_area: str | None
    my_role: str
    root_id: str

    @classmethod
    def of(cls, d: dict[str, Any]) -> Project:
        return cls(d["id"], d["name"], d["description"], d["taskType"], list(d["classes"]), d["multiLabel"],
                   d["sourceVolume"], d["version"], d["createdBy"], _time(d["createdAt"]), d.get("exportArea"),
                   d["myRole"], d["root"]["id"])


@dataclass(frozen=True, slots=True)
class UserStats:
    user: str
    labeled: int
    skipped: int
    annotations: int


@dataclass(frozen=True, slots=True)
class ClassCount:
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class ProjectStats:
    total: int
    unlabeled: int
    pre_labeled: int
    labeled: int
    skipped: int
    accepted: int
    rejected: int
    per_user: list[UserStats]
    per_class: list[ClassCount]

    @classmethod
    def of(cls, d: dict[str, Any]) -> ProjectStats:
        return cls(d["total"], d["unlabeled"], d["preLabeled"], d["labeled"], d["skipped"], d["accepted"],
                   d["rejected"], [UserStats(**u) for u in d["perUser"]],
                   [ClassCount(**c) for c in d["perClass"]])

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "unlabeled": self.unlabeled, "preLabeled": self.pre_labeled,
                "labeled": self.labeled, "skipped": self.skipped, "accepted": self.accepted,
                "rejected": self.rejected,
                "perUser": [{"user": u.user, "labeled": u.labeled, "skipped": u.skipped,
                             "annotations": u.annotations} for u in self.per_user],
                "perClass": [{"label": c.label, "count": c.count} for c in self.per_class]}


ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


@dataclass(slots=True)
class Job:
    """A job's state when it was read; `wait()` and `cancel()` go through the client that read it (on an
    AsyncClient they are coroutines)."""

    id: str
    kind: str
    status: str
    project_id: str | None
    progress: int
    total: int | None
    result: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: datetime | None
    finished_at: datetime | None
    client: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, d: dict[str, Any], client: Any = None) -> Job:
        return cls(d["id"], d["kind"], d["status"], d.get("projectId"), d["progress"], d.get("total"),
                   d.get("result"), d.get("error"), d["createdBy"], _time(d["createdAt"]), _time(d.get("finishedAt")),
                   client)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def wait(self, **kwargs: Any) -> Any:
        return self.client.wait(self, **kwargs)

    def cancel(self) -> Any:
        return self.client.cancel(self)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status, "projectId": self.project_id,
                "progress": self.progress, "total": self.total, "result": self.result, "error": self.error,
                "createdBy": self.created_by, "createdAt": self.created_at and self.created_at.isoformat(),
                "finishedAt": self.finished_at and self.finished_at.isoformat()}
