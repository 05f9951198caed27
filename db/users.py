"""Users: find or create by name (identity comes from the auth mode; there are no passwords here yet)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import User


def ensure_user(session: Session, name: str, *, is_admin: bool = False) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, is_admin=is_admin)
        session.add(user)
        session.flush()
    elif is_admin and not user.is_admin:
        user.is_admin = True
    return user
