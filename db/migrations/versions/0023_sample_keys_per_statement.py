"""PostgreSQL: annotations and annotation_events are checked against samples once per statement, not per row

A foreign key checks each new row with its own query (and cascades each deleted sample with its own): for a
million-box import that was 5 of the PostgreSQL import's 26 s. Here the two tables' sample_id keys become
statement-level triggers that keep the same guarantee in one set-based pass:

- after rows are inserted (or their sample_id changed), the samples they name are locked FOR KEY SHARE, as the
  foreign key locks them, and if any is missing the statement fails with SQLSTATE 23503 (foreign_key_violation),
  the foreign key's own error;
- after samples are deleted, their annotations and history go in one statement each (ON DELETE CASCADE);
- a sample's id cannot change while rows name it, and samples cannot be truncated (what the key refused).

A sample being deleted by another transaction is waited for, exactly as the key waits: if that delete commits,
the insert fails. The functions keep the migration's search_path (the app's schema, LAKEBASE_SCHEMA), so they
find the tables whoever writes. SQLite keeps its foreign keys, which cost it little.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08
"""
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TABLES = ("annotations", "annotation_events")

_CHECK = """
CREATE FUNCTION rows_name_existing_samples() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    wanted bigint[] := ARRAY(SELECT DISTINCT sample_id FROM written);
    held bigint;
BEGIN
    PERFORM 1 FROM samples s WHERE s.id = ANY(wanted) FOR KEY SHARE OF s;
    GET DIAGNOSTICS held = ROW_COUNT;
    IF held < cardinality(wanted) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('insert or update on table "%s" names %s sample(s) that do not exist',
                             TG_TABLE_NAME, cardinality(wanted) - held),
            TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END $$"""

_CASCADE = """
CREATE FUNCTION delete_rows_of_deleted_samples() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    gone bigint[] := ARRAY(SELECT id FROM deleted);
BEGIN
    DELETE FROM annotations WHERE sample_id = ANY(gone);
    DELETE FROM annotation_events WHERE sample_id = ANY(gone);
    RETURN NULL;
END $$"""

_KEEP_IDS = """
CREATE FUNCTION refuse_sample_key_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE feature_not_supported USING MESSAGE = 'samples cannot be truncated: delete them';
    END IF;
    IF NEW.id <> OLD.id THEN
        RAISE foreign_key_violation USING MESSAGE = 'a sample''s id cannot change', TABLE = 'samples';
    END IF;
    RETURN NEW;
END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_CHECK)
    op.execute(_CASCADE)
    op.execute(_KEEP_IDS)
    for table in TABLES:
        op.drop_constraint(f"{table}_sample_id_fkey", table, type_="foreignkey")
        for event in ("INSERT", "UPDATE"):
            op.execute(f"CREATE TRIGGER {table}_sample_on_{event.lower()} AFTER {event} ON {table} "
                       "REFERENCING NEW TABLE AS written FOR EACH STATEMENT "
                       "EXECUTE FUNCTION rows_name_existing_samples()")
    op.execute("CREATE TRIGGER samples_delete_their_rows AFTER DELETE ON samples REFERENCING OLD TABLE AS deleted "
               "FOR EACH STATEMENT EXECUTE FUNCTION delete_rows_of_deleted_samples()")
    op.execute("CREATE TRIGGER samples_keep_ids BEFORE UPDATE OF id ON samples "
               "FOR EACH ROW EXECUTE FUNCTION refuse_sample_key_change()")
    op.execute("CREATE TRIGGER samples_no_truncate BEFORE TRUNCATE ON samples "
               "FOR EACH STATEMENT EXECUTE FUNCTION refuse_sample_key_change()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER samples_no_truncate ON samples")
    op.execute("DROP TRIGGER samples_keep_ids ON samples")
    op.execute("DROP TRIGGER samples_delete_their_rows ON samples")
    for table in TABLES:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER {table}_sample_on_{event} ON {table}")
        op.create_foreign_key(f"{table}_sample_id_fkey", table, "samples", ["sample_id"], ["id"],
                              ondelete="CASCADE")
    for function in ("refuse_sample_key_change", "delete_rows_of_deleted_samples", "rows_name_existing_samples"):
        op.execute(f"DROP FUNCTION {function}()")
