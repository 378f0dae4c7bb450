"""The platform admin for incidents: each organisation's crisis types and severities, editable
through the same services as the API (so every change records its event); incidents, their
tasks and reviews, read-only (they change only through the lifecycle services, via the API).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from incidents import services
from incidents.models import CrisisType, Incident, Note, Review, RoleAssignment, Severity, Task
from incidents.services.common import TIMESTAMP_FIELDS
from organisations.admin import ReadOnlyAdminMixin, _actor, _adopt

if TYPE_CHECKING:
    # Generic only in django-stubs (see organisations/admin.py).
    _CrisisTypeAdminBase = admin.ModelAdmin[CrisisType]
    _SeverityAdminBase = admin.ModelAdmin[Severity]
    _IncidentAdminBase = admin.ModelAdmin[Incident]
    _TaskAdminBase = admin.ModelAdmin[Task]
    _ReviewAdminBase = admin.ModelAdmin[Review]
    _RoleAssignmentInlineBase = admin.TabularInline[RoleAssignment, Incident]
    _TaskInlineBase = admin.TabularInline[Task, Incident]
    _NoteInlineBase = admin.TabularInline[Note, Incident]
    _CrisisTypeFormBase = forms.ModelForm[CrisisType]
    _SeverityFormBase = forms.ModelForm[Severity]
else:
    _CrisisTypeAdminBase = _SeverityAdminBase = _IncidentAdminBase = admin.ModelAdmin
    _TaskAdminBase = _ReviewAdminBase = admin.ModelAdmin
    _RoleAssignmentInlineBase = _TaskInlineBase = _NoteInlineBase = admin.TabularInline
    _CrisisTypeFormBase = _SeverityFormBase = forms.ModelForm

CRISIS_TYPE_FIELDS = ("name", "slug", "description", "exclude_from_metrics", "is_active")
SEVERITY_FIELDS = (
    "name",
    "rank",
    "description",
    "public_update_interval_minutes",
    "review_required",
    "approval_strictness",
)
ACTIVE_TASK = (Task.Status.OPEN, Task.Status.IN_PROGRESS)
REFERENCE = re.compile(r"inc-?(\d+)", re.IGNORECASE)


def _refuse_taken(form: forms.ModelForm[Any], taken: QuerySet[Any], names: Sequence[str]) -> None:
    """Add a field error for each value another row of the organisation already has.

    On the change form the organisation is read-only, hence not a form field, and Django's own
    constraint check skips constraints on fields missing from the form: so check here.
    """
    organisation = form.cleaned_data.get("organisation")
    organisation_id = organisation.pk if organisation else form.instance.organisation_id
    if organisation_id is None:
        return  # no valid organisation chosen: that field already has its error
    others = taken.filter(organisation_id=organisation_id).exclude(pk=form.instance.pk)
    for name in names:
        value = form.cleaned_data.get(name)
        if value is not None and others.filter(**{name: value}).exists():
            kind = taken.model._meta.verbose_name
            form.add_error(name, f"Another {kind} of this organisation has this {name}.")


DeletedObjects = tuple[list[str], dict[str, int], set[str], list[str]]


def _refuse_in_use(request: HttpRequest, found: DeletedObjects, advice: str) -> DeletedObjects:
    """Explain why the delete confirmation refuses: incidents use the row (PROTECT).

    Django also counts those incidents as objects the user may not delete (their admin is
    read-only) and would then claim a missing permission; the protected list is the real reason.
    """
    deleted, counts, _, protected = found
    if not protected:
        return found
    messages.error(request, f"Incidents use it, so it cannot be deleted: {advice}")
    return deleted, counts, set(), protected


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None  # the organisation filter itself reports a bad value


def _overdue() -> Q:
    return Q(due_at__lt=timezone.now(), status__in=ACTIVE_TASK)


# --- Filters ------------------------------------------------------------------------------------


class SeverityRankFilter(admin.SimpleListFilter):
    """Severities are per organisation, so filter by rank (labelled with the names of each rank)."""

    title = "severity"
    parameter_name = "severity_rank"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        severities = Severity.all_tenants.all()
        organisation_id = _uuid_or_none(request.GET.get("organisation__id__exact", ""))
        if organisation_id is not None:
            severities = severities.filter(organisation_id=organisation_id)
        names: dict[int, list[str]] = {}
        for rank, name in severities.order_by("rank", "name").values_list("rank", "name"):
            if name not in names.setdefault(rank, []):
                names[rank].append(name)
        return [(str(rank), f"{rank}: {' / '.join(n)}") for rank, n in names.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(severity__rank=int(value))
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    """Open or in-progress tasks past their due time (as the API's `?overdue=` filter)."""

    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        match self.value():
            case "yes":
                return queryset.filter(_overdue())
            case "no":
                return queryset.exclude(_overdue())
        return queryset


# --- Configuration: crisis types and severities -------------------------------------------------


class CrisisTypeForm(_CrisisTypeFormBase):
    """A crisis type; its slug is unique within the organisation."""

    class Meta:
        model = CrisisType
        fields = ("organisation", *CRISIS_TYPE_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        _refuse_taken(self, CrisisType.all_tenants.all(), ("slug",))
        return cleaned


class SeverityForm(_SeverityFormBase):
    """A severity level; name and rank are unique within the organisation, bounds as the API's."""

    rank = forms.IntegerField(min_value=1, max_value=20, help_text="1 is the most severe.")
    public_update_interval_minutes = forms.IntegerField(
        min_value=5,
        max_value=10080,
        label="Public update interval (minutes)",
        help_text="How often the public hears from you while the incident is declared "
        "(5 minutes to 7 days). A change applies from each incident's next public update.",
    )

    class Meta:
        model = Severity
        fields = ("organisation", *SEVERITY_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        _refuse_taken(self, Severity.all_tenants.all(), ("name", "rank"))
        return cleaned


@admin.register(CrisisType)
class CrisisTypeAdmin(_CrisisTypeAdminBase):
    """Each organisation's crisis types. One used by incidents can be deactivated, not deleted."""

    form = CrisisTypeForm
    list_display = ("name", "slug", "organisation", "is_active", "exclude_from_metrics")
    list_filter = ("organisation", "is_active", "exclude_from_metrics")
    search_fields = ("name", "slug", "organisation__slug")
    list_select_related = ("organisation",)
    autocomplete_fields = ("organisation",)
    ordering = ("organisation__name", "name")
    add_fields = ("organisation", *CRISIS_TYPE_FIELDS)
    change_fields = (*add_fields, "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CrisisType]:
        return CrisisType.all_tenants.select_related("organisation")

    def get_fields(self, request: HttpRequest, obj: CrisisType | None = None) -> tuple[str, ...]:
        return self.add_fields if obj is None else self.change_fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: CrisisType | None = None
    ) -> tuple[str, ...]:
        return () if obj is None else ("organisation", "created_at")

    def save_model(self, request: HttpRequest, obj: CrisisType, form: Any, change: bool) -> None:
        data: dict[str, Any] = form.cleaned_data
        fields = {name: data[name] for name in CRISIS_TYPE_FIELDS}
        if change:
            # `obj` already holds the form's values; the service diffs against the stored row.
            stored = CrisisType.all_tenants.select_related("organisation").get(pk=obj.pk)
            services.crisis_type_update(crisis_type=stored, actor=_actor(request), **fields)
            obj.refresh_from_db()
            return
        created = services.crisis_type_create(
            organisation=data["organisation"], actor=_actor(request), **fields
        )
        _adopt(obj, created)

    def get_deleted_objects(
        self, objs: Sequence[CrisisType] | QuerySet[CrisisType], request: HttpRequest
    ) -> DeletedObjects:
        found = super().get_deleted_objects(objs, request)
        return _refuse_in_use(request, found, "deactivate it instead (untick “Is active”).")

    def delete_model(self, request: HttpRequest, obj: CrisisType) -> None:
        services.crisis_type_delete(crisis_type=obj, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CrisisType]) -> None:
        actor = _actor(request)
        for crisis_type in queryset.select_related("organisation"):
            services.crisis_type_delete(crisis_type=crisis_type, actor=actor)


@admin.register(Severity)
class SeverityAdmin(_SeverityAdminBase):
    """Each organisation's severity levels: rank, public-update cadence, review and approval."""

    form = SeverityForm
    list_display = (
        "name",
        "rank",
        "organisation",
        "public_update_interval_minutes",
        "review_required",
        "approval_strictness",
    )
    list_filter = ("organisation", "rank", "review_required", "approval_strictness")
    search_fields = ("name", "organisation__slug")
    list_select_related = ("organisation",)
    autocomplete_fields = ("organisation",)
    ordering = ("organisation__name", "rank")
    add_fields = ("organisation", *SEVERITY_FIELDS)
    change_fields = (*add_fields, "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Severity]:
        return Severity.all_tenants.select_related("organisation")

    def get_fields(self, request: HttpRequest, obj: Severity | None = None) -> tuple[str, ...]:
        return self.add_fields if obj is None else self.change_fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: Severity | None = None
    ) -> tuple[str, ...]:
        return () if obj is None else ("organisation", "created_at")

    def save_model(self, request: HttpRequest, obj: Severity, form: Any, change: bool) -> None:
        data: dict[str, Any] = form.cleaned_data
        fields = {name: data[name] for name in SEVERITY_FIELDS}
        if change:
            stored = Severity.all_tenants.select_related("organisation").get(pk=obj.pk)
            services.severity_update(severity=stored, actor=_actor(request), **fields)
            obj.refresh_from_db()
            return
        created = services.severity_create(
            organisation=data["organisation"], actor=_actor(request), **fields
        )
        _adopt(obj, created)

    def get_deleted_objects(
        self, objs: Sequence[Severity] | QuerySet[Severity], request: HttpRequest
    ) -> DeletedObjects:
        found = super().get_deleted_objects(objs, request)
        return _refuse_in_use(request, found, "severities in use stay with their incidents.")

    def delete_model(self, request: HttpRequest, obj: Severity) -> None:
        services.severity_delete(severity=obj, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Severity]) -> None:
        actor = _actor(request)
        for severity in queryset.select_related("organisation"):
            services.severity_delete(severity=severity, actor=actor)


# --- Incidents, read-only -----------------------------------------------------------------------


class RoleAssignmentInline(ReadOnlyAdminMixin, _RoleAssignmentInlineBase):
    """Who held which incident role, and when (ended assignments stay as history)."""

    model = RoleAssignment
    fields = ("role", "user", "assigned_at", "assigned_by", "unassigned_at")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[RoleAssignment]:
        queryset = RoleAssignment.all_tenants.select_related("user", "assigned_by")
        return queryset if self.has_view_or_change_permission(request) else queryset.none()


class TaskInline(ReadOnlyAdminMixin, _TaskInlineBase):
    model = Task
    fields = ("title", "status", "priority", "owner", "due_at", "source", "completed_at")
    readonly_fields = fields
    show_change_link = True
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        queryset = Task.all_tenants.select_related("owner")
        return queryset if self.has_view_or_change_permission(request) else queryset.none()


class NoteInline(ReadOnlyAdminMixin, _NoteInlineBase):
    """Notes are immutable once written."""

    model = Note
    fields = ("created_at", "author", "body")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Note]:
        queryset = Note.all_tenants.select_related("author")
        return queryset if self.has_view_or_change_permission(request) else queryset.none()


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdminMixin, _IncidentAdminBase):
    """Incidents across organisations, to look into. They change only through the lifecycle
    services (the API), which keep timestamps monotonic, versions and the timeline right."""

    list_display = (
        "reference",
        "title",
        "organisation",
        "status",
        "severity",
        "crisis_type",
        "is_drill",
        "created_at",
    )
    list_display_links = ("reference", "title")
    list_filter = (
        "organisation",
        "status",
        SeverityRankFilter,
        "is_drill",
        "visibility",
        "created_at",
    )
    search_fields = ("title", "number__exact")
    search_help_text = "Title, number or reference (INC-12)."
    list_select_related = ("organisation", "severity", "crisis_type")
    ordering = ("-created_at",)
    inlines = (RoleAssignmentInline, TaskInline, NoteInline)
    overview_fields = (
        "reference",
        "title",
        "organisation",
        "status",
        "status_reason",
        "merged_into",
        "severity",
        "crisis_type",
        "visibility",
        "source",
        "is_drill",
        "commander",
        "version",
        "timeline",
        "review_link",
    )
    lifecycle_fields = ("created_by", *TIMESTAMP_FIELDS)
    cadence_fields = (
        "last_public_update_at",
        "next_public_update_due_at",
        "public_update_overdue_for",
    )
    fieldsets = (
        (None, {"fields": overview_fields}),
        ("Description", {"fields": ("summary", "impact")}),
        ("Lifecycle", {"fields": lifecycle_fields}),
        ("Public updates", {"fields": cadence_fields}),
    )
    readonly_fields = (*overview_fields, "summary", "impact", *lifecycle_fields, *cadence_fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Incident]:
        return Incident.all_tenants.select_related(
            "organisation", "severity", "crisis_type", "commander", "created_by", "merged_into"
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Incident], bool]:
        match = REFERENCE.fullmatch(search_term.strip())
        if match:
            return queryset.filter(number=int(match[1])), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="Reference", ordering="number")
    def reference(self, obj: Incident) -> str:
        return obj.reference

    @admin.display(description="Timeline")
    def timeline(self, obj: Incident) -> SafeString:
        """Every event whose subject is the incident: status, roles, tasks, notes, review."""
        query = urlencode({"organisation__id__exact": str(obj.organisation_id), "q": str(obj.pk)})
        url = reverse("admin:organisations_event_changelist")
        return format_html('<a href="{}?{}">Events of {}</a>', url, query, obj.reference)

    @admin.display(description="Review")
    def review_link(self, obj: Incident) -> SafeString | str:
        review = Review.all_tenants.filter(incident=obj).first()
        if review is None:
            return "-"
        url = reverse("admin:incidents_review_change", args=(review.pk,))
        return format_html('<a href="{}">{}</a>', url, review.get_status_display())


@admin.register(Task)
class TaskAdmin(ReadOnlyAdminMixin, _TaskAdminBase):
    """Incident tasks across organisations: who owes what, and what is late."""

    list_display = (
        "title",
        "incident",
        "organisation",
        "status",
        "priority",
        "source",
        "owner",
        "due_at",
        "is_overdue",
    )
    list_filter = ("status", "source", OverdueFilter, "priority", "organisation")
    search_fields = ("title", "incident__title", "incident__number__exact")
    list_select_related = ("organisation", "incident", "owner")
    ordering = ("due_at", "created_at")
    fields = (
        "title",
        "incident",
        "organisation",
        "description",
        "status",
        "priority",
        "source",
        "owner",
        "due_at",
        "is_overdue",
        "created_by",
        "created_at",
        "updated_at",
        "completed_at",
        "overdue_notified_for",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return Task.all_tenants.select_related("organisation", "incident", "owner", "created_by")

    @admin.display(description="Overdue", boolean=True)
    def is_overdue(self, obj: Task) -> bool:
        return obj.status in ACTIVE_TASK and obj.due_at is not None and obj.due_at < timezone.now()


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdminMixin, _ReviewAdminBase):
    """Post-incident reviews, as their authors wrote them."""

    list_display = ("incident", "organisation", "status", "completed_at", "completed_by")
    list_filter = ("status", "organisation")
    search_fields = ("incident__title", "incident__number__exact")
    list_select_related = ("organisation", "incident", "completed_by")
    ordering = ("-updated_at",)
    fields = (
        "incident",
        "organisation",
        "status",
        "summary",
        "went_well",
        "went_badly",
        "factors",
        "completed_at",
        "completed_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Review]:
        return Review.all_tenants.select_related("organisation", "incident", "completed_by")

    @admin.display(description="Contributing factors")
    def factors(self, obj: Review) -> SafeString | str:
        if not obj.contributing_factors:
            return "-"
        items = format_html_join("", "<li>{}</li>", ((f,) for f in obj.contributing_factors))
        return format_html("<ul>{}</ul>", items)
