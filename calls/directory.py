"""The agents and workflows of a tenant, with how many calls each has and when the last one
started: what ``GET /api/v1/agents`` and ``GET /api/v1/workflows`` list, so that a client can
find the ``model_id`` or slug the call filters take.

Pages are read by keyset on (name, external id), the models' own ordering, so a page never
shifts when an agent is added. A tenant has tens or hundreds of agents and workflows, not
millions: the page itself reads the tenant's range of the (tenant, external id) unique index
and sorts it, without an index of its own.

The call figures are the expensive part at a million calls. They come from one grouped
aggregate over the calls of the page's agents (or workflows) only, read through an index on
the listed entries: for agents (tenant, agent, start time) (``call_tenant_agent_start_idx``,
an index-only range per agent once vacuumed), for workflows (tenant, workflow, start time)
(``call_tenant_workflow_idx``) or the workflow foreign key's own index, as the planner
prefers. Either way the read is bounded by the page's entries, never a scan of the tenant's
calls (``test_the_figures_are_read_through_an_index_on_the_pages_entries``). The figures are
exact and current.
The analytics rollups were not used: they are rolled asynchronously after a write (a fresh
call would be missing), by day or hour (no exact last call time), and by grouping (an agent's
total would be a sum over every day it was active). On top, the page's figures are cached
under the tenant's write generation (``calls.counts.cached_call_figure``, with
``CALL_COUNT_CACHE``), so a client polling the list counts once per write, not per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.core import signing
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Lower

from calls import counts
from calls.models import Agent, Call, Workflow
from calls.queries import sign_token, token_payload

# Signs directory cursors; the kind and the tenant are appended, so a cursor verifies only for
# the list and the tenant it was issued for.
DIRECTORY_CURSOR_SALT = "callscope.calls.directory"

EntryT = TypeVar("EntryT", Agent, Workflow)


class DirectoryCursorError(ValueError):
    """A cursor that is malformed, altered, or issued for another list or tenant."""


@dataclass(frozen=True)
class DirectoryKind(Generic[EntryT]):
    """One listed model: ``model`` with its external id ``key_field`` (what the call filters
    take) and the ``Call`` foreign key ``call_field`` that points at it."""

    name: str
    model: type[EntryT]
    key_field: str
    call_field: str

    def rows(self, tenant_id: int) -> QuerySet[EntryT]:
        return self.model.objects.filter(tenant_id=tenant_id)


AGENTS = DirectoryKind("agents", Agent, "model_id", "agent")
WORKFLOWS = DirectoryKind("workflows", Workflow, "slug", "workflow")


@dataclass(frozen=True)
class DirectoryCursor:
    """A position in a list: the name and external id of an entry, and whether the page reads
    on after it or (``previous``) before it."""

    name: str
    key: str
    previous: bool = False

    def token(self, *, kind: DirectoryKind[Any], tenant_id: int) -> str:
        return sign_token([self.name, self.key, self.previous], salt=_salt(kind, tenant_id))

    @classmethod
    def parse(cls, token: str, *, kind: DirectoryKind[Any], tenant_id: int) -> DirectoryCursor:
        try:
            payload = token_payload(token, salt=_salt(kind, tenant_id))
        except (signing.BadSignature, ValueError):
            raise DirectoryCursorError(
                "not a cursor this API issued for this list and this key's tenant"
            ) from None
        if not (
            isinstance(payload, list)
            and len(payload) == 3
            and isinstance(payload[0], str)
            and isinstance(payload[1], str)
            and isinstance(payload[2], bool)
        ):
            raise DirectoryCursorError("malformed cursor")
        return cls(*payload)


def _salt(kind: DirectoryKind[Any], tenant_id: int) -> str:
    return f"{DIRECTORY_CURSOR_SALT}:{kind.name}:{tenant_id}"


@dataclass(frozen=True)
class CallFigures:
    """An entry's calls: how many, and when the latest started (``None`` without calls)."""

    count: int
    last_started_at: datetime | None


NO_CALLS = CallFigures(0, None)


@dataclass
class DirectoryEntry(Generic[EntryT]):
    row: EntryT
    calls: CallFigures


@dataclass
class DirectoryPage(Generic[EntryT]):
    entries: list[DirectoryEntry[EntryT]]
    next_cursor: DirectoryCursor | None
    previous_cursor: DirectoryCursor | None


def directory_page(
    kind: DirectoryKind[EntryT],
    *,
    tenant_id: int,
    search: str = "",
    limit: int,
    cursor: DirectoryCursor | None = None,
) -> DirectoryPage[EntryT]:
    """One page of tenant ``tenant_id``'s agents or workflows (``kind``) by name, then external
    id, after (or, ``previous``, before) ``cursor``; only those whose name starts with
    ``search`` (case-insensitive) when given. Each entry carries its ``CallFigures``."""
    rows_qs = kind.rows(tenant_id)
    if search:
        rows_qs = rows_qs.filter(name__istartswith=search)
    backwards = cursor is not None and cursor.previous
    if cursor is not None:
        rows_qs = rows_qs.filter(_beyond(kind, cursor, backwards=backwards))
    order = ("-name", f"-{kind.key_field}") if backwards else ("name", kind.key_field)
    rows = list(rows_qs.order_by(*order)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]

    def at(row: EntryT, previous: bool) -> DirectoryCursor:
        return DirectoryCursor(row.name, getattr(row, kind.key_field), previous)

    ahead = at(rows[-1], previous=backwards) if more else None
    behind = None
    if cursor is not None:
        # Reading back from an empty page starts at the cursor itself.
        behind = (
            at(rows[0], previous=not backwards)
            if rows
            else DirectoryCursor(cursor.name, cursor.key, previous=not backwards)
        )
    if backwards:
        rows.reverse()
        ahead, behind = behind, ahead
    figures = call_figures(kind, tenant_id=tenant_id, rows=rows)
    entries = [DirectoryEntry(row, figures.get(row.pk, NO_CALLS)) for row in rows]
    return DirectoryPage(entries, next_cursor=ahead, previous_cursor=behind)


def _beyond(kind: DirectoryKind[Any], cursor: DirectoryCursor, *, backwards: bool) -> Q:
    """Rows after the cursor's (name, key) in the list's order, or before it (``backwards``)."""
    op = "lt" if backwards else "gt"
    return Q(**{f"name__{op}": cursor.name}) | Q(
        name=cursor.name, **{f"{kind.key_field}__{op}": cursor.key}
    )


def call_figures(
    kind: DirectoryKind[EntryT], *, tenant_id: int, rows: list[EntryT]
) -> dict[int, CallFigures]:
    """The ``CallFigures`` of each of ``rows`` (by primary key) that has calls: one grouped,
    index-only aggregate over those rows' calls alone (see the module docstring), cached until
    the tenant's next write."""
    pks = sorted(row.pk for row in rows)
    if not pks:
        return {}

    def compute() -> dict[int, CallFigures]:
        grouped = figures_query(kind, tenant_id=tenant_id, pks=pks)
        return {
            row[f"{kind.call_field}_id"]: CallFigures(row["count"], row["last"]) for row in grouped
        }

    return counts.cached_call_figure(
        compute,
        tenant_id=tenant_id,
        scope=f"directory:{kind.name}",
        filters={"pks": pks},
        is_figure=lambda value: isinstance(value, dict),
    )


def figures_query(kind: DirectoryKind[Any], *, tenant_id: int, pks: list[int]) -> QuerySet[Any]:
    """Per entry of ``pks``: its ``count`` of calls and the ``last`` start, grouped by the
    call's foreign key to it."""
    return (
        Call.objects.filter(tenant_id=tenant_id, **{f"{kind.call_field}_id__in": pks})
        # Without the model's ordering, which would join the GROUP BY.
        .order_by()
        .values(f"{kind.call_field}_id")
        .annotate(count=Count("*"), last=Max("start_time"))
    )


def known_keys(kind: DirectoryKind[Any], *, tenant_id: int, keys: list[str]) -> dict[str, int]:
    """The primary keys of tenant ``tenant_id``'s entries whose external id is one of
    ``keys``, by external id."""
    return dict(
        kind.rows(tenant_id)
        .filter(**{f"{kind.key_field}__in": keys})
        .values_list(kind.key_field, "pk")
    )


def keys_named(
    kind: DirectoryKind[Any], *, tenant_id: int, names: list[str]
) -> dict[str, list[str]]:
    """The external ids of tenant ``tenant_id``'s entries named one of ``names``
    (case-insensitive), by name as given: what an error message suggests to a client that sent
    a name where an id belongs. One query."""
    lowered = {name.lower(): name for name in names}
    rows = (
        kind.rows(tenant_id)
        .annotate(lowered_name=Lower("name"))
        .filter(lowered_name__in=list(lowered))
        .order_by(kind.key_field)
        .values_list("lowered_name", kind.key_field)
    )
    found: dict[str, list[str]] = {}
    for lowered_name, key in rows:
        if lowered_name in lowered:
            found.setdefault(lowered[lowered_name], []).append(key)
    return found
