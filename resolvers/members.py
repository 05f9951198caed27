"""Project members by user name: add or change a role, remove (owners); and the users list to pick from."""

from __future__ import annotations

import strawberry
from sqlalchemy.orm import Session

from db import members as member_rows
from db import users as user_rows
from db.errors import Forbidden
from schema.access import require
from schema.accounts import ProjectMember, User, member_of
from schema.context import Info
from schema.enums import ProjectRole
from schema.ids import parse_id


@strawberry.type
class MemberQueries:
    @strawberry.field(description="Active users whose name contains `search` (any case), to add as project "
                                  "members; for instance admins and project owners.")
    async def users(self, info: Info, search: str | None = None, first: int | None = 20) -> list[User]:
        user = info.context.user
        if not user.is_admin and not await info.context.db.read(member_rows.owns_any, user.id):
            raise Forbidden("The users list is for instance admins and project owners.")
        rows = await info.context.db.read(user_rows.list_users, search, 20 if first is None else first,
                                          active_only=True)
        return [User.of(u) for u in rows]


@strawberry.type
class MemberMutations:
    @strawberry.mutation(description="Adds the named user to the project with this role, or changes their role "
                                     "(owners only). The last owner cannot step down.")
    async def set_project_member(self, info: Info, project_id: strawberry.ID, user_name: str,
                                 role: ProjectRole) -> ProjectMember:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        services = info.context.services

        def change(s: Session) -> member_rows.Member:
            if services.auth_mode == "databricks":  # workspace users may not have opened the app yet
                target = user_rows.invite_user(s, user_name,
                                               is_admin=user_rows.normal_email(user_name) in services.admin_users)
            else:
                target = user_rows.get_user(s, user_name)
            return member_rows.set_member(s, pid, target, role.value)

        return member_of(await info.context.db.write(change))

    @strawberry.mutation(description="Removes the named user from the project (owners only); false if they were "
                                     "not a member.")
    async def remove_project_member(self, info: Info, project_id: strawberry.ID, user_name: str) -> bool:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")

        def remove(s: Session) -> bool:
            return member_rows.remove_member(s, pid, user_rows.get_user(s, user_name))

        return await info.context.db.write(remove)
