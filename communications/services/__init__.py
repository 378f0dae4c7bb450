"""Writes of communications. Every function takes keyword arguments, owns its transaction and
records its event(s) in it; views and tasks only parse, call one of these, and render."""

from communications.services.approvals import (
    approval_policy_create,
    approval_policy_delete,
    approval_policy_update,
    message_approve,
    message_expire_sweep,
    message_reject,
    message_request_changes,
)
from communications.services.common import (
    ApprovalError,
    ContentBlockedError,
    MessageTransitionError,
    MessageVersionError,
    NotApprovedError,
)
from communications.services.messages import (
    message_check,
    message_check_override,
    message_create,
    message_draft_from_template,
    message_schedule,
    message_submit,
    message_update,
    message_withdraw,
)
from communications.services.publishing import (
    message_deliver,
    message_publish,
    message_publish_due_sweep,
    message_requeue_publishing,
    message_retry_sweep,
)
from communications.services.replies import message_reply_from_case
from communications.services.setup import (
    banned_term_create,
    banned_term_delete,
    channel_account_connect,
    channel_account_delete,
    channel_account_update,
    status_page_get,
    status_page_update,
)
from communications.services.templates import (
    template_create,
    template_delete,
    template_legal_approve,
    template_render,
    template_update,
)

__all__ = [
    "ApprovalError",
    "ContentBlockedError",
    "MessageTransitionError",
    "MessageVersionError",
    "NotApprovedError",
    "approval_policy_create",
    "approval_policy_delete",
    "approval_policy_update",
    "banned_term_create",
    "banned_term_delete",
    "channel_account_connect",
    "channel_account_delete",
    "channel_account_update",
    "message_approve",
    "message_check",
    "message_check_override",
    "message_create",
    "message_deliver",
    "message_draft_from_template",
    "message_expire_sweep",
    "message_publish",
    "message_publish_due_sweep",
    "message_reject",
    "message_reply_from_case",
    "message_request_changes",
    "message_requeue_publishing",
    "message_retry_sweep",
    "message_schedule",
    "message_submit",
    "message_update",
    "message_withdraw",
    "status_page_get",
    "status_page_update",
    "template_create",
    "template_delete",
    "template_legal_approve",
    "template_render",
    "template_update",
]
