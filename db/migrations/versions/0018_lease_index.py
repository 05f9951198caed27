"""samples (project_id, locked_by, id) where leased: a claim first looks for the caller's own lease, which without
it read every sample of the project (670 ms at 10,000,000 samples on PostgreSQL); only leased rows are indexed

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

LEASED = sa.text("locked_by IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_samples_project_lease", "samples", ["project_id", "locked_by", "id"],
                    postgresql_where=LEASED, sqlite_where=LEASED)


def downgrade() -> None:
    op.drop_index("ix_samples_project_lease", table_name="samples")
