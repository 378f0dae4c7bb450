from django.apps import AppConfig


class CommunicationsConfig(AppConfig):
    name = "communications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from communications.services import reactions, replies
        from organisations.events import event_subscribe
        from playbooks.services.runs import register_draft_message_hook

        # Playbooks act, communications reacts: a draft_message step drafts from its template.
        register_draft_message_hook(reactions.draft_for_playbook_step)
        # Incidents act, communications reacts: resolving proposes closing-the-loop replies.
        event_subscribe("incident.status_changed", replies.close_the_loop_on_resolution)
