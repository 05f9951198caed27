"""key maps: a project owner's default class keys (projects.key_map) and each user's labelling settings per project
(their own key map, and where a save goes next)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("projects", sa.Column("key_map", sa.JSON(), nullable=True))
    op.create_table(
        "label_settings",
        sa.Column("project_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("key_map", sa.JSON(), nullable=True),
        sa.Column("after_save", sa.String(20), nullable=False, server_default="ORDER"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("label_settings")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("key_map")
