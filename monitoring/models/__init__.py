"""Models of monitoring: sources and watch terms, mentions."""

from monitoring.models.mentions import Mention
from monitoring.models.sources import Source, WatchTerm, WatchTermVersion

__all__ = ["Mention", "Source", "WatchTerm", "WatchTermVersion"]
