"""Error bodies. Each API family answers errors in the shape its clients expect:

- ``platform`` (native and voice-platform endpoints): ``{"detail": "...", ...extra}``
- ``synthflow`` (``/v2/...``): ``{"detail": {"status": "error", "description", "request_id",
  "category"}}``
- ``sales``: ``{"error": "<code>", "message": "..."}``
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError, connection
from django.http import Http404, HttpRequest
from django.urls import resolve
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("callscope.api")


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "request_too_large"


class InvalidRequest(exceptions.ValidationError):
    """A 400 with a message and optional structured ``errors`` (item index, field, message)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class ReadTimedOut(exceptions.APIException):
    """A 503 for a read whose SQL statement ran past ``API_READ_STATEMENT_TIMEOUT_MS``."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = (
        "The request took too long to answer; retry later, or narrow its filters or window."
    )
    default_code = "read_timed_out"
    # Seconds for ``Retry-After`` (DRF sends ``wait`` as that header).
    wait = 30


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is the database cancelling a statement that ran past its time limit:
    PostgreSQL's ``query_canceled`` (SQLSTATE 57014) or SQLite's interrupt from the progress
    handler deadline (``config.api.middleware``)."""
    if not isinstance(exc, OperationalError):
        return False
    if getattr(exc.__cause__, "sqlstate", None) == "57014":
        return True
    return connection.vendor == "sqlite" and str(exc) == "interrupted"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "Unprocessable request."
    default_code = "unprocessable"


SYNTHFLOW_CATEGORY = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

# The sales family names the same statuses alike, but a 400 its own way.
SALES_CODE = {**SYNTHFLOW_CATEGORY, 400: "invalid_request"}


ERROR_FAMILIES = frozenset({"platform", "synthflow", "sales"})


def error_family_of(request: HttpRequest) -> str:
    """The error family of the view ``request``'s path is routed to (its ``error_family``), else
    of the path's prefix: an answer given outside the view (middleware, Django's error views)
    has the body that view's operation documents."""
    try:
        view_class = getattr(resolve(request.path_info).func, "view_class", None)
    except Exception:  # Resolver404, or a path the resolver chokes on: an error must not fail
        view_class = None
    family = getattr(view_class, "error_family", None)
    if family in ERROR_FAMILIES:
        return str(family)
    return "synthflow" if request.path.startswith("/v2/") else "platform"


def request_id_of(request: HttpRequest | None) -> str:
    return getattr(request, "request_id", "") if request is not None else ""


def flatten_detail(detail: Any) -> str:
    """One readable sentence from DRF's nested error details."""
    if isinstance(detail, dict):
        parts = []
        for key, value in detail.items():
            text = flatten_detail(value)
            parts.append(text if key in ("non_field_errors", "detail") else f"{key}: {text}")
        return _joined(parts)
    if isinstance(detail, list):
        return _joined([flatten_detail(v) for v in detail])
    return str(detail)


def _joined(parts: list[str]) -> str:
    """Messages as one sentence: "a; b", without the full stop a message ends with before the
    next ("Unknown time zone; period: …", not "Unknown time zone.; period: …")."""
    return "; ".join([part.removesuffix(".") for part in parts[:-1]] + parts[-1:])


def error_body(
    family: str,
    status_code: int,
    message: str,
    request: HttpRequest | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if family == "synthflow":
        return {
            "detail": {
                "status": "error",
                "description": message,
                "request_id": request_id_of(request),
                "category": SYNTHFLOW_CATEGORY.get(status_code, "error"),
            }
        }
    if family == "sales":
        return {"error": SALES_CODE.get(status_code, "error"), "message": message, **(extra or {})}
    return {"detail": message, **(extra or {})}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler that renders the view's error family."""
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if is_statement_timeout(exc):
        exc = ReadTimedOut()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    view = context.get("view")
    request = context.get("request")
    family = getattr(view, "error_family", "platform")
    extra: dict[str, Any] = {}
    if isinstance(exc, InvalidRequest):
        message = exc.message
        if exc.errors is not None:
            extra["errors"] = exc.errors
    elif isinstance(exc, exceptions.APIException):
        message = flatten_detail(exc.detail)
    else:  # pragma: no cover - DRF only returns responses for APIException/Http404/denied
        message = str(exc)
    response.data = error_body(family, response.status_code, message, request, extra)
    return response
