"""Fixtures of the playbook suites."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Frozen at T0; request it before any client, whose token must not be from the past."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller
