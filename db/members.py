"""Project members and their roles: who may see and do what in a project, looked up in one statement.

A project, sample or job that exists but whose project the user is not a member of is reported exactly like one
that does not exist, so ids of other teams' projects reveal nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, func, select
from sqlalchemy.orm import Session

from db.errors import Conflict, Invalid, NotFound
from db.models import Job, Project, ProjectMember, Sample, User

ROLES = ("viewer", "annotator", "reviewer", "owner")  # each role can do everything the ones before it can
RANK = {role: i for i, role in enumerate(ROLES)}


def at_least(role: str | None, needed: str) -> bool:
    return role is not None and RANK[role] >= RANK[needed]


def check_role(role: str) -> str:
    if role not in RANK:
        raise Invalid(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.", field="role")
    return role


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    role: str
    is_admin: bool = False
    deactivated_at: datetime | None = None


def project_role(session: Session, user_id: int, project_id: int) -> tuple[bool, str | None]:
    """(the project exists, the user's role in it or None)."""
    row = session.execute(
        select(Project.id, ProjectMember.role).outerjoin(
            ProjectMember, and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == user_id))
        .where(Project.id == project_id)).first()
    return (row is not None, row[1] if row else None)


# Built once: on the labelling hot path, building the statement would cost more than running it.
_S, _M = Sample.__table__, ProjectMember.__table__
_SAMPLE_ROLE = select(_S.c.project_id, _M.c.role).select_from(_S.outerjoin(
    _M, and_(_M.c.project_id == _S.c.project_id, _M.c.user_id == bindparam("uid")))).where(_S.c.id == bindparam("sid"))


def sample_role(session: Session, user_id: int, sample_id: int) -> tuple[int | None, str | None]:
    """(the sample's project id or None if there is no such sample, the user's role in that project)."""
    row = session.connection().execute(_SAMPLE_ROLE, {"uid": user_id, "sid": sample_id}).first()
    return (row[0], row[1]) if row else (None, None)


def sample_roles(session: Session, user_id: int, sample_ids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
    """sample id -> (project id, the user's role) for the samples that exist."""
    rows = session.execute(
        select(Sample.id, Sample.project_id, ProjectMember.role).outerjoin(
            ProjectMember, and_(ProjectMember.project_id == Sample.project_id, ProjectMember.user_id == user_id))
        .where(Sample.id.in_(list(sample_ids))))
    return {sid: (pid, role) for sid, pid, role in rows}


def job_role(session: Session, user_id: int, job_id: int) -> tuple[bool, int | None, str | None]:
    """(the job exists, its project id, the user's role in that project)."""
    row = session.execute(
        select(Job.id, Job.project_id, ProjectMember.role).outerjoin(
            ProjectMember, and_(ProjectMember.project_id == Job.project_id, ProjectMember.user_id == user_id))
        .where(Job.id == job_id)).first()
    return (True, row[1], row[2]) if row else (False, None, None)


def roles_of(session: Session, user_id: int) -> dict[int, str]:
    """project id -> role, for every project the user is a member of."""
    rows = session.execute(select(ProjectMember.project_id, ProjectMember.role).where(
        ProjectMember.user_id == user_id))
    return dict(rows.all())


def owns_any(session: Session, user_id: int) -> bool:
    return session.scalar(select(ProjectMember.project_id).where(
        ProjectMember.user_id == user_id, ProjectMember.role == "owner").limit(1)) is not None


def list_members(session: Session, project_id: int) -> list[Member]:
    rows = session.execute(
        select(User.id, User.name, ProjectMember.role, User.is_admin, User.deactivated_at)
        .join(User, User.id == ProjectMember.user_id).where(ProjectMember.project_id == project_id)
        .order_by(User.name))
    return [Member(*row) for row in rows]


def add_owner(session: Session, project_id: int, user_id: int) -> None:
    """The creator of a project (or of a new version) owns it."""
    session.merge(ProjectMember(project_id=project_id, user_id=user_id, role="owner"))
    session.flush()


def copy_members(session: Session, source_id: int, target_id: int) -> None:
    """A new version of a project starts with the members of the version it was cloned from."""
    for m in session.scalars(select(ProjectMember).where(ProjectMember.project_id == source_id)):
        session.merge(ProjectMember(project_id=target_id, user_id=m.user_id, role=m.role))
    session.flush()


def _owners(session: Session, project_id: int) -> int:
    return session.scalar(select(func.count()).select_from(ProjectMember).where(
        ProjectMember.project_id == project_id, ProjectMember.role == "owner")) or 0


def set_member(session: Session, project_id: int, user: User, role: str) -> Member:
    """Add the user to the project with this role, or change their role. The last owner cannot step down."""
    check_role(role)
    if session.get(Project, project_id) is None:
        raise NotFound(f"Project {project_id} does not exist.")
    current = session.get(ProjectMember, (project_id, user.id))
    if current is None:
        session.add(ProjectMember(project_id=project_id, user_id=user.id, role=role))
    else:
        if current.role == "owner" and role != "owner" and _owners(session, project_id) == 1:
            raise Conflict(f"{user.name} is the project's only owner; make someone else owner first.")
        current.role = role
    session.flush()
    return Member(user.id, user.name, role, user.is_admin, user.deactivated_at)


def remove_member(session: Session, project_id: int, user: User) -> bool:
    """Remove the user from the project (False if they were not a member). The last owner cannot leave."""
    current = session.get(ProjectMember, (project_id, user.id))
    if current is None:
        return False
    if current.role == "owner" and _owners(session, project_id) == 1:
        raise Conflict(f"{user.name} is the project's only owner; make someone else owner first.")
    session.execute(delete(ProjectMember).where(ProjectMember.project_id == project_id,
                                                ProjectMember.user_id == user.id))
    return True
