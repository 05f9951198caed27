"""annotations and annotation_events: project_id is a denormalised copy, without a foreign key

The rows already go with their sample (sample_id cascades, and samples cascade with their project); the second
key doubled the checks of every row written, which is a third of a million-box import's time on PostgreSQL.
On SQLite the key stays: dropping it means rebuilding both tables, and the rebuilt tables measurably slowed the
save -> stats event path (p99 50 -> 100+ ms) for a check that costs SQLite little.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("annotations", "annotation_events")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.drop_constraint(f"{table}_project_id_fkey", table, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.create_foreign_key(f"{table}_project_id_fkey", table, "projects", ["project_id"], ["id"],
                                  ondelete="CASCADE")
