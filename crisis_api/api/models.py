"""Rows the API kit itself keeps: idempotency records."""

from django.db import models


class IdempotencyRecord(models.Model):
    """The first outcome of a POST under one Idempotency-Key, per credential, for replay.

    Claimed (committed) before the handler runs so a concurrent duplicate sees it in flight;
    completed in the handler's own transaction so the stored response and the change it
    describes commit together.
    """

    credential = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    locked_until = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content = models.BinaryField(null=True, blank=True)
    location = models.CharField(max_length=500, blank=True)
    secret_withheld = models.BooleanField(
        default=False, help_text="The first response held a one-time secret, not stored here."
    )

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=("credential", "key"), name="idempotency_unique_key"),
        )

    def __str__(self) -> str:
        return f"{self.credential} {self.key}"
