"""Django's error views (``handler400``, ``handler404``, ``handler500`` in ``config.urls``).

They answer what never reaches a DRF view's exception handler: a path no URL matches (e.g. a
call id holding a NUL character, which no call can have) and an unhandled exception. On API
paths the answer is JSON in the error shape of the API family the path belongs to; elsewhere
(the admin) it is Django's page.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults

from calls.api.errors import error_body, request_id_of
from calls.api.middleware import API_PREFIXES

FAMILIES = frozenset({"platform", "synthflow", "sales"})


def error_family_of(request: HttpRequest) -> str:
    """The error family of the view serving ``request``'s path, else of its prefix."""
    try:
        view_class = getattr(resolve(request.path_info).func, "view_class", None)
    except Resolver404:
        view_class = None
    except Exception:  # an error page must not fail on a path the resolver chokes on
        view_class = None
    family = getattr(view_class, "error_family", None)
    if family in FAMILIES:
        return str(family)
    return "synthflow" if request.path.startswith("/v2/") else "platform"


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def bad_request(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    """``handler400``: a request Django itself refused (e.g. a suspicious operation)."""
    if not is_api_request(request):
        return defaults.bad_request(request, exception, **kwargs)
    return JsonResponse(
        error_body(error_family_of(request), 400, "Bad request.", request), status=400
    )


def page_not_found(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    """``handler404``: no URL matches the path."""
    if not is_api_request(request):
        return defaults.page_not_found(request, exception, **kwargs)
    body = error_body(error_family_of(request), 404, "Not found.", request)
    return JsonResponse(body, status=404)


def server_error(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    """``handler500``: an unhandled exception (already logged by Django, without the request's
    content: ``calls.api.log_redaction``)."""
    if not is_api_request(request):
        return defaults.server_error(request, **kwargs)
    message = f"Internal server error (request id {request_id_of(request) or 'unknown'})."
    return JsonResponse(error_body(error_family_of(request), 500, message, request), status=500)
