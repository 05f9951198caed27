"""consensus labelling: projects.consensus (overlap, thresholds), submissions per labeller, each image's agreement
and the projects' agreement sums

Revision ID: 0015
Revises: 0016
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("projects", sa.Column("consensus", sa.JSON(), nullable=True))
    op.create_table(
        "submissions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("sample_id", Id, sa.ForeignKey("samples.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user", sa.String(320), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("no_objects", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("sample_id", "user", name="uq_submissions_sample_user"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_submissions_project_sample", "submissions", ["project_id", "sample_id"])
    op.create_table(
        "sample_agreements",
        sa.Column("sample_id", Id, sa.ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("raters", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sample_agreements_queue", "sample_agreements", ["project_id", "state", "score", "sample_id"])
    op.create_table(
        "agreement_totals",
        sa.Column("project_id", Id, sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("total", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agreement_totals")
    op.drop_index("ix_sample_agreements_queue", table_name="sample_agreements")
    op.drop_table("sample_agreements")
    op.drop_index("ix_submissions_project_sample", table_name="submissions")
    op.drop_table("submissions")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("consensus")
