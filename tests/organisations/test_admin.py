"""The platform admin: every page renders; every change it makes goes through a service and leaves
an event; suspension blocks the API without deleting anything; secrets are shown once, hashes never;
the event log cannot be edited."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.models import Model
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from incidents.models import Review
from organisations import services
from organisations.admin import LIMIT_FIELDS
from organisations.events import Actor
from organisations.models import (
    PLAN_LIMITS,
    ApiKey,
    AuthToken,
    Event,
    EventChainHead,
    Invitation,
    Membership,
    Organisation,
    Role,
    User,
)
from organisations.secrets import hash_secret
from tests.conftest import api_key_of, client_for, client_for_key, membership_of
from tests.factories import (
    TENANT_OBJECT_MAKERS,
    OrganisationFactory,
    UserFactory,
    make_api_key,
    make_event,
    make_invitation,
    make_membership,
)
from tests.incidents_admin.test_admin import make_review

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

MEMBERS = "/api/v1/orgs/xyz/members/"
ADMIN_EMAIL = "admin@example.com"  # pytest-django's admin_user


def new_user(**fields: Any) -> User:
    return UserFactory(**fields)  # type: ignore[no-any-return]


# One object of each model registered in the admin; a newly registered model needs a maker here
# (or in TENANT_OBJECT_MAKERS) so its pages are walked without anyone remembering to.
MAKERS: dict[type[Model], Callable[[Organisation], Model]] = {
    **TENANT_OBJECT_MAKERS,
    User: lambda organisation: new_user(),
    AuthToken: lambda organisation: services.auth_token_create(user=new_user())[0],
    Group: lambda organisation: Group.objects.create(name="support"),
    Review: make_review,
}


def url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def run_action(client: Client, model: type[Model], action: str, objs: list[Any]) -> Response:
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(obj.pk) for obj in objs]}
    response = client.post(url(model, "changelist"), data, follow=True)
    assert response.status_code == 200
    return response


def messages_of(response: Response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def events_of(organisation: Organisation, type: str) -> list[Event]:
    return list(Event.all_tenants.filter(organisation=organisation, type=type).order_by("seq"))


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


# --- Every page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda model: model._meta.label)
def test_every_admin_page_renders_for_a_superuser(
    model: type[Model], admin_client: Client, admin_user: User, org: Organisation
) -> None:
    maker = MAKERS.get(model)
    if maker is None:
        pytest.fail(f"{model._meta.label} is registered in the admin: add it to MAKERS")
    obj = maker(org)
    request = RequestFactory().get("/admin/")
    request.user = admin_user

    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "changelist"), {"q": "x"}).status_code == 200
    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200
    can_add = admin.site._registry[model].has_add_permission(request)
    assert admin_client.get(url(model, "add")).status_code == (200 if can_add else 403)


@pytest.mark.parametrize(
    ("model", "query"),
    [
        (Organisation, {"suspended": "yes"}),
        (Organisation, {"suspended": "no", "plan": "free"}),
        (ApiKey, {"status": "active"}),
        (ApiKey, {"status": "expired"}),
        (ApiKey, {"status": "revoked"}),
        (Invitation, {"status": "pending"}),
        (Invitation, {"status": "accepted"}),
        (Invitation, {"status": "revoked"}),
        (Invitation, {"status": "expired"}),
        (AuthToken, {"status": "active"}),
        (AuthToken, {"status": "revoked"}),
        (Event, {"actor_type": "system", "type": "test.happened"}),
    ],
)
def test_list_filters_render(
    model: type[Model], query: dict[str, str], admin_client: Client, org: Organisation
) -> None:
    MAKERS[model](org)

    response = admin_client.get(url(model, "changelist"), query)

    assert response.status_code == 200  # an unknown filter would redirect to ?e=1


def test_status_and_suspended_filters_select_the_right_rows(
    admin_client: Client, org: Organisation, other_org: Organisation
) -> None:
    active, revoked = make_api_key(org), make_api_key(org)
    services.api_key_revoke(api_key=revoked, actor=Actor.system())
    services.organisation_suspend(organisation=other_org, actor=Actor.system(), reason="test")

    def listed(model: type[Model], query: dict[str, str]) -> set[str]:
        response = admin_client.get(url(model, "changelist"), query)
        return {str(obj.pk) for obj in response.context["cl"].result_list}

    assert listed(ApiKey, {"status": "revoked"}) == {str(revoked.pk)}
    assert listed(ApiKey, {"status": "active"}) == {str(active.pk)}
    assert listed(Organisation, {"suspended": "yes"}) == {str(other_org.pk)}
    assert listed(Organisation, {"suspended": "no"}) == {str(org.pk)}


def test_organisation_list_counts_members_without_a_query_per_row(admin_client: Client) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert admin_client.get(url(Organisation, "changelist")).status_code == 200
        return len(context.captured_queries)

    first = OrganisationFactory()
    make_membership(first)
    one_row = queries()
    for _ in range(4):
        organisation = OrganisationFactory()
        make_membership(organisation, Role.OWNER)
        make_membership(organisation)

    assert queries() == one_row
    response = admin_client.get(url(Organisation, "changelist"))
    assert '<td class="field-member_count">2</td>' in response.content.decode()


# --- Suspension ---------------------------------------------------------------------------------


def test_suspend_and_unsuspend_actions_change_state_and_record_events(
    admin_client: Client, org: Organisation
) -> None:
    response = run_action(admin_client, Organisation, "suspend", [org])

    org.refresh_from_db()
    assert org.is_suspended
    assert org.suspended_reason == f"Suspended by platform admin {ADMIN_EMAIL}"
    assert "Suspended 1 organisation(s)." in messages_of(response)
    [suspended] = events_of(org, "organisation.suspended")
    assert (suspended.actor_type, suspended.actor_label) == ("user", ADMIN_EMAIL)

    run_action(admin_client, Organisation, "unsuspend", [org])

    org.refresh_from_db()
    assert not org.is_suspended
    assert org.suspended_reason == ""
    assert len(events_of(org, "organisation.unsuspended")) == 1


def test_suspending_twice_records_one_event(admin_client: Client, org: Organisation) -> None:
    run_action(admin_client, Organisation, "suspend", [org])
    response = run_action(admin_client, Organisation, "suspend", [org])

    assert "Suspended 0 organisation(s)." in messages_of(response)
    assert len(events_of(org, "organisation.suspended")) == 1


def test_suspended_organisation_gets_403_problem_and_keeps_its_data(
    admin_client: Client,
    org: Organisation,
    owner: APIClient,
    api_key_client: Callable[[Organisation, list[str]], APIClient],
) -> None:
    key_client = api_key_client(org, ["members:read"])
    make_event(org)
    memberships = Membership.all_tenants.filter(organisation=org).count()
    keys = ApiKey.all_tenants.filter(organisation=org).count()
    events = Event.all_tenants.filter(organisation=org).count()

    run_action(admin_client, Organisation, "suspend", [org])

    assert_problem(owner.get(MEMBERS), 403, "organisation_suspended")
    assert_problem(key_client.get(MEMBERS), 403, "organisation_suspended")
    assert Organisation.objects.filter(pk=org.pk).exists()
    assert Membership.all_tenants.filter(organisation=org).count() == memberships
    assert ApiKey.all_tenants.filter(organisation=org).count() == keys
    assert Event.all_tenants.filter(organisation=org).count() == events + 1

    run_action(admin_client, Organisation, "unsuspend", [org])

    assert owner.get(MEMBERS).status_code == 200
    assert key_client.get(MEMBERS).status_code == 200


def test_organisations_cannot_be_deleted_in_the_admin(
    admin_client: Client, org: Organisation
) -> None:
    assert (
        admin_client.post(url(Organisation, "delete", org.pk), {"post": "yes"}).status_code == 403
    )
    assert Organisation.objects.filter(pk=org.pk).exists()


# --- Organisation forms -------------------------------------------------------------------------


def change_data(organisation: Organisation, **overrides: Any) -> dict[str, Any]:
    """The change form as the admin renders it for `organisation`, with `overrides` applied."""
    memberships = list(Membership.all_tenants.filter(organisation=organisation))
    data: dict[str, Any] = {
        "name": organisation.name,
        "plan": organisation.plan,
        **{field: getattr(organisation, field) for field in LIMIT_FIELDS},
        "membership_set-TOTAL_FORMS": len(memberships),
        "membership_set-INITIAL_FORMS": len(memberships),
        "membership_set-MIN_NUM_FORMS": 0,
        "membership_set-MAX_NUM_FORMS": 1000,
    }
    for i, membership in enumerate(memberships):
        data[f"membership_set-{i}-id"] = membership.pk
        data[f"membership_set-{i}-organisation"] = organisation.pk
        data[f"membership_set-{i}-role"] = membership.role
    data.update(overrides)
    return data


def save_organisation(client: Client, organisation: Organisation, **overrides: Any) -> Any:
    return client.post(
        url(Organisation, "change", organisation.pk), change_data(organisation, **overrides)
    )


def test_editing_limits_goes_through_the_service_and_records_the_change(
    admin_client: Client, org: Organisation
) -> None:
    response = save_organisation(admin_client, org, max_members=42)

    assert response.status_code == 302, response.context and response.context["errors"]
    org.refresh_from_db()
    assert org.max_members == 42
    [event] = events_of(org, "organisation.plan_changed")
    assert event.payload == {"changes": {"max_members": {"from": 10, "to": 42}}}
    assert event.actor_label == ADMIN_EMAIL


def test_changing_the_plan_resets_its_limits(admin_client: Client, org: Organisation) -> None:
    save_organisation(admin_client, org, plan=Organisation.Plan.TEAM)

    org.refresh_from_db()
    assert org.plan == Organisation.Plan.TEAM
    for field, value in PLAN_LIMITS[Organisation.Plan.TEAM].items():
        assert getattr(org, field) == value
    [event] = events_of(org, "organisation.plan_changed")
    assert event.payload["changes"]["plan"] == {"from": "free", "to": "team"}


def test_renaming_records_an_update_and_an_unchanged_save_records_nothing(
    admin_client: Client, org: Organisation
) -> None:
    save_organisation(admin_client, org)
    assert not Event.all_tenants.filter(organisation=org).exists()

    save_organisation(admin_client, org, name="XYZ Holdings")

    org.refresh_from_db()
    assert org.name == "XYZ Holdings"
    [event] = events_of(org, "organisation.updated")
    assert event.payload == {"changes": {"name": {"from": "XYZ", "to": "XYZ Holdings"}}}


def test_slug_is_read_only_on_the_change_form(admin_client: Client, org: Organisation) -> None:
    save_organisation(admin_client, org, slug="renamed")

    org.refresh_from_db()
    assert org.slug == "xyz"


def test_adding_an_organisation_requires_an_owner_and_uses_the_service(
    admin_client: Client,
) -> None:
    owner = new_user()
    add = url(Organisation, "add")

    missing_owner = admin_client.post(add, {"name": "Acme", "slug": "", "plan": "team"})
    assert missing_owner.status_code == 200
    assert "owner" in missing_owner.context["adminform"].form.errors

    response = admin_client.post(
        add, {"name": "Acme", "slug": "", "plan": "team", "owner": owner.pk}
    )

    assert response.status_code == 302
    organisation = Organisation.objects.get(name="Acme")
    assert organisation.slug == "acme"
    assert organisation.max_members == PLAN_LIMITS["team"]["max_members"]
    assert EventChainHead.objects.filter(organisation=organisation).exists()
    membership = Membership.all_tenants.get(organisation=organisation)
    assert (membership.user, membership.role) == (owner, Role.OWNER)
    types = [event.type for event in Event.all_tenants.filter(organisation=organisation)]
    assert types == ["organisation.created", "membership.created"]
    assert LogEntry.objects.filter(object_id=str(organisation.pk)).exists()


def test_adding_an_organisation_refuses_a_slug_the_api_could_not_route(
    admin_client: Client,
) -> None:
    data = {"name": "Acme", "slug": "Acme_Corp", "plan": "free", "owner": new_user().pk}

    response = admin_client.post(url(Organisation, "add"), data)

    assert response.status_code == 200
    assert "slug" in response.context["adminform"].form.errors
    assert not Organisation.objects.filter(name="Acme").exists()


def test_owner_picker_autocompletes_users_by_email(admin_client: Client) -> None:
    user = new_user(email="someone@acme.test")
    query = {"app_label": "organisations", "model_name": "membership", "field_name": "user"}

    response = admin_client.get("/admin/autocomplete/", {**query, "term": "acme"})

    assert response.status_code == 200
    assert [result["id"] for result in response.json()["results"]] == [str(user.pk)]


# --- Membership inline --------------------------------------------------------------------------


def inline_index(organisation: Organisation, membership: Membership) -> int:
    pks = list(
        Membership.all_tenants.filter(organisation=organisation).values_list("pk", flat=True)
    )
    return pks.index(membership.pk)


def test_inline_role_change_goes_through_the_service(
    admin_client: Client, org: Organisation, owner: APIClient
) -> None:
    member = make_membership(org, Role.VIEWER)
    i = inline_index(org, member)

    response = save_organisation(admin_client, org, **{f"membership_set-{i}-role": Role.ADMIN})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == Role.ADMIN
    [event] = events_of(org, "membership.role_changed")
    assert event.payload["from"] == Role.VIEWER
    assert event.payload["to"] == Role.ADMIN


def test_inline_can_hand_ownership_over_in_one_save(
    admin_client: Client, org: Organisation, owner: APIClient
) -> None:
    current, successor = membership_of(owner), make_membership(org, Role.ADMIN)

    response = save_organisation(
        admin_client,
        org,
        **{
            f"membership_set-{inline_index(org, current)}-role": Role.ADMIN,
            f"membership_set-{inline_index(org, successor)}-role": Role.OWNER,
        },
    )

    assert response.status_code == 302
    current.refresh_from_db()
    successor.refresh_from_db()
    assert (current.role, successor.role) == (Role.ADMIN, Role.OWNER)


def test_inline_refuses_to_leave_no_owner(
    admin_client: Client, org: Organisation, owner: APIClient
) -> None:
    i = inline_index(org, membership_of(owner))

    demoted = save_organisation(admin_client, org, **{f"membership_set-{i}-role": Role.ADMIN})
    removed = save_organisation(admin_client, org, **{f"membership_set-{i}-DELETE": "on"})

    for response in (demoted, removed):
        assert response.status_code == 200
        assert "at least one owner" in response.content.decode()
    assert Membership.all_tenants.get(pk=membership_of(owner).pk).role == Role.OWNER
    assert not Event.all_tenants.filter(organisation=org, type__startswith="membership.").exists()


def test_inline_removal_goes_through_the_service(
    admin_client: Client, org: Organisation, owner: APIClient
) -> None:
    member = make_membership(org, Role.RESPONDER)
    i = inline_index(org, member)

    response = save_organisation(admin_client, org, **{f"membership_set-{i}-DELETE": "on"})

    assert response.status_code == 302
    assert not Membership.all_tenants.filter(pk=member.pk).exists()
    [event] = events_of(org, "membership.removed")
    assert event.payload == {"user_id": str(member.user_id), "role": Role.RESPONDER}


# --- Users --------------------------------------------------------------------------------------


def test_adding_a_user_takes_an_email_and_a_checked_password(admin_client: Client) -> None:
    add = url(User, "add")
    password = "a-long-enough-passphrase-7"

    weak = admin_client.post(add, {"email": "x@example.test", "password1": "1", "password2": "1"})
    assert weak.status_code == 200
    assert not User.objects.filter(email="x@example.test").exists()

    response = admin_client.post(
        add, {"email": "New.Person@Example.test", "password1": password, "password2": password}
    )

    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.test")
    assert user.check_password(password)
    assert not user.is_staff


def test_user_change_page_shows_no_password_or_hash_input(
    admin_client: Client, org: Organisation
) -> None:
    user = make_membership(org, Role.ADMIN).user

    response = admin_client.get(url(User, "change", user.pk))

    content = response.content.decode()
    assert response.status_code == 200
    assert user.password not in content
    assert 'name="password"' not in content
    assert "XYZ (Admin)" in content


# --- API keys -----------------------------------------------------------------------------------


def test_revoke_action_makes_the_key_fail_with_401(
    admin_client: Client,
    org: Organisation,
    api_key_client: Callable[[Organisation, list[str]], APIClient],
) -> None:
    key_client = api_key_client(org, ["members:read"])
    assert key_client.get(MEMBERS).status_code == 200

    run_action(admin_client, ApiKey, "revoke", [api_key_of(key_client)])

    assert_problem(key_client.get(MEMBERS), 401, "api_key_revoked")
    [event] = events_of(org, "api_key.revoked")
    assert event.actor_label == ADMIN_EMAIL


def test_adding_a_key_shows_its_secret_once_and_never_again(
    admin_client: Client, org: Organisation
) -> None:
    data = {
        "organisation": org.pk,
        "name": "Zapier",
        "scopes": ["members:read"],
        "expires_at_0": "",
        "expires_at_1": "",
    }

    response = admin_client.post(url(ApiKey, "add"), data, follow=True)

    api_key = ApiKey.all_tenants.get(name="Zapier")
    [secret] = [
        match.group(0)
        for message in messages_of(response)
        for match in [re.search(r"cak_\S+", message)]
        if match
    ]
    assert hash_secret(secret) == api_key.key_hash
    assert api_key.scopes == ["members:read"]
    assert client_for_key(secret).get(MEMBERS).status_code == 200
    [event] = events_of(org, "api_key.created")
    assert event.actor_label == ADMIN_EMAIL
    for page in (url(ApiKey, "change", api_key.pk), url(ApiKey, "changelist")):
        content = admin_client.get(page).content.decode()
        assert secret not in content
        assert api_key.key_hash not in content
    assert not LogEntry.objects.filter(change_message__contains=secret).exists()
    assert secret not in str(Event.all_tenants.filter(organisation=org).values_list("payload"))


def test_adding_a_key_respects_the_plan_limit(admin_client: Client, org: Organisation) -> None:
    org.max_api_keys = 1
    org.save(update_fields=["max_api_keys"])
    make_api_key(org)
    data = {"organisation": org.pk, "name": "Second", "scopes": ["events:read"]}

    response = admin_client.post(url(ApiKey, "add"), data)

    assert response.status_code == 200
    assert "allows 1 active API keys" in response.content.decode()
    assert not ApiKey.all_tenants.filter(name="Second").exists()


def test_existing_key_only_allows_renaming(admin_client: Client, org: Organisation) -> None:
    api_key = make_api_key(org, ["events:read"])
    data = {"name": "Renamed", "scopes": ["members:read"], "prefix": "changed"}

    response = admin_client.post(url(ApiKey, "change", api_key.pk), data)

    assert response.status_code == 302
    stored = ApiKey.all_tenants.get(pk=api_key.pk)
    assert (stored.name, stored.scopes, stored.prefix) == (
        "Renamed",
        ["events:read"],
        api_key.prefix,
    )
    [event] = events_of(org, "api_key.updated")
    assert event.payload == {"changes": {"name": {"from": "integration", "to": "Renamed"}}}


# --- Event log ----------------------------------------------------------------------------------


def test_event_log_is_read_only(admin_client: Client, org: Organisation) -> None:
    event = make_event(org)

    assert admin_client.get(url(Event, "add")).status_code == 403
    assert admin_client.post(url(Event, "change", event.pk), {"type": "x"}).status_code == 403
    assert admin_client.post(url(Event, "delete", event.pk), {"post": "yes"}).status_code == 403
    changelist = admin_client.get(url(Event, "changelist"))
    actions = [name for name, _ in changelist.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    stored = Event.all_tenants.get(pk=event.pk)
    assert (stored.type, stored.hash) == (event.type, event.hash)


def test_event_detail_pretty_prints_the_payload(admin_client: Client, org: Organisation) -> None:
    event = make_event(org)

    response = admin_client.get(url(Event, "change", event.pk))

    assert response.status_code == 200
    assert "<pre>{\n  &quot;n&quot;: 1\n}</pre>" in response.content.decode()


def test_verify_chain_actions_report_ok(admin_client: Client, org: Organisation) -> None:
    event = make_event(org)
    make_event(org)

    from_organisations = run_action(admin_client, Organisation, "verify_event_chain", [org])
    from_events = run_action(admin_client, Event, "verify_chains", [event])

    for response in (from_organisations, from_events):
        assert messages_of(response) == ["XYZ: event chain intact (2 events checked)."]


def test_verify_chain_action_reports_a_broken_chain(
    admin_client: Client, org: Organisation, other_org: Organisation
) -> None:
    make_event(org)
    make_event(other_org)
    EventChainHead.objects.filter(organisation=org).update(seq=5)

    response = run_action(admin_client, Organisation, "verify_event_chain", [org, other_org])

    [intact, broken] = messages_of(response)  # in name order
    assert broken.startswith("XYZ: event chain BROKEN at #2")
    assert intact == "Other: event chain intact (1 events checked)."


# --- Invitations and app tokens -----------------------------------------------------------------


def test_invitation_revoke_action_uses_the_service(admin_client: Client, org: Organisation) -> None:
    invitation = make_invitation(org)

    run_action(admin_client, Invitation, "revoke", [invitation])
    again = run_action(admin_client, Invitation, "revoke", [invitation])

    assert Invitation.all_tenants.get(pk=invitation.pk).status == "revoked"
    assert len(events_of(org, "invitation.revoked")) == 1
    assert f"{invitation.email}: The invitation is revoked." in messages_of(again)


def test_invitations_and_tokens_are_read_only(admin_client: Client, org: Organisation) -> None:
    invitation = make_invitation(org)
    token, _ = services.auth_token_create(user=new_user())

    pages: list[tuple[type[Model], Model, str]] = [
        (Invitation, invitation, invitation.token_hash),
        (AuthToken, token, token.key_hash),
    ]
    for model, obj, secret_hash in pages:
        assert admin_client.get(url(model, "add")).status_code == 403
        assert admin_client.post(url(model, "change", obj.pk), {}).status_code == 403
        assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
        content = admin_client.get(url(model, "change", obj.pk)).content.decode()
        assert secret_hash not in content


def test_token_revoke_action_makes_the_token_fail_with_401(admin_client: Client) -> None:
    user = new_user()
    client = client_for(user)
    assert client.get("/api/v1/auth/me/").status_code == 200
    token = AuthToken.objects.get(user=user)

    run_action(admin_client, AuthToken, "revoke", [token])

    assert AuthToken.objects.get(pk=token.pk).revoked_at is not None
    assert_problem(client.get("/api/v1/auth/me/"), 401, "token_expired")


def test_actions_on_read_only_admins_need_the_change_permission(
    client: Client, org: Organisation
) -> None:
    staff = new_user(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename="view_invitation"))
    client.force_login(staff)
    invitation = make_invitation(org)

    response = client.get(url(Invitation, "changelist"))
    client.post(
        url(Invitation, "changelist"),
        {"action": "revoke", ACTION_CHECKBOX_NAME: [str(invitation.pk)]},
    )

    assert response.status_code == 200
    assert response.context["action_form"] is None  # no action left to offer
    assert Invitation.all_tenants.get(pk=invitation.pk).status == "pending"
