"""samples.missing_since: when a rescan stopped finding the sample's file (null: present)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("samples", sa.Column("missing_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("samples", "missing_since")
