"""The analytics dashboard in the admin ("Analytics", "Dashboard").

Who sees what follows the membership rules of ``config.admin.scoping``: tenant staff see the
dashboard of the tenants they belong to (another tenant's is a 404, like a missing one);
superusers pick any tenant; staff without a membership see nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import forms
from django.apps import apps as django_apps
from django.apps.registry import Apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from analytics import rollup_admin  # noqa: F401  (registers the rollup freshness admin)
from analytics.dashboard import (
    DEFAULT_PRESET,
    MAX_CUSTOM_DAYS,
    PRESETS,
    Scope,
    build_dashboard,
    custom_window,
    preset_window,
    span_label,
)
from analytics.queries.dashboard import calls_in_progress
from calls.enums import CallType
from calls.models import Agent, Call, Tenant
from config.admin.scoping import TenantMemberViewMixin, can_view_tenant_data, visible_tenant_ids
from config.live.auth import LivePrincipal, issue_ticket

# --- The dashboard page ------------------------------------------------------------------------


class Dashboard(models.Model):
    """The admin's handle on the dashboard page.

    The admin lists models in its index, and the dashboard has none of its own. This one lives in
    a private app registry: it has no table, no migration, no content type and no permissions;
    it only gives the page its place ("Analytics", "Dashboard") and its URL in the admin.
    """

    class Meta:
        apps = Apps()
        app_label = "analytics"
        managed = False
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"

    def __str__(self) -> str:
        return "Dashboard"


CUSTOM = "custom"
RANGE_CHOICES = [*((key, key) for key in PRESETS), (CUSTOM, "custom")]


class DashboardForm(forms.Form):
    """The dashboard's query string: a preset or custom range of tenant-local days, an agent and
    a type of call. Agent choices are the tenant's agents, read once by the view."""

    range = forms.ChoiceField(choices=RANGE_CHOICES, required=False)
    from_date = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    to_date = forms.DateField(
        required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )
    agent = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    type = forms.ChoiceField(choices=[("", "all types"), *CallType.choices], required=False)

    def __init__(self, data: QueryDict, *, agents: list[Agent]) -> None:
        if not data.get("range"):
            # The range in force is shown selected, also when the query string leaves it out.
            data = data.copy()
            custom = data.get("from_date") or data.get("to_date")
            data["range"] = CUSTOM if custom else DEFAULT_PRESET
        super().__init__(data)
        self.agents = {agent.pk: agent for agent in agents}
        self.fields["agent"].choices = [  # type: ignore[attr-defined]
            ("", "all agents"),
            *((agent.pk, agent.name or agent.model_id) for agent in agents),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first: date | None = data.get("from_date")
        last: date | None = data.get("to_date")
        if data.get("range") == CUSTOM:
            if first is None or last is None:
                raise forms.ValidationError("A custom range needs both a from and a to date.")
            if last < first:
                raise forms.ValidationError("The to date is before the from date.")
            if (last - first).days + 1 > MAX_CUSTOM_DAYS:
                raise forms.ValidationError(f"A range may span at most {MAX_CUSTOM_DAYS} days.")
        return data

    def scope(self, tenant: Tenant, now: datetime) -> Scope:
        data = self.cleaned_data
        if data["range"] == CUSTOM:
            window = custom_window(data["from_date"], data["to_date"], tenant.zone)
        else:
            window = preset_window(data["range"], now)
        agent_pk = data.get("agent")
        return Scope(
            tenant=tenant,
            window=window,
            agent=self.agents.get(agent_pk) if agent_pk is not None else None,
            type_of_call=data.get("type") or None,
        )


def visible_tenants(request: HttpRequest) -> list[Tenant]:
    ids = visible_tenant_ids(request)
    tenants = Tenant.objects.order_by("name", "pk")
    return list(tenants if ids is None else tenants.filter(pk__in=sorted(ids)))


def chosen_tenant(request: HttpRequest, tenants: list[Tenant]) -> Tenant | None:
    """The tenant named by ``?tenant=<id>`` among those the user sees (404 for any other), or
    the first of them."""
    raw = request.GET.get("tenant", "").strip()
    if not raw:
        return tenants[0] if tenants else None
    for tenant in tenants:
        if str(tenant.pk) == raw:
            return tenant
    raise Http404("No tenant matches the given id.")


def _query(request: HttpRequest, **changes: Any) -> str:
    """The current query string with ``changes`` (``None`` removes a parameter)."""
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return f"?{params.urlencode()}" if params else "?"


@admin.register(Dashboard)
class DashboardAdmin(TenantMemberViewMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """The dashboard: one page, viewable by superusers and tenant staff, nothing to change."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("", view(self.dashboard_view), name="{}_{}_changelist".format(*info)),
            # The live parts of the page: a WebSocket ticket for the session, the tiles to
            # redraw when calls change, and the way from a live call to its admin page.
            path(
                "live-ticket/",
                view(require_POST(self.live_ticket_view)),
                name="{}_{}_live_ticket".format(*info),
            ),
            path("tiles/", view(require_GET(self.tiles_view)), name="{}_{}_tiles".format(*info)),
            path(
                "call/<path:call_id>",
                view(require_GET(self.call_view)),
                name="{}_{}_call".format(*info),
            ),
        ]

    def _tenant(self, request: HttpRequest) -> Tenant:
        if not can_view_tenant_data(request):
            raise PermissionDenied
        tenant = chosen_tenant(request, visible_tenants(request))
        if tenant is None:
            raise Http404("No tenant.")
        return tenant

    def live_ticket_view(self, request: HttpRequest) -> JsonResponse:
        """A single-use WebSocket ticket for ``?tenant=``, bound to the session's user: the
        connection ends when the user loses access to the tenant."""
        tenant = self._tenant(request)
        principal = LivePrincipal(
            tenant_id=tenant.pk, tenant_zone=tenant.timezone, user_id=request.user.pk
        )
        # The admin's views already answer with "Cache-Control: no-store" (never cached).
        return JsonResponse({"ticket": issue_ticket(principal)})

    def tiles_view(self, request: HttpRequest) -> JsonResponse:
        """The KPI tiles of the dashboard the same query string shows, as JSON."""
        tenant = self._tenant(request)
        agents = list(Agent.objects.filter(tenant=tenant).only("name", "model_id"))
        form = DashboardForm(request.GET, agents=agents)
        if not form.is_valid():
            return JsonResponse({"detail": "Invalid dashboard parameters."}, status=400)
        now = timezone.now()
        dashboard = build_dashboard(form.scope(tenant, now), now=now)
        return JsonResponse({"tiles": [tile.as_json() for tile in dashboard.tiles]})

    def call_view(self, request: HttpRequest, call_id: str) -> HttpResponseRedirect:
        """Redirects to the admin page of the tenant's call ``call_id`` (404 for any other)."""
        tenant = self._tenant(request)
        call = Call.objects.filter(tenant=tenant, call_id=call_id).only("pk").first()
        if call is None:
            raise Http404("No call matches the given id.")
        return HttpResponseRedirect(reverse("admin:calls_call_change", args=[call.pk]))

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not can_view_tenant_data(request):
            raise PermissionDenied
        tenants = visible_tenants(request)
        tenant = chosen_tenant(request, tenants)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label_name": django_apps.get_app_config(self.opts.app_label).verbose_name,
            "title": "Analytics",
            "tenants": tenants,
            "tenant": tenant,
        }
        if tenant is None:
            return TemplateResponse(request, "admin/analytics/dashboard.html", context)
        agents = list(
            Agent.objects.filter(tenant=tenant)
            .order_by("name", "model_id")
            .only("name", "model_id")
        )
        form = DashboardForm(request.GET, agents=agents)
        context["form"] = form
        context["subtitle"] = tenant.name
        context["presets"] = [
            (key, _query(request, range=key, from_date=None, to_date=None)) for key in PRESETS
        ]
        if not form.is_valid():
            return TemplateResponse(request, "admin/analytics/dashboard.html", context, status=400)
        now = timezone.now()
        scope = form.scope(tenant, now)
        dashboard = build_dashboard(scope, now=now)
        zone = scope.zone
        context.update(
            dashboard=dashboard,
            range=form.cleaned_data["range"],
            zone=zone.key,
            window_start=scope.window.start.astimezone(zone),
            window_end=scope.window.end.astimezone(zone),
            previous_start=dashboard.previous.start.astimezone(zone),
            span=span_label(scope.window.span),
            in_progress=calls_in_progress(tenant=tenant, now=now),
            tiles_url=reverse("admin:analytics_dashboard_tiles")
            + _query(request, tenant=tenant.pk),
            # Tiles of a window ending now change with every call; a past range never does.
            live_tiles=form.cleaned_data["range"] in PRESETS,
        )
        return TemplateResponse(request, "admin/analytics/dashboard.html", context)
