from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    name = "playbooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from organisations.events import event_subscribe
        from playbooks.services import runs

        # Incidents act, playbooks react: in the incident's own transaction.
        event_subscribe("incident.declared", runs.on_incident_declared)
        event_subscribe("incident.severity_changed", runs.on_severity_changed)
        event_subscribe("incident.status_changed", runs.on_status_changed)
        event_subscribe("incident.role_assigned", runs.on_role_assigned)
        event_subscribe("task.completed", runs.on_task_completed)
        event_subscribe("task.updated", runs.on_task_updated)
