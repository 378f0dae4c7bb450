"""Run detail and the lists cost a fixed number of queries, whatever the rows behind them."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from incidents import services as incident_services
from organisations.events import Actor
from organisations.models import Organisation, Role
from playbooks import services
from playbooks.models import PlaybookRun
from tests.factories import make_incident, make_membership, make_playbook, make_training_record
from tests.playbooks.helpers import BASE, run_url

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def queries_for(client: APIClient, url: str) -> int:
    client.get(url)  # warm-up: a credential's first use of the minute records `last_used_at`
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


def chain(n: int) -> list[dict[str, Any]]:
    """n task steps, each after the previous; every other one completed below."""
    return [
        {
            "key": f"s{i}",
            "title": f"Step {i}",
            "kind": "task",
            "role": "commander" if i % 2 else "comms_lead",
            "due_offset_minutes": 10 * i,
            "depends_on": [f"s{i - 1}"] if i else [],
        }
        for i in range(n)
    ]


def run_with(org: Organisation, steps: int) -> PlaybookRun:
    incident = make_incident(org)
    for role in ("commander", "comms_lead"):
        user = make_membership(org, Role.RESPONDER).user
        incident_services.incident_role_assign(
            incident=incident, user=user, role=role, actor=SYSTEM
        )
    run = services.playbook_run_start(
        incident=incident, playbook=make_playbook(org, steps=chain(steps)), actor=SYSTEM
    )
    for i in range(0, steps - 1, 2):
        services.playbook_run_step_complete(run=run, key=f"s{i}", actor=SYSTEM)
        services.playbook_run_step_skip(run=run, key=f"s{i + 1}", actor=SYSTEM, reason="n/a")
    return run


def test_run_detail_is_constant_in_the_number_of_steps(
    org: Organisation, responder: APIClient, unscoped: None
) -> None:
    small, large = run_with(org, 2), run_with(org, 30)
    assert len(responder.get(run_url(large)).json()["steps"]) == 30
    assert queries_for(responder, run_url(small)) == queries_for(responder, run_url(large))


@pytest.mark.parametrize("path", ["playbooks", "playbook-runs", "drills", "training-records"])
def test_lists_are_constant_in_their_length(
    path: str, org: Organisation, admin: APIClient, unscoped: None
) -> None:
    counts = []
    for _ in range(2):
        for _ in range(3):
            make_training_record(org)  # a playbook, a drill, its run and a training record
        counts.append(queries_for(admin, f"{BASE}/{path}/"))
    assert counts[0] == counts[1]


def test_playbook_detail_is_constant_in_steps_and_runs(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    small, large = run_with(org, 2).playbook, run_with(org, 30).playbook
    for _ in range(3):
        services.playbook_run_start(incident=make_incident(org), playbook=large, actor=SYSTEM)
    url = f"{BASE}/playbooks/{{}}/"
    assert queries_for(admin, url.format(small.pk)) == queries_for(admin, url.format(large.pk))
