"""instance and modelStatus: what the admin page shows about this server (database, mounts, users, model);
nothing secret."""

from __future__ import annotations

import strawberry
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.errors import DomainError
from db.models import User as UserRow
from jobs.models.backends import NOT_CONFIGURED, make_backend, serving_client, serving_state_url
from jobs.models.labelstudio import LabelStudioBackend
from schema.context import Info
from schema.types import User
from volumes.base import Volumes


@strawberry.type(description="This server: database backend and (password-free) address, mounts, users.")
class Instance:
    backend: str
    database: str
    auth_mode: str
    mounts: list[str]
    max_image_pixels: int
    users: list[User]


def _users(session: Session) -> list[User]:
    return [User(id=strawberry.ID(str(u.id)), name=u.name, is_admin=u.is_admin)
            for u in session.scalars(select(UserRow).order_by(UserRow.name))]


@strawberry.type(description="The model Pre-label and Suggest use, and whether it answers its health check now.")
class ModelStatus:
    configured: bool
    protocol: str
    name: str
    url: str
    ready: bool
    message: str


async def _model_status(config: dict, volumes: Volumes) -> ModelStatus:
    name = config.get("model_name") or "default"
    if config.get("model_path"):
        try:
            await make_backend(config, volumes)
        except DomainError as exc:
            return ModelStatus(configured=True, protocol="onnx", name=name, url=config["model_path"], ready=False,
                               message=exc.message)
        return ModelStatus(configured=True, protocol="onnx", name=name, url=config["model_path"], ready=True,
                           message="ready")
    if config.get("serving_url"):
        client = serving_client(config)
        try:
            ready, message = await client.ready(serving_state_url(config["serving_url"]))
        finally:
            await client.close()
        return ModelStatus(configured=True, protocol="serving", name=name, url=config["serving_url"], ready=ready,
                           message=message)
    url = config.get("model_backend_url") or ""
    if not url:
        return ModelStatus(configured=False, protocol="", name=name, url="", ready=False, message=NOT_CONFIGURED)
    backend = LabelStudioBackend(url)
    try:
        ready = await backend.health()
    finally:
        await backend.close()
    return ModelStatus(configured=True, protocol="labelstudio", name=name, url=url, ready=ready,
                       message="ready" if ready else f"{url}/health does not answer 200")


@strawberry.type
class AdminQueries:
    @strawberry.field
    async def instance(self, info: Info) -> Instance:
        services = info.context.services
        return Instance(backend=services.info["backend"], database=services.info.get("database", ""),
                        auth_mode=services.auth_mode, mounts=services.info["mounts"],
                        max_image_pixels=services.max_pixels, users=await services.db.read(_users))

    @strawberry.field
    async def model_status(self, info: Info) -> ModelStatus:
        return await _model_status(info.context.services.model, info.context.services.volumes)
