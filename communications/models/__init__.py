"""Models of communications: templates, messages, checks, approvals, publishing, status page."""

from communications.models.approvals import ApprovalDecision, ApprovalPolicy
from communications.models.messages import BannedTerm, ContentCheck, Message
from communications.models.publishing import (
    ChannelAccount,
    Publication,
    StatusPage,
    StatusUpdate,
)
from communications.models.templates import (
    CHANNEL_LIMITS,
    PUBLIC_CHANNELS,
    PUBLIC_KINDS,
    Audience,
    Channel,
    Language,
    MessageKind,
    MessageTemplate,
)

__all__ = [
    "CHANNEL_LIMITS",
    "PUBLIC_CHANNELS",
    "PUBLIC_KINDS",
    "ApprovalDecision",
    "ApprovalPolicy",
    "Audience",
    "BannedTerm",
    "Channel",
    "ChannelAccount",
    "ContentCheck",
    "Language",
    "Message",
    "MessageKind",
    "MessageTemplate",
    "Publication",
    "StatusPage",
    "StatusUpdate",
]
