"""The webhooks admin: its pages render; pause, resume, disable, delete and replay go through the
services and leave events; the delivery log is read-only; signing secrets never appear on any
admin page, only their hints."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from notifications import relay, webhooks
from notifications.models import WebhookAttempt, WebhookEndpoint, WebhookMessage, WebhookSecret
from notifications.webhooks import envelope
from organisations.events import Actor
from organisations.models import Event, Organisation, User
from tests.factories import UserFactory, make_event, make_webhook_endpoint

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

ADMIN_EMAIL = "admin@example.com"  # pytest-django's admin_user
SYSTEM = Actor.system("tests")


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


def listed(client: Client, model: type[Model], query: dict[str, Any]) -> set[str]:
    response = client.get(url(model, "changelist"), query)
    assert response.status_code == 200
    return {str(obj.pk) for obj in response.context["cl"].result_list}


def new_user(**fields: Any) -> User:
    return UserFactory(**fields)  # type: ignore[no-any-return]


def message_for(
    endpoint: WebhookEndpoint, status: str = WebhookMessage.Status.FAILED, **fields: Any
) -> WebhookMessage:
    event = make_event(endpoint.organisation)
    return WebhookMessage.all_tenants.create(
        organisation_id=endpoint.organisation_id,
        endpoint=endpoint,
        event=event,
        event_type=event.type,
        body=envelope(event),
        status=status,
        **fields,
    )


def attempt_of(message: WebhookMessage, number: int, status_code: int | None) -> WebhookAttempt:
    return WebhookAttempt.all_tenants.create(
        organisation_id=message.organisation_id,
        message=message,
        number=number,
        status_code=status_code,
        response_excerpt="upstream <b>exploded</b>" if status_code else "",
        error="" if status_code else "ConnectTimeout: timed out",
        succeeded=status_code is not None and status_code < 300,
    )


# --- Pages --------------------------------------------------------------------------------------


def test_pages_render_for_a_superuser(admin_client: Client, org: Organisation) -> None:
    endpoint = make_webhook_endpoint(org)
    message = message_for(endpoint, attempts=2, last_status_code=500)
    attempt_of(message, 1, None)
    attempt_of(message, 2, 500)

    pages = [
        url(WebhookEndpoint, "changelist"),
        url(WebhookEndpoint, "change", endpoint.pk),
        url(WebhookEndpoint, "delete", endpoint.pk),
        url(WebhookMessage, "changelist"),
        url(WebhookMessage, "change", message.pk),
    ]
    for page in pages:
        assert admin_client.get(page).status_code == 200, page
    detail = admin_client.get(url(WebhookMessage, "change", message.pk)).content.decode()
    assert "upstream &lt;b&gt;exploded&lt;/b&gt;" in detail  # excerpts are escaped
    assert "ConnectTimeout: timed out" in detail
    assert message.webhook_id in detail
    assert admin_client.get(url(WebhookEndpoint, "add")).status_code == 403
    assert admin_client.get(url(WebhookMessage, "add")).status_code == 403


@pytest.mark.parametrize(
    ("model", "query"),
    [
        (WebhookEndpoint, {"status": "disabled"}),
        (WebhookEndpoint, {"q": "hooks.example"}),
        (WebhookMessage, {"status": "exhausted", "event_type": "test.happened"}),
        (WebhookMessage, {"q": "https://hooks.example.com/crisis"}),
    ],
)
def test_filters_and_search_render(
    model: type[Model], query: dict[str, str], admin_client: Client, org: Organisation
) -> None:
    message_for(make_webhook_endpoint(org))

    response = admin_client.get(url(model, "changelist"), query)

    assert response.status_code == 200  # an unknown filter would redirect to ?e=1


def test_endpoint_list_shows_health_and_filters_by_status_and_organisation(
    admin_client: Client, org: Organisation, other_org: Organisation
) -> None:
    healthy = make_webhook_endpoint(org)
    WebhookEndpoint.all_tenants.filter(pk=healthy.pk).update(success_count=3, failure_count=1)
    failing = make_webhook_endpoint(other_org)
    webhooks.webhook_endpoint_set_status(
        endpoint=failing, actor=SYSTEM, status="disabled", reason="The endpoint answered 410 Gone."
    )

    response = admin_client.get(url(WebhookEndpoint, "changelist"))

    content = response.content.decode()
    assert '<td class="field-success_rate_display">75.0%</td>' in content
    assert "The endpoint answered 410 Gone." in content
    assert listed(admin_client, WebhookEndpoint, {"status": "disabled"}) == {str(failing.pk)}
    by_org = {"organisation__id__exact": str(org.pk)}
    assert listed(admin_client, WebhookEndpoint, by_org) == {str(healthy.pk)}


def test_messages_are_found_by_webhook_id_and_by_endpoint(
    admin_client: Client, org: Organisation
) -> None:
    endpoint = make_webhook_endpoint(org)
    wanted, other = message_for(endpoint), message_for(make_webhook_endpoint(org))

    by_id = listed(admin_client, WebhookMessage, {"q": wanted.webhook_id})
    by_endpoint = listed(admin_client, WebhookMessage, {"endpoint__id__exact": str(endpoint.pk)})

    assert by_id == by_endpoint == {str(wanted.pk)}
    assert other.pk != wanted.pk


def test_endpoint_page_shows_only_the_recent_deliveries(
    admin_client: Client, org: Organisation
) -> None:
    endpoint = make_webhook_endpoint(org)
    messages = [message_for(endpoint) for _ in range(25)]

    response = admin_client.get(url(WebhookEndpoint, "change", endpoint.pk))

    content = response.content.decode()
    shown = [m for m in messages if m.webhook_id in content]
    assert len(shown) == 20
    assert set(shown) == set(messages[-20:])  # the newest
    assert f"?endpoint__id__exact={endpoint.pk}" in content  # and a link to all of them


# --- Endpoint actions ---------------------------------------------------------------------------


def test_pause_resume_and_disable_go_through_the_service_and_record_events(
    admin_client: Client, org: Organisation
) -> None:
    endpoint = make_webhook_endpoint(org)

    paused = run_action(admin_client, WebhookEndpoint, "pause", [endpoint])
    endpoint.refresh_from_db()
    assert endpoint.status == "paused"
    assert messages_of(paused) == ["Paused 1 endpoint(s)."]

    run_action(admin_client, WebhookEndpoint, "disable", [endpoint])
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled"
    assert endpoint.disabled_reason == f"Disabled by platform admin {ADMIN_EMAIL}"

    run_action(admin_client, WebhookEndpoint, "resume", [endpoint])
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.disabled_reason, endpoint.disabled_at) == ("active", "", None)

    for type in ("paused", "disabled", "resumed"):
        [event] = events_of(org, f"webhook_endpoint.{type}")
        assert (event.actor_type, event.actor_label) == ("user", ADMIN_EMAIL)
        assert event.subject_id == str(endpoint.pk)


def test_an_action_that_changes_nothing_records_nothing(
    admin_client: Client, org: Organisation
) -> None:
    endpoint = make_webhook_endpoint(org)

    run_action(admin_client, WebhookEndpoint, "pause", [endpoint])
    again = run_action(admin_client, WebhookEndpoint, "pause", [endpoint])
    active = run_action(admin_client, WebhookEndpoint, "resume", [make_webhook_endpoint(org)])

    assert messages_of(again) == ["Paused 0 endpoint(s)."]
    assert messages_of(active) == ["Resumed 0 endpoint(s)."]
    assert len(events_of(org, "webhook_endpoint.paused")) == 1
    assert not events_of(org, "webhook_endpoint.resumed")


def test_resuming_re_enables_and_clears_the_failure_streak(
    admin_client: Client, org: Organisation
) -> None:
    endpoint = make_webhook_endpoint(org)
    WebhookEndpoint.all_tenants.filter(pk=endpoint.pk).update(
        status="disabled", consecutive_failures=40, failing_since=timezone.now()
    )

    run_action(admin_client, WebhookEndpoint, "resume", [endpoint])

    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.consecutive_failures, endpoint.failing_since) == (
        "active",
        0,
        None,
    )


def test_deleting_an_endpoint_goes_through_the_service(
    admin_client: Client, org: Organisation
) -> None:
    endpoint = make_webhook_endpoint(org)
    message = message_for(endpoint)
    attempt_of(message, 1, 500)

    confirm = admin_client.get(url(WebhookEndpoint, "delete", endpoint.pk))
    response = admin_client.post(url(WebhookEndpoint, "delete", endpoint.pk), {"post": "yes"})

    assert confirm.status_code == 200
    assert confirm.context["perms_lacking"] == set()
    assert list(confirm.context["model_count"]) == [
        ("webhook endpoints", 1),
        ("webhook messages", 1),
        ("webhook attempts", 1),
        ("webhook secrets", 1),
    ]
    assert response.status_code == 302
    assert not WebhookEndpoint.all_tenants.filter(pk=endpoint.pk).exists()
    assert not WebhookMessage.all_tenants.filter(pk=message.pk).exists()
    [event] = events_of(org, "webhook_endpoint.deleted")
    assert event.actor_label == ADMIN_EMAIL
    assert event.payload["url"].startswith("https://hooks.example.com/")


def test_bulk_delete_records_one_event_per_endpoint(
    admin_client: Client, org: Organisation
) -> None:
    endpoints = [make_webhook_endpoint(org) for _ in range(2)]
    data = {
        "action": "delete_selected",
        ACTION_CHECKBOX_NAME: [str(e.pk) for e in endpoints],
        "post": "yes",
    }

    response = admin_client.post(url(WebhookEndpoint, "changelist"), data)

    assert response.status_code == 302
    assert not WebhookEndpoint.all_tenants.exists()
    assert len(events_of(org, "webhook_endpoint.deleted")) == 2


def test_endpoints_cannot_be_added_or_edited_in_the_admin(
    admin_client: Client, org: Organisation
) -> None:
    endpoint = make_webhook_endpoint(org)

    edit = admin_client.post(url(WebhookEndpoint, "change", endpoint.pk), {"url": "http://x/"})

    assert edit.status_code == 403
    assert WebhookEndpoint.all_tenants.get(pk=endpoint.pk).url == endpoint.url


# --- Delivery log -------------------------------------------------------------------------------


def test_replay_action_requeues_with_the_same_webhook_id_and_records_it(
    admin_client: Client, org: Organisation
) -> None:
    message = message_for(make_webhook_endpoint(org), status="exhausted", attempts=10)

    response = run_action(admin_client, WebhookMessage, "replay", [message])

    stored = WebhookMessage.all_tenants.get(pk=message.pk)
    assert (stored.status, stored.attempts, stored.webhook_id) == ("pending", 0, message.webhook_id)
    assert stored.next_attempt_at <= timezone.now()
    assert messages_of(response) == ["Replayed 1 message(s)."]
    [event] = events_of(org, "webhook_message.replayed")
    assert event.actor_label == ADMIN_EMAIL
    assert event.payload["webhook_id"] == message.webhook_id


def test_replay_action_skips_a_message_being_sent(admin_client: Client, org: Organisation) -> None:
    message = message_for(make_webhook_endpoint(org), status="sending")

    response = run_action(admin_client, WebhookMessage, "replay", [message])

    assert messages_of(response) == [
        f"{message.webhook_id}: The message is being delivered right now.",
        "Replayed 0 message(s).",
    ]
    assert WebhookMessage.all_tenants.get(pk=message.pk).status == "sending"
    assert not events_of(org, "webhook_message.replayed")


def test_the_delivery_log_is_read_only(admin_client: Client, org: Organisation) -> None:
    message = message_for(make_webhook_endpoint(org))

    edit = admin_client.post(url(WebhookMessage, "change", message.pk), {"status": "succeeded"})
    delete = admin_client.post(url(WebhookMessage, "delete", message.pk), {"post": "yes"})
    changelist = admin_client.get(url(WebhookMessage, "changelist"))

    assert (edit.status_code, delete.status_code) == (403, 403)
    actions = [name for name, _ in changelist.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert "replay" in actions
    assert WebhookMessage.all_tenants.get(pk=message.pk).status == "failed"


def test_actions_need_the_change_permission(client: Client, org: Organisation) -> None:
    staff = new_user(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=("view_webhookendpoint", "view_webhookmessage"))
    )
    client.force_login(staff)
    endpoint = make_webhook_endpoint(org)
    message = message_for(endpoint)

    for model, obj, action in (
        (WebhookEndpoint, endpoint, "disable"),
        (WebhookMessage, message, "replay"),
    ):
        page = client.get(url(model, "changelist"))
        client.post(url(model, "changelist"), {"action": action, ACTION_CHECKBOX_NAME: [obj.pk]})
        assert page.status_code == 200
        assert page.context["action_form"] is None  # no action left to offer
    assert WebhookEndpoint.all_tenants.get(pk=endpoint.pk).status == "active"
    assert WebhookMessage.all_tenants.get(pk=message.pk).status == "failed"


# --- Secrets ------------------------------------------------------------------------------------


def test_secrets_never_appear_on_any_admin_page(admin_client: Client, org: Organisation) -> None:
    issued = webhooks.webhook_endpoint_create(
        organisation=org, actor=SYSTEM, url="https://hooks.example.com/crisis"
    )
    endpoint = issued.endpoint
    rotated = webhooks.webhook_secret_rotate(endpoint=endpoint, actor=SYSTEM)
    webhooks.webhook_endpoint_test(endpoint=endpoint, actor=SYSTEM)
    relay.outbox_relay()
    [message] = WebhookMessage.all_tenants.filter(endpoint=endpoint)
    attempt_of(message, 1, 500)
    stored = list(WebhookSecret.all_tenants.filter(endpoint=endpoint))
    forbidden = [
        issued.secret,
        rotated,
        *(secret.removeprefix("whsec_") for secret in (issued.secret, rotated)),
        *(row.ciphertext for row in stored),
    ]

    pages = [
        url(WebhookEndpoint, "changelist"),
        url(WebhookEndpoint, "change", endpoint.pk),
        url(WebhookEndpoint, "delete", endpoint.pk),
        url(WebhookMessage, "changelist"),
        url(WebhookMessage, "change", message.pk),
        url(Event, "changelist"),
        *(url(Event, "change", event.pk) for event in Event.all_tenants.filter(organisation=org)),
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        content = response.content.decode()
        for secret in forbidden:
            assert secret not in content, page

    detail = admin_client.get(url(WebhookEndpoint, "change", endpoint.pk)).content.decode()
    hints = re.findall(r"<code>(whsec_[^<…]*)…</code>", detail)
    assert sorted(hints) == sorted(row.hint for row in stored)
    assert issued.secret[:10] in hints
    assert rotated[:10] in hints
