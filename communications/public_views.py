"""The public status timeline: `/api/v1/public/{org}/status/` (JSON) and `…/feed.atom`.

No authentication; only published updates of open (not restricted) non-drill incidents, and
only when the organisation enabled its page. Both answer with a strong ETag and honour
If-None-Match with 304, so clients and CDNs can poll cheaply.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from communications import selectors
from communications.models import StatusPage
from communications.serializers import PublicStatusOutput
from organisations.models import Organisation

CACHE_CONTROL = "public, max-age=30"


def _page(slug: str) -> tuple[Organisation, StatusPage]:
    organisation = Organisation.objects.filter(slug=slug, suspended_at__isnull=True).first()
    page = (
        StatusPage.all_tenants.filter(organisation=organisation, enabled=True).first()
        if organisation
        else None
    )
    if organisation is None or page is None:
        raise NotFound("No public status page here.")
    return organisation, page


def _etag(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    return etag in [tag.strip().removeprefix("W/") for tag in header.split(",")]


class PublicView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def cached(self, request: Request, content: bytes, content_type: str) -> HttpResponse:
        etag = _etag(content)
        if _not_modified(request, etag):
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(content, content_type=content_type)
        response["ETag"] = etag
        response["Cache-Control"] = CACHE_CONTROL
        return response


class PublicStatusView(PublicView):
    """The organisation's public updates per incident (investigating … resolved)."""

    @extend_schema(
        responses={200: PublicStatusOutput, 304: OpenApiResponse(description="Not modified")},
        auth=[],
    )
    def get(self, request: Request, org: str) -> HttpResponse | Response:
        organisation, page = _page(org)
        data = PublicStatusOutput(
            selectors.public_status(organisation=organisation, page=page)
        ).data
        content = json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
        return self.cached(request, content, "application/json")


class PublicStatusFeedView(PublicView):
    """The same updates as an Atom feed, newest first."""

    @extend_schema(
        responses={
            (200, "application/atom+xml"): OpenApiTypes.STR,
            304: OpenApiResponse(description="Not modified"),
        },
        auth=[],
    )
    def get(self, request: Request, org: str) -> HttpResponse | Response:
        organisation, page = _page(org)
        status = selectors.public_status(organisation=organisation, page=page)
        link = request.build_absolute_uri(reverse("public-status", kwargs={"org": org}))
        feed = Atom1Feed(
            title=status["page"]["title"],
            link=link,
            description=status["page"]["description"],
            feed_url=request.build_absolute_uri(),
            language="en",
            feed_guid=f"urn:crisis-api:status:{organisation.pk}",
        )
        entries = [
            (incident, update) for incident in status["incidents"] for update in incident["updates"]
        ] + [(None, update) for update in status["announcements"]]
        entries.sort(key=lambda pair: pair[1].published_at, reverse=True)
        for incident, update in entries:
            label = f"[{update.get_label_display()}] " if update.label else ""
            feed.add_item(
                title=f"{label}{update.title}",
                link=f"{link}#{incident['id'] if incident else update.pk}",
                description=update.body,
                unique_id=f"urn:crisis-api:status-update:{update.pk}",
                pubdate=update.published_at,
                updateddate=update.published_at,
            )
        return self.cached(request, feed.writeString("utf-8").encode(), "application/atom+xml")
