"""Query-string filters of the webhook delivery log."""

import django_filters

from crisis_api.api.filters import TenantModelChoiceFilter, UtcIsoDateTimeFilter
from notifications.models import WebhookEndpoint, WebhookMessage


class WebhookMessageFilter(django_filters.FilterSet):
    endpoint = TenantModelChoiceFilter(WebhookEndpoint, field_name="endpoint")
    status = django_filters.MultipleChoiceFilter(choices=WebhookMessage.Status.choices)
    event_type = django_filters.CharFilter()
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WebhookMessage
        fields = ("status", "event_type")
