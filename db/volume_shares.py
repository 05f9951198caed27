"""Volume shares: the volume paths an instance admin shared with a user, and what a user's reach is made of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.engine import rowcount
from db.errors import NotFound
from db.models import Project, ProjectMember, User, VolumeShare


@dataclass(frozen=True)
class Share:
    id: int
    path: str
    user_id: int
    user_name: str
    user_is_admin: bool
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Reachable:
    """What a user (not an instance admin) reaches besides their projects' own areas: the paths shared with them
    and the image folders of the projects they own (project id -> source folder)."""

    shared: list[str]
    owned_sources: dict[int, str]


def _select_shares() -> Select[int, str, int, str, bool, str, datetime]:
    return (select(VolumeShare.id, VolumeShare.path, User.id, User.name, User.is_admin, VolumeShare.created_by,
                   VolumeShare.created_at)
            .join(User, User.id == VolumeShare.user_id).order_by(VolumeShare.path, User.name))


def list_shares(session: Session, user_id: int | None = None) -> list[Share]:
    """Every share (or one user's), by path then user name."""
    stmt = _select_shares()
    if user_id is not None:
        stmt = stmt.where(VolumeShare.user_id == user_id)
    return [Share(*row) for row in session.execute(stmt)]


def share(session: Session, user_id: int, path: str, created_by: str) -> Share:
    """Shares the (normalised) path with the user; sharing it again changes nothing and answers the same share."""
    if session.get(User, user_id) is None:
        raise NotFound(f"User {user_id} does not exist.", field="userId")
    existing = session.scalar(select(VolumeShare.id).where(VolumeShare.user_id == user_id, VolumeShare.path == path))
    if existing is None:
        try:
            with session.begin_nested():  # a concurrent identical share wins the unique key: then it is the one
                session.add(VolumeShare(user_id=user_id, path=path, created_by=created_by))
        except IntegrityError:
            pass
    row = session.execute(_select_shares().where(VolumeShare.user_id == user_id, VolumeShare.path == path)).one()
    return Share(*row)


def unshare(session: Session, user_id: int, path: str) -> bool:
    """Takes the share back; False if that path was not shared with that user."""
    gone = session.execute(delete(VolumeShare).where(VolumeShare.user_id == user_id, VolumeShare.path == path))
    return bool(rowcount(gone))


def reachable(session: Session, user_id: int) -> Reachable:
    shared = session.scalars(select(VolumeShare.path).where(VolumeShare.user_id == user_id))
    owned = session.execute(
        select(Project.id, Project.source_volume).join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id == user_id, ProjectMember.role == "owner"))
    return Reachable(shared=list(shared), owned_sources={pid: src for pid, src in owned})

