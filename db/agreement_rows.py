"""A batch of images' agreement rows (sample_agreements) written with the driver, not a statement per row through
the ORM: on PostgreSQL the new rows by COPY (its text written here: a float's repr reads back as the same float)
and the others by the driver's executemany (pipelined), on SQLite both by executemany. Each detail is serialised as
JSON text, as the JSON column serialises it (orjson)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from db.engine import dialect_of
from db.models import SampleAgreement

Row = tuple[int, float, str, int, str]  # sample_id, score, state, raters, detail (JSON text)

_COLUMNS = "sample_id, score, state, raters, detail, project_id, updated_at"
_PG_COPY = f"COPY sample_agreements ({_COLUMNS}) FROM STDIN"
_PG_UPDATE = "UPDATE sample_agreements SET score = %s, state = %s, raters = %s, detail = %s WHERE sample_id = %s"
_SQLITE_INSERT = f"INSERT INTO sample_agreements ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_SQLITE_UPDATE = "UPDATE sample_agreements SET score = ?, state = ?, raters = ?, detail = ? WHERE sample_id = ?"


def _copy_text(value: str) -> str:
    """A value in COPY's text format: compact JSON has no tab or line break of its own, only backslashes."""
    return value.replace("\\", "\\\\")


def write(session: Session, project_id: int, now: datetime, inserts: Sequence[Row], updates: Sequence[Row]) -> None:
    """Insert the new rows (updated at `now`) and update the others' score, state, raters and detail."""
    conn = session.connection()
    postgres = dialect_of(session) == "postgresql"
    if inserts and postgres:
        driver = conn.connection.driver_connection
        assert driver is not None
        tail = f"\t{project_id}\t{now.isoformat()}\n"
        with driver.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
            copy.write("".join(f"{sid}\t{score!r}\t{state}\t{raters}\t{_copy_text(detail)}{tail}"
                               for sid, score, state, raters, detail in inserts))
    elif inserts:
        column = SampleAgreement.__table__.c.updated_at.type.dialect_impl(conn.dialect)
        stamp = column.bind_processor(conn.dialect)  # the text SQLAlchemy stores a datetime as
        at = stamp(now) if stamp is not None else now
        conn.exec_driver_sql(_SQLITE_INSERT, [(sid, score, state, raters, detail, project_id, at)
                                              for sid, score, state, raters, detail in inserts])
    if updates:
        conn.exec_driver_sql(_PG_UPDATE if postgres else _SQLITE_UPDATE,
                             [(score, state, raters, detail, sid)
                              for sid, score, state, raters, detail in updates])
