"""factory_boy factories, and the registry the route-walking suites use to make one object of
any tenant model a viewset serves. A new tenant model needs an entry in TENANT_OBJECT_MAKERS."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import factory
from django.db import models, transaction

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


TENANT_OBJECT_MAKERS: dict[type[models.Model], Callable[[Organisation], models.Model]] = {
    Organisation: lambda organisation: organisation,
    Membership: make_membership,
    Invitation: make_invitation,
    ApiKey: make_api_key,
    Event: make_event,
}
