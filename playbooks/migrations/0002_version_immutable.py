"""On PostgreSQL, a published playbook version cannot be changed or deleted at the database
either: UPDATE and DELETE on playbooks_playbookversion raise. (The model and its queryset refuse
first; this catches raw SQL and anything else that bypasses them.)"""

from importlib import import_module

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


# The event log's migration has the helper that runs SQL on PostgreSQL only.
_on_postgres = import_module("organisations.migrations.0002_event_append_only")._on_postgres


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0001_initial"), ("organisations", "0002_event_append_only")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
