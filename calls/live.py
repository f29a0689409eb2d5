"""The call stream, ``/ws/v1/calls``: a tenant's call lifecycle events as they are written.

Events, each carrying the call as the native list shows it (``GET /api/v1/calls`` items):

- ``call.started``: a call is stored for the first time;
- ``call.updated``: its status or end reason changed, and it has not ended;
- ``call.ended``: it reached a final status (a call first stored already final gets
  ``call.started`` then ``call.ended``).

Optional parameters: ``agent`` (an agent's ``model_id``) and ``status`` (comma-separated call
statuses; matched against the call's status after the event). Every write path publishes through
``on_rows_written`` (ingestion sends ``rows_written`` with the calls it wrote), after the commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.utils import timezone

from calls.api.serializers import CallListItemSerializer
from calls.enums import STATUS_RANK, CallStatus
from calls.models import Call, Tenant, WrittenCall
from calls.queries import with_list_children
from config.api.params import not_one_of
from config.live.consumers import StreamParamError, TenantStreamConsumer, iso_utc
from config.live.publish import Message, group_name, publish_on_commit, wire

STREAM = "calls"
FINAL_RANK = max(STATUS_RANK.values())
# Calls per published message: a 1,000-call import is sent in pieces a subscriber can take.
CALLS_PER_MESSAGE = 100
MAX_STATUS_VALUES = len(CallStatus.values)


def is_final(status: str) -> bool:
    return STATUS_RANK.get(status, 0) >= FINAL_RANK


def lifecycle_events(call: WrittenCall) -> list[str]:
    """The events a write of ``call`` makes, in order."""
    if call.created:
        return ["call.started", "call.ended"] if is_final(call.status) else ["call.started"]
    if not is_final(call.previous_status or "") and is_final(call.status):
        return ["call.ended"]
    if call.status != call.previous_status or call.end_call_reason != (
        call.previous_end_call_reason
    ):
        return ["call.updated"]
    return []


def on_rows_written(
    sender: Any, tenant: Tenant, calls: Sequence[WrittenCall] = (), **kwargs: Any
) -> None:
    """``rows_written`` receiver: publishes the written calls' events after the commit."""
    events = [(written.pk, kind) for written in calls for kind in lifecycle_events(written)]
    if not events:
        return
    tenant_id = tenant.pk
    publish_on_commit(tenant_id, lambda: call_messages(tenant_id, events))


def call_messages(tenant_id: int, events: list[tuple[int, str]]) -> Iterator[Message]:
    """The stream's messages for ``(call pk, event)`` pairs, the calls read as committed."""
    as_of = iso_utc(timezone.now())
    pks = sorted({pk for pk, _ in events})
    calls = with_list_children(Call.objects.filter(tenant_id=tenant_id, pk__in=pks))
    items = {call.pk: call for call in calls}
    rendered = wire(CallListItemSerializer(list(items.values()), many=True).data)
    by_pk = dict(zip(items, rendered, strict=True))
    found = [{"event": kind, "call": by_pk[pk]} for pk, kind in events if pk in by_pk]
    for start in range(0, len(found), CALLS_PER_MESSAGE):
        yield (
            group_name(tenant_id, STREAM),
            {
                "type": "calls.events",
                "as_of": as_of,
                "events": found[start : start + CALLS_PER_MESSAGE],
            },
        )


class CallsConsumer(TenantStreamConsumer):
    """``/ws/v1/calls``: one message per lifecycle event of the tenant's calls."""

    streams = (STREAM,)
    params = frozenset({"agent", "status"})

    async def read_params(self, params: dict[str, str]) -> None:
        self.agent: str | None = params.get("agent")
        self.statuses: frozenset[str] | None = None
        if "status" in params:
            values = [v.strip() for v in params["status"].split(",")]
            unknown = [v for v in values if v not in CallStatus.values]
            if unknown or len(values) > MAX_STATUS_VALUES:
                raise StreamParamError(
                    f"status: {not_one_of(unknown[0], CallStatus.values)}."
                    if unknown
                    else f"status: at most {MAX_STATUS_VALUES} values."
                )
            self.statuses = frozenset(values)

    async def opened(self) -> None:
        filters = {"agent": self.agent, "status": sorted(self.statuses or [])}
        await self.send_message("subscribed", stream=STREAM, filters=filters)

    def wants(self, call: dict[str, Any]) -> bool:
        if self.agent is not None and (call.get("agent") or {}).get("model_id") != self.agent:
            return False
        return self.statuses is None or call.get("status") in self.statuses

    async def calls_events(self, message: dict[str, Any]) -> None:
        for event in message["events"]:
            if self.wants(event["call"]):
                await self.send_message(event["event"], as_of=message["as_of"], call=event["call"])
