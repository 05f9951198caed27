"""Alembic environment: runs migrations on the sync URL handed in by db.migrate (never reads env vars)."""

from alembic import context
from sqlalchemy import create_engine, pool

from db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
connectable = config.attributes.get("connection")


def run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connectable is not None:
    run(connectable)
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
