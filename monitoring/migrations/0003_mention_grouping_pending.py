"""Mentions waiting for case grouping are marked, so the grouping sweep finds a batch whose
after-commit task was lost. Rows stored before this migration count as settled (False): a
backfill would open cases for old complaints long after anyone could answer them in time."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_case_mention_case_detectionrule_signal_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="mention",
            name="grouping_pending",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AlterField(
            model_name="mention",
            name="grouping_pending",
            field=models.BooleanField(db_default=True, default=True, editable=False),
        ),
        migrations.AddIndex(
            model_name="mention",
            index=models.Index(
                condition=models.Q(("grouping_pending", True)),
                fields=["organisation", "fetched_at"],
                name="mention_grouping_pending",
            ),
        ),
    ]
