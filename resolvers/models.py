"""A project's model: setModelSettings (the owner picks the backend and maps its labels to classes) and
modelStatus (whether the project's — or the server's default — model answers now)."""

from __future__ import annotations

import strawberry
from sqlalchemy.orm import Session

from db import models
from db import projects as project_rows
from db.errors import DomainError
from db.members import at_least
from jobs.models.backends import NOT_CONFIGURED, LocalBackend, make_backend, serving_client, serving_state_url
from jobs.models.config import ModelConfig
from jobs.models.labelstudio import LabelStudioBackend
from jobs.models.settings import check_target, effective_config, validate
from schema.access import require
from schema.context import Info
from schema.ids import parse_id
from schema.inputs import ModelSettingsInput
from schema.projects import Project
from volumes.base import Volumes


@strawberry.type(description="The model Pre-label and Suggest use, and whether it answers its health check now.")
class ModelStatus:
    configured: bool
    protocol: str
    name: str
    url: str
    ready: bool
    message: str
    labels: list[str] = strawberry.field(default_factory=list,
                                         description="The labels the model knows, when it says (ONNX metadata).")


NOT_CHECKED = "not checked: only members who may run the model (annotators and up) see whether it answers"


async def model_status(config: ModelConfig, volumes: Volumes, check: bool) -> ModelStatus:
    """The model's status; with `check` false, an HTTP model is not called (the caller may not run it)."""
    name = config.name
    if config.path:
        try:
            backend = await make_backend(config, volumes)
        except DomainError as exc:
            return ModelStatus(configured=True, protocol="onnx", name=name, url=config.path, ready=False,
                               message=exc.message)
        names = list(backend.model.names or []) if isinstance(backend, LocalBackend) else []
        return ModelStatus(configured=True, protocol="onnx", name=name, url=config.path, ready=True,
                           message="ready", labels=names)
    if config.serving_url:
        if not check:
            return ModelStatus(configured=True, protocol="serving", name=name, url=config.serving_url,
                               ready=False, message=NOT_CHECKED)
        client = serving_client(config)
        try:
            ready, message = await client.ready(serving_state_url(config.serving_url))
        finally:
            await client.close()
        return ModelStatus(configured=True, protocol="serving", name=name, url=config.serving_url, ready=ready,
                           message=message)
    url = config.backend_url
    if not url:
        return ModelStatus(configured=False, protocol="", name=name, url="", ready=False, message=NOT_CONFIGURED)
    if not check:
        return ModelStatus(configured=True, protocol="labelstudio", name=name, url=url, ready=False,
                           message=NOT_CHECKED)
    ls_backend = LabelStudioBackend(url, config.allow)
    try:
        ready, message = await ls_backend.health()
    finally:
        await ls_backend.close()
    return ModelStatus(configured=True, protocol="labelstudio", name=name, url=url, ready=ready, message=message)


def _stored(inp: ModelSettingsInput) -> dict:
    return {"protocol": inp.protocol.value, "name": inp.name, "location": inp.location, "classes": inp.classes,
            "labelMap": {m.model_label: m.project_class or "" for m in inp.label_map or []}}


@strawberry.type
class ModelQueries:
    @strawberry.field(description="The model of the project (its own or the server's default) or, without a "
                                  "project, the server's default model; and whether it answers now.")
    async def model_status(self, info: Info, project_id: strawberry.ID | None = None) -> ModelStatus:
        services = info.context.services
        config = services.model
        may_run = info.context.user.is_admin
        if project_id is not None:
            role = await require(info, project_id, "viewer")
            may_run = at_least(role, "annotator")  # who may Suggest: whose request may make the server call out
            project = await info.context.db.read(project_rows.get_project, parse_id(project_id, "Project"))
            config = effective_config(config, project.model_settings)
        return await model_status(config, services.volumes, check=may_run)


    @strawberry.field(description="Whether the project has a model to pre-label with (its own or the server's "
                                  "default), from the settings alone: no model is loaded or called. Viewers and up.")
    async def model_configured(self, info: Info, project_id: strawberry.ID) -> bool:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        project = await info.context.db.read(project_rows.get_project, pid)
        config = effective_config(info.context.services.model, project.model_settings)
        return bool(config.path or config.serving_url or config.backend_url)


@strawberry.type
class ModelMutations:
    @strawberry.mutation(description="Sets the project's own model and label mapping (null: back to the server's "
                                     "default). Owners and admins only.")
    async def set_model_settings(self, info: Info, project_id: strawberry.ID,
                                 input: ModelSettingsInput | None = None) -> Project:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        config = info.context.services.model
        if input:  # malformed settings are told first; then where they lead, which takes a DNS lookup
            project = await info.context.db.read(project_rows.get_project, pid)
            await check_target(validate(_stored(input), list(project.classes), config), config)

        def change(s: Session) -> models.Project:
            project = project_rows.get_project(s, pid)
            settings = validate(_stored(input), list(project.classes), config) if input else None
            return project_rows.set_model_settings(s, project, settings)

        return Project.of(await info.context.db.write(change))
