"""instance: what the admin page shows about this server (database, mounts, users); nothing secret."""

from __future__ import annotations

import strawberry
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import User as UserRow
from schema.context import Info
from schema.types import User


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


@strawberry.type
class AdminQueries:
    @strawberry.field
    async def instance(self, info: Info) -> Instance:
        services = info.context.services
        return Instance(backend=services.info["backend"], database=services.info.get("database", ""),
                        auth_mode=services.auth_mode, mounts=services.info["mounts"],
                        max_image_pixels=services.max_pixels, users=await services.db.read(_users))
