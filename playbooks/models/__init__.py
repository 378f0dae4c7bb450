"""Playbooks: editable drafts, immutable published versions, runs against incidents, drills
and training records."""

from playbooks.models.drills import Drill, DrillParticipant, TrainingRecord
from playbooks.models.playbooks import (
    AUDIENCES,
    CHANNELS,
    RACI_LETTERS,
    Playbook,
    PlaybookVersion,
    StepKind,
)
from playbooks.models.runs import PlaybookRun, PlaybookRunStep

__all__ = [
    "AUDIENCES",
    "CHANNELS",
    "RACI_LETTERS",
    "Drill",
    "DrillParticipant",
    "Playbook",
    "PlaybookRun",
    "PlaybookRunStep",
    "PlaybookVersion",
    "StepKind",
    "TrainingRecord",
]
