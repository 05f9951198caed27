"""Strawberry input types, named exactly as the GraphQL inputs."""

from __future__ import annotations

import strawberry

from schema.enums import AnnotationKind, TaskType


@strawberry.input
class CreateProjectInput:
    name: str
    description: str | None = ""
    task_type: TaskType
    classes: list[str]
    multi_label: bool | None = False
    source_volume: str


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
