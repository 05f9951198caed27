"""gallery filters at millions of samples: the label index carries is_draft, a trigram index serves filename parts
(PostgreSQL, where pg_trgm can be created), and a per-class sample counter answers the label filter's total

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _trigrams_available() -> bool:
    """pg_trgm is a trusted extension (any role that may create in the database adds it), but a managed server may
    not ship it: without it, a filename part is found by a scan, as before."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first() is not None


def upgrade() -> None:
    op.drop_index("ix_annotations_project_label", table_name="annotations")
    op.create_index("ix_annotations_project_label", "annotations", ["project_id", "label", "is_draft", "sample_id"])
    if _trigrams_available():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        # the operator class lives in the extension's schema, which need not be on the search path (Lakebase's
        # tables sit in their own schema while the extension may already exist in public)
        where = op.get_bind().execute(sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'")).scalar_one()
        op.execute(f'CREATE INDEX ix_samples_filename_trgm ON samples USING gin (lower(filename) "{where}".gin_trgm_ops)')
        # the statistics of the lowered names (gathered for the index's expression) let the planner tell a rare
        # part (read through the index) from a common one (walk the ids): without them it guesses 0.8% for both
        op.execute("ANALYZE samples")
    op.execute("""
        INSERT INTO project_counters (project_id, kind, key, n)
        SELECT project_id, 'sample_class', label, count(DISTINCT sample_id) FROM annotations
        WHERE is_draft = false GROUP BY project_id, label""")


def downgrade() -> None:
    op.execute("DELETE FROM project_counters WHERE kind = 'sample_class'")
    op.execute("DROP INDEX IF EXISTS ix_samples_filename_trgm")
    op.drop_index("ix_annotations_project_label", table_name="annotations")
    op.create_index("ix_annotations_project_label", "annotations", ["project_id", "label", "sample_id"])
