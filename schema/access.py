"""The one way resolvers and HTTP handlers check what the caller may do: `await require(info, project_id, role)`.

Roles rank viewer < annotator < reviewer < owner. A project (or a sample or job of a project) the caller is not a
member of answers NOT_FOUND with the same message as an id that does not exist; a member whose role is too low gets
FORBIDDEN. Instance admins (and the single user of AUTH_MODE=local) pass every check without a database read.
A subscription outlives the check it started with, so it asks `resolvers.still_allowed` again before it emits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from db import members
from db.engine import Database
from db.errors import Forbidden, NotFound, unknown_ids
from schema.ids import parse_id, parse_ids
from schema.services import CurrentUser

if TYPE_CHECKING:
    from schema.context import Info


class Access:
    """One caller's permissions, each looked up once per request (a GraphQL operation or an HTTP request)."""

    def __init__(self, db: Database, user: CurrentUser) -> None:
        self.db = db
        self.user = user
        self._roles: dict[int, str | None] = {}  # project id -> role (None: not a member, or no such project)
        self._all: dict[int, str] | None = None

    @staticmethod
    def _check(role: str | None, needed: str, missing: str) -> str:
        if role is None:
            raise NotFound(missing)
        if not members.at_least(role, needed):
            raise Forbidden(f"This needs the {needed} role in the project (yours is {role}).", role=role,
                            needed=needed)
        return role

    async def project(self, project_id: int, needed: str) -> str:
        """The caller's role in the project, if at least `needed`."""
        if self.user.is_admin:
            return "owner"
        if project_id not in self._roles:
            exists, role = await self.db.read(members.project_role, self.user.id, project_id)
            self._roles[project_id] = role if exists else None
        return self._check(self._roles[project_id], needed, f"Project {project_id} does not exist.")

    async def sample(self, sample_id: int, needed: str, in_project: int | None = None) -> str:
        """The caller's role in the sample's project, if at least `needed`, in one statement (a labelling save
        pays one indexed read). With `in_project`, a sample of any other project is NOT_FOUND: a client that shows
        a sample under a project can never write it into another one."""
        missing = f"Sample {sample_id} does not exist."
        if self.user.is_admin and in_project is None:
            return "owner"
        project_id, role = await self.db.read(members.sample_role, self.user.id, sample_id)
        if in_project is not None and project_id != in_project:
            raise NotFound(f"Sample {sample_id} is not in project {in_project}." if project_id is not None
                           and (self.user.is_admin or role is not None) else missing)
        if self.user.is_admin:
            return "owner"
        if project_id is not None:
            self._roles[project_id] = role
        return self._check(role, needed, missing)

    async def samples(self, sample_ids: Sequence[int], needed: str, malformed: Sequence[str] = ()) -> None:
        """Every sample at `needed` or more; ids of samples that do not exist or that the caller cannot see (and
        `malformed` values) are named together in one VALIDATION error."""
        found = await self.db.read(members.sample_roles, self.user.id, sample_ids) if sample_ids else {}
        unknown: list[int | str] = [sid for sid in sample_ids if sid not in found
                                    or (not self.user.is_admin and found[sid][1] is None)]
        if unknown or malformed:
            raise unknown_ids("sample", [*unknown, *malformed])
        if not self.user.is_admin:
            for sid in sample_ids:
                self._check(found[sid][1], needed, f"Sample {sid} does not exist.")

    async def job(self, job_id: int, needed: str) -> None:
        """Jobs belong to their project; a job of no project is the admins'."""
        if self.user.is_admin:
            return
        _, project_id, role = await self.db.read(members.job_role, self.user.id, job_id)
        self._check(role if project_id is not None else None, needed, f"Job {job_id} does not exist.")

    async def roles(self) -> dict[int, str] | None:
        """project id -> role for every project the caller belongs to; None for admins (every project)."""
        if self.user.is_admin:
            return None
        if self._all is None:
            self._all = await self.db.read(members.roles_of, self.user.id)
        return self._all

    async def sees(self, project_id: int) -> bool:
        roles = await self.roles()
        return roles is None or project_id in roles

    def admin(self, what: str) -> None:
        if not self.user.is_admin:
            raise Forbidden(f"{what} is for instance admins.")


def _key(value: int | str, what: str) -> int:
    return value if isinstance(value, int) else parse_id(value, what)


async def require(info: Info, project_id: int | str, role: str) -> str:
    """The caller's role in the project if it is at least `role` (viewer|annotator|reviewer|owner);
    NOT_FOUND for a non-member or an unknown id, FORBIDDEN for a lower role."""
    return await info.context.access.project(_key(project_id, "Project"), role)


async def require_sample(info: Info, sample_id: int | str, role: str, in_project: int | str | None = None) -> str:
    """The caller's role in the sample's project (owner for admins), if at least `role`; with `in_project`, the
    sample must belong to that project (NOT_FOUND otherwise)."""
    project = None if in_project is None else _key(in_project, "Project")
    return await info.context.access.sample(_key(sample_id, "Sample"), role, project)


async def require_samples(info: Info, sample_ids: Sequence[str], role: str) -> list[int]:
    """The keys of a bulk request's samples, each at `role` or more (schema.ids.parse_ids: at most MAX_IDS;
    VALIDATION naming the unknown ones)."""
    keys, malformed = parse_ids(sample_ids, "sample")
    await info.context.access.samples(keys, role, malformed)
    return keys


async def require_job(info: Info, job_id: int | str, role: str) -> None:
    await info.context.access.job(_key(job_id, "Job"), role)


def require_admin(info: Info, what: str) -> None:
    info.context.access.admin(what)
