"""samples: an index for the active-learning order (least confident model draft first)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_samples_project_confidence", "samples",
                    ["project_id", sa.text("coalesce(min_confidence, 2.0)"), "id"])


def downgrade() -> None:
    op.drop_index("ix_samples_project_confidence", table_name="samples")
