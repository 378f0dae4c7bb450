"""Writes on incidents. Every function takes keyword arguments, owns its transaction and
records its event(s) in it; views and tasks only parse, call one of these, and render."""

from incidents.services.cadence import (
    incident_public_update_record,
    public_update_overdue_sweep,
)
from incidents.services.config import (
    crisis_type_create,
    crisis_type_delete,
    crisis_type_update,
    incident_config_seed,
    severity_create,
    severity_delete,
    severity_update,
)
from incidents.services.lifecycle import (
    TRANSITIONS,
    IncidentTransitionError,
    IncidentVersionError,
    allowed_actions,
    incident_change_severity,
    incident_declare,
    incident_transition,
    incident_update,
    register_merge_hook,
)
from incidents.services.people import incident_role_assign, incident_role_unassign, note_add
from incidents.services.review import review_action_item_add, review_complete, review_update
from incidents.services.tasks import task_create, task_overdue_sweep, task_update

__all__ = [
    "TRANSITIONS",
    "IncidentTransitionError",
    "IncidentVersionError",
    "allowed_actions",
    "crisis_type_create",
    "crisis_type_delete",
    "crisis_type_update",
    "incident_change_severity",
    "incident_config_seed",
    "incident_declare",
    "incident_public_update_record",
    "incident_role_assign",
    "incident_role_unassign",
    "incident_transition",
    "incident_update",
    "note_add",
    "public_update_overdue_sweep",
    "register_merge_hook",
    "review_action_item_add",
    "review_complete",
    "review_update",
    "severity_create",
    "severity_delete",
    "severity_update",
    "task_create",
    "task_overdue_sweep",
    "task_update",
]
