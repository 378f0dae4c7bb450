from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents.selectors import hide_restricted_incident_events
        from incidents.services.config import seed_on_organisation_created
        from organisations.events import event_subscribe, event_visibility_register

        event_subscribe("organisation.created", seed_on_organisation_created)
        event_visibility_register(hide_restricted_incident_events)
