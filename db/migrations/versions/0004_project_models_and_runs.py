"""projects.model_settings (per-project model backend + label mapping), jobs.run_id / run_url (Databricks
Jobs runs)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.add_column("projects", sa.Column("model_settings", sa.JSON(), nullable=True))
    op.add_column("jobs", sa.Column("run_id", sa.String(100), nullable=True))
    op.add_column("jobs", sa.Column("run_url", sa.String(1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("run_url")
        batch.drop_column("run_id")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("model_settings")
