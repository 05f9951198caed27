"""Model evaluation: start the EVALUATE job for a model's drafts, and read the latest stored evaluation (the job, whose
result holds the numbers; README "Model evaluation" describes its fields)."""

from __future__ import annotations

import strawberry

from db import evaluation
from schema.access import require
from schema.context import Info
from schema.ids import parse_id
from schema.jobs import Job


@strawberry.type
class EvaluationQueries:
    @strawberry.field(description="The project's latest successful EVALUATE job (null before the first): its result "
                                  "is the evaluation. Viewers.")
    async def model_evaluation(self, info: Info, project_id: strawberry.ID) -> Job | None:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        job = await info.context.db.read(evaluation.latest_evaluation, pid)
        return Job.of(job) if job is not None else None


@strawberry.type
class EvaluationMutations:
    @strawberry.mutation(description="Scores a model's drafts on the labelled images against their labels as an "
                                     "EVALUATE job (model: its name, as in model:<name>; by default the model with "
                                     "most drafts there). Detection: COCO AP@[.5:.95], AP50, AP75, by area, per-class "
                                     "precision, recall, F1 and AP with PR curves, and an IoU-matched confusion "
                                     "matrix; classification: accuracy, per-class precision, recall and F1 and a "
                                     "confusion matrix. Annotators; CONFLICT while one runs.")
    async def evaluate_model(self, info: Info, project_id: strawberry.ID, model: str | None = None) -> Job:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "annotator")
        job = await info.context.db.write(evaluation.queue_evaluation, pid, model, info.context.user.name)
        return Job.of(job)
