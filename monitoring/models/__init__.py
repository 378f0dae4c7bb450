"""Models of monitoring: sources and watch terms, mentions, detection rules and signals, cases."""

from monitoring.models.cases import Case
from monitoring.models.detection import DetectionRule, IncidentMention, Signal
from monitoring.models.mentions import Mention
from monitoring.models.sources import Source, WatchTerm, WatchTermVersion

__all__ = [
    "Case",
    "DetectionRule",
    "IncidentMention",
    "Mention",
    "Signal",
    "Source",
    "WatchTerm",
    "WatchTermVersion",
]
