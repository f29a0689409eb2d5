"""Template tags of the calls admin.

``cheap_date_hierarchy`` replaces Django's ``date_hierarchy`` tag on the calls changelists. Django
lists the years, months or days to drill into with ``SELECT DISTINCT`` over the whole filtered
queryset, which reads every row; this tag reads only the first and last date (MIN/MAX, answered
from the ``(tenant, start_time)``-style indexes) and offers every year, month or day between them.
A link may therefore lead to a period without rows, which shows an empty list.

``zoned_result_list`` is Django's ``result_list`` with the list's time zone in the header of every
date-time column; ``drill_down_banner`` says which window (and filters) a dashboard link opened
the list with; ``export_csv_url`` is the CSV export of the list as filtered.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from typing import Any

from django import template
from django.contrib.admin.templatetags.admin_list import result_list
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import IGNORED_PARAMS, ChangeList
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Max, Min, OuterRef, Subquery
from django.template.base import Parser, Token
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from calls.admin_filters import TENANT_FILTER_PARAM
from config.api.params import parse_instant

register = template.Library()


@register.filter
def mmss(milliseconds: int | None) -> str:
    """An offset in milliseconds as ``mm:ss`` (minutes keep counting past 59)."""
    if milliseconds is None or milliseconds == "":
        return ""
    seconds = int(milliseconds) // 1000
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def date_bounds(cl: ChangeList) -> tuple[date, date] | None:
    """The first and last value of the date-hierarchy field in the changelist's queryset, in the
    current time zone, or ``None`` when it is empty.

    For a model with a direct ``tenant`` the bounds are taken per visible tenant (one correlated
    MIN and MAX each): the indexes lead with the tenant, so ``MIN(start_time)`` over several
    tenants at once would read every row, while per tenant it is a single index probe.
    """
    field = cl.date_hierarchy
    if not cl.multi_page or (cl.show_all and cl.can_show_all):
        # Every matching row is on this page (typical of a search): read the bounds off the rows
        # the page shows anyway. The list below reuses them, so this costs no query, where a
        # MIN/MAX over a selective unindexed filter could walk the whole index looking for rows.
        values = [getattr(row, field) for row in cl.result_list]
        first, last = (min(values), max(values)) if values else (None, None)
        return _as_dates(first, last)
    queryset = cl.queryset.order_by()
    model_admin = cl.model_admin
    request = getattr(cl, "request", None)
    if (
        request is not None
        and getattr(model_admin, "tenant_path", None) == "tenant"
        and hasattr(model_admin, "visible_tenants")
    ):
        per_tenant = queryset.filter(tenant=OuterRef("pk")).values(field)
        bounds = (
            model_admin.visible_tenants(request)
            .order_by()
            .annotate(
                tenant_first=Subquery(per_tenant.order_by(field)[:1]),
                tenant_last=Subquery(per_tenant.order_by(f"-{field}")[:1]),
            )
            .aggregate(first=Min("tenant_first"), last=Max("tenant_last"))
        )
    else:
        bounds = queryset.aggregate(first=Min(field), last=Max(field))
    return _as_dates(bounds["first"], bounds["last"])


def _as_dates(first: date | None, last: date | None) -> tuple[date, date] | None:
    if first is None or last is None:
        return None
    if isinstance(first, datetime) and isinstance(last, datetime):
        first = timezone.localtime(first) if timezone.is_aware(first) else first
        last = timezone.localtime(last) if timezone.is_aware(last) else last
        return first.date(), last.date()
    return first, last


def cheap_date_hierarchy(cl: ChangeList) -> dict[str, Any]:
    """The context of Django's ``admin/date_hierarchy.html``, built from ``date_bounds``."""
    if not cl.date_hierarchy:
        return {"show": False}
    field_name = cl.date_hierarchy
    field = get_fields_from_path(cl.model, field_name)[-1]
    if not isinstance(field, models.DateField):
        return {"show": False}
    year_field = f"{field_name}__year"
    month_field = f"{field_name}__month"
    day_field = f"{field_name}__day"
    year_lookup = cl.params.get(year_field)
    month_lookup = cl.params.get(month_field)
    day_lookup = cl.params.get(day_field)

    def link(filters: dict[str, Any]) -> str:
        return cl.get_query_string(filters, [f"{field_name}__"])

    if year_lookup and month_lookup and day_lookup:
        day = date(int(year_lookup), int(month_lookup), int(day_lookup))
        return {
            "show": True,
            "back": {
                "link": link({year_field: year_lookup, month_field: month_lookup}),
                "title": capfirst(formats.date_format(day, "YEAR_MONTH_FORMAT")),
            },
            "choices": [{"title": capfirst(formats.date_format(day, "MONTH_DAY_FORMAT"))}],
        }

    # The changelist's queryset is already restricted to the year or month being viewed.
    bounds = date_bounds(cl)
    if not (year_lookup or month_lookup) and bounds is not None:
        # Like Django: open the only year (and month) there is.
        first, last = bounds
        if first.year == last.year:
            year_lookup = str(first.year)
            if first.month == last.month:
                month_lookup = str(first.month)

    if year_lookup and month_lookup:
        year, month = int(year_lookup), int(month_lookup)
        if bounds is None:
            days: list[int] = []
        else:
            first_day = bounds[0].day if (bounds[0].year, bounds[0].month) == (year, month) else 1
            last_day = (
                bounds[1].day
                if (bounds[1].year, bounds[1].month) == (year, month)
                else calendar.monthrange(year, month)[1]
            )
            days = list(range(first_day, last_day + 1))
        return {
            "show": True,
            "back": {"link": link({year_field: year_lookup}), "title": str(year_lookup)},
            "choices": [
                {
                    "link": link({year_field: year_lookup, month_field: month, day_field: d}),
                    "title": capfirst(
                        formats.date_format(date(year, month, d), "MONTH_DAY_FORMAT")
                    ),
                }
                for d in days
            ],
        }

    if year_lookup:
        year = int(year_lookup)
        if bounds is None:
            months: list[int] = []
        else:
            first_month = bounds[0].month if bounds[0].year == year else 1
            last_month = bounds[1].month if bounds[1].year == year else 12
            months = list(range(first_month, last_month + 1))
        return {
            "show": True,
            "back": {"link": link({}), "title": _("All dates")},
            "choices": [
                {
                    "link": link({year_field: year_lookup, month_field: m}),
                    "title": capfirst(formats.date_format(date(year, m, 1), "YEAR_MONTH_FORMAT")),
                }
                for m in months
            ],
        }

    years = [] if bounds is None else list(range(bounds[0].year, bounds[1].year + 1))
    return {
        "show": True,
        "back": None,
        "choices": [{"link": link({year_field: str(y)}), "title": str(y)} for y in years],
    }


@register.tag(name="cheap_date_hierarchy")
def cheap_date_hierarchy_tag(parser: Parser, token: Token) -> InclusionAdminNode:
    # django-stubs list a leading ``name`` argument that Django's InclusionAdminNode does not take.
    return InclusionAdminNode(  # type: ignore[call-arg]
        parser,  # type: ignore[arg-type]
        token,  # type: ignore[arg-type]
        func=cheap_date_hierarchy,
        template_name="date_hierarchy.html",
        takes_context=False,
    )


# --- time zone of the columns --------------------------------------------------------------------


def _shows_datetime(cl: ChangeList, name: Any) -> bool:
    """Whether a list column shows a date-time field: the field itself, or a column that sorts
    by one (``@admin.display(ordering="start_time")``)."""
    if not isinstance(name, str):
        return False
    attr = getattr(cl.model_admin, name, None)
    path = getattr(attr, "admin_order_field", None) if attr is not None else name
    if not isinstance(path, str):
        return False
    try:
        field = get_fields_from_path(cl.model, path.lstrip("-"))[-1]
    except (FieldDoesNotExist, AttributeError):
        return False
    return isinstance(field, models.DateTimeField)


def zoned_result_list(cl: ChangeList) -> dict[str, Any]:
    """Django's ``result_list`` context, with the zone the times are shown in (the current one,
    ``IngestedAdmin.changelist_view``) after the title of each date-time column."""
    context = result_list(cl)
    zone = timezone.get_current_timezone_name()
    headers: list[dict[str, Any]] = context["result_headers"]  # type: ignore[assignment]
    for name, header in zip(cl.list_display, headers, strict=True):
        if _shows_datetime(cl, name):
            header["text"] = f"{header['text']} ({zone})"
    return context


@register.tag(name="zoned_result_list")
def zoned_result_list_tag(parser: Parser, token: Token) -> InclusionAdminNode:
    return InclusionAdminNode(  # type: ignore[call-arg]
        parser,  # type: ignore[arg-type]
        token,  # type: ignore[arg-type]
        func=zoned_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )


# --- the drill-down banner -----------------------------------------------------------------------


def format_instant(instant: datetime) -> str:
    """``3 Dec 2026 00:00`` in the current time zone."""
    local = timezone.localtime(instant)
    return f"{local.day} {local:%b %Y %H:%M}"


def _window(cl: ChangeList) -> tuple[list[str], datetime | None, datetime | None]:
    """The parameters of the exact window (``<date field>__gte`` / ``__lt``) and its bounds."""
    field = cl.date_hierarchy
    names = [f"{field}__gte", f"{field}__lt"]
    bounds: list[datetime | None] = []
    for name in names:
        raw = cl.params.get(name)
        try:
            bounds.append(parse_instant(str(raw), UTC) if raw else None)
        except ValueError:
            bounds.append(None)
    return [n for n in names if n in cl.params], bounds[0], bounds[1]


def _describe_filter(spec: Any, cl: ChangeList) -> str | None:
    """``agent Emma``: an active filter's title and chosen value; ``None`` when inactive or when
    its own box shows the value (date range, transcript)."""
    if not getattr(spec, "used_parameters", None) or not spec.has_output():
        return None
    choices = list(spec.choices(cl))
    if not choices or "display" not in choices[0]:
        return None
    # The first choice is "All".
    chosen = [str(c["display"]) for c in choices[1:] if c.get("selected")]
    if not chosen:
        chosen = [str(v) for v in spec.used_parameters.values() if v not in (None, "")]
    return f"{spec.title} {', '.join(chosen)}" if chosen else None


def _describe_lookup(cl: ChangeList, name: str, value: str) -> str:
    """A query parameter no filter handles (``duration__isnull=False``), in words."""
    field_name, _sep, lookup = name.partition("__")
    try:
        field = cl.model._meta.get_field(field_name)
    except FieldDoesNotExist:
        label = field_name
    else:
        label = str(getattr(field, "verbose_name", field_name))
    if lookup == "isnull":
        return f"no {label}" if value.lower() in ("true", "1") else f"with a {label}"
    return f"{label} {value}" if lookup in ("", "exact") else f"{label} {lookup} {value}"


@register.inclusion_tag("admin/calls/drill_down_banner.html")
def drill_down_banner(cl: ChangeList) -> dict[str, Any]:
    """What a list opened with an exact window (the analytics dashboard's links) shows: the
    window in the list's zone, the filters it came with, and a link to the list without them
    (keeping the tenant, the search and the sort)."""
    label = getattr(cl.model_admin, "window_label", None)
    if not label or not cl.date_hierarchy:
        return {"show": False}
    window_params, start, end = _window(cl)
    if not window_params:
        return {"show": False}
    tenant_params = {TENANT_FILTER_PARAM}
    described: list[str] = []
    removed = list(window_params)
    handled = set(window_params) | set(IGNORED_PARAMS) | tenant_params
    for spec in cl.filter_specs:
        params = [p for p in spec.expected_parameters() if p]
        handled.update(params)
        if tenant_params & set(params):
            continue
        text = _describe_filter(spec, cl)
        if text:
            described.append(text)
            removed += params
    for name, value in sorted(cl.params.items()):
        if name not in handled and not name.startswith(f"{cl.date_hierarchy}__"):
            described.append(_describe_lookup(cl, name, str(value)))
            removed.append(name)
    return {
        "show": True,
        "what": f"{cl.opts.verbose_name_plural} {label}".capitalize(),
        "start": format_instant(start) if start else "…",
        "end": format_instant(end) if end else "…",
        "zone": timezone.get_current_timezone_name(),
        "filters": described,
        "clear_url": cl.get_query_string(remove=removed),
    }


# --- CSV export ---------------------------------------------------------------------------------


@register.simple_tag
def export_csv_url(cl: ChangeList) -> str:
    """The CSV export of every row of the list as filtered and searched (the admin's
    ``<app>_<model>_export`` view), or "" for a list without one."""
    try:
        url = reverse(f"admin:{cl.opts.app_label}_{cl.opts.model_name}_export")
    except NoReverseMatch:
        return ""
    # The changelist's query without its page number.
    return url + cl.get_query_string()
