"""projects.source_table: the Unity Catalog table a project's images are listed from (null: its folder is walked)

Revision ID: 0014
Revises: 0015
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("source_table", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("projects", "source_table")
