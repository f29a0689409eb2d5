"""Request ids and the request-body limit."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from calls.api.errors import error_body

logger = logging.getLogger("callscope.request")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
API_PREFIXES = ("/api/", "/v2/")


class RequestIdMiddleware:
    """Gives every request an id (the caller's ``X-Request-ID`` when sane), returns it in the
    ``X-Request-ID`` header and logs it with every error response, so a request id quoted from an
    error body finds its log line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        if response.status_code >= 400 and request.path.startswith(API_PREFIXES):
            log = logger.error if response.status_code >= 500 else logger.warning
            log(
                "request_id=%s method=%s path=%s status=%s",
                request_id,
                request.method,
                request.path,
                response.status_code,
            )
        return response


class BodySizeLimitMiddleware:
    """Answers 413 with a JSON body before reading an API request body over the limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIXES):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.MAX_REQUEST_BODY_BYTES
            if length > limit:
                family = "synthflow" if request.path.startswith("/v2/") else "platform"
                return JsonResponse(
                    error_body(family, 413, f"Request body exceeds {limit} bytes.", request),
                    status=413,
                )
        return self.get_response(request)
