"""Django's error views (``handler400``, ``handler404``, ``handler500`` in ``config.urls``).

They answer what never reaches a DRF view's exception handler: a path no URL matches (e.g. a
call id holding a NUL character, which no call can have) and an unhandled exception. On API
paths the answer is JSON in the error shape of the API family the path belongs to; elsewhere
(the admin) it is Django's page.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from config.api.errors import error_body, error_family_of, request_id_of
from config.api.middleware import API_PREFIXES


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
    content: ``config.log_redaction``)."""
    if not is_api_request(request):
        return defaults.server_error(request, **kwargs)
    message = f"Internal server error (request id {request_id_of(request) or 'unknown'})."
    return JsonResponse(error_body(error_family_of(request), 500, message, request), status=500)
