"""CSV export of a filtered set of calls, streamed.

Rows are read in keyset chunks of ``EXPORT_CHUNK_SIZE`` (one query each, plain ``.values()``
rows, no model instances) and written as they come, so memory stays flat however many calls
match. Times are ISO 8601 in the tenant's time zone (or the ``timezone`` parameter's).

Times and labels are read as the database's text and converted here: the driver's own parsing of
timestamps and JSON costs more than everything else an export row does.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula, so a lead named ``=HYPERLINK(...)`` would become a live link
or command in whoever opens the export. Every text cell that starts with one of those six
characters is written with a leading apostrophe (``'=HYPERLINK(...)``), which spreadsheets read
as "this is text" and do not display. This applies to every text field, phone numbers included:
``+4915758658647`` is exported as ``'+4915758658647`` because the phone fields hold whatever the
caller's platform sent, so a ``+`` there proves nothing. Numbers we read from numeric columns
(``duration``, ``total_tokens``, ``response_time_ms``, ``cost_usd``) are written as numbers, a
negative one with its ``-``: they cannot carry a formula. Cells are quoted whenever they hold a
comma, a quote or a line break, with embedded quotes doubled (RFC 4180), so no cell can spill a
formula into the next one. Scripts that read the export and want the raw text back drop one
leading apostrophe that is followed by one of the six characters.
"""

from __future__ import annotations

import csv
import io
import json
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.utils import timezone

from calls import queries
from calls.models import Call, is_successful

EXPORT_CHUNK_SIZE = 2000


Row = tuple[Any, ...]
Render = Callable[[Row, "ExportContext"], Any]


@dataclass(frozen=True)
class Column:
    """One export column: the columns it reads and how it renders a row. ``build`` receives
    the position of each read column in the row tuples and returns the renderer."""

    name: str
    reads: tuple[str, ...]
    build: Callable[[dict[str, int]], Render]
    description: str = ""


@dataclass
class ExportContext:
    zone: zoneinfo.ZoneInfo
    transcripts: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    variables: dict[int, list[tuple[str, str, Any, bool]]] = field(default_factory=dict)


# Columns read as text, see the module docstring.
TEXT_READS = frozenset({"start_time", "end_time", "labels"})


def db_time(text: str | None) -> datetime | None:
    """A timestamp as the database writes it as text (PostgreSQL: with its offset; SQLite:
    naive UTC)."""
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _bool(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _value(key: str) -> Callable[[dict[str, int]], Render]:
    def build(index: dict[str, int]) -> Render:
        position = index[key]
        return lambda row, ctx: row[position]

    return build


def _time(key: str) -> Callable[[dict[str, int]], Render]:
    def build(index: dict[str, int]) -> Render:
        position = index[key]

        def render(row: Row, ctx: ExportContext) -> str:
            value = db_time(row[position])
            return value.astimezone(ctx.zone).isoformat() if value is not None else ""

        return render

    return build


def _labels(index: dict[str, int]) -> Render:
    position = index["labels"]

    def render(row: Row, ctx: ExportContext) -> str:
        text = row[position]
        if not text or text == "[]":
            return ""
        return ",".join(str(label) for label in json.loads(text))

    return render


def _success(index: dict[str, int]) -> Render:
    success, status, reason = index["success"], index["status"], index["end_call_reason"]
    return lambda row, ctx: _bool(
        is_successful(success=row[success], status=row[status], end_call_reason=row[reason])
    )


def _handoff(index: dict[str, int]) -> Render:
    position = index["handoff"]
    return lambda row, ctx: _bool(row[position])


def _transcript(index: dict[str, int]) -> Render:
    position = index["id"]

    def render(row: Row, ctx: ExportContext) -> str:
        turns = ctx.transcripts.get(row[position], [])
        return "\n".join(f"{role}: {text}" for role, text in turns)

    return render


def _variables(index: dict[str, int]) -> Render:
    position = index["id"]

    def render(row: Row, ctx: ExportContext) -> str:
        result: dict[str, dict[str, Any]] = {}
        for agent_key, name, value, collected in ctx.variables.get(row[position], []):
            result.setdefault(agent_key, {})[name] = {"value": value, "collected": collected}
        return json.dumps(result, ensure_ascii=False, separators=(",", ":")) if result else ""

    return render


def _column(name: str, key: str | None = None, description: str = "") -> Column:
    key = key or name
    return Column(name, (key,), _value(key), description)


COLUMNS: dict[str, Column] = {
    c.name: c
    for c in (
        _column("call_id"),
        Column("start_time", ("start_time",), _time("start_time"), "ISO 8601, tenant time"),
        Column("end_time", ("end_time",), _time("end_time"), "ISO 8601, tenant time"),
        _column("duration", description="seconds"),
        _column("status"),
        _column("end_call_reason"),
        _column("custom_end_call_reason"),
        _column("type_of_call"),
        _column("channel"),
        _column("agent_model_id", "agent__model_id"),
        _column("agent_name", "agent__name"),
        _column("workflow", "workflow__slug"),
        _column("lead_id", "lead__lead_id"),
        _column("lead_name"),
        _column("lead_phone_number"),
        _column("phone_number_from"),
        _column("phone_number_to"),
        _column("agent_phone_number"),
        _column("sentiment"),
        Column("success", ("success", "status", "end_call_reason"), _success),
        Column("handoff", ("handoff",), _handoff),
        _column("total_tokens"),
        _column("response_time_ms"),
        _column("platform"),
        _column("platform_end_reason"),
        _column("cost_usd", description="US dollars"),
        Column("labels", ("labels",), _labels, "comma-separated"),
        _column("recording_url"),
        _column("error_message"),
        Column("transcript", ("id",), _transcript, "one `role: text` line per turn"),
        Column(
            "collected_variables", ("id",), _variables, "JSON {agent: {name: {value, collected}}}"
        ),
    )
}
DEFAULT_COLUMNS = (
    "call_id",
    "start_time",
    "end_time",
    "duration",
    "status",
    "end_call_reason",
    "type_of_call",
    "channel",
    "agent_model_id",
    "agent_name",
    "workflow",
    "lead_id",
    "lead_name",
    "lead_phone_number",
    "sentiment",
    "success",
    "handoff",
    "labels",
    "cost_usd",
)


def export_chunks(
    queryset: QuerySet[Call],
    *,
    columns: Iterable[str],
    ordering: queries.Ordering,
    zone: zoneinfo.ZoneInfo,
    chunk_size: int = EXPORT_CHUNK_SIZE,
    search: queries.TranscriptSearch | None = None,
) -> Iterator[list[list[Any]]]:
    """The header row, then the calls of ``queryset`` in ``ordering``, a chunk of rows at a
    time (one keyset query per chunk, plus one per chunk for transcripts or variables)."""
    selected = [COLUMNS[name] for name in columns]
    yield [[column.name for column in selected]]
    reads = sorted({"id", ordering.field}.union(*(column.reads for column in selected)))
    index = {name: position for position, name in enumerate(reads)}
    renderers = [column.build(index) for column in selected]
    expressions = [Cast(name, TextField()) if name in TEXT_READS else F(name) for name in reads]
    rows = queryset.values_list(*expressions)
    id_position, key_position = index["id"], index[ordering.field]
    key_is_text = ordering.field in TEXT_READS

    def key_of(row: Row) -> tuple[Any, int]:
        key = row[key_position]
        return (db_time(key) if key_is_text else key), row[id_position]

    wants_transcript = "transcript" in columns
    wants_variables = "collected_variables" in columns
    for chunk in queries.iterate_keyset(
        rows, ordering=ordering, chunk_size=chunk_size, search=search, key_of=key_of
    ):
        ctx = ExportContext(zone=zone)
        pks = [row[id_position] for row in chunk]
        if wants_transcript:
            ctx.transcripts = queries.transcripts_of(pks)
        if wants_variables:
            ctx.variables = queries.variables_of(pks)
        yield [[render(row, ctx) for render in renderers] for row in chunk]


# The first characters that make a spreadsheet evaluate a cell (see the module docstring).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """``value`` as it is safe to write into a CSV cell: text that a spreadsheet would run as a
    formula gets a leading apostrophe; numbers, booleans and ``None`` are returned as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_stream(chunks: Iterable[list[list[Any]]]) -> Iterator[bytes]:
    """UTF-8 CSV (RFC 4180 quoting, CRLF line ends), one bytes block per chunk of rows, with
    formula-looking text defused by ``csv_cell``."""
    for rows in chunks:
        buffer = io.StringIO()
        # None is written as an empty field.
        csv.writer(buffer).writerows([csv_cell(value) for value in row] for row in rows)
        yield buffer.getvalue().encode()


def csv_response(
    chunks: Iterable[list[list[Any]]], *, zone: zoneinfo.ZoneInfo
) -> StreamingHttpResponse:
    """The download of ``chunks`` (``export_chunks``) as a streamed CSV file named after the
    time it was made in ``zone``: the API's export and the admin's."""
    response = StreamingHttpResponse(csv_stream(chunks), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().astimezone(zone).strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="calls-{stamp}.csv"'
    return response
