"""Conditional reads: ``ETag``, ``If-None-Match`` → ``304`` and ``Cache-Control`` of the read APIs.

A read answer depends on the tenant's rows, on the request and, for some, on the clock (a
window ending now, a default of "today", calls active now). Its tag covers all three:

- **rows**: the tenant's write generation (``calls.counts``), a random token replaced after
  every committed write of the tenant's calls or leads and after every analytics roll. It is
  read before the answer is computed, so a tag never vouches for a write its answer missed (the
  argument of ``calls.counts``, whose cached totals the same token versions).
- **request**: a digest of what selects the answer: the tenant and its time zone (the default
  zone of analytics), scheme, host and path (lists carry absolute links), the query's
  name/value pairs in sorted order, the negotiated media type, and the settings an answer
  reads (the stale-after horizon of active calls).
- **clock**: the instant until which the answer holds without a write, which the view states
  while it computes the answer (``answer_holds_until``; ``analytics.queries.validity`` for
  analytics); a view whose answers never depend on the clock says so once
  (``clock_independent``). A view that states neither gets no tag: it fails closed.

A tag is ``W/"<valid until>.<mac>"``, the mac an HMAC (``SECRET_KEY``) of the digest, the
generation and the validity (at most ``TAG_TTL`` after the answer). Checking one needs nothing
stored: recompute the mac over the current generation (one cache read) and compare, then
compare the validity with the clock (each server's: keep them synchronised). So a request
with a current tag costs the API key lookup, one cache read and, for the views whose
parameters are resolved against the clock, parsing them again (no query): it answers ``304``
before the read throttle counts it and before any answer is computed. Tags are weak: two
answers under one tag hold the same data but not the same bytes (``meta.as_of`` differs).

Without a write generation (``READ_API_ETAGS`` off, the embedded default, or the cache
unreachable) answers carry no ``ETag`` and every read is computed: never a ``304`` that could
be wrong. Errors never carry a tag. Each view states its ``Cache-Control: private, max-age``
(``cache_max_age``); answers vary by ``Authorization`` (and by ``Accept-Encoding`` when
compressed, ``config.api.middleware.ApiGZipMiddleware``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls import counts
from calls.models import ApiKey, Tenant

# Part of every digest: a release that changes what a request answers changes it, so its tags
# never vouch for the previous release's answers.
TAG_VERSION = "1"
# The longest a tag is current, whatever the clock and writes say: the bound on serving an
# answer that misses a write whose bump failed (the cache unreachable just after the commit),
# the same bound as on cached totals (``calls.counts``).
TAG_TTL = timedelta(seconds=counts.COUNT_TTL_SECONDS)
_SALT = "callscope.api.etag"
_READS = frozenset({"GET", "HEAD"})
# One entity tag of an If-None-Match list: optional W/, a quoted opaque tag (RFC 9110 8.8.3).
_ENTITY_TAG = re.compile(r'\s*(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')
# A header longer than this is not a list of our tags; it is not read (a full answer follows).
_MAX_HEADER = 4096
_MAX_VALIDITY = 16


class NotModified(Exception):
    """Raised before the answer is computed when the request's tag is current."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


@dataclass(frozen=True, slots=True)
class _Version:
    """The request's digest and the generation read before its answer."""

    digest: str
    generation: str

    def tag(self, validity: str) -> str:
        return f'W/"{validity}.{self.mac(validity)}"'

    def mac(self, validity: str) -> str:
        message = f"{TAG_VERSION}|{self.digest}|{self.generation}|{validity}"
        return salted_hmac(_SALT, message, algorithm="sha256").hexdigest()[:32]

    def vouches_for(self, opaque: str, now: datetime) -> bool:
        """Whether ``opaque`` (a tag without its quotes) is current: issued for this request
        under this generation, and not past its validity."""
        validity, _, mac = opaque.partition(".")
        if not validity or len(validity) > _MAX_VALIDITY:
            return False
        if not constant_time_compare(mac, self.mac(validity)):
            return False
        try:
            return _micros(now) < int(validity, 36)
        except ValueError:
            return False


def _micros(instant: datetime) -> int:
    return int(instant.timestamp() * 1_000_000)


def _validity(until: datetime) -> str:
    micros = _micros(until)
    digits = ""
    while True:
        micros, digit = divmod(micros, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if not micros:
            return digits


def if_none_match(header: str) -> list[str] | None:
    """The opaque tags of an ``If-None-Match`` value (weak or strong alike: a GET compares
    weakly), ``["*"]`` for ``*``, or ``None`` when the value is malformed or oversized (then
    the condition is ignored and the answer computed, as RFC 9110 allows)."""
    if len(header) > _MAX_HEADER:
        return None
    if header.strip() == "*":
        return ["*"]
    tags, position = [], 0
    while position < len(header):
        match = _ENTITY_TAG.match(header, position)
        if match is None:
            return None
        tags.append(match.group(1))
        position = match.end()
    return tags or None


def request_digest(request: Request, tenant: Tenant) -> str:
    """What selects a read's answer besides the rows and the clock (see the module docstring)."""
    query = request.query_params
    pairs = sorted((name, value) for name, values in query.lists() for value in values)
    material = [
        TAG_VERSION,
        tenant.pk,
        tenant.timezone,
        request.scheme,
        request.get_host(),
        request.path,
        pairs,
        getattr(request, "accepted_media_type", ""),
        settings.ACTIVE_CALL_STALE_AFTER_SECONDS,
    ]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


class ConditionalReadMixin(APIView):
    """``ETag``/``If-None-Match`` and ``Cache-Control`` for a tenant's read view (see the module
    docstring). A view sets ``cache_max_age`` and either ``clock_independent = True`` or calls
    ``answer_holds_until`` for each answer; views whose parameters are resolved against the
    clock override ``parameters_still_valid``."""

    # Seconds a client may reuse an answer without asking (``Cache-Control: private,
    # max-age``): how often its clients are told to poll. ``None``: the view takes no part (a
    # streamed export).
    cache_max_age: ClassVar[int | None]
    # True when no answer of the view depends on the clock, only on rows and request.
    clock_independent: ClassVar[bool] = False

    _version: _Version | None = None
    _holds_until: datetime | None = None
    _holds_stated = False
    _any_tag = False

    def answer_holds_until(self, instant: datetime | None) -> None:
        """States until when the answer being computed holds if nothing is written (``None``:
        until the next write). Its tag is current for ``TAG_TTL`` at most either way."""
        self._holds_until, self._holds_stated = instant, True

    @property
    def issues_tags(self) -> bool:
        """Whether this request's answer will carry a tag (so its validity is worth computing)."""
        return self._version is not None

    def parameters_still_valid(self, request: Request) -> bool:
        """Whether the request's parameters are still accepted. A tag was issued for accepted
        parameters; a view whose validation depends on the clock (a span that grows with it)
        checks again, without querying, before answering ``304``."""
        return True

    def check_throttles(self, request: Request) -> None:
        # DRF calls this after authentication and permissions and before the view: the one
        # point where the key is known and nothing is computed or counted yet.
        self._read_version(request)
        super().check_throttles(request)

    def _read_version(self, request: Request) -> None:
        if request.method not in _READS or self.cache_max_age is None:
            return
        if not settings.READ_API_ETAGS:
            return
        key = request.auth
        if not isinstance(key, ApiKey):  # pragma: no cover - the permission refused it
            return
        generation = counts.current_generation(key.tenant_id)
        if generation is None:
            return
        self._version = _Version(request_digest(request, key.tenant), generation)
        tags = if_none_match(request.headers.get("If-None-Match", ""))
        if tags == ["*"]:
            # "Any current representation": only the answer says whether there is one.
            self._any_tag = True
            return
        now = timezone.now()
        for tag in tags or ():
            if self._version.vouches_for(tag, now) and self.parameters_still_valid(request):
                raise NotModified(tag)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, NotModified):
            return self._not_modified(f'W/"{exc.tag}"')
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method not in _READS or response.status_code != 200:
            return response
        if self.cache_max_age is None:
            return response
        self._cache_headers(response)
        tag = self._tag()
        if tag is None:
            return response
        if self._any_tag:
            return self._not_modified(tag)
        response["ETag"] = tag
        return response

    def _tag(self) -> str | None:
        if self._version is None:
            return None
        if not self._holds_stated and not self.clock_independent:
            return None  # the view did not say how long its answer holds: no tag
        until = timezone.now() + TAG_TTL
        if self._holds_until is not None:
            until = min(until, self._holds_until)
        return self._version.tag(_validity(until))

    def _not_modified(self, tag: str) -> Response:
        response = Response(status=304)
        response["ETag"] = tag
        self._cache_headers(response)
        # What ``finalize_response`` gives a response; this one may be made after it ran.
        response.accepted_renderer = self.request.accepted_renderer
        response.accepted_media_type = self.request.accepted_media_type
        response.renderer_context = self.get_renderer_context()  # type: ignore[attr-defined]
        return response

    def _cache_headers(self, response: Response) -> None:
        response["Cache-Control"] = f"private, max-age={self.cache_max_age}"
        patch_vary_headers(response, ("Authorization", "Accept-Encoding"))
