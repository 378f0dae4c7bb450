from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents.services import register_merge_hook
        from monitoring import tasks_detection  # noqa: F401 - registers the detection tasks
        from monitoring.services.signals import move_links_on_merge

        register_merge_hook(move_links_on_merge)
