"""annotations and annotation_events: project_id is a denormalised copy, without a foreign key

The rows already go with their sample (sample_id cascades, and samples cascade with their project); the second
key doubled the checks of every row written, which is a third of a million-box import's time on PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Names for the baseline's unnamed constraints, so that SQLite's table rebuild can find and drop them.
NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
TABLES = ("annotations", "annotation_events")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.drop_constraint(f"{table}_project_id_fkey", table, type_="foreignkey")
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", naming_convention=NAMES,
                                  table_kwargs={"sqlite_autoincrement": True}) as batch:  # ids never reused
            batch.drop_constraint(f"fk_{table}_project_id_projects", type_="foreignkey")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(f"{table}_project_id_fkey", "projects", ["project_id"], ["id"],
                                     ondelete="CASCADE")
