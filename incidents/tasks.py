"""Periodic sweeps of the incidents app (run by beat every minute)."""

from celery import shared_task

from incidents import services


@shared_task(name="incidents.sweep_overdue_tasks")
def task_overdue_sweep_task() -> int:
    """Announce tasks past due, once per lapse."""
    return services.task_overdue_sweep()


@shared_task(name="incidents.sweep_public_updates")
def public_update_overdue_sweep_task() -> int:
    """Announce incidents whose next public update is overdue, once per lapse."""
    return services.public_update_overdue_sweep()
