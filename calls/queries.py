"""Read-side selectors for calls: what the read APIs and the export ask of the database.

Every selector takes a queryset already scoped to one tenant (the API's ``TenantScopedMixin`` does
that) and returns querysets or rows; rendering is the API layer's job. Pages cost a constant
number of queries whatever their size: children are prefetched, never read per call.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db import connection
from django.db.models import Exists, F, Func, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.expressions import OrderBy

from calls.enums import SUCCESSFUL_END_CALL_REASONS, CallStatus
from calls.models import (
    Call,
    CollectedVariable,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    TranscriptTurn,
)

# Columns no list shows; reading them for every row of a page only costs transfer.
LIST_DEFERRED_FIELDS = ("intents", "document_hash", "child_hashes", "created_at", "updated_at")
# The text search configuration of the transcript index (migration 0002); a query must use the
# identical expression for PostgreSQL to use the index.
TRANSCRIPT_SEARCH_CONFIG = "english"
TRANSCRIPT_INDEX = "turn_text_fts_idx"


# --- children --------------------------------------------------------------------------------


def _turns_prefetch() -> Prefetch[Any]:
    return Prefetch(
        "turns",
        queryset=TranscriptTurn.objects.only(
            "id", "call_id", "position", "role", "text", "start_ms", "end_ms"
        ).order_by("call_id", "position"),
    )


def _variables_prefetch() -> Prefetch[Any]:
    return Prefetch(
        "variables",
        queryset=CollectedVariable.objects.order_by("call_id", "agent_key", "name"),
    )


def _actions_prefetch() -> Prefetch[Any]:
    return Prefetch("actions", queryset=ExecutedAction.objects.order_by("call_id", "position"))


@dataclass(frozen=True)
class SynthflowChildren:
    """What a Synthflow call item shows besides the call's columns, as plain rows."""

    turns: list[tuple[str, str]]  # (role, text), in order
    variables: list[tuple[str, str, Any, bool]]  # (agent_key, name, value, collected)
    actions: list[tuple[str, dict[str, Any], str, bool | None, float | None]]
    # (name, payload, action_type, success, latency_ms), in order


def attach_synthflow_children(calls: list[Call]) -> list[Call]:
    """Sets ``call.synthflow`` (``SynthflowChildren``) on each call: three queries in all, rows
    read as tuples (a page's worth of turns costs little more than its transfer)."""
    pks = [call.pk for call in calls]
    turns = transcripts_of(pks)
    variables = variables_of(pks)
    actions = actions_of(pks)
    for call in calls:
        call.synthflow = SynthflowChildren(  # type: ignore[attr-defined]
            turns[call.pk], variables[call.pk], actions[call.pk]
        )
    return calls


def with_list_children(queryset: QuerySet[Call]) -> QuerySet[Call]:
    """What a native list item shows: agent, workflow, lead, variables and actions (no
    transcript)."""
    return (
        queryset.select_related("agent", "workflow", "lead")
        .defer(*LIST_DEFERRED_FIELDS)
        .prefetch_related(_variables_prefetch(), _actions_prefetch())
    )


def with_all_children(queryset: QuerySet[Call]) -> QuerySet[Call]:
    """Everything a call carries, for the native call detail."""
    return queryset.select_related("agent", "workflow", "lead").prefetch_related(
        _turns_prefetch(),
        _variables_prefetch(),
        _actions_prefetch(),
        Prefetch("latencies", queryset=LatencySample.objects.order_by("call_id", "position")),
        Prefetch("errors", queryset=ErrorLog.objects.order_by("call_id", "position", "id")),
    )


def call_detail(*, queryset: QuerySet[Call], call_id: str) -> Call | None:
    """The call ``call_id`` of the (tenant-scoped) ``queryset`` with every child, or ``None``."""
    return with_all_children(queryset.filter(call_id=call_id)).first()


def synthflow_children(call: Call) -> SynthflowChildren:
    """The rows ``attach_synthflow_children`` set on ``call``."""
    children: SynthflowChildren = call.synthflow  # type: ignore[attr-defined]
    return children


def synthflow_call(*, queryset: QuerySet[Call], call_id: str) -> Call | None:
    """The call ``call_id`` of the (tenant-scoped) ``queryset`` as Synthflow shows it (with
    ``call.synthflow``), or ``None``."""
    call = queryset.select_related("agent").filter(call_id=call_id).first()
    return attach_synthflow_children([call])[0] if call is not None else None


# --- filters ---------------------------------------------------------------------------------


def successful_q() -> Q:
    """Calls that count as successful: ``success`` as the document said, else derived from a
    completed status and a goodbye-like end reason (DESIGN.md, ``success_rate``)."""
    return Q(success=True) | Q(
        success__isnull=True,
        status=CallStatus.COMPLETED,
        end_call_reason__in=SUCCESSFUL_END_CALL_REASONS,
    )


def success_of(success: bool | None, status: str, end_call_reason: str) -> bool:
    """``successful_q`` for one call's values."""
    if success is not None:
        return success
    return status == CallStatus.COMPLETED and end_call_reason in SUCCESSFUL_END_CALL_REASONS


def effective_success(call: Call) -> bool:
    """``successful_q`` for one loaded call."""
    return success_of(call.success, call.status, call.end_call_reason)


def filter_success(queryset: QuerySet[Call], value: bool) -> QuerySet[Call]:
    return queryset.filter(successful_q()) if value else queryset.exclude(successful_q())


def filter_labels(queryset: QuerySet[Call], labels: Sequence[str]) -> QuerySet[Call]:
    """Calls carrying any of ``labels``."""
    condition = Q()
    for label in labels:
        if connection.vendor == "postgresql":
            condition |= Q(labels__contains=[label])
        else:
            # SQLite has no JSON containment; the label as a JSON string inside the array text.
            condition |= Q(labels__icontains=json.dumps(label))
    return queryset.filter(condition)


def variable_candidates(raw: str) -> list[Any]:
    """The JSON values a query-string ``value`` stands for: the string itself, and the number,
    boolean or null it spells."""
    candidates: list[Any] = [raw]
    try:
        parsed = json.loads(raw)
    except ValueError:
        return candidates
    if parsed is None or isinstance(parsed, bool | int | float):
        candidates.append(parsed)
    return candidates


def filter_variable(queryset: QuerySet[Call], name: str, raw_value: str) -> QuerySet[Call]:
    """Calls with a collected variable ``name`` (under any agent key) equal to ``raw_value``."""
    condition = Q()
    for candidate in variable_candidates(raw_value):
        if candidate is None:
            condition |= Q(value__isnull=True) | Q(value=None)
        else:
            condition |= Q(value=candidate)
    variables = CollectedVariable.objects.filter(call_id=OuterRef("pk"), name=name).filter(
        condition
    )
    return queryset.filter(Exists(variables))


# --- transcript search ----------------------------------------------------------------------


class TranscriptVector(Func):
    """``to_tsvector('english', text)``: exactly the expression of the GIN index on turns."""

    template = f"to_tsvector('{TRANSCRIPT_SEARCH_CONFIG}'::regconfig, %(expressions)s)"
    output_field = SearchVectorField()


class UnindexedTranscriptVector(Func):
    """The same vector through an expression the GIN index does not match, for checking the
    turns of given calls: it leaves PostgreSQL no plan but "look up this call's turns", where the
    indexed one tempts it into reading every match in the table first."""

    template = (
        f"to_tsvector('{TRANSCRIPT_SEARCH_CONFIG}'::regconfig, COALESCE(%(expressions)s, ''))"
    )
    output_field = SearchVectorField()


class SearchSyntaxError(ValueError):
    pass


MAX_SEARCH_TERMS = 8
_SEARCH_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


@dataclass(frozen=True)
class SearchTerm:
    """What one transcript must contain (or, ``negated``, must not): any of ``alternatives``,
    each a word or a ``phrase``."""

    alternatives: tuple[tuple[str, bool], ...]
    negated: bool = False

    def websearch(self) -> str:
        return " or ".join(f'"{text}"' if phrase else text for text, phrase in self.alternatives)

    def words(self) -> list[str]:
        """Each alternative's text (a phrase's words, without their order)."""
        return [text for text, _ in self.alternatives]


def parse_search(text: str) -> list[SearchTerm]:
    """Web-search syntax (words, "quoted phrases", ``a or b``, ``-excluded``) as terms that each
    apply to the whole transcript: ``refund angry`` finds calls where one turn says refund and
    another says angry."""
    tokens: list[tuple[str, bool, bool]] = []
    for match in _SEARCH_TOKEN.finditer(text):
        if match.group(3) is None:
            phrase = match.group(2).strip()
            if phrase:
                tokens.append((phrase, True, bool(match.group(1))))
            continue
        word = match.group(3).replace('"', "")
        negated = word.startswith("-") and len(word) > 1
        word = word.lstrip("-") if negated else word
        if word:
            tokens.append((word, False, negated))
    terms: list[SearchTerm] = []
    join_next = False
    for word, phrase, negated in tokens:
        if not phrase and not negated and word.lower() == "or":
            join_next = bool(terms)
            continue
        if join_next and not negated and not terms[-1].negated:
            terms[-1] = SearchTerm((*terms[-1].alternatives, (word, phrase)))
        else:
            terms.append(SearchTerm(((word, phrase),), negated))
        join_next = False
    if len(terms) > MAX_SEARCH_TERMS:
        raise SearchSyntaxError(f"at most {MAX_SEARCH_TERMS} search terms")
    return terms


def _websearch(query: str) -> SearchQuery:
    return SearchQuery(query, config=TRANSCRIPT_SEARCH_CONFIG, search_type="websearch")


def _matching_turns(query: str) -> QuerySet[TranscriptTurn]:
    """Turns matching ``query``, through the GIN index."""
    return TranscriptTurn.objects.alias(document=TranscriptVector("text")).filter(
        document=_websearch(query)
    )


# Tuning of the PostgreSQL search (``plan_transcript_search``).
SEARCH_COMMON_SHARE = 0.0005  # a term in at least this share of turns is "common"
SEARCH_PROBE_LIMIT = 20_000  # a rare term's matching turns are read up to this many
SEARCH_WINDOW = 2_000  # calls one list page checks when a term is common (keyset_page)


@dataclass(frozen=True)
class _TermPlan:
    term: SearchTerm
    skip: bool = False  # only stop words: PostgreSQL would match nothing
    call_ids: frozenset[int] | None = None  # a rare term: every call it matches


@dataclass(frozen=True)
class TranscriptSearch:
    """A parsed and planned ``q``: ``apply`` adds its conditions to a queryset of calls.

    ``scans`` says whether the conditions are checked call by call (a common term, an excluded
    one, or any term on databases without the index): the cost then grows with the calls
    checked, and callers bound that (``keyset_page`` reads at most ``SEARCH_WINDOW`` calls,
    the export checks chunk by chunk). Otherwise the matching calls are a known small set.
    """

    terms: tuple[_TermPlan, ...]
    indexed: bool

    @property
    def call_ids(self) -> frozenset[int] | None:
        sets = [t.call_ids for t in self.terms if t.call_ids is not None]
        return frozenset.intersection(*sets) if sets else None

    @property
    def scans(self) -> bool:
        if self.call_ids is not None:
            return False
        return any(not t.skip for t in self.terms)

    def apply(self, queryset: QuerySet[Call]) -> QuerySet[Call]:
        call_ids = self.call_ids
        if call_ids is not None:
            queryset = queryset.filter(pk__in=sorted(call_ids))
        for plan in self.terms:
            if plan.skip or plan.call_ids is not None:
                continue
            turns = TranscriptTurn.objects.filter(call_id=OuterRef("pk"))
            if self.indexed:
                turns = turns.alias(document=UnindexedTranscriptVector("text")).filter(
                    document=_websearch(plan.term.websearch())
                )
            else:
                alternatives = Q()
                for alternative, _ in plan.term.alternatives:
                    alternatives |= Q(text__icontains=alternative)
                turns = turns.filter(alternatives)
            queryset = (queryset.exclude if plan.term.negated else queryset.filter)(Exists(turns))
        return queryset


def plan_transcript_search(text: str) -> TranscriptSearch:
    """Parses ``text`` (``parse_search``) and decides how each term is read.

    Elsewhere than PostgreSQL every term is a case-insensitive substring, checked call by call.
    On PostgreSQL (English stemming and stop words) a newest-first page has two good plans:
    check the newest calls one by one (fast when the term is common: the page fills after a few
    calls) or read the term's matches from the GIN index (fast when it is rare). PostgreSQL
    cannot choose between them reliably: it does not know that matches spread over time, it
    assumes the words of a phrase independent, and it estimates a word its statistics never saw
    (a typo, a rare name) as fairly common. So the choice is made here, from the same
    statistics (``pg_stats`` of the index expression, one query): a term is common when the
    share of turns containing it (the rarest word of each phrase, summed over alternatives) is
    at least ``SEARCH_COMMON_SHARE`` and twice what an unseen word gets; the others are read
    from the index, up to ``SEARCH_PROBE_LIMIT`` matching turns (beyond that, common after all).
    """
    terms = parse_search(text)
    if connection.vendor != "postgresql":
        return TranscriptSearch(tuple(_TermPlan(term) for term in terms), indexed=False)
    if not terms:
        return TranscriptSearch((), indexed=True)
    alternatives = [
        (t, a, words) for t, term in enumerate(terms) for a, words in enumerate(term.words())
    ]
    values = ", ".join("(%s, %s, %s)" for _ in alternatives)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH stats AS (
                SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs
                FROM pg_stats WHERE schemaname = current_schema() AND tablename = %s LIMIT 1
            ), alternatives(term, alternative, words) AS (VALUES {values})
            SELECT a.term, a.alternative, stats.freqs[array_position(stats.elems, l.lexeme)],
                   stats.freqs[array_length(stats.freqs, 1) - 1]
            FROM alternatives a
            CROSS JOIN LATERAL unnest(tsvector_to_array(
                to_tsvector('{TRANSCRIPT_SEARCH_CONFIG}'::regconfig, a.words::text))) AS l(lexeme)
            LEFT JOIN stats ON true
            """,
            [TRANSCRIPT_INDEX, *[v for row in alternatives for v in row]],
        )
        rows = cursor.fetchall()
    # PostgreSQL gives an element its statistics never saw half the share of the rarest one they
    # kept, at most 0.5% (ts_selfuncs.c).
    unseen = 0.005
    for *_, rarest in rows:
        if rarest is not None:
            unseen = min(unseen, float(rarest) / 2)
            break
    # Share of turns containing all words of an alternative: at most that of its rarest word.
    shares: dict[tuple[int, int], float] = {}
    for term_index, alternative, freq, _ in rows:
        share = float(freq) if freq is not None else unseen
        key = (term_index, alternative)
        shares[key] = min(shares.get(key, 1.0), share)
    common = max(2 * unseen, SEARCH_COMMON_SHARE)

    plans = []
    for index, term in enumerate(terms):
        term_shares = [share for (t, _), share in shares.items() if t == index]
        if not term_shares:
            plans.append(_TermPlan(term, skip=True))  # only stop words: matches nothing
        elif term.negated or sum(term_shares) >= common:
            plans.append(_TermPlan(term))
        else:
            matches = list(
                _matching_turns(term.websearch()).values_list("call_id", flat=True)[
                    : SEARCH_PROBE_LIMIT + 1
                ]
            )
            rare = len(matches) <= SEARCH_PROBE_LIMIT
            plans.append(_TermPlan(term, call_ids=frozenset(matches) if rare else None))
    return TranscriptSearch(tuple(plans), indexed=True)


def filter_transcript(queryset: QuerySet[Call], text: str) -> QuerySet[Call]:
    """Calls whose transcript matches ``text``: every term, each in any turn
    (``plan_transcript_search``). Unbounded: on a large tenant, prefer ``keyset_page``'s
    ``search`` or the export's chunked check when a term is common."""
    return plan_transcript_search(text).apply(queryset)


# --- offset pages (Synthflow) ----------------------------------------------------------------

NEWEST_FIRST = ("-start_time", "-id")


def offset_page(
    queryset: QuerySet[Call], *, limit: int, offset: int, total: int | None = None
) -> tuple[int, list[Call]]:
    """The filtered total and the page ``[offset, offset + limit)`` of ``queryset``, newest
    first, with Synthflow's children.

    ``total`` is the number of calls in ``queryset`` when the caller knows it (the cached total of
    ``calls.counts``); without it they are counted. The page's ids are read first (an index-only
    scan for the common filters), then only those rows are loaded: a deep offset skips index
    entries, not whole rows.
    """
    if total is None:
        total = queryset.count()
    if offset >= total:
        return total, []
    # The ids come from the tenant-scoped queryset, so loading by id stays within the tenant.
    page_ids = queryset.order_by(*NEWEST_FIRST).values("pk")[offset : offset + limit]
    calls = list(
        Call.objects.filter(pk__in=Subquery(page_ids))
        .select_related("agent")
        .defer(*LIST_DEFERRED_FIELDS)
        .order_by(*NEWEST_FIRST)
    )
    return total, attach_synthflow_children(calls)


# --- keyset (cursor) pages -------------------------------------------------------------------


class CursorError(ValueError):
    """A cursor that is malformed or belongs to another ordering."""


@dataclass(frozen=True)
class Ordering:
    """A whitelisted sort: one column plus ``id`` as the tie-break, both in one direction.

    Nullable columns sort their NULLs as the smallest values (last when descending, first when
    ascending) so every row has a place in the keyset."""

    field: str
    descending: bool
    nullable: bool
    kind: str  # "datetime" or "int": how the cursor encodes a value

    @property
    def name(self) -> str:
        return ("-" if self.descending else "") + self.field

    def order_by(self, reverse: bool = False) -> list[OrderBy]:
        descending = self.descending != reverse
        expressions = []
        for name, nullable in ((self.field, self.nullable), ("id", False)):
            if not nullable:
                expressions.append(F(name).desc() if descending else F(name).asc())
            elif descending:
                expressions.append(F(name).desc(nulls_last=True))
            else:
                expressions.append(F(name).asc(nulls_first=True))
        return expressions

    def after(self, value: Any, pk: int, reverse: bool = False, inclusive: bool = False) -> Q:
        """Rows after ``(value, pk)`` in this ordering (or before it, ``reverse``), and the row
        with that key itself when ``inclusive``."""
        descending = self.descending != reverse
        field = self.field
        id_smaller = "id__lte" if inclusive else "id__lt"
        id_larger = "id__gte" if inclusive else "id__gt"
        smaller, larger = f"{field}__lt", f"{field}__gt"
        if not self.nullable:
            if descending:
                # The first conjunct gives PostgreSQL an index range, the rest picks the rows.
                return Q(**{f"{field}__lte": value}) & (
                    Q(**{smaller: value}) | Q(**{id_smaller: pk})
                )
            return Q(**{f"{field}__gte": value}) & (Q(**{larger: value}) | Q(**{id_larger: pk}))
        if descending:
            if value is None:
                return Q(**{f"{field}__isnull": True, id_smaller: pk})
            return (
                Q(**{smaller: value})
                | Q(**{field: value, id_smaller: pk})
                | Q(**{f"{field}__isnull": True})
            )
        if value is None:
            return Q(**{f"{field}__isnull": False}) | Q(**{f"{field}__isnull": True, id_larger: pk})
        return Q(**{larger: value}) | Q(**{field: value, id_larger: pk})

    def until(self, value: Any, pk: int, reverse: bool = False) -> Q:
        """Rows up to and including ``(value, pk)`` in this ordering (``reverse``: from it on)."""
        if self.nullable:
            return ~self.after(value, pk, reverse=reverse)
        descending = self.descending != reverse
        field = self.field
        if descending:
            # The first conjunct gives PostgreSQL an index range, the rest picks the rows.
            return Q(**{f"{field}__gte": value}) & (Q(**{f"{field}__gt": value}) | Q(id__gte=pk))
        return Q(**{f"{field}__lte": value}) & (Q(**{f"{field}__lt": value}) | Q(id__lte=pk))

    def key_of(self, call: Any) -> tuple[Any, int]:
        if isinstance(call, dict):
            return call[self.field], call["id"]
        return getattr(call, self.field), call.pk

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        if self.kind == "datetime":
            return value.isoformat()
        return value

    def decode(self, value: Any) -> Any:
        if value is None:
            if not self.nullable:
                raise CursorError("cursor has no value for a required column")
            return None
        if self.kind == "datetime":
            if not isinstance(value, str):
                raise CursorError("cursor value is not a datetime")
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise CursorError("cursor value is not a datetime") from None
            if parsed.tzinfo is None:
                raise CursorError("cursor value is not an aware datetime")
            return parsed
        if not isinstance(value, int) or isinstance(value, bool):
            raise CursorError("cursor value is not an integer")
        return value


ORDERINGS: dict[str, Ordering] = {
    o.name: o
    for field, nullable, kind in (
        ("start_time", False, "datetime"),
        ("end_time", True, "datetime"),
        ("duration", True, "int"),
    )
    for o in (Ordering(field, True, nullable, kind), Ordering(field, False, nullable, kind))
}
DEFAULT_ORDERING = "-start_time"


@dataclass(frozen=True)
class Cursor:
    """A position in an ordering: the key of a row, whether the page reads on after it or
    (``previous``) before it, and whether that row itself belongs to the page (``inclusive``:
    only after a search page that found nothing, see ``keyset_page``)."""

    ordering: str
    value: Any
    pk: int
    previous: bool = False
    inclusive: bool = False

    def token(self) -> str:
        ordering = ORDERINGS[self.ordering]
        payload = {
            "o": self.ordering,
            "v": ordering.encode(self.value),
            "id": self.pk,
            "p": self.previous,
            "i": self.inclusive,
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str, ordering: Ordering) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = json.loads(raw)
        except (ValueError, binascii.Error):
            raise CursorError("malformed cursor") from None
        if not isinstance(payload, dict) or set(payload) != {"o", "v", "id", "p", "i"}:
            raise CursorError("malformed cursor")
        if payload["o"] != ordering.name:
            raise CursorError("the cursor belongs to another ordering")
        pk = payload["id"]
        flags = (payload["p"], payload["i"])
        if (
            not isinstance(pk, int)
            or isinstance(pk, bool)
            or not all(isinstance(flag, bool) for flag in flags)
        ):
            raise CursorError("malformed cursor")
        return cls(ordering.name, ordering.decode(payload["v"]), pk, *flags)


@dataclass
class KeysetPage:
    items: list[Call]
    next_cursor: Cursor | None
    previous_cursor: Cursor | None


def keyset_page(
    queryset: QuerySet[Call],
    *,
    ordering: Ordering,
    limit: int,
    cursor: Cursor | None,
    search: TranscriptSearch | None = None,
) -> KeysetPage:
    """One page of ``queryset`` in ``ordering`` after (or before) ``cursor``, optionally only
    the calls matching ``search``.

    Stable under inserts: a page starts from the key of the last row seen, not from a count of
    rows, so calls written meanwhile never shift or repeat entries. Reads ``limit + 1`` rows to
    know whether another page follows.

    A search checked call by call (``TranscriptSearch.scans``) reads at most ``SEARCH_WINDOW``
    calls per page, so a request costs the same however rare the matches are: the page may then
    hold fewer than ``limit`` calls, even none, and its next cursor resumes after the last call
    checked.
    """
    backwards = cursor is not None and cursor.previous
    direction = ordering.order_by(reverse=backwards)
    rows_qs = queryset
    if cursor is not None:
        rows_qs = rows_qs.filter(
            ordering.after(cursor.value, cursor.pk, reverse=backwards, inclusive=cursor.inclusive)
        )
    boundary: tuple[Any, int] | None = None
    if search is not None:
        if search.scans:
            edge = list(
                rows_qs.order_by(*direction).values(ordering.field, "id")[
                    SEARCH_WINDOW - 1 : SEARCH_WINDOW
                ]
            )
            if edge:
                boundary = ordering.key_of(edge[0])
                rows_qs = rows_qs.filter(ordering.until(*boundary, reverse=backwards))
        rows_qs = search.apply(rows_qs)
    rows = list(rows_qs.order_by(*direction)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]

    # Reading on in the same direction resumes after the last row, or after the last call
    # checked; reading back starts before the first row (or, on an empty page, at the cursor).
    ahead = None
    if more:
        ahead = Cursor(ordering.name, *ordering.key_of(rows[-1]), previous=backwards)
    elif boundary is not None:
        ahead = Cursor(ordering.name, *boundary, previous=backwards)
    behind = None
    if rows and cursor is not None:
        behind = Cursor(ordering.name, *ordering.key_of(rows[0]), previous=not backwards)
    elif cursor is not None:
        behind = Cursor(
            ordering.name,
            cursor.value,
            cursor.pk,
            previous=not backwards,
            inclusive=not cursor.inclusive,
        )
    if backwards:
        rows.reverse()
        return KeysetPage(rows, next_cursor=behind, previous_cursor=ahead)
    return KeysetPage(rows, next_cursor=ahead, previous_cursor=behind)


def iterate_keyset(
    queryset: QuerySet[Any],
    *,
    ordering: Ordering,
    chunk_size: int,
    search: TranscriptSearch | None = None,
    key_of: Callable[[Any], tuple[Any, int]] | None = None,
) -> Iterator[list[Any]]:
    """Chunks of a ``.values()`` (or, with ``key_of`` telling a row's key, ``.values_list()``)
    queryset of calls in ``ordering``, each read by one keyset query, so memory stays bounded by
    ``chunk_size`` however many rows match. The rows must include ``id`` and the ordering's
    column.

    With a ``search`` checked call by call, each chunk of candidates is checked by one more
    query (so no single query walks the whole table) and only its matches are yielded.
    """
    if search is not None and not search.scans:
        queryset = search.apply(queryset)
        search = None
    position: tuple[Any, int] | None = None
    while True:
        chunk_qs = queryset
        if position is not None:
            chunk_qs = chunk_qs.filter(ordering.after(*position))
        chunk = list(chunk_qs.order_by(*ordering.order_by())[:chunk_size])
        if not chunk:
            return
        key = key_of or ordering.key_of
        position = key(chunk[-1])
        complete = len(chunk) == chunk_size
        if search is not None:
            # The ids come from the tenant-scoped queryset: checking them by id stays within it.
            candidates = Call.objects.filter(pk__in=[key(row)[1] for row in chunk])
            matching = set(search.apply(candidates).values_list("pk", flat=True))
            chunk = [row for row in chunk if key(row)[1] in matching]
        if chunk:
            yield chunk
        if not complete:
            return


def transcripts_of(call_pks: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """``{call pk: [(role, text), …]}`` in turn order, for a chunk of calls."""
    result: dict[int, list[tuple[str, str]]] = {pk: [] for pk in call_pks}
    rows = (
        TranscriptTurn.objects.filter(call_id__in=call_pks)
        .order_by("call_id", "position")
        .values_list("call_id", "role", "text")
    )
    for call_pk, role, text in rows:
        result[call_pk].append((role, text))
    return result


def actions_of(
    call_pks: Sequence[int],
) -> dict[int, list[tuple[str, dict[str, Any], str, bool | None, float | None]]]:
    """``{call pk: [(name, payload, action_type, success, latency_ms), …]}`` in order."""
    result: dict[int, list[tuple[str, dict[str, Any], str, bool | None, float | None]]] = {
        pk: [] for pk in call_pks
    }
    rows = (
        ExecutedAction.objects.filter(call_id__in=call_pks)
        .order_by("call_id", "position")
        .values_list("call_id", "name", "payload", "action_type", "success", "latency_ms")
    )
    for call_pk, *action in rows:
        result[call_pk].append(tuple(action))  # type: ignore[arg-type]
    return result


def variables_of(call_pks: Sequence[int]) -> dict[int, list[tuple[str, str, Any, bool]]]:
    """``{call pk: [(agent_key, name, value, collected), …]}`` for a chunk of calls."""
    result: dict[int, list[tuple[str, str, Any, bool]]] = {pk: [] for pk in call_pks}
    rows = (
        CollectedVariable.objects.filter(call_id__in=call_pks)
        .order_by("call_id", "agent_key", "name")
        .values_list("call_id", "agent_key", "name", "value", "collected")
    )
    for call_pk, agent_key, name, value, collected in rows:
        result[call_pk].append((agent_key, name, value, collected))
    return result
