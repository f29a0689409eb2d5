"""Tenants, their memberships and their API keys in the admin."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from calls.admin_filters import ScopedRelatedFieldListFilter
from calls.keys import create_api_key, format_expiry, revoke_api_key
from calls.models import ApiKey, Tenant, TenantMembership
from calls.webhook_credentials import rotate_webhook_secret, rotate_webhook_token
from config.admin.scoping import (
    TenantMemberViewMixin,
    TenantScopedAdminMixin,
    can_view_tenant_data,
    sees_several_tenants,
    sole_tenant_id,
)

# The session entry that carries a new key's secret from the creating POST to the page the POST
# redirects to, which pops it: ``{"key": <pk>, "raw": <secret>}``.
NEW_API_KEY_SESSION_KEY = "callscope_new_api_key"


def _is_superuser(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.is_superuser)


class SuperuserOnlyMixin:
    """Visible and editable by superusers only."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)


class TenantMembershipInline(SuperuserOnlyMixin, TenantScopedAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    """The staff users who belong to the tenant (superusers only)."""

    model = TenantMembership
    tenant_path = "tenant"
    extra = 0
    autocomplete_fields = ("user",)
    verbose_name_plural = "staff members"


@admin.register(TenantMembership)
class TenantMembershipAdmin(SuperuserOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Which staff users see which tenants. Managed by superusers (here or on the tenant page)."""

    tenant_path = "tenant"
    list_display = ("user", "tenant")
    list_filter = ("tenant",)
    list_select_related = ("user", "tenant")
    search_fields = ("user__username", "user__email", "tenant__name", "tenant__slug")
    autocomplete_fields = ("user", "tenant")


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdminMixin, TenantMemberViewMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Superusers add and change tenants; tenant staff view their own. The webhook secret is shown
    to superusers only. Tenants are not deleted here: the admin's delete confirmation would
    collect every call of the tenant.

    The webhook token and secret are not edited by hand: the "Rotate" actions replace them with
    new random values, and the old ones stop working at once."""

    tenant_path = "pk"
    list_display = ("name", "slug", "timezone", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("webhook_path", "webhook_token", "webhook_secret", "created_at")
    inlines = (TenantMembershipInline,)
    actions = ("rotate_webhook_tokens", "rotate_webhook_secrets")

    def get_fields(self, request: HttpRequest, obj: Tenant | None = None) -> Any:
        fields = ["name", "slug", "timezone"]
        if obj is not None:
            # Set after creation (the default applies until then).
            fields += ["delivery_retention_days", "webhook_path", "webhook_token"]
            if _is_superuser(request):
                fields.append("webhook_secret")
            fields.append("created_at")
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return False

    @admin.display(description="webhook URL path")
    def webhook_path(self, obj: Tenant) -> str:
        return reverse("webhook-synthflow", kwargs={"token": obj.webhook_token})

    @admin.action(
        description="Rotate the webhook URL token (the old URL stops working)",
        permissions=["change"],
    )
    def rotate_webhook_tokens(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        tenants = list(queryset)
        for tenant in tenants:
            rotate_webhook_token(tenant=tenant)
        # The new URL is on each tenant's page, not in the message: messages are stored in the
        # session or a cookie.
        self.message_user(
            request,
            f"Rotated the webhook URL token of {len(tenants)} tenant(s); the old URLs answer 404 "
            "now. Set each tenant's new webhook URL (on its page) in Synthflow.",
            messages.SUCCESS,
        )

    @admin.action(
        description="Rotate the webhook secret (deliveries signed with the old one get 401)",
        permissions=["change"],
    )
    def rotate_webhook_secrets(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        tenants = list(queryset)
        for tenant in tenants:
            rotate_webhook_secret(tenant=tenant)
        self.message_user(
            request,
            f"Rotated the webhook secret of {len(tenants)} tenant(s); deliveries signed with the "
            "old secret answer 401 now. Set each tenant's new secret (on its page) in Synthflow.",
            messages.SUCCESS,
        )


class ApiKeyStatusFilter(admin.SimpleListFilter):
    """Active, expired or revoked keys."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() == "active":
            return queryset.active()  # type: ignore[attr-defined]
        if self.value() == "expired":
            return queryset.expired()  # type: ignore[attr-defined]
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdminMixin, TenantMemberViewMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """API keys: created here with a tenant and a name, shown once, then only by prefix.

    Creating a key follows post/redirect/get: the POST creates the key, puts its secret in the
    session (``NEW_API_KEY_SESSION_KEY``) and redirects to the key's "created" page, whose GET
    pops it and shows it. So the secret is shown once, and reloading that page neither creates
    another key nor shows the secret again (it is not in a message or the database). Each key has
    a scope (``read``, ``ingest`` or ``all``) and an optional expiry, both chosen at creation.
    Keys cannot be edited or deleted, only revoked (the "Revoke selected keys" action), so the
    list keeps a record of every credential ever issued. Tenant staff need ``calls.add_apikey``
    to create keys and ``calls.change_apikey`` to revoke them, for their own tenants only.
    """

    tenant_path = "tenant"
    list_display = (
        "prefix_display",
        "name",
        "tenant",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "status",
    )
    list_filter = (ApiKeyStatusFilter, "scope", ("tenant", ScopedRelatedFieldListFilter))
    list_select_related = ("tenant",)
    search_fields = ("^prefix", "name")
    autocomplete_fields = ("tenant",)
    actions = ("revoke_keys",)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ("tenant", "name", "scope", "expires_at")
        return (
            "tenant",
            "name",
            "prefix_display",
            "scope",
            "is_active",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return () if obj is None else self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can_view_tenant_data(request) and request.user.has_perm("calls.add_apikey")

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return can_view_tenant_data(request) and request.user.has_perm("calls.change_apikey")

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        if not sees_several_tenants(request):
            columns.remove("tenant")
        return columns

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        # The only tenant the user can pick is picked already.
        sole = sole_tenant_id(request)
        if sole is not None and "tenant" not in initial:
            initial["tenant"] = str(sole)
        return initial

    @admin.display(description="key")
    def prefix_display(self, obj: ApiKey) -> str:
        return format_html("<code>{}…</code>", obj.prefix)

    @admin.display(description="active", boolean=True)
    def is_active(self, obj: ApiKey) -> bool:
        return obj.is_active

    @admin.display(description="status")
    def status(self, obj: ApiKey) -> str:
        # One column for the three states the status filter offers (the list fits 1440 px).
        if obj.revoked_at is not None:
            revoked = timezone.localtime(obj.revoked_at)
            return format_html(
                '<span title="{}">revoked</span>', f"revoked {revoked:%Y-%m-%d %H:%M}"
            )
        return "expired" if obj.is_expired else "active"

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            revoke_api_key(key=key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The form reads and shows the expiry in the current zone, which is UTC here whatever
        # TIME_ZONE says: expiries are in UTC everywhere (the field's help text says so).
        with timezone.override(UTC):
            response = super().add_view(request, form_url, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()
        return response

    def save_form(self, request: HttpRequest, form: ModelForm[ApiKey], change: bool) -> ApiKey:
        # Keys are minted by calls.keys.create_api_key only. There is no change form (no change
        # permission), so every save here is a creation.
        key, raw = create_api_key(
            tenant=form.cleaned_data["tenant"],
            name=form.cleaned_data.get("name") or "",
            scope=form.cleaned_data["scope"],
            expires_at=form.cleaned_data.get("expires_at"),
        )
        request.session[NEW_API_KEY_SESSION_KEY] = {"key": key.pk, "raw": raw}
        return key

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        """The key was stored by ``save_form``."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """API keys have no relations to save."""

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        # Redirect, so that reloading the page that shows the secret repeats a GET, not the POST.
        return HttpResponseRedirect(reverse("admin:calls_apikey_created", args=[obj.pk]))

    def get_urls(self) -> list[URLPattern]:
        created = path(
            "<path:object_id>/created/",
            self.admin_site.admin_view(self.created_view),
            name="calls_apikey_created",
        )
        return [created, *super().get_urls()]

    def created_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The page a key's creation redirects to: its secret on the first GET after the POST
        (popped from the session), and on any later GET only that it cannot be shown again."""
        key = self.get_object(request, object_id)
        if key is None or not self.has_view_permission(request, key):
            raise Http404("No such API key.")
        pending = request.session.get(NEW_API_KEY_SESSION_KEY)
        raw = None
        if isinstance(pending, dict) and pending.get("key") == key.pk:
            raw = request.session.pop(NEW_API_KEY_SESSION_KEY)["raw"]
        # Admin views are never cached (``admin_view`` marks them so): the secret lives only in
        # this response.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "key": key,
            "expires": format_expiry(key.expires_at) if key.expires_at else None,
            "raw_key": raw,
            "changelist_url": reverse("admin:calls_apikey_changelist"),
            "add_url": reverse("admin:calls_apikey_add"),
        }
        return TemplateResponse(request, "admin/calls/apikey/created.html", context)
