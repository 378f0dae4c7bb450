from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents.services.config import seed_on_organisation_created
        from organisations.events import event_subscribe

        event_subscribe("organisation.created", seed_on_organisation_created)
