"""Platform webhook connections and the deliveries they received, in the admin.

Superusers create connections and rotate their secrets; tenant staff see their tenants'
connections (webhook URL, last delivery, failures) and deliveries. A stored secret is never
shown: a secret Callscope generates is shown once, on the page that answers the form, rendered
from memory (not put in a message, the session or the database).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from calls.admin.ingested import IngestedAdmin, pretty_json
from calls.admin.tenants import _is_superuser
from calls.models import PlatformConnection, WebhookDelivery
from calls.platform_connections import (
    ConnectionInvalid,
    check_header_name,
    check_secret,
    create_connection,
    platform_module,
    rotate_secret,
    webhook_path,
)
from calls.platforms import PLATFORMS
from config.admin.scoping import TenantMemberViewMixin, TenantScopedAdminMixin

_SHOWN_SECRET_ATTR = "_callscope_platform_secret"


def _platform_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(PLATFORMS) if name != "synthflow"]


class ConnectionForm(forms.ModelForm):  # type: ignore[type-arg]
    """Creation: tenant, platform, scheme, header and the secret (left empty, generated where
    the platform allows it). Change: scheme and header, and an optional new secret that rotates
    the current one out (it stays valid for the overlap)."""

    platform = forms.ChoiceField(choices=())
    secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="The platform's signing secret. Leave empty to have Callscope generate one "
        "(platforms that let the receiver choose it); it is then shown once.",
    )

    class Meta:
        model = PlatformConnection
        fields: tuple[str, ...] = ("tenant", "platform", "scheme", "header_name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "platform" in self.fields:
            self.fields["platform"].choices = _platform_choices()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        platform = cleaned.get("platform") or (self.instance.platform if self.instance else "")
        if not platform:
            return cleaned
        try:
            module = platform_module(platform)
        except ConnectionInvalid as exc:
            raise forms.ValidationError(str(exc)) from None
        scheme = cleaned.get("scheme") or ""
        if scheme and scheme not in module.schemes:
            self.add_error("scheme", f"One of {', '.join(module.schemes)}.")
        for name, check in (("secret", check_secret), ("header_name", check_header_name)):
            if cleaned.get(name):
                try:
                    check(cleaned[name])
                except ConnectionInvalid as exc:
                    self.add_error(name, str(exc))
        if self.instance.pk is None and not cleaned.get("secret") and not module.generates_secret:
            self.add_error("secret", f"{platform} signs with a secret of its own: paste it here.")
        return cleaned


class RotateSecretForm(ConnectionForm):
    platform = None  # type: ignore[assignment]  # fixed once created

    class Meta(ConnectionForm.Meta):
        fields = ("scheme", "header_name")


@admin.register(PlatformConnection)
class PlatformConnectionAdmin(TenantScopedAdminMixin, TenantMemberViewMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """A tenant's connections to voice-agent platforms: the webhook URL to set in the platform,
    the last delivery and the refused ones. Secrets are write-only."""

    tenant_path = "tenant"
    list_display = (
        "platform",
        "tenant",
        "scheme",
        "last_delivery_at",
        "failure_count",
        "last_failure_at",
    )
    list_filter = ("platform",)
    list_select_related = ("tenant",)
    search_fields = ("tenant__name", "tenant__slug", "platform")
    autocomplete_fields = ("tenant",)
    actions = ("rotate_generated_secrets",)
    readonly_fields = (
        "webhook_url",
        "secret_rotated_at",
        "previous_secret_expires_at",
        "created_at",
        "last_delivery_at",
        "failure_count",
        "last_failure_at",
        "last_failure_reason",
    )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = ConnectionForm if obj is None else RotateSecretForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: PlatformConnection | None = None) -> Any:
        if obj is None:
            return ("tenant", "platform", "scheme", "header_name", "secret")
        return ("tenant_display", *self._change_fields(request))

    def _change_fields(self, request: HttpRequest) -> tuple[str, ...]:
        editable = ("scheme", "header_name", "secret") if _is_superuser(request) else ()
        return ("platform_display", "webhook_url", *editable, *self.readonly_fields[1:])

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return ("tenant_display", "platform_display", *self.readonly_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)

    @admin.display(description="tenant")
    def tenant_display(self, obj: PlatformConnection) -> str:
        return str(obj.tenant)

    @admin.display(description="platform")
    def platform_display(self, obj: PlatformConnection) -> str:
        return obj.platform

    @admin.display(description="webhook URL path")
    def webhook_url(self, obj: PlatformConnection) -> str:
        # A path, as the tenant page shows Synthflow's: the host is the one the platform
        # reaches Callscope on (the page answering the creation shows the absolute URL).
        return webhook_path(obj)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> PlatformConnection:
        if change:
            return super().save_form(request, form, change)  # type: ignore[no-any-return]
        # Connections are made by calls.platform_connections only (the secret is encrypted
        # there); the form checked the platform, scheme, secret and uniqueness.
        created = create_connection(
            tenant=form.cleaned_data["tenant"],
            platform=form.cleaned_data["platform"],
            secret=form.cleaned_data.get("secret") or None,
            scheme=form.cleaned_data.get("scheme") or "",
            header_name=form.cleaned_data.get("header_name") or "",
        )
        setattr(request, _SHOWN_SECRET_ATTR, created.generated_secret)
        return created.connection

    def save_model(
        self, request: HttpRequest, obj: PlatformConnection, form: Any, change: bool
    ) -> None:
        if not change:
            return  # stored by save_form
        obj.save(update_fields=["scheme", "header_name"])
        secret = form.cleaned_data.get("secret") or None
        if secret is not None:
            rotate_secret(connection=obj, secret=secret)
            self.message_user(
                request,
                "The secret was replaced; the previous one verifies deliveries until "
                f"{obj.previous_secret_expires_at:%Y-%m-%d %H:%M} UTC.",
                messages.SUCCESS,
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Connections have no relations to save."""

    def response_add(
        self, request: HttpRequest, obj: PlatformConnection, post_url_continue: str | None = None
    ) -> HttpResponse:
        return self._secret_page(request, obj, getattr(request, _SHOWN_SECRET_ATTR, None))

    def _secret_page(
        self, request: HttpRequest, obj: PlatformConnection, secret: str | None
    ) -> HttpResponse:
        # Admin views are never cached (the admin site marks them so); the secret lives only in
        # this response.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Platform connection",
            "connection": obj,
            "webhook_url": request.build_absolute_uri(webhook_path(obj)),
            "secret": secret,
            "changelist_url": reverse("admin:calls_platformconnection_changelist"),
            "change_url": reverse("admin:calls_platformconnection_change", args=[obj.pk]),
        }
        return TemplateResponse(request, "admin/calls/platformconnection/secret.html", context)

    @admin.action(
        description="Rotate the secret (generated; the old one stays valid for the overlap)",
        permissions=["change"],
    )
    def rotate_generated_secrets(
        self, request: HttpRequest, queryset: QuerySet[PlatformConnection]
    ) -> HttpResponse | None:
        connections = list(queryset.select_related("tenant"))
        if len(connections) != 1:
            self.message_user(
                request,
                "Rotate one connection at a time: its new secret is shown once.",
                messages.ERROR,
            )
            return None
        (connection,) = connections
        try:
            secret = rotate_secret(connection=connection)
        except ConnectionInvalid as exc:
            self.message_user(
                request, f"{exc} Enter the new secret on the connection's page.", messages.ERROR
            )
            return None
        return self._secret_page(request, connection, secret)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(IngestedAdmin):
    """Platform deliveries kept for reprocessing (redacted payloads), newest first."""

    tenant_path = "tenant"
    list_display = ("received_at", "platform", "event_type", "call_id")
    list_filter = ("platform",)
    search_fields = ("call_id",)
    date_hierarchy = "received_at"
    sortable_by = ("received_at",)
    ordering = ("-received_at", "-id")
    list_defer = ("payload",)
    fields = (
        "tenant",
        "platform",
        "event_type",
        "call_id",
        "idempotency_key",
        "received_at",
        "payload_display",
    )
    readonly_fields = fields

    @admin.display(description="payload (redacted)")
    def payload_display(self, obj: WebhookDelivery) -> str:
        return pretty_json(obj.payload)
