from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    name = "playbooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from organisations.events import event_subscribe
        from playbooks.services import reactions

        # Incidents act, playbooks react: in the incident's own transaction.
        event_subscribe("incident.declared", reactions.on_incident_declared)
        event_subscribe("incident.severity_changed", reactions.on_severity_changed)
        event_subscribe("incident.status_changed", reactions.on_status_changed)
        event_subscribe("incident.role_assigned", reactions.on_role_assigned)
        event_subscribe("task.completed", reactions.on_task_completed)
        event_subscribe("task.updated", reactions.on_task_updated)
