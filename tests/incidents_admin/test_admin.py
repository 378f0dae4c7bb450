"""The incidents admin: every page renders; crisis types and severities change only through the
services (so each change leaves its event) and one in use cannot be deleted; incidents, tasks
and reviews are read-only."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import CrisisType, Incident, Note, Review, RoleAssignment, Severity, Task
from organisations.events import Actor
from organisations.models import Event, Organisation, Role, User
from tests.factories import (
    make_crisis_type,
    make_incident,
    make_membership,
    make_severity,
    make_task,
    severity_of,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

ADMIN_EMAIL = "admin@example.com"  # pytest-django's admin_user
SYSTEM = Actor.system("tests")


def make_review(organisation: Organisation) -> Review:
    incident = services.incident_transition(
        incident=make_incident(organisation), action="resolve", actor=SYSTEM
    )
    return services.review_update(
        incident=incident,
        actor=SYSTEM,
        summary="We replied too late.",
        contributing_factors=["No comms lead on call", "Approval <b>took</b> 3 hours"],
    )


MAKERS: dict[type[Model], Callable[[Organisation], Model]] = {
    CrisisType: make_crisis_type,
    Severity: make_severity,
    Incident: make_incident,
    Task: make_task,
    Review: make_review,
}
READ_ONLY = (Incident, Task, Review)


def url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def messages_of(response: Response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def events_of(organisation: Organisation, type: str) -> list[Event]:
    return list(Event.all_tenants.filter(organisation=organisation, type=type).order_by("seq"))


def listed(client: Client, model: type[Model], query: dict[str, Any]) -> set[str]:
    response = client.get(url(model, "changelist"), query)
    assert response.status_code == 200
    return {str(obj.pk) for obj in response.context["cl"].result_list}


def severity_data(severity: Severity, **overrides: Any) -> dict[str, Any]:
    """The severity change form as rendered, with `overrides` applied (False unticks a box)."""
    data: dict[str, Any] = {
        "name": severity.name,
        "rank": severity.rank,
        "description": severity.description,
        "public_update_interval_minutes": severity.public_update_interval_minutes,
        "review_required": severity.review_required,
        "approval_strictness": severity.approval_strictness,
        **overrides,
    }
    return {name: value for name, value in data.items() if value is not False}


# --- Every page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(MAKERS), ids=lambda model: model._meta.label)
def test_every_incidents_admin_page_renders_for_a_superuser(
    model: type[Model], admin_client: Client, admin_user: User, org: Organisation
) -> None:
    obj = MAKERS[model](org)
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    can_add = admin.site._registry[model].has_add_permission(request)

    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "changelist"), {"q": "x"}).status_code == 200
    assert admin_client.get(url(model, "changelist"), {"q": "1"}).status_code == 200
    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200
    assert admin_client.get(url(model, "add")).status_code == (200 if can_add else 403)
    assert can_add == (model in (CrisisType, Severity))


@pytest.mark.parametrize(
    ("model", "query"),
    [
        (Incident, {"status": "active", "is_drill__exact": "0", "visibility": "open"}),
        (Incident, {"severity_rank": "2", "created_at__gte": "2020-01-01 00:00:00+00:00"}),
        (Incident, {"severity_rank": "not-a-rank"}),
        (Task, {"status": "open", "source": "manual", "overdue": "yes"}),
        (Task, {"overdue": "no"}),
        (Review, {"status": "draft"}),
        (CrisisType, {"is_active__exact": "1"}),
        (Severity, {"review_required__exact": "1", "approval_strictness": "strict"}),
    ],
)
def test_list_filters_render(
    model: type[Model], query: dict[str, str], admin_client: Client, org: Organisation
) -> None:
    MAKERS[model](org)

    response = admin_client.get(url(model, "changelist"), query)

    assert response.status_code == 200  # an unknown filter would redirect to ?e=1


def test_a_malformed_organisation_filter_is_ignored(
    admin_client: Client, org: Organisation
) -> None:
    incident = make_incident(org)

    # The severity filter reads this parameter too, and must not turn it into a server error.
    assert listed(admin_client, Incident, {"organisation__id__exact": "x"}) == {str(incident.pk)}


# --- Crisis types and severities ----------------------------------------------------------------


def test_adding_a_crisis_type_goes_through_the_service(
    admin_client: Client, org: Organisation
) -> None:
    data = {"organisation": org.pk, "name": "Strike", "slug": "strike", "is_active": "on"}

    response = admin_client.post(url(CrisisType, "add"), data)

    assert response.status_code == 302
    crisis_type = CrisisType.all_tenants.get(organisation=org, slug="strike")
    [event] = events_of(org, "crisis_type.created")
    assert (event.subject_type, event.subject_id) == ("crisis_type", str(crisis_type.pk))
    assert event.actor_label == ADMIN_EMAIL
    assert event.payload == {
        "name": "Strike",
        "slug": "strike",
        "description": "",
        "exclude_from_metrics": False,
        "is_active": True,
    }


def test_crisis_type_slug_must_be_free_in_its_own_organisation(
    admin_client: Client, org: Organisation, other_org: Organisation
) -> None:
    first, second = CrisisType.all_tenants.filter(organisation=org)[:2]
    elsewhere = make_crisis_type(other_org)

    renamed = admin_client.post(
        url(CrisisType, "change", first.pk), {"name": first.name, "slug": elsewhere.slug}
    )
    added = admin_client.post(
        url(CrisisType, "add"), {"organisation": org.pk, "name": "Again", "slug": second.slug}
    )
    clash = admin_client.post(
        url(CrisisType, "change", second.pk), {"name": second.name, "slug": elsewhere.slug}
    )

    assert renamed.status_code == 302  # another organisation's slug does not count
    for response in (added, clash):
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert errors["slug"] == ["Another crisis type of this organisation has this slug."]
    assert CrisisType.all_tenants.get(pk=second.pk).slug == second.slug
    assert len(events_of(org, "crisis_type.updated")) == 1
    assert events_of(org, "crisis_type.created") == []


def test_editing_a_severity_records_severity_updated(
    admin_client: Client, org: Organisation
) -> None:
    severity = severity_of(org, rank=2)
    data = severity_data(severity, public_update_interval_minutes=45, review_required=False)

    response = admin_client.post(url(Severity, "change", severity.pk), data)

    assert response.status_code == 302
    severity.refresh_from_db()
    assert (severity.public_update_interval_minutes, severity.review_required) == (45, False)
    [event] = events_of(org, "severity.updated")
    assert (event.subject_type, event.subject_id) == ("severity", str(severity.pk))
    assert (event.actor_type, event.actor_label) == ("user", ADMIN_EMAIL)
    assert event.payload == {
        "changes": {
            "public_update_interval_minutes": {"from": 60, "to": 45},
            "review_required": {"from": True, "to": False},
        }
    }


def test_saving_an_unchanged_severity_records_nothing(
    admin_client: Client, org: Organisation
) -> None:
    severity = severity_of(org, rank=3)

    response = admin_client.post(url(Severity, "change", severity.pk), severity_data(severity))

    assert response.status_code == 302
    assert events_of(org, "severity.updated") == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rank", 1),  # SEV1 has it
        ("name", "SEV1 Critical"),
        ("rank", 0),
        ("rank", 21),
        ("public_update_interval_minutes", 4),
        ("public_update_interval_minutes", 10081),
    ],
)
def test_severity_form_refuses_taken_or_out_of_range_values(
    field: str, value: Any, admin_client: Client, org: Organisation
) -> None:
    severity = severity_of(org, rank=2)

    response = admin_client.post(
        url(Severity, "change", severity.pk), severity_data(severity, **{field: value})
    )

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert events_of(org, "severity.updated") == []


def test_adding_a_severity_goes_through_the_service(
    admin_client: Client, org: Organisation
) -> None:
    data = {
        "organisation": org.pk,
        "name": "SEV5 Info",
        "rank": 5,
        "public_update_interval_minutes": 2880,
        "approval_strictness": "standard",
    }

    response = admin_client.post(url(Severity, "add"), data)

    assert response.status_code == 302
    severity = Severity.all_tenants.get(organisation=org, rank=5)
    [event] = events_of(org, "severity.created")
    assert event.subject_id == str(severity.pk)
    assert event.payload["public_update_interval_minutes"] == 2880


IN_USE = "Incidents use it, so it cannot be deleted: "


@pytest.mark.parametrize(
    ("model", "field", "message"),
    [
        (CrisisType, "crisis_type", IN_USE + "deactivate it instead (untick “Is active”)."),
        (Severity, "severity", IN_USE + "severities in use stay with their incidents."),
    ],
)
def test_deleting_configuration_in_use_is_refused_with_a_message(
    model: type[CrisisType | Severity],
    field: str,
    message: str,
    admin_client: Client,
    org: Organisation,
) -> None:
    incident = make_incident(org)
    used = getattr(incident, field)

    single = admin_client.post(url(model, "delete", used.pk), {"post": "yes"})
    bulk = admin_client.post(
        url(model, "changelist"),
        {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: [str(used.pk)]},
    )

    for response in (single, bulk):
        assert response.status_code == 200
        assert messages_of(response) == [message]
        content = response.content.decode()
        assert incident.reference in content  # Django lists the incidents using it
        assert "doesn't have permission" not in content
    assert model.all_tenants.filter(pk=used.pk).exists()
    assert events_of(org, f"{field}.deleted") == []


def test_deleting_unused_configuration_goes_through_the_service(
    admin_client: Client, org: Organisation
) -> None:
    crisis_type, severity = make_crisis_type(org), make_severity(org)

    single = admin_client.post(url(CrisisType, "delete", crisis_type.pk), {"post": "yes"})
    bulk = admin_client.post(
        url(Severity, "changelist"),
        {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: [str(severity.pk)]},
    )

    assert (single.status_code, bulk.status_code) == (302, 302)
    assert not CrisisType.all_tenants.filter(pk=crisis_type.pk).exists()
    assert not Severity.all_tenants.filter(pk=severity.pk).exists()
    [type_deleted] = events_of(org, "crisis_type.deleted")
    [severity_deleted] = events_of(org, "severity.deleted")
    assert type_deleted.payload == {"slug": crisis_type.slug}
    assert severity_deleted.payload == {"name": severity.name, "rank": severity.rank}
    assert {type_deleted.actor_label, severity_deleted.actor_label} == {ADMIN_EMAIL}


def test_deleted_configuration_events_name_the_deleted_row(
    admin_client: Client, org: Organisation
) -> None:
    crisis_type, severity = make_crisis_type(org), make_severity(org)

    admin_client.post(url(CrisisType, "delete", crisis_type.pk), {"post": "yes"})
    admin_client.post(url(Severity, "delete", severity.pk), {"post": "yes"})

    [type_deleted] = events_of(org, "crisis_type.deleted")
    [severity_deleted] = events_of(org, "severity.deleted")
    assert type_deleted.subject_id == str(crisis_type.pk)
    assert severity_deleted.subject_id == str(severity.pk)


# --- Incidents, tasks, reviews: read-only -------------------------------------------------------


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda model: model._meta.label)
def test_incidents_tasks_and_reviews_cannot_be_added_changed_or_deleted(
    model: type[Incident | Task | Review], admin_client: Client, org: Organisation
) -> None:
    obj = MAKERS[model](org)
    before = model.all_tenants.filter(pk=obj.pk).values().get()
    events = Event.all_tenants.filter(organisation=org).count()

    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "add"), {"title": "x"}).status_code == 403
    assert admin_client.post(url(model, "change", obj.pk), {"title": "x"}).status_code == 403
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    changelist = admin_client.get(url(model, "changelist"))
    assert changelist.context["action_form"] is None  # not even delete_selected

    assert model.all_tenants.filter(pk=obj.pk).values().get() == before
    assert Event.all_tenants.filter(organisation=org).count() == events


def test_incident_detail_shows_roles_tasks_and_notes_read_only(
    admin_client: Client, org: Organisation
) -> None:
    incident = make_incident(org)
    scribe = make_membership(org, Role.RESPONDER).user
    services.incident_role_assign(incident=incident, user=scribe, role="scribe", actor=SYSTEM)
    services.task_create(incident=incident, actor=SYSTEM, title="Draft the holding statement")
    services.note_add(incident=incident, actor=SYSTEM, body="Press called at 09:12")

    response = admin_client.get(url(Incident, "change", incident.pk))

    content = response.content.decode()
    assert response.status_code == 200
    for text in (scribe.email, "Draft the holding statement", "Press called at 09:12"):
        assert text in content
    inlines = response.context["inline_admin_formsets"]
    assert [inline.formset.model for inline in inlines] == [RoleAssignment, Task, Note]
    for inline in inlines:
        assert not inline.has_add_permission
        assert not inline.has_change_permission
        assert not inline.has_delete_permission
        assert len(inline.formset.forms) == 1
    assert 'name="_save"' not in content


def test_incident_timeline_link_lists_the_incidents_events(
    admin_client: Client, org: Organisation
) -> None:
    incident = make_incident(org)
    make_incident(org)
    services.task_create(incident=incident, actor=SYSTEM, title="Call the regulator")
    detail = admin_client.get(url(Incident, "change", incident.pk))
    link = f"{url(Event, 'changelist')}?organisation__id__exact={org.pk}&amp;q={incident.pk}"
    assert link in detail.content.decode()

    timeline = admin_client.get(
        url(Event, "changelist"), {"organisation__id__exact": str(org.pk), "q": str(incident.pk)}
    )

    types = sorted(event.type for event in timeline.context["cl"].result_list)
    assert types == ["incident.declared", "task.created"]


def test_incident_search_and_severity_filter(
    admin_client: Client, org: Organisation, other_org: Organisation
) -> None:
    first = make_incident(org, title="Recall of kettle K2")
    worst = make_incident(org, severity=severity_of(org, rank=1))
    elsewhere = make_incident(other_org)

    assert listed(admin_client, Incident, {"q": worst.reference}) == {str(worst.pk)}
    # A reference is unique within its organisation only.
    assert listed(admin_client, Incident, {"q": f"inc{first.number}"}) == {
        str(first.pk),
        str(elsewhere.pk),
    }
    assert listed(admin_client, Incident, {"q": "kettle"}) == {str(first.pk)}
    assert listed(admin_client, Incident, {"severity_rank": "1"}) == {str(worst.pk)}
    assert listed(admin_client, Incident, {"severity_rank": "2"}) == {
        str(first.pk),
        str(elsewhere.pk),
    }
    narrowed = admin_client.get(url(Incident, "changelist"), {"organisation__id__exact": org.pk})
    [severity_filter] = [f for f in narrowed.context["cl"].filter_specs if f.title == "severity"]
    assert [label for _, label in severity_filter.lookup_choices] == [
        "1: SEV1 Critical",
        "2: SEV2 High",
        "3: SEV3 Moderate",
        "4: SEV4 Low",
    ]


def test_task_overdue_filter_selects_late_open_tasks(
    admin_client: Client, org: Organisation
) -> None:
    incident = make_incident(org)
    past, future = timezone.now() - timedelta(hours=1), timezone.now() + timedelta(hours=1)
    late = services.task_create(incident=incident, actor=SYSTEM, title="Late", due_at=past)
    done = services.task_create(incident=incident, actor=SYSTEM, title="Done", due_at=past)
    services.task_update(task=done, actor=SYSTEM, status=Task.Status.DONE)
    upcoming = services.task_create(incident=incident, actor=SYSTEM, title="Soon", due_at=future)
    undated = services.task_create(incident=incident, actor=SYSTEM, title="Whenever")

    assert listed(admin_client, Task, {"overdue": "yes"}) == {str(late.pk)}
    assert listed(admin_client, Task, {"overdue": "no"}) == {
        str(done.pk),
        str(upcoming.pk),
        str(undated.pk),
    }
    response = admin_client.get(url(Task, "changelist"), {"overdue": "yes"})
    assert re.search(r'field-is_overdue"><img [^>]*alt="True"', response.content.decode())


def test_review_detail_escapes_contributing_factors(
    admin_client: Client, org: Organisation
) -> None:
    review = make_review(org)

    response = admin_client.get(url(Review, "change", review.pk))

    content = response.content.decode()
    assert "<li>No comms lead on call</li>" in content
    assert "<li>Approval &lt;b&gt;took&lt;/b&gt; 3 hours</li>" in content
