"""A paginator for admin changelists over tables with millions of rows.

Django's paginator counts with ``SELECT COUNT(*)`` over the whole filtered queryset, which on
PostgreSQL reads every matching row. Here the exact count stops at ``count_cap`` rows; above that,
PostgreSQL answers with the planner's row estimate (free: no rows are read) and other databases
with "more than ``count_cap``".
"""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

DEFAULT_COUNT_CAP = 10_000


def planner_row_estimate(queryset: QuerySet[Any]) -> int | None:
    """The number of rows PostgreSQL's planner expects ``queryset`` to return, from
    ``EXPLAIN (FORMAT JSON)``; ``None`` on other databases."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        row = cursor.fetchone()
    if row is None:
        return None
    plan = json.loads(row[0]) if isinstance(row[0], str | bytes) else row[0]
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to ``count_cap`` rows, with ``SELECT COUNT(*) FROM (… LIMIT cap + 1)``.

    Beyond the cap, ``count`` is the PostgreSQL planner's estimate (``count_is_estimate``), or on
    other databases ``count_cap + 1`` as a lower bound (``count_is_lower_bound``). When the count
    is not exact, any page number is accepted and a page past the real end is simply empty, so
    every row stays reachable even when the estimate is too low.
    """

    count_cap: int = DEFAULT_COUNT_CAP

    def __init__(
        self,
        object_list: Any,
        per_page: int | str,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
        error_messages: dict[str, Any] | None = None,
        count_cap: int | None = None,
    ) -> None:
        super().__init__(object_list, per_page, orphans, allow_empty_first_page, error_messages)
        if count_cap is not None:
            self.count_cap = count_cap
        self.count_is_estimate = False
        self.count_is_lower_bound = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        capped = queryset.order_by().values("pk")[: self.count_cap + 1].count()
        if capped <= self.count_cap:
            return capped
        estimate = planner_row_estimate(queryset)
        if estimate is not None and estimate >= capped:
            self.count_is_estimate = True
            return estimate
        self.count_is_lower_bound = True
        return capped

    @property
    def count_is_exact(self) -> bool:
        return not (self.count_is_estimate or self.count_is_lower_bound)

    def validate_number(self, number: Any) -> int:
        # Evaluated first: it decides whether the page count is known.
        _ = self.count
        if self.count_is_exact:
            return super().validate_number(number)
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        if self.count_is_exact:
            return super().page(number)
        # Not clamped to the (inexact) count: the slice itself finds the real end.
        bottom = (number - 1) * self.per_page
        return Page(self.object_list[bottom : bottom + self.per_page], number, self)
