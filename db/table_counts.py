"""How many rows each of the app's tables holds, for the admin page (exact counts, taken when asked)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Base


def row_counts(session: Session) -> list[tuple[str, int]]:
    """(table, rows) for every table of the models, by table name."""
    tables = sorted(Base.metadata.tables.values(), key=lambda t: t.name)
    return [(t.name, session.scalar(select(func.count()).select_from(t)) or 0) for t in tables]
