"""Give organisations created before this app its default crisis types and severities."""

from django.db import migrations


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    from incidents.services.config import DEFAULT_CRISIS_TYPES, DEFAULT_SEVERITIES

    Organisation = apps.get_model("organisations", "Organisation")
    CrisisType = apps.get_model("incidents", "CrisisType")
    Severity = apps.get_model("incidents", "Severity")
    IncidentCounter = apps.get_model("incidents", "IncidentCounter")
    for organisation in Organisation.objects.all():
        IncidentCounter.objects.get_or_create(organisation=organisation)
        if not CrisisType._base_manager.filter(organisation=organisation).exists():
            for slug, name, text in DEFAULT_CRISIS_TYPES:
                CrisisType._base_manager.create(
                    organisation=organisation, slug=slug, name=name, description=text
                )
        if not Severity._base_manager.filter(organisation=organisation).exists():
            for name, rank, minutes, review, strictness in DEFAULT_SEVERITIES:
                Severity._base_manager.create(
                    organisation=organisation,
                    name=name,
                    rank=rank,
                    public_update_interval_minutes=minutes,
                    review_required=review,
                    approval_strictness=strictness,
                )


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial"), ("organisations", "0002_event_append_only")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
