"""users.platform_id and users.email (AUTH_MODE=databricks): accounts are keyed on the identity provider's stable
user id (X-Forwarded-User), the e-mail is an attribute that follows the header. Existing users named by an e-mail get
it, normalised, as their e-mail and no id: the first request with that e-mail from someone who has no account with
an id yet claims the row (db.users.see_platform_user).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("platform_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("email", sa.String(320), nullable=True))
        batch.create_unique_constraint("uq_users_platform_id", ["platform_id"])
        batch.create_index("ix_users_email", ["email"])
    # names like a@b.c were e-mails (the old key); workspace user ids (<digits>@<digits>) have no dot
    op.execute("UPDATE users SET email = lower(trim(name)) WHERE name LIKE '%@%.%'")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_email")
        batch.drop_constraint("uq_users_platform_id", type_="unique")
        batch.drop_column("email")
        batch.drop_column("platform_id")
