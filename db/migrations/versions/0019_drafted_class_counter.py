"""a per-class counter of drafted samples (a model draft's confidence set) that also carry a confirmed box of the
class: when it is zero, the gallery's "least confident first" with that label reads the label's samples in id
order instead of probing every drafted sample (2.9 s at 1,000,000 samples on PostgreSQL); backfilled here

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM project_counters WHERE kind = 'drafted_class'")
    op.execute("""
        INSERT INTO project_counters (project_id, kind, key, n)
        SELECT a.project_id, 'drafted_class', a.label, count(DISTINCT a.sample_id)
        FROM annotations a JOIN samples s ON s.id = a.sample_id
        WHERE a.is_draft = false AND s.min_confidence IS NOT NULL
        GROUP BY a.project_id, a.label""")


def downgrade() -> None:
    op.execute("DELETE FROM project_counters WHERE kind = 'drafted_class'")
