"""Every API view is tenant-scoped by ``TenantScopedMixin``; a view that skips it fails here.

Walks the URLconf at run time, so a view added later (analytics included) is checked too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from calls.api.platform_webhooks import PlatformWebhookView
from calls.api.views import SynthflowWebhookView
from config.api.authentication import ApiKeyAuthentication, HasTenantApiKey
from config.api.mixins import TenantScopedMixin

API_PREFIXES = ("api/", "v2/")
# Public by design: the schema and its UI (no tenant data), and the webhooks, which prove their
# tenant by the URL token and the platform's signature instead of an API key.
EXEMPT_ROUTES = {"api/schema/", "api/docs/", "api/redoc/"}
EXEMPT_VIEWS: set[type] = {SynthflowWebhookView, PlatformWebhookView}


def walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def api_views() -> list[tuple[str, Any]]:
    return [
        (route, getattr(callback, "cls", None) or callback)
        for route, callback in walk(get_resolver().url_patterns)
        if route.startswith(API_PREFIXES) and route not in EXEMPT_ROUTES
    ]


def test_the_walk_finds_the_api_views():
    views = dict(api_views())

    assert len(views) >= 6
    assert "v2/calls" in views
    assert "api/v1/calls/<id:call_id>" in views


def test_every_api_view_is_tenant_scoped():
    unscoped = [
        f"{route} ({getattr(view, '__name__', view)!s})"
        for route, view in api_views()
        if view not in EXEMPT_VIEWS
        and not (
            isinstance(view, type)
            and issubclass(view, APIView)
            and issubclass(view, TenantScopedMixin)
        )
    ]

    assert not unscoped, f"API views without TenantScopedMixin: {unscoped}"


def test_every_scoped_view_authenticates_by_api_key():
    # A view may not opt out of key authentication while claiming to be tenant-scoped.
    weak = []
    for route, view in api_views():
        if view in EXEMPT_VIEWS or not isinstance(view, type) or not issubclass(view, APIView):
            continue
        instance = view()
        authenticators = [type(a) for a in instance.get_authenticators()]
        permissions = [type(p) for p in instance.get_permissions()]
        if ApiKeyAuthentication not in authenticators or HasTenantApiKey not in permissions:
            weak.append(route)

    assert not weak, f"API views not requiring an API key: {weak}"


def test_exempt_webhook_views_really_are_the_token_and_signature_views():
    # The exemption cannot hide a view that looks like a webhook but takes no token.
    routes = {view: route for route, view in api_views()}

    assert "<id:token>" in routes[SynthflowWebhookView]
    assert "<id:token>" in routes[PlatformWebhookView]
