"""Strawberry input types, named exactly as the GraphQL inputs."""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.enums import (
    AnnotationKind,
    ExportFormat,
    ImportFormat,
    ModelProtocol,
    OnExistingAnnotations,
    OnMissingSample,
    SampleStatus,
    TaskType,
)

InProject = Annotated[strawberry.ID | None, strawberry.argument(
    description="The project the caller shows this sample under: a sample of another project is NOT_FOUND, so a "
                "label never lands in the wrong project.")]


@strawberry.input(description="One condition of a table source's filter: the column equals the value (sent to the "
                          "warehouse as a statement parameter, never inside the SQL).")
class TableFilterInput:
    column: str
    value: str


@strawberry.input(description="A Unity Catalog table whose column lists the project's images as /Volumes/... paths.")
class SourceTableInput:
    table: str = strawberry.field(description="catalog.schema.table")
    column: str = strawberry.field(description="The column holding the image paths.")
    filter: list[TableFilterInput] | None = strawberry.field(
        default_factory=list, description="Rows are listed when every pair holds (at most 10).")


@strawberry.input
class CreateProjectInput:
    name: str
    description: str | None = ""
    task_type: TaskType
    classes: list[str]
    multi_label: bool | None = False
    source_volume: str = strawberry.field(description="The image folder; for a table project, every listed path "
                                                      "must be inside it (others are refused and counted).")
    source_table: SourceTableInput | None = strawberry.field(
        default=None, description="List the images from this table instead of walking sourceVolume (needs "
                                  "DATABRICKS_WAREHOUSE_ID).")


@strawberry.input
class UpdateProjectInput:
    name: str | None = None
    description: str | None = None
    classes: list[str] | None = None


@strawberry.input
class BoxInput:
    x: float
    y: float
    w: float
    h: float


@strawberry.input
class AnnotationInput:
    label: str
    kind: AnnotationKind
    box: BoxInput | None = None


@strawberry.input
class ImportInput:
    path: str = strawberry.field(description="A volume path readable by the app (a JSON/JSONL/zip file, or a YOLO "
                                             "folder).")
    format: ImportFormat
    on_missing_sample: OnMissingSample | None = OnMissingSample.ERROR
    on_existing_annotations: OnExistingAnnotations | None = OnExistingAnnotations.REPLACE
    dry_run: bool | None = False
    as_drafts_of: str | None = strawberry.field(
        default=None, description="A model name: the file's annotations become drafts of model:<name> (JSONL keeps "
                                  "each one's confidence) instead of the importer's labels. REPLACE then replaces "
                                  "only that model's earlier drafts; labels and other models' drafts stay.")


@strawberry.input
class ExportInput:
    format: ExportFormat
    destination: str = strawberry.field(description="A volume folder; a new sub-folder <name>_v<version>_<timestamp> "
                                                    "is created inside it.")
    include_images: bool | None = True
    accepted_only: bool | None = strawberry.field(default=False, description="Only samples a reviewer accepted "
                                                                            "(and not changed since).")
    every_submission: bool | None = strawberry.field(
        default=False, description="Consensus labelling: instead of each image's labels (its consensus), every "
                                   "labeller's submission, each annotation with its `annotator`. COCO and JSONL only.")


@strawberry.input
class PreannotateInput:
    statuses: list[SampleStatus] | None = strawberry.field(
        default_factory=lambda: [SampleStatus.UNLABELED],
        description="Only samples in these statuses are sent to the model.")
    max_samples: int | None = None
    min_confidence: float | None = 0.5


@strawberry.input(description="A model label and the project class it becomes; no class drops the label.")
class LabelMappingInput:
    model_label: str
    project_class: str | None = None


@strawberry.input(description="A project's own model. location: the .onnx volume path, the serving endpoint name (or "
                              "its invocation URL on the workspace) or the Label Studio ML backend URL.")
class ModelSettingsInput:
    protocol: ModelProtocol
    name: str
    location: str
    classes: list[str] | None = strawberry.field(default=None, description="ONNX only: class names when the "
                                                                             "model's metadata has none.")
    label_map: list[LabelMappingInput] | None = None
