"""Users: find or create by name or (AUTH_MODE=databricks) by the platform's stable user id, list, instance-admin
flag, deactivation. Passwords, sessions and tokens are in db.auth."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import auth
from db.errors import Conflict, Invalid, NotFound
from db.models import Sample, User, utcnow

NAME_LENGTH = 320  # the column's


def clean_user_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid("A user needs a name.", field="name")
    if len(name) > NAME_LENGTH or any(c.isspace() or not c.isprintable() for c in name):
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


def normal_email(email: str) -> str:
    """One spelling per address, so that case or stray spaces never make two accounts (or two admins)."""
    return email.strip().casefold()


def see_platform_user(session: Session, platform_id: str, email: str | None, name: str, *, is_admin: bool) -> User:
    """The user the Databricks Apps proxy names, keyed on the identity provider's stable id: found by it; else the
    row with their e-mail and no id yet (added as a member before their first visit, or from before ids were kept),
    which they claim; else created, named `name` (their e-mail, else another name the platform gave). The e-mail
    follows the header, and whoever held it before no longer does (addresses get reused: a new holder inherits
    nothing). The admin flag follows the caller's decision both ways."""
    user = session.scalar(select(User).where(User.platform_id == platform_id))
    if user is None and email:
        user = session.scalar(select(User).where(User.platform_id.is_(None), User.email == email)
                              .order_by(User.id).limit(1))
        if user is not None:
            user.platform_id = platform_id
    if user is None:
        user = _create_platform_user(session, platform_id, email, name)
    if email and user.email != email:
        session.execute(update(User).where(User.email == email, User.id != user.id).values(email=None))
        user.email = email
    user.is_admin = is_admin
    session.flush()
    return user


def _create_platform_user(session: Session, platform_id: str, email: str | None, name: str) -> User:
    """Named `name`, or `name#2`… when someone (an address's previous holder) has it; if this user's other first
    request created them meanwhile, that row."""
    for _ in range(3):
        user = User(name=_free_name(session, name), platform_id=platform_id, email=email)
        try:
            with session.begin_nested():
                session.add(user)
        except IntegrityError:  # a concurrent insert took the id or the name
            existing = session.scalar(select(User).where(User.platform_id == platform_id))
            if existing is not None:
                return existing
            continue
        return user
    raise Conflict(f"Could not create a user named {name!r}: others are being created under that name right now; "
                   "try again.")


def _free_name(session: Session, name: str) -> str:
    """`name`, or `name#2`, `name#3`… while it is taken (by an address's previous holder)."""
    candidate, n = name, 1
    while find_user(session, candidate) is not None:
        n += 1
        candidate = f"{name[:NAME_LENGTH - 12]}#{n}"
    return candidate


def invite_user(session: Session, name: str, *, is_admin: bool) -> User:
    """A project member named in AUTH_MODE=databricks, who may not have opened the app yet: the user whose e-mail
    it is now, else the user of that name; an e-mail nobody has makes a user without an id (an instance admin if
    is_admin), whom the first request with that e-mail claims (see_platform_user)."""
    name = clean_user_name(name)
    email = normal_email(name)
    user = session.scalar(select(User).where(User.email == email).order_by(User.id).limit(1)) or find_user(
        session, name) or find_user(session, email)
    if user is None:
        if "@" not in email:
            raise NotFound(f"There is no user named {name!r}; add people by their e-mail address.", field="userName")
        user = User(name=_free_name(session, email), email=email, is_admin=is_admin)
        session.add(user)
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
