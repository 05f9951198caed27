"""label_error_suspects: likely label errors from the latest model evaluation, with reviewers' verdicts

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "label_error_suspects",
        sa.Column("sample_id", Id, sa.ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("model", sa.String(320), nullable=False),
        sa.Column("labels_key", sa.String(40), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=True),
        sa.Column("judged_by", sa.String(320), nullable=True),
        sa.Column("judged_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_label_error_suspects_queue", "label_error_suspects",
                    ["project_id", "verdict", "score", "sample_id"])


def downgrade() -> None:
    op.drop_index("ix_label_error_suspects_queue", table_name="label_error_suspects")
    op.drop_table("label_error_suspects")
