"""Users: find or create by name, list, instance-admin flag, deactivation. Passwords, sessions and tokens are in
db.auth."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db import auth
from db.errors import Conflict, Invalid, NotFound
from db.models import Sample, User, utcnow


def clean_user_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid("A user needs a name.", field="name")
    if len(name) > 320 or any(c.isspace() or not c.isprintable() for c in name):
        raise Invalid("A user name is at most 320 characters, without spaces or control characters.", field="name")
    return name


def ensure_user(session: Session, name: str, *, is_admin: bool = False) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, is_admin=is_admin)
        session.add(user)
        session.flush()
    elif is_admin and not user.is_admin:
        user.is_admin = True
    return user


def see_user(session: Session, name: str, *, is_admin: bool) -> User:
    """A user named by the platform (AUTH_MODE=databricks): created on first sight; the admin flag follows the
    ADMIN_USERS setting both ways."""
    user = ensure_user(session, clean_user_name(name), is_admin=is_admin)
    if user.is_admin != is_admin:
        user.is_admin = is_admin
        session.flush()
    return user


def create_user(session: Session, name: str, *, is_admin: bool = False, password_hash: str | None = None) -> User:
    name = clean_user_name(name)
    if find_user(session, name) is not None:
        raise Conflict(f"A user named {name!r} already exists.", field="name")
    user = User(name=name, is_admin=is_admin, password_hash=password_hash)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name.strip()))


def get_user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise NotFound(f"There is no user named {name.strip()!r}.", field="userName")
    return user


def list_users(session: Session, search: str | None = None, first: int = 1000, *,
               active_only: bool = False) -> list[User]:
    stmt = select(User).order_by(User.name).limit(max(0, min(first, 1000)))
    if active_only:
        stmt = stmt.where(User.deactivated_at.is_(None))
    if search:
        needle = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(User.name).like(f"%{needle}%", escape="\\"))
    return list(session.scalars(stmt))


def set_admin(session: Session, name: str, is_admin: bool) -> User:
    user = get_user(session, name)
    user.is_admin = is_admin
    session.flush()
    return user


def set_active(session: Session, name: str, active: bool) -> User:
    """Deactivating keeps the user's name on everything they did and their memberships (for a reactivation), and
    at once ends their browser sessions, revokes their API tokens and hands their leased samples back to the
    queue. Reactivating lets them sign in again with their password; their old tokens stay revoked."""
    user = get_user(session, name)
    if active:
        user.deactivated_at = None
    elif user.deactivated_at is None:
        user.deactivated_at = utcnow()
        auth.end_access(session, user.id)
        session.execute(update(Sample).where(Sample.locked_by == user.name)
                        .values(locked_by=None, lock_expires_at=None))
    session.flush()
    return user
