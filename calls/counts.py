"""Exact filtered call totals, cached until the tenant's calls change.

``GET /v2/calls`` reports ``total_records``, the exact number of calls matching its filters. On
an agent with hundreds of thousands of calls that ``COUNT`` costs more than the rest of the page,
and a script paging through with ``offset`` asks for the same total on every page. The call
counts and last call times of the agents and workflows on a page of ``GET /api/v1/agents`` and
``GET /api/v1/workflows`` (``calls.directory``) cost the same and are asked for as often, so
they are cached alike (``cached_call_figure``). The total is cached under

    callcount:<tenant id>:<generation>:<digest of the scope and the cleaned filters>

where the generation is a per-tenant token (``callcount:gen:<tenant id>``) replaced by a fresh
random one after every committed transaction that writes the tenant's calls: every writer sends
``calls.models.rows_written`` inside its transaction, and ``on_rows_written`` bumps the token in
``transaction.on_commit``. An entry is never updated or deleted; a bump makes every entry of the
tenant unreachable at once, and they expire after ``COUNT_TTL_SECONDS``.

Why a served total is never staler than a concurrent read:

- A reader reads the generation *before* it counts. A bump happens only after its writer's
  commit, so a reader that sees the new token counts in a statement that starts after that
  commit and sees its rows (READ COMMITTED: each statement reads what was committed when it
  began). Every total stored under a token therefore includes every write whose bump produced,
  or preceded, that token.
- A reader that read the old token may count before or after the commit and store its total
  under the old token, possibly after the bump. Nobody reads that entry any more: tokens are
  random and never come back, so an old entry cannot become current again (not even when the
  generation key is evicted or the cache flushed: a missing generation is replaced by a fresh
  token, never by a reused one).
- So a total that misses a write is served only between that write's commit and its bump, which
  run back to back in the writer, before the API acknowledges the write. No client can have seen
  the write acknowledged in that window: a reader served then could equally have read just
  before the commit. A write rolled back never bumps, and leaves nothing to invalidate.

Limits, each bounded by the entries' time to live (``COUNT_TTL_SECONDS``):

- A bump that fails (the cache unreachable just after the commit) leaves the old entries current
  until they expire; it is logged.
- Nothing in Callscope deletes calls of a live tenant (the admin and the API cannot; ingestion
  replaces children, never calls). Deleting a tenant takes its API keys with it, so its entries
  can no longer be asked for, and tenant ids are not reused. A call deleted by hand (a shell, SQL)
  may still be counted until its tenant's entries expire or the tenant's next write.

The cache must be shared by every process serving the API, or each process keeps its own
generation and misses the other processes' writes: ``CALL_COUNT_CACHE`` is on by default only
with ``REDIS_URL`` (the Redis cache), off in embedded mode (a per-process local-memory cache),
and off means the total is counted on every request and the cache is never touched. A cache
outage is never an error: the total is counted, and the outage logged. After a failed cache call
the lookups skip the cache for a moment (``config.cache_outage``); bumps are always tried.

The same generation versions the read APIs' ``ETag``s (``READ_API_ETAGS``,
``config.api.conditional``), so it is moved whenever either feature is on
(``generation_in_use``), and analytics rolls move it too (a roll changes which rows an answer
is read from).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet

from calls.models import Call, Tenant
from config import cache_outage

logger = logging.getLogger(__name__)

FigureT = TypeVar("FigureT")

# How long a total may be served without a bump: the bound on the staleness of the cases a bump
# cannot cover (see the module docstring).
COUNT_TTL_SECONDS = 600
# The generation outlives its entries, so a live tenant's token is rarely re-created (which
# would only cost one recount per filter).
GENERATION_TTL_SECONDS = 24 * 60 * 60


def generation_key(tenant_id: int) -> str:
    return f"callcount:gen:{tenant_id}"


def count_key(tenant_id: int, generation: str, scope: str, filters: Mapping[str, Any]) -> str:
    """The cache key of the total of ``filters`` (name → cleaned value) under ``generation``.

    Filters that are unset (``None``, empty) are left out, so a request that omits a filter and
    one that sends it empty share their total; the rest are serialised in name order, so the
    order of the query string does not matter either.
    """
    given = {name: value for name, value in filters.items() if value not in (None, "", [])}
    canonical = json.dumps(
        [scope, sorted(given.items())], separators=(",", ":"), default=_json_value
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"callcount:{tenant_id}:{generation}:{digest}"


def _json_value(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"no canonical form for {type(value).__name__} filter values")


def generation_in_use() -> bool:
    """Whether anything reads the write generation (cached totals or the read APIs' tags), so
    writes must move it."""
    return bool(settings.CALL_COUNT_CACHE or settings.READ_API_ETAGS)


def current_generation(tenant_id: int) -> str | None:
    """The tenant's generation token, or ``None`` when the cache cannot give one (an outage,
    logged; the cache is then skipped for a moment, ``config.cache_outage``). Read it *before*
    reading what it versions (see the module docstring)."""
    if cache_outage.recently_failed(cache=cache):
        return None
    try:
        return _current_generation(tenant_id)
    except cache_outage.CACHE_ERRORS:
        cache_outage.record_failure(cache=cache)
        logger.warning("write generation unavailable: tenant=%s", tenant_id, exc_info=True)
        return None


def _current_generation(tenant_id: int) -> str | None:
    key = generation_key(tenant_id)
    generation = cache.get(key)
    if generation is None:
        # First read since a bump expired or was evicted: a fresh token, never an old one. ``add``
        # keeps the token of a concurrent reader (or bump) that set one first.
        cache.add(key, secrets.token_hex(8), GENERATION_TTL_SECONDS)
        generation = cache.get(key)
    return generation if isinstance(generation, str) else None


def filtered_total(
    queryset: QuerySet[Call], *, tenant_id: int, scope: str, filters: Mapping[str, Any]
) -> int:
    """``queryset.count()``, cached until the tenant's calls change (see the module docstring).

    ``queryset`` must be exactly the calls of tenant ``tenant_id`` that match ``filters`` (each
    filter's name and cleaned value, as validated by the API's FilterSet): the key is built from
    them, never from the queryset. ``scope`` names the FilterSet the filters belong to. Limits
    and offsets are not filters. With ``CALL_COUNT_CACHE`` off this is ``queryset.count()``.
    """
    return cached_call_figure(
        queryset.count,
        tenant_id=tenant_id,
        scope=scope,
        filters=filters,
        is_figure=lambda value: isinstance(value, int),
    )


def cached_call_figure(
    compute: Callable[[], FigureT],
    *,
    tenant_id: int,
    scope: str,
    filters: Mapping[str, Any],
    is_figure: Callable[[Any], bool],
) -> FigureT:
    """``compute()``, a figure read from tenant ``tenant_id``'s calls alone, cached under the
    tenant's generation as ``filtered_total``'s totals are (same key scheme, same guarantees).
    ``scope`` and ``filters`` must determine the figure; ``is_figure`` tells a cached value of
    the figure's type from anything else the key could hold. With ``CALL_COUNT_CACHE`` off this
    is ``compute()``."""
    if not settings.CALL_COUNT_CACHE:
        return compute()
    if cache_outage.recently_failed(cache=cache):
        # As when the cache is down, without waiting for it again (the failure was logged).
        return compute()
    try:
        generation = _current_generation(tenant_id)
        key = count_key(tenant_id, generation, scope, filters) if generation else None
        cached = cache.get(key) if key else None
    except cache_outage.CACHE_ERRORS:
        cache_outage.record_failure(cache=cache)
        logger.warning(
            "call count cache unavailable, counting: tenant=%s", tenant_id, exc_info=True
        )
        return compute()
    if cached is not None and is_figure(cached):
        return cast(FigureT, cached)
    figure = compute()
    if key is not None:
        try:
            cache.set(key, figure, COUNT_TTL_SECONDS)
        except cache_outage.CACHE_ERRORS:
            cache_outage.record_failure(cache=cache)
            logger.warning(
                "call count cache unavailable, total not stored: tenant=%s",
                tenant_id,
                exc_info=True,
            )
    return figure


def bump_generation(tenant_id: int) -> None:
    """Makes every cached total of the tenant unreachable; call only after the write committed."""
    try:
        cache.set(generation_key(tenant_id), secrets.token_hex(8), GENERATION_TTL_SECONDS)
    except cache_outage.CACHE_ERRORS:
        cache_outage.record_failure(cache=cache)
        logger.warning(
            "call count cache unavailable, generation not moved: tenant=%s; its cached totals "
            "may miss the last write for up to %s s",
            tenant_id,
            COUNT_TTL_SECONDS,
            exc_info=True,
        )


def on_rows_written(sender: Any, tenant: Tenant, **kwargs: Any) -> None:
    """``rows_written`` receiver: bumps the tenant's generation once the writing transaction has
    committed (a rolled-back write bumps nothing)."""
    bump_after_commit(tenant.pk)


def on_answers_changed(sender: Any, tenant_id: int, **kwargs: Any) -> None:
    """``answers_changed`` receiver: as ``on_rows_written``."""
    bump_after_commit(tenant_id)


def bump_after_commit(tenant_id: int) -> None:
    """Moves the tenant's generation once the current transaction commits (at once outside
    one), when anything reads it (``generation_in_use``)."""
    if not generation_in_use():
        return
    # robust: the write has committed by then; a failing bump must not make it look failed.
    transaction.on_commit(lambda: bump_generation(tenant_id), robust=True)
