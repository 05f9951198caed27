"""samples.image_hash, duplicate_group and split: near-duplicate groups and train/validation/test splits

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("samples", sa.Column("image_hash", sa.BigInteger(), nullable=True))
    op.add_column("samples", sa.Column("duplicate_group", sa.BigInteger(), nullable=True))
    op.add_column("samples", sa.Column("split", sa.String(10), nullable=True))
    op.create_index("ix_samples_project_duplicate_group", "samples", ["project_id", "duplicate_group", "id"])
    op.create_index("ix_samples_project_split", "samples", ["project_id", "split", "id"])


def downgrade() -> None:
    op.drop_index("ix_samples_project_split", table_name="samples")
    op.drop_index("ix_samples_project_duplicate_group", table_name="samples")
    op.drop_column("samples", "split")
    op.drop_column("samples", "duplicate_group")
    op.drop_column("samples", "image_hash")
