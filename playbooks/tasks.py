"""Periodic sweeps of the playbooks app (run by beat)."""

from celery import shared_task

from playbooks import services


@shared_task(name="playbooks.sweep_overdue_steps")
def step_overdue_sweep_task() -> int:
    """Announce playbook steps past due (once per lapse) and finish elapsed waits."""
    return services.step_overdue_sweep()


@shared_task(name="playbooks.sweep_review_due")
def playbook_review_due_sweep_task() -> int:
    """Remind owners of playbooks whose review is due (once per lapse)."""
    return services.playbook_review_due_sweep()
