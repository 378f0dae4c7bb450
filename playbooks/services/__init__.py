"""Writes on playbooks, runs and drills. Keyword-only functions that own their transaction and
record their events in it; views and tasks parse, call one, and render."""

from playbooks.services.drills import (
    DrillStateError,
    drill_cancel,
    drill_finish,
    drill_schedule,
    drill_start,
    drill_update,
)
from playbooks.services.playbooks import (
    playbook_create,
    playbook_delete,
    playbook_mark_reviewed,
    playbook_publish,
    playbook_review_due_sweep,
    playbook_update,
)
from playbooks.services.runs import (
    PlaybookRunError,
    playbook_run_start,
    playbook_run_step_complete,
    playbook_run_step_skip,
    playbook_runs_stop,
    register_draft_message_hook,
)
from playbooks.services.sweeps import step_overdue_sweep

__all__ = [
    "DrillStateError",
    "PlaybookRunError",
    "drill_cancel",
    "drill_finish",
    "drill_schedule",
    "drill_start",
    "drill_update",
    "playbook_create",
    "playbook_delete",
    "playbook_mark_reviewed",
    "playbook_publish",
    "playbook_review_due_sweep",
    "playbook_run_start",
    "playbook_run_step_complete",
    "playbook_run_step_skip",
    "playbook_runs_stop",
    "playbook_update",
    "register_draft_message_hook",
    "step_overdue_sweep",
]
