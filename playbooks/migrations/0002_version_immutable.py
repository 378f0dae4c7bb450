"""On PostgreSQL, a published playbook version cannot be changed or deleted at the database
either: UPDATE and DELETE on playbooks_playbookversion raise. (The model and its queryset refuse
first; this catches raw SQL and anything else that bypasses them.)"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION playbooks_version_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'a published playbook version is immutable (' || TG_OP || ' refused)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER playbooks_version_immutable
    BEFORE UPDATE OR DELETE ON playbooks_playbookversion
    FOR EACH ROW EXECUTE FUNCTION playbooks_version_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS playbooks_version_immutable ON playbooks_playbookversion;
DROP FUNCTION IF EXISTS playbooks_version_immutable();
"""


def _on_postgres(sql: str):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0001_initial")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
