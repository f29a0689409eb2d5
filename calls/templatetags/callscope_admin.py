"""Template tags of the calls admin.

``cheap_date_hierarchy`` replaces Django's ``date_hierarchy`` tag on the calls changelists. Django
lists the years, months or days to drill into with ``SELECT DISTINCT`` over the whole filtered
queryset, which reads every row; this tag reads only the first and last date (MIN/MAX, answered
from the ``(tenant, start_time)``-style indexes) and offers every year, month or day between them.
A link may therefore lead to a period without rows, which shows an empty list.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import Any

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.db.models import Max, Min, OuterRef, Subquery
from django.template.base import Parser, Token
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

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
