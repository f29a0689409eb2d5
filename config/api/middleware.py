"""Request ids, the request-body limit, the statement timeout of API reads and the
compression of their JSON answers."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.middleware.gzip import GZipMiddleware

from config.api.errors import ReadTimedOut, error_body, error_family_of, is_statement_timeout
from config.api.exemptions import limit_exempt

logger = logging.getLogger("callscope.request")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
API_PREFIXES = ("/api/", "/v2/")
# JSON answers larger than this are compressed for clients that accept gzip: below it the
# saving is not worth a round of compression.
GZIP_MIN_BYTES = 1024


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
                return JsonResponse(
                    error_body(
                        error_family_of(request),
                        413,
                        f"Request body exceeds {limit} bytes.",
                        request,
                    ),
                    status=413,
                )
        return self.get_response(request)


READ_METHODS = frozenset({"GET", "HEAD"})


class _StatementLimit:
    """Each SQL statement of one request on the default connection limited to ``timeout_ms``,
    from ``start()`` until ``stop()``. Nothing is sent until the request's first statement, so
    a request that does not query (the API docs) does not connect.

    PostgreSQL: the session's ``statement_timeout``, set before the first statement and reset by
    ``stop()``. Not ``SET LOCAL`` inside a request-long transaction: that transaction would hold
    the row lock of a read's small write (an API key's ``last_used_at``) until the response was
    done, making concurrent requests with the key wait; and a streamed response queries after
    the view has returned. ``stop()`` always runs (the response's ``close()``); when the reset
    fails the connection is closed, so a persistent connection (``conn_max_age``) never carries
    the limit into a later write or a task. Its two statements go to the driver directly, so
    they never count among a request's queries.

    SQLite: a progress handler interrupts a statement running past its deadline, renewed at
    the start of each statement.
    """

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.deadline = 0.0
        # The driver connection the limit was applied to (a reconnect needs it again).
        self.applied_to: Any = None

    @staticmethod
    def end_stale() -> None:
        """Ends any limit an earlier request left behind (a streamed response nobody closed),
        so it cannot reach this request."""
        for wrapper in list(connection.execute_wrappers):
            limit = getattr(wrapper, "__self__", None)
            if isinstance(limit, _StatementLimit):
                limit.stop()

    def start(self) -> None:
        connection.execute_wrappers.append(self._before_statement)

    def stop(self) -> None:
        if self._before_statement not in connection.execute_wrappers:
            return
        connection.execute_wrappers.remove(self._before_statement)
        applied_to, self.applied_to = self.applied_to, None
        if applied_to is None or applied_to is not connection.connection:
            return  # never applied, or that connection is gone with its setting
        if connection.vendor == "sqlite":
            applied_to.set_progress_handler(None, 0)
            return
        try:
            with connection.wrap_database_errors:
                applied_to.execute("RESET statement_timeout")
        except DatabaseError:
            logger.warning("could not reset statement_timeout; closing the connection")
            if not connection.in_atomic_block:
                connection.close()

    def _before_statement(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        self.deadline = time.monotonic() + self.timeout_ms / 1000
        if self.applied_to is not connection.connection and not limit_exempt():
            self.applied_to = connection.connection
            if connection.vendor == "postgresql":
                with connection.wrap_database_errors:
                    connection.connection.execute(
                        "SELECT set_config('statement_timeout', %s, false)",
                        [f"{self.timeout_ms}ms"],
                    )
            elif connection.vendor == "sqlite":
                connection.connection.set_progress_handler(self._past_deadline, 1000)
        return execute(sql, params, many, context)

    def _past_deadline(self) -> bool:
        return time.monotonic() > self.deadline


class _LimitedStream:
    """A streamed response's content, ending the statement limit when the response closes
    (whether or not it was read to the end)."""

    def __init__(self, content: Iterator[Any], limit: _StatementLimit) -> None:
        self.content = iter(content)
        self.limit = limit

    def __iter__(self) -> _LimitedStream:
        return self

    def __next__(self) -> Any:
        return next(self.content)

    def close(self) -> None:
        self.limit.stop()


class ReadStatementTimeoutMiddleware:
    """Bounds the database time of REST API reads (GET/HEAD under ``/api/`` and ``/v2/``):
    each SQL statement may run ``API_READ_STATEMENT_TIMEOUT_MS`` at most (``0`` disables), then
    the database cancels it and the read answers 503 with ``Retry-After`` in its family's error
    shape (DRF views through ``errors.exception_handler``, anything else here), instead of
    holding a worker and a database backend. Writes and everything outside the APIs (admin,
    Celery tasks) run without it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        _StatementLimit.end_stale()
        timeout_ms = settings.API_READ_STATEMENT_TIMEOUT_MS
        if (
            not timeout_ms
            or request.method not in READ_METHODS
            or not request.path.startswith(API_PREFIXES)
        ):
            return self.get_response(request)
        limit = _StatementLimit(timeout_ms)
        limit.start()
        try:
            response = self.get_response(request)
        except BaseException:
            limit.stop()
            raise
        if isinstance(response, StreamingHttpResponse):
            # A stream queries while it is read, after this returns: the limit ends when the
            # server closes the response.
            response.streaming_content = _LimitedStream(response.streaming_content, limit)
        else:
            limit.stop()
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_statement_timeout(exception):
            return None
        timed_out = ReadTimedOut()
        response = JsonResponse(
            error_body(
                error_family_of(request), timed_out.status_code, str(timed_out.detail), request
            ),
            status=timed_out.status_code,
        )
        response["Retry-After"] = str(timed_out.wait)
        return response


class ApiGZipMiddleware(GZipMiddleware):
    """Django's gzip compression for the JSON answers of the APIs only: bodies over
    ``GZIP_MIN_BYTES`` under ``/api/`` and ``/v2/``, when the client accepts gzip.

    BREACH recovers a secret from the compressed length of responses that reflect
    attacker-chosen text next to it, over many requests the victim's browser sends with its
    credentials. These answers carry no secret of the kind (no CSRF token, no key: a key is
    shown once, in the admin, which is never compressed here), and they are sent only to a
    request bearing the key in its ``Authorization`` header, which a browser never adds to a
    request another site makes it send. The admin and every HTML page stay uncompressed.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if (
            not request.path.startswith(API_PREFIXES)
            or not isinstance(response, HttpResponse)  # a stream is never compressed here
            or not response.get("Content-Type", "").startswith("application/json")
            or len(response.content) <= GZIP_MIN_BYTES
        ):
            return response
        return super().process_response(request, response)
