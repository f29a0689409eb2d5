"""The live analytics streams: active calls, the summary, and new error logs.

- ``/ws/v1/analytics/active-calls`` (``period``, ``timezone``): on connect the count
  ``GET /api/v1/analytics/active-calls`` answers, then the new count whenever it changes: a call
  enters or leaves a live status (told by ingestion), or goes stale or leaves the window (timed
  from the oldest active call's start, so no write is needed).
- ``/ws/v1/analytics/summary`` (``period``, ``timezone``): on connect the body of
  ``GET /api/v1/analytics/summary``, then the new body when the tenant's calls change, at most
  once per ``LIVE_SUMMARY_MIN_INTERVAL_MS`` per connection; the connections of a daphne process
  asking for one tenant, period and zone share one computation.
- ``/ws/v1/errors`` (``service``, ``level``): each new error log entry, as
  ``GET /api/v1/analytics/errors`` lists it.

The bodies come from the same answer functions as the REST endpoints
(``analytics.queries.platform``), with the same ``meta``; each message also carries ``type``,
``timezone`` and ``as_of`` at the top.
"""

from __future__ import annotations

import asyncio
import time
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Min
from django.utils import timezone

from analytics.api.base import AnalyticsMeta, AnalyticsWindow
from analytics.api.params import (
    PLATFORM_DEFAULT_PERIOD,
    PLATFORM_PERIODS,
    AnalyticsParams,
    ChoiceField,
)
from analytics.api.shapes import to_wire
from analytics.facts import one_answer
from analytics.queries.platform import (
    ERROR_LOG_ITEM_FIELDS,
    active_call_count,
    error_log_item,
    platform_summary,
)
from analytics.windows import Window, iso_utc
from calls.enums import ACTIVE_STATUSES, ErrorLevel, ErrorService
from calls.models import Call, ErrorLog, Tenant, WrittenCall, stale_after
from config.api.errors import flatten_detail
from config.api.params import not_one_of
from config.live.coalesce import Coalescer, shared_answers
from config.live.consumers import StreamParamError, TenantStreamConsumer
from config.live.publish import Message, group_name, publish_on_commit, wire

CHANGES = "analytics"
ERRORS = "errors"
ERRORS_PER_MESSAGE = 200
# Longest wait before the active count is checked again when no call is active (a safety net:
# a change of count is always told by ingestion or timed from the oldest active call).
ACTIVE_RECHECK_CAP_SECONDS = 3600.0


# --- Publishing ----------------------------------------------------------------------------------


def _is_live(status: str | None) -> bool:
    return status in ACTIVE_STATUSES


def on_rows_written(
    sender: Any, tenant: Tenant, calls: Sequence[WrittenCall] = (), **kwargs: Any
) -> None:
    """``rows_written`` receiver: after the commit, tells the tenant's analytics streams that
    its calls changed (and whether a call entered or left a live status), and publishes the new
    error logs."""
    if not calls:
        return
    tenant_id = tenant.pk
    active = any(_is_live(c.previous_status) != _is_live(c.status) for c in calls)
    with_errors = sorted(c.pk for c in calls if c.errors_written)

    def messages() -> Iterator[Message]:
        as_of = iso_utc(timezone.now())
        yield (
            group_name(tenant_id, CHANGES),
            {"type": "analytics.changed", "as_of": as_of, "active": active},
        )
        if with_errors:
            yield from error_messages(tenant_id, with_errors, as_of)

    publish_on_commit(tenant_id, messages)


def error_messages(tenant_id: int, call_pks: list[int], as_of: str) -> Iterator[Message]:
    logs = (
        ErrorLog.objects.filter(tenant_id=tenant_id, call_id__in=call_pks)
        .select_related("call")
        .only(*ERROR_LOG_ITEM_FIELDS)
        .order_by("timestamp", "id")
    )
    entries = [wire(to_wire(error_log_item(log))) for log in logs]
    for start in range(0, len(entries), ERRORS_PER_MESSAGE):
        yield (
            group_name(tenant_id, ERRORS),
            {
                "type": "errors.entries",
                "as_of": as_of,
                "entries": entries[start : start + ERRORS_PER_MESSAGE],
            },
        )


# --- Answers -------------------------------------------------------------------------------------


class StreamParams(AnalyticsParams):
    """What the analytics streams take: a period ending now, and a zone."""

    period = ChoiceField(choices=list(PLATFORM_PERIODS), required=False)


@dataclass(frozen=True)
class ActiveAnswer:
    body: dict[str, Any]
    count: int
    # When the count changes next without a write (a call goes stale or leaves the window).
    next_change: datetime | None


def _meta(zone_key: str, window: Window, now: datetime) -> dict[str, Any]:
    meta = AnalyticsMeta(
        timezone=zone_key,
        window=AnalyticsWindow(start=iso_utc(window.start), end=iso_utc(window.end)),
        as_of=iso_utc(now),
    )
    return to_wire(meta)


def summary_answer(tenant: Tenant, period: str, zone_key: str) -> dict[str, Any]:
    """The body of ``GET /api/v1/analytics/summary?period=…&timezone=…`` now."""
    now = timezone.now()
    window = Window(now - PLATFORM_PERIODS[period], now)
    with one_answer():
        result = platform_summary(
            tenant=tenant, window=window, zone=zoneinfo.ZoneInfo(zone_key), now=now
        )
    return {**to_wire(result), "meta": _meta(zone_key, window, now)}


def active_answer(tenant: Tenant, period: str, zone_key: str) -> ActiveAnswer:
    """The body of ``GET /api/v1/analytics/active-calls`` now, and when it changes next by
    itself: when the oldest active call goes stale or leaves the window."""
    now = timezone.now()
    length = PLATFORM_PERIODS[period]
    window = Window(now - length, now)
    count = active_call_count(tenant=tenant, window=window, now=now)
    next_change = None
    if count:
        oldest = (
            Call.objects.filter(tenant=tenant, start_time__gte=window.start)
            .active(at=now)
            .aggregate(first=Min("start_time"))["first"]
        )
        if oldest is not None:
            next_change = oldest + min(stale_after(), length)
    body = {"count": count, "meta": _meta(zone_key, window, now)}
    return ActiveAnswer(body=body, count=count, next_change=next_change)


# --- Consumers -----------------------------------------------------------------------------------


class AnalyticsStreamConsumer(TenantStreamConsumer):
    """A stream of one of the tenant's answers, recomputed when its calls change."""

    streams = (CHANGES,)
    params = frozenset({"period", "timezone"})
    answer_name = ""

    async def read_params(self, params: dict[str, str]) -> None:
        tenant = await database_sync_to_async(
            Tenant.objects.filter(pk=self.principal.tenant_id).first
        )()
        if tenant is None:
            raise StreamParamError("The tenant no longer exists.")
        self.tenant = tenant
        validated = StreamParams(data=params, context={"tenant": tenant, "now": timezone.now()})
        if not validated.is_valid():
            raise StreamParamError(flatten_detail(validated.errors))
        self.period: str = validated.validated_data.get("period", PLATFORM_DEFAULT_PERIOD)
        self.zone = validated.validated_data.get("timezone") or tenant.zone
        self.coalescer = Coalescer(self.coalesce_seconds(), self.refresh)

    def coalesce_seconds(self) -> float:
        """The shortest time between two updates of one connection."""
        return 0.0

    def answer_key(self) -> tuple[Any, ...]:
        return (self.answer_name, self.tenant.pk, self.period, self.zone.key)

    async def compute(self) -> Any:
        raise NotImplementedError

    async def answer(self, fresher_than: float) -> Any:
        return await shared_answers().get(
            self.answer_key(), fresher_than=fresher_than, compute=self.compute
        )

    async def opened(self) -> None:
        await self.refresh(time.monotonic())
        self.coalescer.ran()

    async def refresh(self, since: float) -> None:
        raise NotImplementedError

    async def analytics_changed(self, message: dict[str, Any]) -> None:
        self.coalescer.poke()

    async def disconnect(self, code: int) -> None:
        coalescer = getattr(self, "coalescer", None)
        if coalescer is not None:
            await coalescer.cancel()
        await super().disconnect(code)


class SummaryConsumer(AnalyticsStreamConsumer):
    """``/ws/v1/analytics/summary``."""

    answer_name = "summary"

    def coalesce_seconds(self) -> float:
        return settings.LIVE_SUMMARY_MIN_INTERVAL_MS / 1000

    async def compute(self) -> Any:
        return await database_sync_to_async(summary_answer)(self.tenant, self.period, self.zone.key)

    async def refresh(self, since: float) -> None:
        body = await self.answer(since)
        await self.send_message("summary", as_of=body["meta"]["as_of"], period=self.period, **body)


class ActiveCallsConsumer(AnalyticsStreamConsumer):
    """``/ws/v1/analytics/active-calls``."""

    answer_name = "active-calls"

    async def read_params(self, params: dict[str, str]) -> None:
        await super().read_params(params)
        self.last_count: int | None = None
        self.timer: asyncio.TimerHandle | None = None

    async def compute(self) -> Any:
        return await database_sync_to_async(active_answer)(self.tenant, self.period, self.zone.key)

    async def refresh(self, since: float) -> None:
        answer: ActiveAnswer = await self.answer(since)
        if answer.count != self.last_count:
            self.last_count = answer.count
            await self.send_message(
                "active_calls",
                as_of=answer.body["meta"]["as_of"],
                period=self.period,
                **answer.body,
            )
        self._time_next_check(answer.next_change)

    def _time_next_check(self, next_change: datetime | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        delay = ACTIVE_RECHECK_CAP_SECONDS
        if next_change is not None:
            delay = min(delay, max(0.0, (next_change - timezone.now()).total_seconds()) + 0.05)
        self.timer = asyncio.get_running_loop().call_later(delay, self.coalescer.poke)

    async def analytics_changed(self, message: dict[str, Any]) -> None:
        if message.get("active"):
            self.coalescer.poke()

    async def disconnect(self, code: int) -> None:
        timer = getattr(self, "timer", None)
        if timer is not None:
            timer.cancel()
        await super().disconnect(code)


class ErrorsConsumer(TenantStreamConsumer):
    """``/ws/v1/errors``: one ``error_log`` message per new error log entry."""

    streams = (ERRORS,)
    params = frozenset({"service", "level"})

    async def read_params(self, params: dict[str, str]) -> None:
        self.service = params.get("service")
        self.level = params.get("level")
        if self.service is not None and self.service not in ErrorService.values:
            raise StreamParamError(f"service: {not_one_of(self.service, ErrorService.values)}.")
        if self.level is not None and self.level not in ErrorLevel.values:
            raise StreamParamError(f"level: {not_one_of(self.level, ErrorLevel.values)}.")

    async def opened(self) -> None:
        filters = {"service": self.service, "level": self.level}
        await self.send_message("subscribed", stream=ERRORS, filters=filters)

    async def errors_entries(self, message: dict[str, Any]) -> None:
        for entry in message["entries"]:
            if self.service is not None and entry["service"] != self.service:
                continue
            if self.level is not None and entry["level"] != self.level:
                continue
            await self.send_message("error_log", as_of=message["as_of"], entry=entry)
