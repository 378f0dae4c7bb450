"""factory_boy factories, and the registry the route-walking suites use to make one object of
any tenant model a viewset serves. A new tenant model needs an entry in TENANT_OBJECT_MAKERS."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import factory
from django.db import models, transaction
from django.utils import timezone

from communications.models import (
    ApprovalPolicy,
    BannedTerm,
    ChannelAccount,
    Message,
    MessageTemplate,
    StatusPage,
    StatusUpdate,
)
from incidents.models import CrisisType, Incident, RoleAssignment, Severity, Task
from incidents.services.config import incident_config_seed
from monitoring.models import (
    Case,
    DetectionRule,
    IncidentMention,
    Mention,
    Signal,
    Source,
    WatchTerm,
)
from notifications.models import (
    ContactMethod,
    EscalationLevel,
    EscalationPolicy,
    Notification,
    NotificationRule,
    WebhookEndpoint,
    WebhookMessage,
)
from organisations import services
from organisations.events import Actor, event_record
from organisations.models import (
    ApiKey,
    Event,
    EventChainHead,
    Invitation,
    Membership,
    Organisation,
    Role,
    User,
)
from playbooks.demo import DATA_BREACH_PLAN
from playbooks.models import Drill, Playbook, PlaybookRun, PlaybookVersion, TrainingRecord

PASSWORD = "correct-horse-battery-staple-42"
_invitees = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            self.save()


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")

    @factory.post_generation
    def chain(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            EventChainHead.objects.get_or_create(organisation=self)
            incident_config_seed(organisation=self)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organisation = factory.SubFactory(OrganisationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


def make_membership(organisation: Organisation, role: str = Role.VIEWER) -> Membership:
    return Membership.all_tenants.create(organisation=organisation, user=UserFactory(), role=role)


def make_invitation(organisation: Organisation) -> Invitation:
    return services.invitation_create(
        organisation=organisation,
        email=f"invitee{next(_invitees)}@example.test",
        role=Role.RESPONDER,
        actor=Actor.system(),
        actor_role=Role.OWNER,
    ).invitation


def make_api_key(organisation: Organisation, scopes: list[str] | None = None) -> ApiKey:
    return services.api_key_create(
        organisation=organisation,
        name="integration",
        scopes=scopes or ["events:read"],
        actor=Actor.system(),
    ).api_key


def make_event(organisation: Organisation) -> Event:
    with transaction.atomic():
        return event_record(
            organisation=organisation,
            actor=Actor.system("tests"),
            type="test.happened",
            subject=("organisation", str(organisation.pk)),
            payload={"n": 1},
        )


_types = itertools.count(1)


def make_crisis_type(organisation: Organisation) -> CrisisType:
    n = next(_types)
    return CrisisType.all_tenants.create(organisation=organisation, name=f"Type {n}", slug=f"t-{n}")


def make_severity(organisation: Organisation) -> Severity:
    rank = 10 + next(_types) % 10
    Severity.all_tenants.filter(organisation=organisation, rank=rank).delete()
    return Severity.all_tenants.create(
        organisation=organisation,
        name=f"Level {rank}",
        rank=rank,
        public_update_interval_minutes=60,
    )


def severity_of(organisation: Organisation, rank: int = 2) -> Severity:
    return Severity.all_tenants.get(organisation=organisation, rank=rank)


def make_incident(organisation: Organisation, *, status: str = "active", **kwargs: Any) -> Incident:
    from incidents import services as incident_services

    return incident_services.incident_declare(
        organisation=organisation,
        actor=Actor.system("tests"),
        title=kwargs.pop("title", "Angry posts about product X"),
        crisis_type=kwargs.pop(
            "crisis_type", CrisisType.all_tenants.filter(organisation=organisation).first()
        ),
        severity=kwargs.pop("severity", severity_of(organisation)),
        status=status,
        **kwargs,
    )


def make_task(organisation: Organisation) -> Task:
    from incidents import services as incident_services

    return incident_services.task_create(
        incident=make_incident(organisation), actor=Actor.system("tests"), title="Draft reply"
    )


def make_assignment(organisation: Organisation) -> RoleAssignment:
    from incidents import services as incident_services

    membership = make_membership(organisation, Role.RESPONDER)
    return incident_services.incident_role_assign(
        incident=make_incident(organisation),
        user=membership.user,
        role="scribe",
        actor=Actor.system("tests"),
    )


def make_webhook_endpoint(organisation: Organisation) -> WebhookEndpoint:
    """Created directly: the service resolves the URL's host, and tests have no DNS."""
    from notifications.webhooks import _new_secret, _store_secret

    endpoint = WebhookEndpoint.all_tenants.create(
        organisation=organisation, url="https://hooks.example.com/crisis"
    )
    _store_secret(endpoint, _new_secret())
    return endpoint


def make_webhook_message(organisation: Organisation) -> WebhookMessage:
    from notifications.webhooks import envelope

    event = make_event(organisation)
    return WebhookMessage.all_tenants.create(
        organisation=organisation,
        endpoint=make_webhook_endpoint(organisation),
        event=event,
        event_type=event.type,
        body=envelope(event),
        status=WebhookMessage.Status.FAILED,
    )


def make_contact_method(organisation: Organisation, user: User | None = None) -> ContactMethod:
    from crisis_api.crypto import encrypt

    user = user or make_membership(organisation, Role.RESPONDER).user
    n = next(_types)
    return ContactMethod.all_tenants.create(
        organisation=organisation,
        user=user,
        kind="email",
        target_ciphertext=encrypt(f"pager{n}@example.test"),
        target_hint=f"pa…{n}",
        target_digest=f"digest-{n}",
        verified_at=timezone.now(),
    )


def make_rule(organisation: Organisation) -> NotificationRule:
    method = make_contact_method(organisation)
    return NotificationRule.all_tenants.create(
        organisation=organisation, user=method.user, contact_methods=[str(method.pk)]
    )


def make_policy(organisation: Organisation) -> EscalationPolicy:
    policy = EscalationPolicy.all_tenants.create(organisation=organisation, name="Default")
    EscalationLevel.all_tenants.create(
        organisation=organisation, policy=policy, position=0, organisation_roles=["owner"]
    )
    return policy


def make_notification(organisation: Organisation) -> Notification:
    method = make_contact_method(organisation)
    return Notification.all_tenants.create(
        organisation=organisation,
        event=make_event(organisation),
        recipient=method.user,
        contact_method=method,
        channel=method.kind,
    )


def make_template(organisation: Organisation) -> MessageTemplate:
    from communications import services as comms

    return comms.template_create(
        organisation=organisation,
        actor=Actor.system("tests"),
        name=f"Holding statement {next(_types)}",
        kind="public_statement",
        title="We are looking into {{ incident_title }}",
        body="We are sorry. We are investigating and will update you within the hour.",
    )


def make_message(organisation: Organisation, **fields: Any) -> Message:
    from communications import services as comms

    fields.setdefault("kind", "public_statement")
    fields.setdefault("title", "Service disruption")
    fields.setdefault("body", "We are sorry for the disruption. We will post an update by 14:00.")
    fields.setdefault("channels", ["status_page"])
    fields.setdefault("status_label", "investigating")
    return comms.message_create(organisation=organisation, actor=Actor.system("tests"), **fields)


def make_approval_policy(organisation: Organisation) -> ApprovalPolicy:
    return ApprovalPolicy.all_tenants.create(
        organisation=organisation,
        name=f"Policy {next(_types)}",
        steps=[
            {
                "name": "Comms",
                "roles": ["comms_lead"],
                "incident_roles": [],
                "users": [],
                "rule": "any",
            }
        ],
    )


def make_channel_account(organisation: Organisation) -> ChannelAccount:
    from crisis_api.crypto import encrypt

    return ChannelAccount.all_tenants.create(
        organisation=organisation,
        platform="mastodon",
        base_url="https://mastodon.example.com",
        handle="brand",
        credential_ciphertext=encrypt("token-1234567890"),
        credential_hint="…7890",
        is_active=False,  # inactive: the suites may make several per organisation
    )


def make_banned_term(organisation: Organisation) -> BannedTerm:
    return BannedTerm.all_tenants.create(organisation=organisation, term=f"cheap{next(_types)}")


def make_status_page(organisation: Organisation) -> StatusPage:
    return StatusPage.all_tenants.get_or_create(organisation=organisation)[0]


def make_status_update(organisation: Organisation) -> StatusUpdate:
    """A published status-page update: drafted, approved by another member, delivered."""
    from communications import services as comms

    author = make_membership(organisation, Role.COMMS_LEAD).user
    approver = make_membership(organisation, Role.APPROVER).user
    message = make_message(organisation)
    comms.message_submit(message=message, actor=Actor.of_user(author))
    comms.message_approve(
        message=message, actor=Actor.of_user(approver), user=approver, role=Role.APPROVER
    )
    comms.message_publish(message=message, actor=Actor.system("tests"))
    comms.message_deliver(message_id=message.pk)
    return StatusUpdate.all_tenants.get(message=message)


DEMO_STEPS: list[dict[str, Any]] = DATA_BREACH_PLAN["steps"][:2]


def make_playbook(
    organisation: Organisation, *, steps: list[dict[str, Any]] | None = None, **kwargs: Any
) -> Playbook:
    """A published playbook (auto_start off unless asked, so incidents made elsewhere in a
    test do not start it behind the test's back)."""
    from playbooks import services as playbook_services

    kwargs.setdefault("auto_start", False)
    playbook = playbook_services.playbook_create(
        organisation=organisation,
        actor=Actor.system("tests"),
        name=kwargs.pop("name", f"Playbook {next(_types)}"),
        steps=DEMO_STEPS if steps is None else steps,
        **kwargs,
    )
    playbook_services.playbook_publish(playbook=playbook, actor=Actor.system("tests"))
    playbook.refresh_from_db()
    return playbook


def make_playbook_version(organisation: Organisation) -> PlaybookVersion:
    return PlaybookVersion.all_tenants.get(playbook=make_playbook(organisation))


def make_run(organisation: Organisation) -> PlaybookRun:
    from playbooks import services as playbook_services

    return playbook_services.playbook_run_start(
        incident=make_incident(organisation),
        playbook=make_playbook(organisation),
        actor=Actor.system("tests"),
    )


def make_drill(organisation: Organisation, **kwargs: Any) -> Drill:
    from playbooks import services as playbook_services

    return playbook_services.drill_schedule(
        organisation=organisation,
        actor=Actor.system("tests"),
        playbook=kwargs.pop("playbook", None) or make_playbook(organisation),
        title=kwargs.pop("title", "Data leak rehearsal"),
        crisis_type=CrisisType.all_tenants.filter(organisation=organisation).first(),
        severity=severity_of(organisation),
        scheduled_for=kwargs.pop("scheduled_for", timezone.now()),
        **kwargs,
    )


def make_training_record(organisation: Organisation) -> TrainingRecord:
    from playbooks import services as playbook_services

    user = make_membership(organisation, Role.RESPONDER).user
    drill = make_drill(organisation, participants=[(user, "commander")])
    drill = playbook_services.drill_start(drill=drill, actor=Actor.system("tests"))
    playbook_services.drill_finish(drill=drill, actor=Actor.system("tests"), outcome="passed")
    return TrainingRecord.all_tenants.get(drill=drill)


def make_source(organisation: Organisation, **kwargs: Any) -> Source:
    """A feed source, created directly: the service resolves the URL's host, tests have no DNS."""
    n = next(_types)
    fields: dict[str, Any] = {
        "kind": Source.Kind.FEED,
        "name": f"Feed {n}",
        "config": {"url": f"https://feeds.example.com/{n}.xml"},
        "next_poll_at": timezone.now(),
        **kwargs,
    }
    return Source.all_tenants.create(organisation=organisation, **fields)


def make_watch_term(organisation: Organisation) -> WatchTerm:
    from monitoring.services import watch_term_create

    return watch_term_create(
        organisation=organisation,
        actor=Actor.system("tests"),
        phrase=f"Acme {next(_types)}",
        kind=WatchTerm.Kind.BRAND,
    )


def make_mention(organisation: Organisation, **kwargs: Any) -> Mention:
    n = next(_types)
    fields: dict[str, Any] = {
        "external_id": f"post-{n}",
        "text": f"Post number {n} about Acme",
        "posted_at": timezone.now(),
        **kwargs,
    }
    if "source" not in fields:
        fields["source"] = make_source(organisation)
    return Mention.all_tenants.create(organisation=organisation, **fields)


def make_detection_rule(organisation: Organisation) -> DetectionRule:
    return DetectionRule.all_tenants.create(
        organisation=organisation, name=f"Rule {next(_types)}", metric="negative_volume"
    )


def make_signal(organisation: Organisation) -> Signal:
    rule = make_detection_rule(organisation)
    now = timezone.now()
    return Signal.all_tenants.create(
        organisation=organisation,
        rule=rule,
        rule_name=rule.name,
        metric=rule.metric,
        mode="active",
        dedupe_key=f"{rule.pk}:1",
        window_start=now,
        window_end=now,
        observed=12,
        baseline=2,
        score=6,
    )


def make_case(organisation: Organisation) -> Case:
    return Case.all_tenants.create(
        organisation=organisation,
        platform="mastodon",
        author_key=f"author-{next(_types)}",
        author_handle="@angry@example.social",
    )


def make_incident_mention(organisation: Organisation) -> IncidentMention:
    return IncidentMention.all_tenants.create(
        organisation=organisation,
        incident=make_incident(organisation),
        mention=make_mention(organisation),
    )


TENANT_OBJECT_MAKERS: dict[type[models.Model], Callable[[Organisation], models.Model]] = {
    Organisation: lambda organisation: organisation,
    Membership: make_membership,
    Invitation: make_invitation,
    ApiKey: make_api_key,
    Event: make_event,
    CrisisType: make_crisis_type,
    Severity: make_severity,
    Incident: make_incident,
    Task: make_task,
    RoleAssignment: make_assignment,
    WebhookEndpoint: make_webhook_endpoint,
    WebhookMessage: make_webhook_message,
    ContactMethod: make_contact_method,
    NotificationRule: make_rule,
    EscalationPolicy: make_policy,
    Notification: make_notification,
    MessageTemplate: make_template,
    Message: make_message,
    ApprovalPolicy: make_approval_policy,
    ChannelAccount: make_channel_account,
    BannedTerm: make_banned_term,
    StatusPage: make_status_page,
    StatusUpdate: make_status_update,
    Playbook: make_playbook,
    PlaybookVersion: make_playbook_version,  # admin only
    PlaybookRun: make_run,
    Drill: make_drill,
    TrainingRecord: make_training_record,
    Source: make_source,
    WatchTerm: make_watch_term,
    Mention: make_mention,
    DetectionRule: make_detection_rule,
    Signal: make_signal,
    Case: make_case,
    IncidentMention: make_incident_mention,
}
