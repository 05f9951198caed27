"""users.password_hash, user_sessions and api_tokens (AUTH_MODE=token), project_members by user, and the review
state of samples (review_status / reviewed_by / reviewed_at / review_comment) with annotation_events.comment

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.String(255), nullable=True))
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(64), nullable=False),  # sha256 of the cookie value; the value is never stored
        sa.Column("user_id", Id, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_index("ix_project_members_user_id", "project_members", ["user_id", "project_id"])
    op.add_column("samples", sa.Column("review_status", sa.String(20), nullable=False, server_default="NONE"))
    op.add_column("samples", sa.Column("reviewed_by", sa.String(320), nullable=True))
    op.add_column("samples", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("samples", sa.Column("review_comment", sa.Text(), nullable=True))
    op.create_index("ix_samples_project_review_id", "samples", ["project_id", "review_status", "id"])
    op.add_column("annotation_events", sa.Column("comment", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("annotation_events") as batch:
        batch.drop_column("comment")
    op.drop_index("ix_samples_project_review_id", table_name="samples")
    # SQLite's batch mode rebuilds the table from what it can reflect, which leaves out 0003's expression index:
    # drop it first and build it again after.
    op.drop_index("ix_samples_project_confidence", table_name="samples")
    with op.batch_alter_table("samples") as batch:
        for column in ("review_comment", "reviewed_at", "reviewed_by", "review_status"):
            batch.drop_column(column)
    op.create_index("ix_samples_project_confidence", "samples",
                    ["project_id", sa.text("coalesce(min_confidence, 2.0)"), "id"])
    op.drop_index("ix_project_members_user_id", table_name="project_members")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_hash")
