"""Read-side selectors for calls: what the read APIs and the export ask of the database.

Every selector takes a queryset already scoped to one tenant (the API's ``TenantScopedMixin`` does
that) and returns querysets or rows; rendering is the API layer's job. Pages cost a constant
number of queries whatever their size: children are prefetched, never read per call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchVectorField
from django.core import signing
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Exists,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.constants import LOOKUP_SEP
from django.db.models.expressions import Col, OrderBy, RawSQL
from django.db.models.functions import Cast

from calls.models import (
    Call,
    CollectedVariable,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    TranscriptTurn,
    is_successful,
    successful_q,
)

# Columns no list shows; reading them for every row of a page only costs transfer.
LIST_DEFERRED_FIELDS = ("intents", "document_hash", "child_hashes", "created_at", "updated_at")
# The text search configuration of the transcript index (migration 0010); a query must use the
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


def effective_success(call: Call) -> bool:
    """``successful_q`` for one loaded call."""
    return is_successful(
        success=call.success, status=call.status, end_call_reason=call.end_call_reason
    )


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


def _variable_value_q(raw_value: str) -> Q:
    """The condition on ``CollectedVariable.value`` for a query-string ``raw_value``."""
    candidates = variable_candidates(raw_value)
    # ``IN`` rather than ORed equalities, so PostgreSQL reads the candidates from one range of
    # ``variable_tenant_name_value_idx`` (index-only) instead of OR-ing bitmaps and visiting
    # the rows.
    condition = Q(value__in=[c for c in candidates if c is not None])
    if None in candidates:
        condition |= Q(value__isnull=True) | Q(value=None)
    return condition


def filter_variables(
    queryset: QuerySet[Call], filters: Sequence[tuple[str, str]], *, tenant_id: int | None
) -> QuerySet[Call]:
    """Calls of tenant ``tenant_id`` (``queryset`` is that tenant's calls) that have, for every
    ``(name, value)`` of ``filters``, a collected variable ``name`` (under any agent key) equal
    to ``value``. Raises ``ValueError`` when filters are given without a tenant.

    One subquery whatever the number of filters, each filter reading the ids of its calls from
    one range of ``variable_tenant_name_value_idx`` (tenant_id, name, value, call_id): only this
    tenant's entries, so neither the cost nor the response time depends on how many of other
    tenants' calls carry the value. One correlated ``EXISTS`` per filter instead made
    PostgreSQL plan an n-way join whose planning time and memory grew much faster than the
    number of filters.

    On PostgreSQL the filters are applied one after the other, the smallest (by the planner's
    estimate) first: each step keeps the calls of the previous one that also match its filter
    (``_narrowing_steps``), so a combination that matches few calls stops reading early. Its
    cost is at most the sum of the filters' matching rows. Elsewhere the ranges are
    intersected.
    """
    if not filters:
        return queryset
    if tenant_id is None:
        # Without the tenant the index ranges would hold every tenant's entries again.
        raise ValueError("variable filters need the tenant whose calls they filter")
    branches = [
        CollectedVariable.objects.filter(
            Q(tenant_id=tenant_id) & Q(name=name) & _variable_value_q(value)
        )
        .order_by()
        .values("call_id")
        for name, value in dict.fromkeys(filters)
    ]
    if len(branches) == 1:
        return queryset.filter(pk__in=branches[0])
    if connection.vendor == "postgresql":
        return queryset.filter(pk__in=_narrowing_steps(branches))
    return queryset.filter(pk__in=branches[0].intersection(*branches[1:]))


def _estimated_rows(branch: QuerySet[Any]) -> float:
    plan = json.loads(branch.explain(format="json"))
    return float(plan[0]["Plan"]["Plan Rows"])


def _narrowing_steps(branches: list[QuerySet[Any]]) -> RawSQL:
    """``WITH step_0 AS MATERIALIZED (smallest filter's call ids), step_1 AS MATERIALIZED (the
    next filter's call ids among step_0's), … SELECT call_id FROM step_<last>``.

    Materialized, so PostgreSQL runs the steps in this order and does not flatten them into
    the n-way join again; a step whose input is empty reads nothing.
    """
    ordered = sorted(branches, key=_estimated_rows)
    parts: list[str] = []
    params: list[Any] = []
    for number, branch in enumerate(ordered):
        step = branch
        if number:
            step = branch.filter(call_id__in=RawSQL(f"SELECT call_id FROM step_{number - 1}", ()))
        sql, step_params = step.query.sql_with_params()
        parts.append(f"step_{number} AS MATERIALIZED ({sql})")
        params.extend(step_params)
    last = len(ordered) - 1
    return RawSQL(f"WITH {', '.join(parts)} SELECT call_id FROM step_{last}", params)


# --- transcript search ----------------------------------------------------------------------


class TranscriptVector(Func):
    """``to_tsvector('english', text)``: exactly the expression of the GIN index on turns."""

    template = f"to_tsvector('{TRANSCRIPT_SEARCH_CONFIG}'::regconfig, %(expressions)s)"
    output_field = SearchVectorField()


# A turn's vector as stored by PostgreSQL (migration 0014): the same value as
# ``TranscriptVector("text")``, read instead of computed. The model does not declare the column
# (other databases have no ``to_tsvector``), so ``StoredTranscriptVector`` names it.
TRANSCRIPT_VECTOR_COLUMN = "search_vector"
_STORED_VECTOR = SearchVectorField()
_STORED_VECTOR.set_attributes_from_name(TRANSCRIPT_VECTOR_COLUMN)
_STORED_VECTOR.model = TranscriptTurn


class StoredTranscriptVector(F):
    """A turn's stored vector, for checking the turns of given calls: reading it costs the row
    alone, where computing ``to_tsvector`` cost about 0.3 ms a call. No index covers it, which
    leaves PostgreSQL no plan but "look up this call's turns" (the GIN index would tempt it into
    reading every match of the tenant first)."""

    def __init__(self) -> None:
        super().__init__("text")

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Col:
        # Resolved as the turn's text column to get the table alias of this query (``U0`` in a
        # subquery), then pointed at the vector column of the same row.
        text = super().resolve_expression(*args, **kwargs)
        assert isinstance(text, Col)  # a concrete column of the turn's own table
        return Col(text.alias, _STORED_VECTOR)


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


def _matching_turns(query: str, *, tenant_id: int | None) -> QuerySet[TranscriptTurn]:
    """Turns of tenant ``tenant_id`` (``None``: of every tenant) matching ``query``, through the
    GIN index on ``(tenant_id, to_tsvector(…))`` (migration 0010): with a tenant, the index
    intersects that tenant's entries with the word's, so another tenant's turns are never read."""
    turns = TranscriptTurn.objects.all()
    if tenant_id is not None:
        # Typed as the column: btree_gin has no cross-type operators, so ``bigint = integer``
        # (how a literal id compares) would leave the tenant out of the index condition.
        turns = turns.filter(tenant_id=Cast(Value(tenant_id), BigIntegerField()))
    # Unordered: the model's ordering would join every match to its call to sort them.
    return (
        turns.alias(document=TranscriptVector("text")).filter(document=_websearch(query)).order_by()
    )


# Tuning of the PostgreSQL search (``TranscriptSearch.terms``).
# The sample's vectors are stored (migration 0014), so reading a few hundred calls costs a few
# milliseconds; a larger sample tells a term in 1 or 2% of calls (cheap to check call by call:
# ``SEARCH_WINDOW`` calls hold dozens of its matches) from a rarer one. Reading such a term from
# the index instead costs the most: the tenant-first index intersects the term's entries with
# the tenant's, so it reads the tenant's entries wherever the term's are, up to all of them.
SEARCH_SAMPLE_CALLS = 400  # the newest calls of a tenant whose turns are checked for each term
SEARCH_SAMPLE_COMMON = 0.005  # a term in at least this share of them is "common",
SEARCH_SAMPLE_MIN_MATCHES = 2  # and in at least this many (one match in a small tenant is luck)
# A rare term's matching turns are read up to this many. Each costs a heap read, so past a few
# thousand the page is cheaper to fill by checking the newest calls.
SEARCH_PROBE_LIMIT = 2_000
SEARCH_WINDOW = 2_000  # calls one list page checks when a term is common (keyset_page)


@dataclass(frozen=True)
class _TermPlan:
    term: SearchTerm
    skip: bool = False  # only stop words: PostgreSQL would match nothing
    call_ids: frozenset[int] | None = None  # a rare term: every call it matches


@dataclass(frozen=True)
class TranscriptSearch:
    """A parsed ``q``: ``apply`` adds its conditions to a queryset of calls.

    Planned on first use (``terms``) from the turns of ``tenant_ids`` only (``None``: every
    tenant's, for a reader allowed to see them all), so a tenant's search costs what that
    tenant's data makes it cost (the API's filter set plans with the key's tenant).

    ``scans`` says whether the conditions are checked call by call (a common term, an excluded
    one, or any term on databases without the index): the cost then grows with the calls
    checked, and callers bound that (``keyset_page`` reads at most ``SEARCH_WINDOW`` calls,
    the export checks chunk by chunk). Otherwise the matching calls are a known small set.
    """

    parsed: tuple[SearchTerm, ...]
    indexed: bool
    tenant_ids: tuple[int, ...] | None = None

    @cached_property
    def terms(self) -> tuple[_TermPlan, ...]:
        """How each term is read (``plan_transcript_search``); queries the database once."""
        if not self.indexed:
            return tuple(_TermPlan(term) for term in self.parsed)
        return _plan_terms(self.parsed, self.tenant_ids)

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
            turns: QuerySet[TranscriptTurn] = TranscriptTurn.objects.filter(call_id=OuterRef("pk"))
            if self.indexed:
                turns = turns.alias(document=StoredTranscriptVector()).filter(
                    document=_websearch(plan.term.websearch())
                )
            else:
                alternatives = Q()
                for alternative, _ in plan.term.alternatives:
                    alternatives |= Q(text__icontains=alternative)
                turns = turns.filter(alternatives)
            queryset = (queryset.exclude if plan.term.negated else queryset.filter)(Exists(turns))
        return queryset


def plan_transcript_search(
    text: str, *, tenant_ids: Sequence[int] | None = None
) -> TranscriptSearch:
    """Parses ``text`` (``parse_search``; a ``SearchSyntaxError`` is raised here) into a search
    planned from the turns of ``tenant_ids`` (``None``: every tenant's) when first used.

    Elsewhere than PostgreSQL every term is a case-insensitive substring, checked call by call.
    On PostgreSQL (English stemming and stop words) a newest-first page has two good plans:
    check the newest calls one by one (fast when the term is common: the page fills after a few
    calls) or read the term's matches from the GIN index (fast when it is rare). PostgreSQL
    cannot choose between them reliably: it does not know that matches spread over time, it
    assumes the words of a phrase independent, and its statistics of the index are of every
    tenant's turns, so they would make one tenant's plan (and response time) depend on what
    other tenants' calls say. So the choice is made here from the searching tenant's own turns
    (``_plan_terms``): a term matching at least ``SEARCH_SAMPLE_COMMON`` (and at least
    ``SEARCH_SAMPLE_MIN_MATCHES``) of the tenant's ``SEARCH_SAMPLE_CALLS`` newest calls is
    common; the others are read from the tenant-first index, up to ``SEARCH_PROBE_LIMIT``
    matching turns (beyond that, common after all).
    """
    terms = tuple(parse_search(text))
    tenants = None if tenant_ids is None else tuple(tenant_ids)
    return TranscriptSearch(terms, indexed=connection.vendor == "postgresql", tenant_ids=tenants)


def _sample_calls_sql(tenant_ids: tuple[int, ...] | None) -> tuple[str, list[Any]]:
    """The ids of the newest calls of each of ``tenant_ids`` (``None``: the newest written of
    all), each tenant's read from its ``(tenant, -start_time, -id)`` index."""
    if tenant_ids is None:
        return "SELECT id FROM calls_call ORDER BY id DESC LIMIT %s", [SEARCH_SAMPLE_CALLS]
    per_tenant = (
        "(SELECT id FROM calls_call WHERE tenant_id = %s "
        "ORDER BY start_time DESC, id DESC LIMIT %s)"
    )
    params: list[Any] = []
    for tenant_id in tenant_ids:
        params += [tenant_id, SEARCH_SAMPLE_CALLS]
    return " UNION ALL ".join([per_tenant] * len(tenant_ids)), params


def _plan_terms(
    terms: tuple[SearchTerm, ...], tenant_ids: tuple[int, ...] | None
) -> tuple[_TermPlan, ...]:
    """``plan_transcript_search`` on PostgreSQL: one query tells, for every term, whether it is
    only stop words and how many of the sampled calls it matches (their turns' stored vectors
    read once); then each remaining term that is neither common nor excluded is probed through the
    tenant-first index, one bounded read per tenant."""
    if not terms or tenant_ids == ():
        return tuple(_TermPlan(term) for term in terms)
    values = ", ".join(
        f"(%s, websearch_to_tsquery('{TRANSCRIPT_SEARCH_CONFIG}'::regconfig, %s))" for _ in terms
    )
    sample_sql, sample_params = _sample_calls_sql(tenant_ids)
    params = [v for index, term in enumerate(terms) for v in (index, term.websearch())]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH queries(term, query) AS (VALUES {values}),
            sample AS MATERIALIZED (
                SELECT t.call_id, t.{TRANSCRIPT_VECTOR_COLUMN} AS v
                FROM calls_transcriptturn t WHERE t.call_id IN ({sample_sql})
            )
            SELECT q.term, numnode(q.query) = 0,
                   (SELECT count(DISTINCT s.call_id) FROM sample s WHERE s.v @@ q.query),
                   (SELECT count(DISTINCT s.call_id) FROM sample s)
            FROM queries q ORDER BY q.term
            """,
            [*params, *sample_params],
        )
        rows = cursor.fetchall()
    plans = []
    for (_, empty, matched, sampled), term in zip(rows, terms, strict=True):
        if empty:
            plans.append(_TermPlan(term, skip=True))  # only stop words: matches nothing
        elif term.negated or (
            matched >= SEARCH_SAMPLE_MIN_MATCHES and matched >= SEARCH_SAMPLE_COMMON * sampled
        ):
            plans.append(_TermPlan(term))
        else:
            call_ids = _probe(term.websearch(), tenant_ids)
            plans.append(_TermPlan(term, call_ids=call_ids))
    return tuple(plans)


def _probe(query: str, tenant_ids: tuple[int, ...] | None) -> frozenset[int] | None:
    """The calls whose turns match ``query``, when at most ``SEARCH_PROBE_LIMIT`` turns of
    ``tenant_ids`` do; ``None`` when more do (the term is common after all)."""
    matches: list[int] = []
    for tenant_id in tenant_ids if tenant_ids is not None else (None,):
        room = SEARCH_PROBE_LIMIT + 1 - len(matches)
        turns = _matching_turns(query, tenant_id=tenant_id).values_list("call_id", flat=True)
        matches += turns[:room]
        if len(matches) > SEARCH_PROBE_LIMIT:
            return None
    return frozenset(matches)


def filter_transcript(
    queryset: QuerySet[Call], text: str, *, tenant_ids: Sequence[int] | None = None
) -> QuerySet[Call]:
    """Calls whose transcript matches ``text``: every term, each in any turn
    (``plan_transcript_search``, planned from the turns of ``tenant_ids``, which should be the
    tenants ``queryset`` is limited to). Unbounded: on a large tenant, prefer ``keyset_page``'s
    ``search`` or the export's chunked check when a term is common."""
    return plan_transcript_search(text, tenant_ids=tenant_ids).apply(queryset)


# --- snippets of transcript matches -------------------------------------------------------

# The excerpt of a turn around its match: ``ts_headline``'s words on PostgreSQL, these many
# characters either side elsewhere.
SNIPPET_WORDS = 20
SNIPPET_CONTEXT = 60
# Where ``ts_headline`` marks a match: private-use characters, so the text is split into marked
# and unmarked pieces (each escaped when shown) instead of being returned as markup.
_MARK_START, _MARK_STOP = "\ue000", "\ue001"
_MARKS = re.compile(f"[{_MARK_START}{_MARK_STOP}]")

# A turn's excerpt in pieces of text, each saying whether it is a match.
Snippet = list[tuple[str, bool]]


def transcript_snippets(call_pks: Sequence[int], text: str) -> dict[int, Snippet]:
    """For each of ``call_pks`` whose transcript matches what ``text`` asks for (the transcript
    search's syntax; excluded terms mark nothing), its first matching turn around the match.

    On PostgreSQL ``ts_headline`` over the search's own query (stemmed: a search for
    ``refunds`` marks ``refund``), on the turns whose stored vector matches; elsewhere the
    search's case-insensitive substrings. One query for all the calls."""
    try:
        terms = [term for term in parse_search(text) if not term.negated]
    except SearchSyntaxError:
        return {}
    if not terms or not call_pks:
        return {}
    if connection.vendor == "postgresql":
        return _headlines(call_pks, " or ".join(term.websearch() for term in terms))
    return _substring_snippets(call_pks, [word for term in terms for word in term.words()])


def _headlines(call_pks: Sequence[int], query: str) -> dict[int, Snippet]:
    search = _websearch(query)
    rows = (
        TranscriptTurn.objects.filter(call_id__in=call_pks)
        .alias(document=StoredTranscriptVector())
        .filter(document=search)
        .annotate(
            headline=SearchHeadline(
                "text",
                search,
                config=TRANSCRIPT_SEARCH_CONFIG,
                start_sel=_MARK_START,
                stop_sel=_MARK_STOP,
                max_words=SNIPPET_WORDS,
                min_words=SNIPPET_WORDS // 2,
            )
        )
        .order_by("call_id", "position")
        .distinct("call_id")
        .values_list("call_id", "headline")
    )
    return {call_pk: _split_marks(headline) for call_pk, headline in rows}


def _split_marks(headline: str) -> Snippet:
    # The pieces alternate: unmarked, marked, unmarked…
    return [(piece, i % 2 == 1) for i, piece in enumerate(_MARKS.split(headline)) if piece]


def _substring_snippets(call_pks: Sequence[int], words: list[str]) -> dict[int, Snippet]:
    longest_first = sorted({word for word in words if word}, key=len, reverse=True)
    if not longest_first:
        return {}
    pattern = re.compile("|".join(re.escape(word) for word in longest_first), re.IGNORECASE)
    turns = (
        TranscriptTurn.objects.filter(call_id__in=call_pks)
        .order_by("call_id", "position")
        .values_list("call_id", "text")
    )
    result: dict[int, Snippet] = {}
    for call_pk, turn_text in turns:
        if call_pk in result:
            continue
        first = pattern.search(turn_text)
        if first is None:
            continue
        start = max(0, first.start() - SNIPPET_CONTEXT)
        end = min(len(turn_text), first.end() + SNIPPET_CONTEXT)
        pieces: Snippet = [("…", False)] if start > 0 else []
        position = start
        for match in pattern.finditer(turn_text, start, end):
            if match.start() > position:
                pieces.append((turn_text[position : match.start()], False))
            pieces.append((match.group(), True))
            position = match.end()
        if position < end:
            pieces.append((turn_text[position:end], False))
        if end < len(turn_text):
            pieces.append(("…", False))
        result[call_pk] = pieces
    return result


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
    """A cursor that is malformed, altered, another tenant's or another ordering's, or whose
    call is gone while other calls share its sort value."""


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


# Signs cursor tokens; the tenant's key is appended, so one tenant's cursor never verifies for
# another (``Cursor``).
CURSOR_SALT = "callscope.calls.cursor"


class _CursorJSON:
    """Compact JSON as UTF-8 for signed cursors: ``signing``'s default serializer escapes
    non-ASCII, which would make the token of a non-ASCII ``call_id`` several times longer."""

    def dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data.decode())


def _cursor_salt(tenant_id: int) -> str:
    return f"{CURSOR_SALT}:{tenant_id}"


def sign_token(payload: Any, *, salt: str) -> str:
    """``payload`` (JSON) as an opaque signed token: the call list's cursors and the agent and
    workflow lists' (``calls.directory``), each salted with what it is valid for."""
    return signing.Signer(salt=salt).sign_object(payload, serializer=_CursorJSON)


def token_payload(token: str, *, salt: str) -> Any:
    """The payload ``sign_token`` signed with ``salt``; ``signing.BadSignature`` or
    ``ValueError`` for a token it did not sign."""
    return signing.Signer(salt=salt).unsign_object(token, serializer=_CursorJSON)


@dataclass(frozen=True)
class Cursor:
    """A position in an ordering: the sort value and ``call_id`` of a row, whether the page reads
    on after it or (``previous``) before it, and whether that row itself belongs to the page
    (``inclusive``: only after a search page that found nothing, see ``keyset_page``).

    The row is named by its ``call_id`` (unique within the tenant), never by its primary key:
    keys are shared by all tenants, so a key in a token would let a tenant watch every tenant's
    calls being written. ``keyset_page`` looks the key up within the tenant's calls. The token is
    signed (``django.core.signing``, salted with the tenant): a changed or truncated token, or
    one issued to another tenant, fails verification instead of being read."""

    ordering: str
    value: Any
    call_id: str
    previous: bool = False
    inclusive: bool = False

    def token(self, *, tenant_id: int) -> str:
        """The opaque, signed form of this cursor for tenant ``tenant_id``."""
        payload = {
            "o": self.ordering,
            "v": ORDERINGS[self.ordering].encode(self.value),
            "c": self.call_id,
            "p": self.previous,
            "i": self.inclusive,
        }
        return sign_token(payload, salt=_cursor_salt(tenant_id))

    @classmethod
    def parse(cls, token: str, *, ordering: Ordering, tenant_id: int) -> Cursor:
        """The cursor ``token`` stands for, if it was issued to tenant ``tenant_id`` for
        ``ordering``; ``CursorError`` otherwise."""
        try:
            payload = token_payload(token, salt=_cursor_salt(tenant_id))
        except (signing.BadSignature, ValueError):
            raise CursorError("not a cursor this API issued to this key's tenant") from None
        if not isinstance(payload, dict) or set(payload) != {"o", "v", "c", "p", "i"}:
            raise CursorError("malformed cursor")
        if payload["o"] != ordering.name:
            raise CursorError("the cursor belongs to another ordering")
        call_id = payload["c"]
        flags = (payload["p"], payload["i"])
        if not isinstance(call_id, str) or not all(isinstance(flag, bool) for flag in flags):
            raise CursorError("malformed cursor")
        return cls(ordering.name, ordering.decode(payload["v"]), call_id, *flags)


def cursor_key(
    *, cursor: Cursor, ordering: Ordering, queryset: QuerySet[Call], calls: QuerySet[Call]
) -> tuple[Any, int]:
    """The keyset position ``(value, pk)`` of ``cursor``: its sort value and the key of its call,
    looked up by ``call_id`` among ``calls`` (the tenant's, unfiltered: a call that no longer
    matches the filters still marks where the last page ended). One lookup by the
    ``(tenant, call_id)`` unique index.

    The value is the one the cursor saw, even if the call has changed since (a live call gains its
    end time and duration): the page goes on from where the last one ended. A deleted call's key
    only mattered as the tie-break, so while no call of ``queryset`` shares the cursor's value the
    position is still exact; otherwise the place among the ties is lost and it is a
    ``CursorError``."""
    pks = list(calls.filter(call_id=cursor.call_id).values_list("pk", flat=True)[:1])
    if pks:
        return cursor.value, pks[0]
    if cursor.value is None:
        ties = queryset.filter(**{f"{ordering.field}__isnull": True})
    else:
        ties = queryset.filter(**{ordering.field: cursor.value})
    if ties.exists():
        raise CursorError(
            "the call at this cursor was deleted and others share its position; "
            "start again from the first page"
        )
    # No row has the value, so no row needs the tie-break: any key gives the same rows.
    return cursor.value, 0


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
    calls: QuerySet[Call] | None = None,
) -> KeysetPage:
    """One page of ``queryset`` in ``ordering`` after (or before) ``cursor``, optionally only
    the calls matching ``search``. The cursor's call is looked up among ``calls``, the tenant's
    unfiltered calls (default ``queryset``; ``cursor_key``).

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
        position = cursor_key(
            cursor=cursor,
            ordering=ordering,
            queryset=queryset,
            calls=queryset if calls is None else calls,
        )
        rows_qs = rows_qs.filter(
            ordering.after(*position, reverse=backwards, inclusive=cursor.inclusive)
        )
    boundary: tuple[Any, int] | None = None
    boundary_call_id = ""
    if search is not None:
        if search.scans:
            edge = list(
                rows_qs.order_by(*direction).values(ordering.field, "id", "call_id")[
                    SEARCH_WINDOW - 1 : SEARCH_WINDOW
                ]
            )
            if edge:
                boundary = ordering.key_of(edge[0])
                boundary_call_id = edge[0]["call_id"]
                rows_qs = rows_qs.filter(ordering.until(*boundary, reverse=backwards))
        rows_qs = search.apply(rows_qs)
    rows = list(rows_qs.order_by(*direction)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]

    # Reading on in the same direction resumes after the last row, or after the last call
    # checked; reading back starts before the first row (or, on an empty page, at the cursor).
    def at(call: Call, previous: bool) -> Cursor:
        return Cursor(ordering.name, getattr(call, ordering.field), call.call_id, previous)

    ahead = None
    if more:
        ahead = at(rows[-1], previous=backwards)
    elif boundary is not None:
        ahead = Cursor(ordering.name, boundary[0], boundary_call_id, previous=backwards)
    behind = None
    if rows and cursor is not None:
        behind = at(rows[0], previous=not backwards)
    elif cursor is not None:
        behind = Cursor(
            ordering.name,
            cursor.value,
            cursor.call_id,
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


# --- neighbours in an arbitrary ordering -----------------------------------------------------


@dataclass(frozen=True)
class SortColumn:
    """One column of a queryset's ORDER BY, as the database sorts it (its default NULL
    placement: PostgreSQL sorts NULL as the largest value, SQLite as the smallest)."""

    path: str
    descending: bool
    nullable: bool


def sort_columns(queryset: QuerySet[Any]) -> list[SortColumn] | None:
    """The columns ``queryset`` is ordered by, or ``None`` when an ordering term is not a plain
    column (an expression, or a column with an explicit NULL placement) and no keyset can follow
    it."""
    model = queryset.model
    columns = []
    for term in queryset.query.order_by:
        if isinstance(term, str):
            descending = term.startswith("-")
            path = term.lstrip("-")
        elif (
            isinstance(term, OrderBy)
            and isinstance(term.expression, F)
            and not (term.nulls_first or term.nulls_last)
        ):
            # django-stubs do not declare F.name.
            descending, path = term.descending, str(term.expression.name)  # type: ignore[attr-defined]
        else:
            return None
        if path == "pk":
            path = model._meta.pk.name
        if path == "?":
            return None
        try:
            fields = get_fields_from_path(model, path)
        except (FieldDoesNotExist, NotRelationField):
            return None
        if fields[-1].is_relation:
            return None  # ordered by the related model's own ordering
        nullable = any(getattr(f, "null", False) for f in fields)
        columns.append(SortColumn(path, descending, nullable))
    return columns or None


def _later(column: SortColumn, value: Any, *, backwards: bool) -> Q | None:
    """Rows whose ``column`` comes strictly after ``value`` in the ordering (``backwards``:
    strictly before), or None when no value can."""
    path = column.path
    larger = column.descending == backwards
    nulls_largest = connection.features.nulls_order_largest
    nulls_here = column.nullable and nulls_largest == larger
    if value is None:
        # NULL is the last value one way and the first the other way.
        return None if nulls_here else Q(**{f"{path}__isnull": False})
    beyond = Q(**{f"{path}__gt" if larger else f"{path}__lt": value})
    return beyond | Q(**{f"{path}__isnull": True}) if nulls_here else beyond


def _equal(column: SortColumn, value: Any) -> Q:
    return Q(**{f"{column.path}__isnull": True}) if value is None else Q(**{column.path: value})


def keyset_beyond(columns: Sequence[SortColumn], key: Sequence[Any], *, backwards: bool) -> Q:
    """Rows after the row whose sort key is ``key`` in the ordering ``columns`` (``backwards``:
    before it): later in the first column, or equal in it and later in the next, and so on. The
    first column's bound comes first as a range of its own, so PostgreSQL reads an index from the
    key on instead of filtering every row."""
    alternatives = Q(pk__in=[])
    ties = Q()
    for column, value in zip(columns, key, strict=True):
        later = _later(column, value, backwards=backwards)
        if later is not None:
            alternatives |= ties & later
        ties &= _equal(column, value)
    first, value = columns[0], key[0]
    if first.nullable or value is None:
        return alternatives
    toward = "lte" if first.descending != backwards else "gte"
    return Q(**{f"{first.path}__{toward}": value}) & alternatives


def neighbours_in_order(
    queryset: QuerySet[Any], row: Any, fields: Sequence[str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
    """The rows just before and just after ``row`` (a model instance) in ``queryset``'s own
    order, as ``.values(*fields)``: each one keyset query (``LIMIT 1`` from the row's sort key,
    no ``OFFSET``, no count). ``None`` when the order is not one a keyset can follow
    (``sort_columns``). The row need not be in ``queryset``: its neighbours are then the rows
    around where it would be. A sort key through a relation costs one more lookup by primary
    key."""
    columns = sort_columns(queryset)
    if columns is None:
        return None
    paths = [c.path for c in columns]
    if any(LOOKUP_SEP in path for path in paths):
        manager = queryset.model._default_manager
        key = manager.filter(pk=row.pk).values_list(*paths).first()
        if key is None:
            return None
    else:
        key = tuple(getattr(row, path) for path in paths)
    order = [F(c.path).desc() if c.descending else F(c.path).asc() for c in columns]
    reverse = [F(c.path).asc() if c.descending else F(c.path).desc() for c in columns]
    rows = queryset.order_by()
    before = list(
        rows.filter(keyset_beyond(columns, key, backwards=True))
        .order_by(*reverse)
        .values(*fields)[:1]
    )
    after = list(
        rows.filter(keyset_beyond(columns, key, backwards=False))
        .order_by(*order)
        .values(*fields)[:1]
    )
    return (before[0] if before else None, after[0] if after else None)


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
