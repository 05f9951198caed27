"""samples (project_id, id): a project's samples in id order without a sort, for keyset pages with no filter (the
sample stream reads a million in batches; without it SQLite sorted the whole project for every batch)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_samples_project_id", "samples", ["project_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_samples_project_id", table_name="samples")
