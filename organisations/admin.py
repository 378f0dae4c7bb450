"""The platform admin: staff look after tenants, users, credentials and the event log.

Every change made here goes through the same services as the API, so each records its event in
the same transaction. Secrets are shown once when issued and hashes never; the event log, the
invitations and the app tokens are read-only apart from their revoke/verify actions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth import get_permission_codename
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, ReadOnlyPasswordHashField
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Model, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from crisis_api.api.access import API_KEY_SCOPES
from crisis_api.api.errors import ConflictError
from crisis_api.api.viewsets import ORG_PATTERN
from organisations import services
from organisations.events import Actor, event_chain_verify
from organisations.models import (
    PLAN_LIMITS,
    ApiKey,
    AuthToken,
    Event,
    Invitation,
    Membership,
    Organisation,
    Role,
    User,
    normalise_email,
)

if TYPE_CHECKING:
    # Generic only in django-stubs: Django's classes take no subscript at runtime, and
    # django_stubs_ext.monkeypatch(), which would allow it, is a dev-only dependency.
    _OrganisationAdminBase = admin.ModelAdmin[Organisation]
    _UserAdminBase = DjangoUserAdmin[User]
    _ApiKeyAdminBase = admin.ModelAdmin[ApiKey]
    _EventAdminBase = admin.ModelAdmin[Event]
    _InvitationAdminBase = admin.ModelAdmin[Invitation]
    _AuthTokenAdminBase = admin.ModelAdmin[AuthToken]
    _MembershipInlineBase = admin.TabularInline[Membership, Organisation]
    _MembershipFormSetBase = BaseInlineFormSet[
        Membership, Organisation, forms.ModelForm[Membership]
    ]
    _OrganisationFormBase = forms.ModelForm[Organisation]
    _ApiKeyFormBase = forms.ModelForm[ApiKey]
    _UserChangeFormBase = DjangoUserChangeForm[User]
else:
    _OrganisationAdminBase = _ApiKeyAdminBase = _EventAdminBase = admin.ModelAdmin
    _InvitationAdminBase = _AuthTokenAdminBase = admin.ModelAdmin
    _UserAdminBase = DjangoUserAdmin
    _MembershipInlineBase = admin.TabularInline
    _MembershipFormSetBase = BaseInlineFormSet
    _OrganisationFormBase = _ApiKeyFormBase = forms.ModelForm
    _UserChangeFormBase = DjangoUserChangeForm

LIMIT_FIELDS: tuple[str, ...] = tuple(PLAN_LIMITS[Organisation.Plan.FREE])


def _actor(request: HttpRequest) -> Actor:
    """The platform admin, as the actor of the events their changes record."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return Actor.of_user(request.user)


def _may_change(request: HttpRequest, model: type[Model]) -> bool:
    """The model's change permission, for actions on admins that are otherwise read-only."""
    opts = model._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


def _adopt(target: Model, created: Model) -> None:
    """Turn the admin's unsaved form instance into the row a service created.

    The admin logs the addition and redirects using the object it passed to save_model, so that
    object must become the service's row rather than be saved a second time.
    """
    vars(target).update(vars(created))


def _report_chains(request: HttpRequest, organisations: Iterable[Organisation]) -> None:
    """Verify each organisation's event chain and report the outcome as one message each."""
    for organisation in organisations:
        report = event_chain_verify(organisation=organisation)
        if report.ok:
            messages.success(
                request, f"{organisation}: event chain intact ({report.checked} events checked)."
            )
        else:
            messages.error(
                request,
                f"{organisation}: event chain BROKEN at #{report.broken_seq}: {report.reason} "
                f"({report.checked} events verified before it).",
            )


# --- Filters ------------------------------------------------------------------------------------


class SuspendedFilter(admin.SimpleListFilter):
    title = "suspended"
    parameter_name = "suspended"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(suspended_at__isnull=self.value() == "no")
        return queryset


class CredentialStatusFilter(admin.SimpleListFilter):
    """Active, expired or revoked, for API keys and app tokens alike."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        match self.value():
            case "active":
                return queryset.filter(unexpired, revoked_at__isnull=True)
            case "expired":
                return queryset.filter(expires_at__lte=now, revoked_at__isnull=True)
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
        return queryset


class InvitationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(s, s.capitalize()) for s in ("pending", "accepted", "revoked", "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        open_ = Q(accepted_at__isnull=True, revoked_at__isnull=True)
        match self.value():
            case "pending":
                return queryset.filter(open_, expires_at__gt=now)
            case "accepted":
                return queryset.filter(accepted_at__isnull=False)
            case "revoked":
                return queryset.filter(accepted_at__isnull=True, revoked_at__isnull=False)
            case "expired":
                return queryset.filter(open_, expires_at__lte=now)
        return queryset


# --- Organisations ------------------------------------------------------------------------------


class OrganisationAddForm(_OrganisationFormBase):
    """A new tenant needs its first owner; the service gives it the plan's limits."""

    slug = forms.SlugField(
        max_length=63,
        required=False,
        help_text="Optional: made from the name when empty. Lower-case letters, digits, hyphens.",
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True),
        widget=AutocompleteSelect(Membership._meta.get_field("user"), admin.site),
        help_text="Becomes the organisation's first owner.",
    )

    class Meta:
        model = Organisation
        fields = ("name", "slug", "plan")

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if slug and not re.fullmatch(ORG_PATTERN, slug):
            raise ValidationError(
                "Use lower-case letters, digits and inner hyphens only (it appears in API URLs)."
            )
        return slug


class MembershipFormSet(_MembershipFormSetBase):
    """Role changes and removals must leave an owner (the service checks again, under lock)."""

    def clean(self) -> None:
        super().clean()
        if not any(form.has_changed() for form in self.forms):
            return
        owners = 0
        for form in self.forms:
            data = getattr(form, "cleaned_data", {})
            if form.instance.pk is None or data.get("DELETE"):
                continue
            if data.get("role", form.initial.get("role")) == Role.OWNER:
                owners += 1
        if owners == 0:
            raise ValidationError("An organisation must keep at least one owner.")


class MembershipInline(_MembershipInlineBase):
    """Members and their roles. Members join by invitation, so there is no add row here."""

    model = Membership
    formset = MembershipFormSet
    fields = ("user", "role", "created_at")
    readonly_fields = ("user", "created_at")
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        queryset = Membership.all_tenants.select_related("user").order_by("created_at", "id")
        return queryset if self.has_view_or_change_permission(request) else queryset.none()

    # Inlines take `obj`, unlike BaseModelAdmin.has_add_permission (the stubs ignore this too).
    def has_add_permission(self, request: HttpRequest, obj: Organisation | None) -> bool:  # type: ignore[override]
        return False


@admin.register(Organisation)
class OrganisationAdmin(_OrganisationAdminBase):
    """Tenants: plan and limits, members' roles, suspension; each change recorded as an event."""

    list_display = ("name", "slug", "plan", "member_count", "is_suspended", "created_at")
    list_filter = ("plan", SuspendedFilter)
    search_fields = ("name", "slug")
    ordering = ("name",)
    actions = ("suspend", "unsuspend", "verify_event_chain")
    inlines = (MembershipInline,)
    fieldsets = (
        (None, {"fields": ("name", "slug", "created_at", "event_log")}),
        (
            "Plan and limits",
            {
                "description": (
                    "Changing the plan resets every limit to the new plan's defaults; limits "
                    "changed in the same save override those defaults."
                ),
                "fields": ("plan", *LIMIT_FIELDS),
            },
        ),
        ("Suspension", {"fields": ("suspended_at", "suspended_reason")}),
    )
    add_fieldsets = ((None, {"fields": ("name", "slug", "plan", "owner")}),)
    # The slug is part of every API URL of the tenant: changing it would break integrations.
    change_readonly_fields = ("slug", "created_at", "event_log", "suspended_at", "suspended_reason")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organisation]:
        return super().get_queryset(request).annotate(member_count=Count("membership"))

    def get_fieldsets(self, request: HttpRequest, obj: Organisation | None = None) -> Any:
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(
        self, request: HttpRequest, obj: Organisation | None = None
    ) -> tuple[str, ...]:
        return () if obj is None else self.change_readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Organisation | None) -> list[Any]:
        return [] if obj is None else list(self.inlines)

    def get_form(
        self,
        request: HttpRequest,
        obj: Organisation | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[Organisation]]:
        if obj is None:
            kwargs["form"] = OrganisationAddForm
        return super().get_form(request, obj, change, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Organisation | None = None) -> bool:
        return False  # suspend instead: a tenant's data and event log are kept

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, obj: Organisation) -> int:
        return int(getattr(obj, "member_count", 0))

    @admin.display(description="Suspended", boolean=True, ordering="suspended_at")
    def is_suspended(self, obj: Organisation) -> bool:
        return obj.is_suspended

    @admin.display(description="Event log")
    def event_log(self, obj: Organisation) -> SafeString:
        url = reverse("admin:organisations_event_changelist")
        return format_html('<a href="{}?organisation__id__exact={}">Events</a>', url, obj.pk)

    def save_model(self, request: HttpRequest, obj: Organisation, form: Any, change: bool) -> None:
        data: dict[str, Any] = form.cleaned_data
        if not change:
            created = services.organisation_create(
                name=data["name"],
                owner=data["owner"],
                slug=data["slug"] or None,
                plan=data["plan"],
                actor=_actor(request),
            )
            _adopt(obj, created)
            return
        actor = _actor(request)
        # `obj` already holds the form's values; the services diff against the stored row.
        stored = Organisation.objects.get(pk=obj.pk)
        if "name" in form.changed_data:
            services.organisation_update(organisation=stored, actor=actor, name=data["name"])
        plan: str | None = data["plan"] if "plan" in form.changed_data else None
        limits: dict[str, int] = {f: data[f] for f in LIMIT_FIELDS if f in form.changed_data}
        if plan or limits:
            services.organisation_set_limits(organisation=stored, actor=actor, plan=plan, **limits)
        obj.refresh_from_db()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)  # collects changed and deleted rows; the services write
        actor = _actor(request)
        changed: list[Membership] = [membership for membership, _ in formset.changed_objects]
        # Grant ownership before taking any away, so no step leaves the tenant without an owner.
        changed.sort(key=lambda membership: membership.role != Role.OWNER)
        for membership in changed:
            services.membership_change_role(
                membership=self._stored_membership(membership),
                role=membership.role,
                actor=actor,
                actor_role=Role.OWNER,
            )
        for membership in formset.deleted_objects:
            services.membership_remove(
                membership=self._stored_membership(membership), actor=actor, actor_role=Role.OWNER
            )

    @staticmethod
    def _stored_membership(membership: Membership) -> Membership:
        return Membership.all_tenants.select_related("organisation").get(pk=membership.pk)

    @admin.action(description="Suspend selected organisations", permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        actor = _actor(request)
        reason = f"Suspended by platform admin {actor.label}"
        suspended = 0
        for organisation in queryset.filter(suspended_at__isnull=True):
            services.organisation_suspend(organisation=organisation, actor=actor, reason=reason)
            suspended += 1
        messages.success(request, f"Suspended {suspended} organisation(s).")

    @admin.action(description="Unsuspend selected organisations", permissions=["change"])
    def unsuspend(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        actor = _actor(request)
        restored = 0
        for organisation in queryset.filter(suspended_at__isnull=False):
            services.organisation_unsuspend(organisation=organisation, actor=actor)
            restored += 1
        messages.success(request, f"Unsuspended {restored} organisation(s).")

    @admin.action(description="Verify event chain")
    def verify_event_chain(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        _report_chains(request, queryset)


# --- Users --------------------------------------------------------------------------------------


class UserCreationForm(BaseUserCreationForm[User]):
    """A new account: e-mail (stored lower-cased) and a password the validators accept."""

    class Meta:
        model = User
        fields = ("email", "full_name")

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        if User.objects.filter(email=email).exists():
            raise ValidationError("A user with this e-mail address already exists.")
        return email


class UserChangeForm(_UserChangeFormBase):
    """Profile and permissions; the password is shown as its hash's summary, never editable."""

    password = ReadOnlyPasswordHashField(
        label="Password",
        help_text="Only a salted hash is stored, so the password cannot be shown.",
    )

    class Meta:
        model = User
        fields = (
            "email",
            "password",
            "full_name",
            "is_active",
            "is_staff",
            "is_superuser",
            "groups",
            "user_permissions",
        )

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        if User.objects.filter(email=email).exclude(pk=self.instance.pk).exists():
            raise ValidationError("A user with this e-mail address already exists.")
        return email


@admin.register(User)
class UserAdmin(_UserAdminBase):
    """Accounts, found by e-mail. Deactivate rather than delete: memberships carry history."""

    form = UserChangeForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("full_name", "memberships")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")},
        ),
    )
    readonly_fields = ("memberships", "last_login", "date_joined")
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "full_name")
    ordering = ("email",)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Deleting would drop memberships (maybe a last owner) without any event: deactivate.
        return False

    @admin.display(description="Memberships")
    def memberships(self, obj: User) -> str:
        rows = Membership.all_tenants.filter(user=obj).select_related("organisation")
        return ", ".join(f"{m.organisation} ({m.get_role_display()})" for m in rows) or "-"


# --- API keys -----------------------------------------------------------------------------------


class ApiKeyAddForm(_ApiKeyFormBase):
    """Issuing a key: the service makes the secret, shown once after saving."""

    scopes = forms.MultipleChoiceField(
        choices=[(scope, f"{scope}: {text}") for scope, text in sorted(API_KEY_SCOPES.items())],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ApiKey
        fields = ("organisation", "name", "scopes", "expires_at")

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        expires_at = cleaned.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            self.add_error("expires_at", "Must be in the future.")
        organisation: Organisation | None = cleaned.get("organisation")
        if organisation is not None:
            active = ApiKey.all_tenants.filter(
                organisation=organisation, revoked_at__isnull=True
            ).count()
            if active >= organisation.max_api_keys:
                self.add_error(
                    "organisation",
                    f"The plan allows {organisation.max_api_keys} active API keys.",
                )
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(_ApiKeyAdminBase):
    """Integrators' keys: issue (secret shown once), rename, revoke. The hash is never shown."""

    list_display = (
        "name",
        "organisation",
        "prefix",
        "scope_list",
        "status",
        "last_used_at",
        "expires_at",
    )
    list_filter = (CredentialStatusFilter, "organisation")
    search_fields = ("prefix", "name", "organisation__slug")
    list_select_related = ("organisation",)
    autocomplete_fields = ("organisation",)
    actions = ("revoke",)
    add_fields = ("organisation", "name", "scopes", "expires_at")
    change_fields = (
        "name",
        "organisation",
        "prefix",
        "scope_list",
        "status",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        return ApiKey.all_tenants.select_related("organisation", "created_by")

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return self.add_fields if obj is None else self.change_fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> tuple[str, ...]:
        return () if obj is None else self.change_fields[1:]

    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[ApiKey]]:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: events and last use stay attributable

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        actor = _actor(request)
        data: dict[str, Any] = form.cleaned_data
        if change:
            stored = ApiKey.all_tenants.select_related("organisation").get(pk=obj.pk)
            services.api_key_update(api_key=stored, actor=actor, name=data["name"])
            return
        issued = services.api_key_create(
            organisation=data["organisation"],
            name=data["name"],
            scopes=data["scopes"],
            actor=actor,
            expires_at=data["expires_at"],
        )
        _adopt(obj, issued.api_key)
        messages.success(
            request,
            f"API key “{obj.name}” issued. Copy its secret now; it will not be shown again: "
            f"{issued.secret}",
        )

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        actor = _actor(request)
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True).select_related("organisation"):
            services.api_key_revoke(api_key=api_key, actor=actor)
            revoked += 1
        messages.success(request, f"Revoked {revoked} API key(s).")


# --- Read-only: event log, invitations, app tokens ----------------------------------------------


class ReadOnlyAdminMixin:
    """Rows are never added, edited or deleted here; actions call services instead."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, _EventAdminBase):
    """The event log: append-only and hash-chained, so read-only here as in the database."""

    list_display = ("seq", "organisation", "type", "actor_label", "subject", "occurred_at")
    list_filter = ("type", "organisation", "actor_type")
    search_fields = ("=subject_id", "type")
    list_select_related = ("organisation",)
    ordering = ("-occurred_at", "-seq")
    show_full_result_count = False
    actions = ("verify_chains",)
    fields = (
        "organisation",
        "seq",
        "type",
        "occurred_at",
        "actor_type",
        "actor_id",
        "actor_label",
        "subject_type",
        "subject_id",
        "payload_pretty",
        "request_id",
        "prev_hash",
        "hash",
        "dispatched_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return Event.all_tenants.select_related("organisation")

    @admin.display(description="Subject")
    def subject(self, obj: Event) -> str:
        return f"{obj.subject_type}:{obj.subject_id}"

    @admin.display(description="Payload")
    def payload_pretty(self, obj: Event) -> SafeString:
        text = json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", text)

    @admin.action(description="Verify chain of the selected events' organisations")
    def verify_chains(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        ids = queryset.order_by().values("organisation_id").distinct()
        _report_chains(request, Organisation.objects.filter(pk__in=ids).order_by("name"))


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, _InvitationAdminBase):
    """Invitations and their status; the token exists only in the e-mail (stored hashed)."""

    list_display = ("email", "organisation", "role", "status", "invited_by", "expires_at")
    list_filter = (InvitationStatusFilter, "role", "organisation")
    search_fields = ("email", "organisation__slug")
    list_select_related = ("organisation", "invited_by")
    actions = ("revoke",)
    fields = (
        "email",
        "organisation",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invitation]:
        return Invitation.all_tenants.select_related("organisation", "invited_by", "accepted_by")

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return _may_change(request, Invitation)

    @admin.action(description="Revoke selected invitations", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        actor = _actor(request)
        revoked = 0
        for invitation in queryset:
            try:
                services.invitation_revoke(invitation=invitation, actor=actor)
            except ConflictError as exc:
                messages.warning(request, f"{invitation.email}: {exc.detail}")
            else:
                revoked += 1
        messages.success(request, f"Revoked {revoked} invitation(s).")


@admin.register(AuthToken)
class AuthTokenAdmin(ReadOnlyAdminMixin, _AuthTokenAdminBase):
    """First-party app tokens; only the prefix is shown, and they can be revoked."""

    list_display = ("prefix", "user", "name", "created_at", "expires_at", "revoked")
    list_filter = (CredentialStatusFilter,)
    search_fields = ("prefix", "user__email")
    list_select_related = ("user",)
    actions = ("revoke",)
    fields = (
        "prefix",
        "user",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return _may_change(request, AuthToken)

    @admin.display(description="Revoked", boolean=True, ordering="revoked_at")
    def revoked(self, obj: AuthToken) -> bool:
        return obj.revoked_at is not None

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[AuthToken]) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            services.auth_token_revoke(token=token)
            revoked += 1
        messages.success(request, f"Revoked {revoked} token(s).")
