"""Endpoints of monitoring: sources (with pause, resume, poll now, secret rotation and the
signed inbound push), watch terms, and the mention inbox."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crisis_api.api.access import ALL_ROLES, MANAGERS, allow
from crisis_api.api.errors import flatten_errors
from crisis_api.api.pagination import CursorPagination
from crisis_api.api.viewsets import (
    DeclaredAccessPermission,
    OrganisationSuspendedError,
    TenantViewSet,
)
from crisis_api.tenancy import activate_tenant_scope
from monitoring import selectors, services
from monitoring.authentication import (
    PushRateThrottle,
    PushSignatureAuthentication,
    SignedPush,
)
from monitoring.connectors import MentionIn
from monitoring.filters import MentionFilter, SourceFilter, WatchTermFilter
from monitoring.models import Mention, Source, WatchTerm
from monitoring.serializers import (
    MentionDetailOutput,
    MentionOutput,
    MentionUpdateInput,
    PushBatchInput,
    PushItemInput,
    PushResultOutput,
    SourceCreateInput,
    SourceIssuedOutput,
    SourceOutput,
    SourceSecretOutput,
    SourceUpdateInput,
    WatchTermInput,
    WatchTermOutput,
    WatchTermUpdateInput,
)
from monitoring.services.push import MAX_BATCH, PushBatchTooLargeError
from monitoring.tasks import source_poll_enqueue
from organisations.authentication import BearerAuthentication, SessionAuthentication
from organisations.events import Actor
from organisations.models import Event, Role

LISTENERS = MANAGERS | {Role.ANALYST}
TRIAGERS = LISTENERS | {Role.COMMS_LEAD, Role.RESPONDER}
SOURCES_READ = allow(ALL_ROLES, "sources:read")
SOURCES_WRITE = allow(LISTENERS, "sources:write")
MENTIONS_READ = allow(ALL_ROLES, "mentions:read")
MENTIONS_WRITE = allow(TRIAGERS, "mentions:write")


class PushOrDeclaredAccess(DeclaredAccessPermission):
    """A verified signature admits exactly the push to its own source; anything else goes
    through the declared roles and scopes."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if isinstance(request.auth, SignedPush):
            view.resolve_tenant(request)  # type: ignore[attr-defined]
            return True
        return super().has_permission(request, view)


class SourceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Where mentions come from. Credentials are write-only; a push source's secret is shown
    when created or rotated, never again."""

    model = Source
    serializer_class = SourceOutput
    filterset_class = SourceFilter
    idempotency_secret_fields = ("secret",)
    access = {
        "list": SOURCES_READ,
        "retrieve": SOURCES_READ,
        "create": SOURCES_WRITE,
        "partial_update": SOURCES_WRITE,
        "destroy": SOURCES_WRITE,
        "pause": SOURCES_WRITE,
        "resume": SOURCES_WRITE,
        "poll": SOURCES_WRITE,
        "rotate_secret": SOURCES_WRITE,
        "ingest": allow(LISTENERS, "mentions:ingest"),
    }

    def resolve_tenant(self, request: Request) -> None:
        if not isinstance(request.auth, SignedPush):
            return super().resolve_tenant(request)
        if hasattr(self, "organisation"):
            return None
        source = request.auth.source
        organisation = source.organisation
        if organisation.is_suspended:
            raise OrganisationSuspendedError("This organisation is suspended; contact support.")
        activate_tenant_scope(organisation.pk)
        request.tenant_organisation = organisation  # type: ignore[attr-defined]
        self.organisation, self.membership, self.api_key = organisation, None, None
        self.actor = Actor(Event.ActorType.SYSTEM, str(source.pk), f"signed push ({source.name})")
        return None

    def _output(self, source: Source) -> dict[str, Any]:
        return dict(SourceOutput(source).data)

    @extend_schema(request=SourceCreateInput, responses={201: SourceIssuedOutput})
    def create(self, request: Request, org: str) -> Response:
        data = SourceCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.source_create(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        body = {**self._output(issued.source), "secret": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=SourceUpdateInput, responses=SourceOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        source = self.get_object()
        data = SourceUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        source = services.source_update(source=source, actor=self.actor, **data.validated_data)
        return Response(self._output(source))

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        services.source_delete(source=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _set_status(self, new_status: str) -> Response:
        source = services.source_set_status(
            source=self.get_object(), actor=self.actor, status=new_status
        )
        return Response(self._output(source))

    @extend_schema(request=None, responses=SourceOutput)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, org: str, pk: str) -> Response:
        """Stop polling (or refuse pushes) until resumed."""
        return self._set_status(Source.Status.PAUSED)

    @extend_schema(request=None, responses=SourceOutput)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, org: str, pk: str) -> Response:
        """Poll again from now on (any backoff is forgotten)."""
        return self._set_status(Source.Status.ACTIVE)

    @extend_schema(request=None, responses={202: SourceOutput})
    @action(detail=True, methods=["post"], url_path="poll-now")
    def poll(self, request: Request, org: str, pk: str) -> Response:
        """Poll now, ignoring the schedule and any backoff; 409 while a poll is running."""
        source = self.get_object()
        token = services.source_poll_now(source=source, actor=self.actor)
        transaction.on_commit(lambda: source_poll_enqueue(str(source.pk), str(token)))
        source.refresh_from_db()
        return Response(self._output(source), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=SourceSecretOutput)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, org: str, pk: str) -> Response:
        """Push sources: a new secret now; the old one still verifies for 24 hours."""
        secret = services.source_secret_rotate(source=self.get_object(), actor=self.actor)
        return Response({"secret": secret})

    @extend_schema(
        request=PushBatchInput,
        responses={
            200: PushResultOutput,
            401: OpenApiResponse(description="Bad or stale signature."),
            413: OpenApiResponse(description="More than 1,000 mentions or a too-large body."),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        authentication_classes=[
            BearerAuthentication,
            SessionAuthentication,
            PushSignatureAuthentication,
        ],
        permission_classes=[PushOrDeclaredAccess],
        throttle_classes=[PushRateThrottle],
    )
    def ingest(self, request: Request, org: str, pk: str) -> Response:
        """Push a batch of up to 1,000 mentions, signed with the source's secret (Standard
        Webhooks) or sent with an API key holding `mentions:ingest`. Each item is validated on
        its own: valid ones are stored, invalid ones come back in `rejected` with reasons."""
        source = self.get_object()
        items = request.data.get("mentions") if isinstance(request.data, dict) else None
        if not isinstance(items, list):
            raise ValidationError({"mentions": ["Required: a list of mention objects."]})
        if len(items) > MAX_BATCH:
            raise PushBatchTooLargeError(
                f"{len(items)} mentions in one batch; at most {MAX_BATCH}. Split the batch."
            )
        if not items:
            raise ValidationError({"mentions": ["Send at least one mention."]})
        valid, rejected = _validate_items(items)
        if not valid:
            raise ValidationError(
                {"mentions": {str(r["index"]): r["errors_raw"] for r in rejected}}
            )
        result = services.mentions_push(source=source, mentions=valid, actor=self.actor)
        return Response(
            {
                "received": len(items),
                "stored": result.stored,
                "duplicates": result.duplicates,
                "rejected": [{k: v for k, v in r.items() if k != "errors_raw"} for r in rejected],
            }
        )


def _validate_items(items: list[Any]) -> tuple[list[MentionIn], list[dict[str, Any]]]:
    valid: list[MentionIn] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        serializer = PushItemInput(data=item)
        if not serializer.is_valid():
            external_id = item.get("external_id") if isinstance(item, dict) else None
            rejected.append(
                {
                    "index": index,
                    "external_id": external_id if isinstance(external_id, str) else None,
                    "errors": flatten_errors(serializer.errors),
                    "errors_raw": serializer.errors,
                }
            )
            continue
        data = serializer.validated_data
        valid.append(
            MentionIn(
                external_id=data["external_id"],
                text=data["text"],
                posted_at=data["posted_at"],
                url=data["url"],
                author_handle=data["author_handle"],
                author_name=data["author_name"],
                author_id=data["author_id"],
                author_followers=data.get("author_followers"),
                language=data["language"],
            )
        )
    return valid, rejected


class WatchTermViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Phrases every mention is matched against (brands, products, people, alarm words)."""

    model = WatchTerm
    serializer_class = WatchTermOutput
    filterset_class = WatchTermFilter
    pagination_class = None
    access = {
        "list": SOURCES_READ,
        "retrieve": SOURCES_READ,
        "create": SOURCES_WRITE,
        "partial_update": SOURCES_WRITE,
        "destroy": SOURCES_WRITE,
    }

    @extend_schema(request=WatchTermInput, responses={201: WatchTermOutput})
    def create(self, request: Request, org: str) -> Response:
        data = WatchTermInput(data=request.data)
        data.is_valid(raise_exception=True)
        term = services.watch_term_create(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return Response(WatchTermOutput(term).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WatchTermUpdateInput, responses=WatchTermOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        term = self.get_object()
        data = WatchTermUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        term = services.watch_term_update(term=term, actor=self.actor, **data.validated_data)
        return Response(WatchTermOutput(term).data)

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        services.watch_term_delete(term=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MentionCursorPagination(CursorPagination):
    """Newest post first; `(posted_at, id)` is indexed per organisation."""

    ordering = ("-posted_at", "-pk")


class MentionViewSet(mixins.ListModelMixin, TenantViewSet):
    """The inbox: every stored mention with its scores, newest first (cursor-paginated)."""

    model = Mention
    serializer_class = MentionOutput
    filterset_class = MentionFilter
    pagination_class = MentionCursorPagination
    access = {
        "list": MENTIONS_READ,
        "retrieve": MENTIONS_READ,
        "partial_update": MENTIONS_WRITE,
    }

    def get_queryset(self) -> QuerySet[Any]:
        if self.action == "list":
            return selectors.mention_list(organisation=self.organisation)
        return super().get_queryset().select_related("source")

    @extend_schema(responses=MentionDetailOutput)
    def retrieve(self, request: Request, org: str, pk: str) -> Response:
        return Response(MentionDetailOutput(self.get_object()).data)

    @extend_schema(request=MentionUpdateInput, responses=MentionDetailOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        mention = self.get_object()
        data = MentionUpdateInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        mention = services.mention_update(mention=mention, actor=self.actor, **data.validated_data)
        mention = self.get_queryset().get(pk=mention.pk)
        return Response(MentionDetailOutput(mention).data)
