from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents.services import register_merge_hook
        from monitoring import metrics, tasks_retention  # noqa: F401 - registers on import
        from monitoring.services.ingest import register_ingest_hook
        from monitoring.services.signals import move_links_on_merge
        from monitoring.tasks_detection import after_ingest

        register_ingest_hook(after_ingest)
        register_merge_hook(move_links_on_merge)
