"""Members and roles: only owners grant, change or remove the owner role; an organisation always
keeps an owner; role changes and removals are recorded in the event log."""

from __future__ import annotations

from collections.abc import Callable

from rest_framework.response import Response
from rest_framework.test import APIClient

from organisations.models import Event, Membership, Organisation, Role
from tests.conftest import membership_of
from tests.problems import assert_problem

MEMBERS = "/api/v1/orgs/xyz/members/"

MemberClient = Callable[..., APIClient]


def set_role(client: APIClient, member: APIClient, role: str) -> Response:
    url = f"{MEMBERS}{membership_of(member).id}/"
    return client.patch(url, {"role": role}, format="json")  # type: ignore[no-any-return]


def remove(client: APIClient, member: APIClient) -> Response:
    return client.delete(f"{MEMBERS}{membership_of(member).id}/")  # type: ignore[no-any-return]


def role_of(member: APIClient) -> str | None:
    row = Membership.all_tenants.filter(pk=membership_of(member).pk).first()
    return row.role if row else None


def events_of(organisation: Organisation, type: str) -> list[Event]:
    return list(Event.all_tenants.filter(organisation=organisation, type=type))


# --- Owners -------------------------------------------------------------------------------------


def test_owner_can_grant_owner(owner: APIClient, admin: APIClient) -> None:
    response = set_role(owner, admin, Role.OWNER)

    assert response.status_code == 200, response.content
    assert response.json()["role"] == Role.OWNER
    assert role_of(admin) == Role.OWNER


def test_admin_cannot_grant_owner(owner: APIClient, admin: APIClient, responder: APIClient) -> None:
    assert_problem(set_role(admin, responder, Role.OWNER), 403)
    assert_problem(set_role(admin, admin, Role.OWNER), 403)

    assert role_of(responder) == Role.RESPONDER
    assert role_of(admin) == Role.ADMIN


def test_admin_cannot_demote_an_owner(owner: APIClient, admin: APIClient) -> None:
    assert_problem(set_role(admin, owner, Role.VIEWER), 403)

    assert role_of(owner) == Role.OWNER


def test_admin_cannot_remove_an_owner(
    org: Organisation, owner: APIClient, admin: APIClient, member_client: MemberClient
) -> None:
    second_owner = member_client(org, Role.OWNER)

    assert_problem(remove(admin, second_owner), 403)

    assert role_of(second_owner) == Role.OWNER
    assert not events_of(org, "membership.removed")


def test_owner_can_demote_another_owner(
    org: Organisation, owner: APIClient, member_client: MemberClient
) -> None:
    second_owner = member_client(org, Role.OWNER)

    assert set_role(owner, second_owner, Role.ADMIN).status_code == 200

    assert role_of(second_owner) == Role.ADMIN


def test_owner_can_remove_another_owner(
    org: Organisation, owner: APIClient, member_client: MemberClient
) -> None:
    second_owner = member_client(org, Role.OWNER)

    assert remove(owner, second_owner).status_code == 204

    assert role_of(second_owner) is None


def test_last_owner_cannot_be_demoted(org: Organisation, owner: APIClient) -> None:
    events_before = Event.all_tenants.filter(organisation=org).count()

    assert_problem(set_role(owner, owner, Role.ADMIN), 409, "conflict")

    assert role_of(owner) == Role.OWNER
    assert Event.all_tenants.filter(organisation=org).count() == events_before


def test_last_owner_cannot_be_removed(org: Organisation, owner: APIClient) -> None:
    assert_problem(remove(owner, owner), 409, "conflict")

    assert role_of(owner) == Role.OWNER
    assert not events_of(org, "membership.removed")


def test_owner_may_step_down_while_another_owner_remains(
    org: Organisation, owner: APIClient, member_client: MemberClient
) -> None:
    second_owner = member_client(org, Role.OWNER)

    assert set_role(owner, owner, Role.ADMIN).status_code == 200
    assert_problem(set_role(second_owner, second_owner, Role.ADMIN), 409)

    assert role_of(second_owner) == Role.OWNER


# --- Other roles --------------------------------------------------------------------------------


def test_admin_changes_a_responders_role_and_it_is_recorded(
    org: Organisation, owner: APIClient, admin: APIClient, responder: APIClient
) -> None:
    response = set_role(admin, responder, Role.APPROVER)

    assert response.status_code == 200, response.content
    assert response.json()["role"] == Role.APPROVER
    assert role_of(responder) == Role.APPROVER
    [event] = events_of(org, "membership.role_changed")
    assert event.subject_type == "membership"
    assert event.subject_id == str(membership_of(responder).id)
    assert event.actor_id == str(membership_of(admin).user_id)
    assert event.payload == {
        "user_id": str(membership_of(responder).user_id),
        "from": Role.RESPONDER,
        "to": Role.APPROVER,
    }


def test_setting_the_same_role_records_nothing(
    org: Organisation, owner: APIClient, responder: APIClient
) -> None:
    assert set_role(owner, responder, Role.RESPONDER).status_code == 200

    assert not events_of(org, "membership.role_changed")


def test_admin_removes_a_member_and_it_is_recorded(
    org: Organisation, owner: APIClient, admin: APIClient, responder: APIClient
) -> None:
    assert remove(admin, responder).status_code == 204

    assert role_of(responder) is None
    [event] = events_of(org, "membership.removed")
    assert event.payload["role"] == Role.RESPONDER
    assert event.subject_id == str(membership_of(responder).id)


def test_members_below_admin_cannot_change_roles(
    owner: APIClient, responder: APIClient, viewer: APIClient
) -> None:
    assert_problem(set_role(responder, viewer, Role.ADMIN), 403)
    assert_problem(set_role(viewer, viewer, Role.ADMIN), 403)
    assert_problem(remove(responder, viewer), 403)

    assert role_of(viewer) == Role.VIEWER


def test_unknown_role_is_400(owner: APIClient, responder: APIClient) -> None:
    body = assert_problem(set_role(owner, responder, "emperor"), 400)

    assert [error["attr"] for error in body["errors"]] == ["role"]
    assert role_of(responder) == Role.RESPONDER


def test_members_of_another_org_are_404(
    owner: APIClient, other_org: Organisation, member_client: MemberClient
) -> None:
    stranger = member_client(other_org, Role.RESPONDER)

    assert_problem(owner.get(f"{MEMBERS}{membership_of(stranger).id}/"), 404)
    assert_problem(set_role(owner, stranger, Role.VIEWER), 404)
    assert_problem(remove(owner, stranger), 404)
    assert role_of(stranger) == Role.RESPONDER


def test_outsider_sees_no_members(owner: APIClient, outsider: APIClient) -> None:
    assert_problem(outsider.get(MEMBERS), 404)


def test_every_member_can_list_members(
    owner: APIClient, viewer: APIClient, responder: APIClient
) -> None:
    response = viewer.get(MEMBERS)

    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["results"]}
    assert ids == {str(membership_of(c).id) for c in (owner, viewer, responder)}
