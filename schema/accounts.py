"""Users and project members, and the members field of a project."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from db import members as member_rows
from schema.access import require
from schema.context import Info
from schema.enums import (
    ProjectRole,
)


@strawberry.type
class User:
    id: strawberry.ID
    name: str
    is_admin: bool
    deactivated_at: datetime | None = strawberry.field(
        default=None, description="When an instance admin deactivated the account (it cannot sign in); null: active.")

    @staticmethod
    def of(u: Any) -> User:
        """From anything with id, name and is_admin (a users row, the current user)."""
        return User(id=strawberry.ID(str(u.id)), name=u.name, is_admin=u.is_admin,
                    deactivated_at=getattr(u, "deactivated_at", None))


@strawberry.type(description="A user's role in a project.")
class ProjectMember:
    user: User
    role: ProjectRole


def member_of(m: member_rows.Member) -> ProjectMember:
    return ProjectMember(user=User(id=strawberry.ID(str(m.user_id)), name=m.name, is_admin=m.is_admin,
                                   deactivated_at=m.deactivated_at), role=ProjectRole(m.role))


async def project_members(info: Info, project_id: int) -> list[ProjectMember]:
    await require(info, project_id, "viewer")
    return [member_of(m) for m in await info.context.db.read(member_rows.list_members, project_id)]
