"""annotation_events.items: an import's (or a model's) additions to a sample in one history row

A million-box import wrote a million history rows, each with its own foreign-key check and two index entries:
5.7 of the 20 s the import took on PostgreSQL. One row per sample lists the annotations it added ([label, x, y, w,
h] or [label]); db.history_items reads it back as one event per annotation, so the API's history is unchanged.
Rows written before this keep their one-event-per-row form.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("annotation_events", sa.Column("items", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Each grouped row back to one row per annotation first, so no history is lost (the new rows take new ids:
    they list after any later event of their sample)."""
    bind = op.get_bind()
    events = sa.table("annotation_events", *(sa.column(c) for c in (
        "id", "project_id", "sample_id", "action", "label_after", "actor", "at")),
        sa.column("box_after", sa.JSON(none_as_null=True)), sa.column("items", sa.JSON()))
    while grouped := bind.execute(sa.select(events).where(events.c["items"].is_not(None)).order_by(events.c.id)
                                  .limit(1000)).all():
        bind.execute(events.insert(), [
            {"project_id": r.project_id, "sample_id": r.sample_id, "action": r.action, "label_after": item[0],
             "box_after": item[1:] or None, "actor": r.actor, "at": r.at} for r in grouped for item in r.items])
        bind.execute(events.delete().where(events.c.id.in_([r.id for r in grouped])))
    with op.batch_alter_table("annotation_events") as batch_op:
        batch_op.drop_column("items")
