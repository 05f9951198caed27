"""What pre-labelling does with a project's model wherever it runs (the job's own process or a Spark executor): the
model made ready, its predictions kept or dropped, and the tally of what happened."""

from __future__ import annotations

from typing import Any, NamedTuple

from db.label_plans import KIND_FOR_TASK
from db.models import Project
from db.records import AnnotationRecord
from jobs.models import Prediction
from jobs.models.backends import Backend, ImageRef, make_backend
from jobs.models.config import ModelConfig
from jobs.models.labelstudio import LsProject
from jobs.models.settings import class_lookup, effective_config
from volumes.base import Volumes

BATCH = 8  # images per model request
MAX_FAILURES = 100  # reasons kept in a job's result


class Tally:
    def __init__(self) -> None:
        self.succeeded = self.failed = self.drafts = self.unknown = self.below = self.wrong_kind = 0
        self.failures: list[dict[str, Any]] = []

    def fail(self, sample_id: int, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES:
            self.failures.append({"sampleId": str(sample_id), "reason": reason})

    def counts(self) -> dict[str, Any]:
        """The tally as plain values (what a Spark partition sends back to the driver)."""
        return {"succeeded": self.succeeded, "failed": self.failed, "drafts": self.drafts,
                "droppedUnknownLabel": self.unknown, "droppedWrongKind": self.wrong_kind,
                "belowThreshold": self.below, "failures": self.failures}

    def add(self, counts: dict[str, Any]) -> None:
        """Another tally's counts (a finished partition's) added to this one."""
        self.succeeded += counts["succeeded"]
        self.failed += counts["failed"]
        self.drafts += counts["drafts"]
        self.unknown += counts["droppedUnknownLabel"]
        self.wrong_kind += counts["droppedWrongKind"]
        self.below += counts["belowThreshold"]
        self.failures.extend(counts["failures"][:MAX_FAILURES - len(self.failures)])


def keep(predictions: list[Prediction], classes: dict[str, str], kind: str, min_confidence: float, author: str,
         tally: Tally) -> list[AnnotationRecord]:
    """Predictions mapped onto the project's classes by `classes` (see settings.class_lookup); unknown or
    unmapped labels, other kinds and confidences under the threshold are dropped and counted."""
    out = []
    for p in predictions:
        label = classes.get(p.label.strip().lower())
        if not label:
            tally.unknown += 1
        elif p.kind != kind:
            tally.wrong_kind += 1
        elif p.confidence is not None and p.confidence < min_confidence:
            tally.below += 1
        else:
            out.append(AnnotationRecord(label, p.kind, p.box, p.confidence, True, author))
    return out


def image_ref(public_url: str, sample: Any) -> ImageRef:
    return ImageRef(sample.id, sample.path, f"{public_url.rstrip('/')}/media/samples/{sample.id}/image")


class ProjectModel(NamedTuple):
    backend: Backend
    author: str  # model:<name>, the drafts' author
    classes: dict[str, str]  # model label (lower case) -> project class, "" = dropped
    kind: str


async def project_model(config: ModelConfig, volumes: Volumes, project: Project) -> ProjectModel:
    """The project's own model (or the instance default), ready to predict."""
    config = effective_config(config, project.model_settings)
    ls_project = LsProject.of(project.id, project.created_at.timestamp(), project.task_type, project.classes)
    backend = await make_backend(config, volumes, ls_project, tuple(project.classes))
    return ProjectModel(backend, config.author, class_lookup(project.classes, config.label_map),
                        KIND_FOR_TASK[project.task_type])
