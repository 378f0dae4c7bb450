"""Messages and approvals as a state machine: random members editing, submitting, approving,
rejecting, withdrawing, overriding checks and publishing one message per example, under a
two-step policy.

Invariants: never published unapproved (the published hash is the approved hash, approved by
every step); never self-approved; an edit after submission voids approvals (back to draft,
none valid); a refused action changes nothing; each channel is sent at most once and a
message is published at most once.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from rest_framework.exceptions import ValidationError

from communications import services
from communications.models import ApprovalDecision, ApprovalPolicy, Message, Publication
from communications.services.approvals import current_step, valid_approvals
from communications.services.messages import EDITABLE
from crisis_api.api.errors import DomainError
from organisations.events import Actor
from organisations.models import Event, Membership, Organisation, Role
from tests.factories import make_membership

pytestmark = pytest.mark.django_db

BODIES = [
    "We are sorry for the outage. We will post the next update by 15:00.",
    "We apologise. Engineers are on it; next update within 2 hours.",
    "It is your own fault, you should have read the manual.",  # blocked by the checker
]
MEMBERS = ["author", "approver1", "approver2", "manager", "admin"]


def build_machine(organisation: Organisation) -> type[RuleBasedStateMachine]:
    roles = {
        "author": Role.COMMS_LEAD,
        "approver1": Role.APPROVER,
        "approver2": Role.APPROVER,
        "manager": Role.CRISIS_MANAGER,
        "admin": Role.ADMIN,
    }
    people: dict[str, Membership] = {
        name: make_membership(organisation, role) for name, role in roles.items()
    }
    ApprovalPolicy.all_tenants.create(
        organisation=organisation,
        name="Two steps",
        steps=[
            {
                "name": "Comms",
                "roles": ["approver", "comms_lead"],
                "incident_roles": [],
                "users": [],
                "rule": "any",
            },
            {
                "name": "Management",
                "roles": ["crisis_manager", "admin"],
                "incident_roles": [],
                "users": [],
                "rule": "any",
            },
        ],
    )

    def actor(name: str) -> Actor:
        return Actor.of_user(people[name].user)

    class Machine(RuleBasedStateMachine):
        message: Message

        @initialize(body=st.sampled_from(BODIES), who=st.sampled_from(MEMBERS))
        def create(self, body: str, who: str) -> None:
            self.message = services.message_create(
                organisation=organisation,
                actor=actor(who),
                kind="status_update",
                title="Outage",
                body=body,
                channels=["status_page", "webhook"],
                status_label="investigating",
            )

        def fresh(self) -> Message:
            return Message.all_tenants.select_related("organisation").get(pk=self.message.pk)

        def attempt(self, call: Any) -> bool:
            """Run one action; a refusal must leave the row exactly as it was."""
            before = self.fresh()
            events = Event.all_tenants.filter(organisation=organisation).count()
            try:
                call()
            except (DomainError, ValidationError):
                after = self.fresh()
                assert (after.version, after.status, after.content_hash) == (
                    before.version,
                    before.status,
                    before.content_hash,
                )
                assert Event.all_tenants.filter(organisation=organisation).count() == events
                return False
            return True

        @rule(body=st.sampled_from(BODIES), who=st.sampled_from(MEMBERS))
        def edit(self, body: str, who: str) -> None:
            before = self.fresh()
            done = self.attempt(
                lambda: services.message_update(message=before, actor=actor(who), body=body)
            )
            after = self.fresh()
            if done and before.status in EDITABLE and body != before.body:
                assert after.content_hash != before.content_hash
                if before.status != Message.Status.DRAFT:
                    assert after.status == Message.Status.DRAFT
                    assert after.approved_hash == ""
                    assert valid_approvals(after) == []

        @rule(who=st.sampled_from(MEMBERS))
        def submit(self, who: str) -> None:
            self.attempt(lambda: services.message_submit(message=self.fresh(), actor=actor(who)))

        @rule(who=st.sampled_from(MEMBERS))
        def approve(self, who: str) -> None:
            self.attempt(
                lambda: services.message_approve(
                    message=self.fresh(),
                    actor=actor(who),
                    user=people[who].user,
                    role=people[who].role,
                )
            )

        @rule(who=st.sampled_from(MEMBERS), changes=st.booleans())
        def send_back(self, who: str, changes: bool) -> None:
            service = services.message_request_changes if changes else services.message_reject
            self.attempt(
                lambda: service(
                    message=self.fresh(),
                    actor=actor(who),
                    user=people[who].user,
                    role=people[who].role,
                    reason="Rephrase",
                )
            )

        @rule()
        def override(self) -> None:
            self.attempt(
                lambda: services.message_check_override(
                    message=self.fresh(),
                    actor=actor("admin"),
                    user=people["admin"].user,
                    reason="Accepted by legal",
                )
            )

        @rule(who=st.sampled_from(MEMBERS))
        def withdraw(self, who: str) -> None:
            self.attempt(lambda: services.message_withdraw(message=self.fresh(), actor=actor(who)))

        @rule(deliver=st.booleans())
        def publish(self, deliver: bool) -> None:
            self.attempt(
                lambda: services.message_publish(message=self.fresh(), actor=actor("manager"))
            )
            if deliver:
                services.message_deliver(message_id=self.message.pk)

        @invariant()
        def never_self_approved(self) -> None:
            message = self.fresh()
            for decision in ApprovalDecision.all_tenants.filter(
                message=message, decision="approve"
            ):
                assert decision.approver_id != message.author_id

        @invariant()
        def never_published_unapproved(self) -> None:
            message = self.fresh()
            if message.status not in ("approved", "scheduled", "publishing", "published"):
                return
            assert message.approved_hash == message.content_hash
            approvals = list(
                ApprovalDecision.all_tenants.filter(
                    message=message, decision="approve", content_hash=message.approved_hash
                )
            )
            assert current_step(message, approvals) is None
            approvers = [a.approver_id for a in approvals]
            assert len(approvers) == len(set(approvers)) >= 2
            published = Event.all_tenants.filter(
                subject_type="message", subject_id=str(message.pk), type="message.published"
            )
            assert published.count() == (1 if message.status == "published" else 0)
            for event in published:
                assert event.payload["content_hash"] == event.payload["approved_hash"]

        @invariant()
        def each_channel_sent_once(self) -> None:
            sent = list(
                Publication.all_tenants.filter(message=self.message, status="sent").values_list(
                    "channel", flat=True
                )
            )
            assert len(sent) == len(set(sent))

    return Machine


def test_messages_hold_their_invariants_under_random_actions(
    org: Organisation, unscoped: None
) -> None:
    run_state_machine_as_test(
        build_machine(org),
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_the_machine_reaches_publication(org: Organisation, unscoped: None) -> None:
    """Not vacuous: a scripted run through the same rules ends published."""
    machine = build_machine(org)()
    machine.create(body=BODIES[0], who="author")
    machine.submit(who="author")
    machine.approve(who="approver1")
    machine.approve(who="manager")
    machine.publish(deliver=True)
    assert machine.fresh().status == "published"
    machine.never_published_unapproved()
