from django.apps import AppConfig


class CommunicationsConfig(AppConfig):
    name = "communications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from communications.services import reactions
        from playbooks.services.runs import register_draft_message_hook

        # Playbooks act, communications reacts: a draft_message step drafts from its template.
        register_draft_message_hook(reactions.draft_for_playbook_step)
