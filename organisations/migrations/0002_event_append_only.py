"""On PostgreSQL, make the event log append-only at the database: DELETE is refused, and UPDATE
may touch only `dispatched_at` (the outbox's progress). A superuser can still disable the
trigger; the hash chain is what detects that kind of tampering."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION organisations_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the event log is append-only (DELETE refused)';
    END IF;
    IF (NEW.id, NEW.organisation_id, NEW.seq, NEW.type, NEW.occurred_at, NEW.actor_type,
        NEW.actor_id, NEW.actor_label, NEW.subject_type, NEW.subject_id, NEW.payload,
        NEW.request_id, NEW.prev_hash, NEW.hash)
       IS DISTINCT FROM
       (OLD.id, OLD.organisation_id, OLD.seq, OLD.type, OLD.occurred_at, OLD.actor_type,
        OLD.actor_id, OLD.actor_label, OLD.subject_type, OLD.subject_id, OLD.payload,
        OLD.request_id, OLD.prev_hash, OLD.hash) THEN
        RAISE EXCEPTION 'the event log is append-only (only dispatched_at may change)';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER organisations_event_append_only
    BEFORE UPDATE OR DELETE ON organisations_event
    FOR EACH ROW EXECUTE FUNCTION organisations_event_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS organisations_event_append_only ON organisations_event;
DROP FUNCTION IF EXISTS organisations_event_append_only();
"""


def _on_postgres(sql: str):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("organisations", "0001_initial")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
