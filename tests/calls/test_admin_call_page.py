"""The admin's call page: the latency chart by the agent's replies, and the previous and next
call of the list the user came from (its filters, search, ordering and tenant scoping), found by
keyset queries that stay cheap at millions of calls."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import QuerySet
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calls.admin.call import latency_chart_spec, recording_source, reply_label
from calls.models import (
    Agent,
    Call,
    LatencySample,
    Tenant,
    TenantMembership,
    TranscriptTurn,
    agent_replies,
)
from calls.queries import neighbours_in_order

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def make_call(tenant: Tenant, call_id: str, minutes: int, **fields: Any) -> Call:
    fields.setdefault("status", "completed")
    return Call.objects.create(
        tenant=tenant, call_id=call_id, start_time=T0 + timedelta(minutes=minutes), **fields
    )


def call_url(call: Call, filters: str = "") -> str:
    url = reverse("admin:calls_call_change", args=[call.pk])
    return f"{url}?{urlencode({'_changelist_filters': filters})}" if filters else url


def neighbour_links(page: Any) -> dict[str, str]:
    """The call page's previous/next links (rel="prev"/"next"): {rel: href}."""
    return dict(
        (rel, href.replace("&amp;", "&"))
        for href, rel in re.findall(r'<a href="([^"]+)" rel="(prev|next)"', page.text)
    )


def linked_call_id(href: str) -> str:
    pk = int(re.search(r"/call/(\d+)/change/", href).group(1))  # type: ignore[union-attr]
    return Call.objects.get(pk=pk).call_id


@pytest.fixture
def staff(tenant: Tenant) -> User:
    user = User.objects.create_user("ada", password="x", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=user)
    return user


@pytest.fixture
def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def column_index(user: User, name: str) -> int:
    """The changelist's ``o=`` index of column ``name`` for ``user``."""
    request = RequestFactory().get("/admin/calls/call/")
    request.user = user
    changelist = admin.site._registry[Call].get_changelist_instance(request)
    return list(changelist.list_display).index(name)


# --- latency chart ------------------------------------------------------------------------------


def test_agent_replies_are_bot_turns_that_answer_the_caller() -> None:
    turns = [
        (0, "bot", 0),  # the greeting answers nobody
        (1, "human", 2_000),
        (2, "tool", None),
        (3, "bot", 4_000),  # answers turn 1
        (4, "bot", 6_000),  # goes on talking: not a second reply
        (5, "human", 8_000),
        (6, "bot", None),
    ]

    assert agent_replies(turns) == [(3, 4_000), (6, None)]


def test_latency_chart_is_labelled_by_the_replies_and_numbers_samples_past_them() -> None:
    samples = [("stt", "deepgram", 120.0), ("llm", "openai", 400.0)] * 3
    spec = latency_chart_spec(samples, [(3, 4_000), (6, None)])

    assert spec["labels"] == ["Turn 4 · agent · 00:04", "Turn 7 · agent", "Reply 3"]
    assert spec["indexTitle"] == "agent reply"
    assert [d["data"] for d in spec["datasets"]] == [[120.0] * 3, [400.0] * 3]
    assert reply_label(1, []) == "Reply 1"


def test_call_page_draws_latency_by_turn(admin_client: Client, tenant: Tenant) -> None:
    call = make_call(tenant, "c-1", 0, duration=30)
    for position, (role, start) in enumerate([("bot", 0), ("human", 3_100), ("bot", 65_000)]):
        TranscriptTurn.objects.create(
            call=call, position=position, role=role, text="…", start_ms=start
        )
    for position, provider_type in enumerate(["stt", "llm", "tts"]):
        LatencySample.objects.create(
            tenant=tenant,
            call=call,
            start_time=call.start_time,
            position=position,
            provider_type=provider_type,
            latency_ms=100.0,
        )

    page = admin_client.get(call_url(call))

    assert '"labels": ["Turn 3 \\u00b7 agent \\u00b7 01:05"]' in page.text
    assert 'aria-label="Latency per agent reply by provider type"' in page.text


def test_recording_sources() -> None:
    assert recording_source("https://cdn.example.com/a.mp3") == (
        "https://cdn.example.com/a.mp3",
        "cdn.example.com",
    )
    assert recording_source("/static/calls/demo/recordings/x.ogg") == (
        "/static/calls/demo/recordings/x.ogg",
        "",
    )
    for unsafe in ("javascript:alert(1)", "//evil.example/x.mp3", "data:audio/wav;base64,AA", ""):
        assert recording_source(unsafe) is None, unsafe


# --- previous and next call ---------------------------------------------------------------------


def test_without_filters_neighbours_follow_the_default_order_with_ties_broken_by_id(
    staff_client: Client, tenant: Tenant
) -> None:
    newest = make_call(tenant, "c-newest", 30)
    tie_a = make_call(tenant, "c-tie-a", 20)
    tie_b = make_call(tenant, "c-tie-b", 20)  # same start, larger id: listed first
    oldest = make_call(tenant, "c-oldest", 10)

    # The list: c-newest, c-tie-b, c-tie-a, c-oldest.
    links = neighbour_links(staff_client.get(call_url(tie_b)))
    assert linked_call_id(links["prev"]) == newest.call_id
    assert linked_call_id(links["next"]) == tie_a.call_id
    links = neighbour_links(staff_client.get(call_url(tie_a)))
    assert linked_call_id(links["prev"]) == tie_b.call_id
    assert linked_call_id(links["next"]) == oldest.call_id
    # The ends of the list have one neighbour each, and no filters to carry.
    first = neighbour_links(staff_client.get(call_url(newest)))
    assert set(first) == {"next"} and "?" not in first["next"]
    assert set(neighbour_links(staff_client.get(call_url(oldest)))) == {"prev"}


def test_neighbours_follow_the_filtered_list_and_keep_its_filters(
    staff_client: Client, tenant: Tenant
) -> None:
    make_call(tenant, "c-4", 40)
    c3 = make_call(tenant, "c-3", 30)
    make_call(tenant, "c-busy", 25, status="busy")
    c2 = make_call(tenant, "c-2", 20)
    make_call(tenant, "c-failed", 15, status="failed")
    c1 = make_call(tenant, "c-1", 10)
    filters = "status__exact=completed"

    links = neighbour_links(staff_client.get(call_url(c2, filters)))

    assert linked_call_id(links["prev"]) == c3.call_id
    assert linked_call_id(links["next"]) == c1.call_id
    for href in links.values():
        assert parse_qs(urlsplit(href).query)["_changelist_filters"] == [filters]
    # Followed, a link leads on through the same list.
    following = neighbour_links(staff_client.get(links["next"]))
    assert linked_call_id(following["prev"]) == c2.call_id
    assert "next" not in following


def test_neighbours_follow_the_lists_search_and_sort(
    staff: User, staff_client: Client, tenant: Tenant
) -> None:
    for n, name in enumerate(["Eddie", "Maria", "Eddie", "Tom", "Eddie"]):
        # call ids sort against the start times
        make_call(tenant, f"c-{9 - n}", n, lead_name=name)
    sort = column_index(staff, "call_id_display")
    filters = urlencode({"q": "Eddie", "o": str(sort)})  # c-5, c-7, c-9 by call id
    middle = Call.objects.get(call_id="c-7")

    links = neighbour_links(staff_client.get(call_url(middle, filters)))

    assert linked_call_id(links["prev"]) == "c-5"
    assert linked_call_id(links["next"]) == "c-9"


def test_neighbours_never_come_from_another_tenant(
    staff_client: Client, admin_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    c3 = make_call(tenant, "c-3", 30)
    make_call(other_tenant, "g-25", 25)
    c2 = make_call(tenant, "c-2", 20)
    make_call(other_tenant, "g-15", 15)
    c1 = make_call(tenant, "c-1", 10)

    # A member of one tenant: that tenant's list, whatever sits between in time.
    links = neighbour_links(staff_client.get(call_url(c2)))
    assert (linked_call_id(links["prev"]), linked_call_id(links["next"])) == ("c-3", "c-1")
    # A superuser's list of one tenant (the tenant filter) stays in that tenant too...
    filters = f"tenant__id__exact={tenant.pk}"
    links = neighbour_links(admin_client.get(call_url(c2, filters)))
    assert (linked_call_id(links["prev"]), linked_call_id(links["next"])) == ("c-3", "c-1")
    # ...while the superuser's unfiltered list is every tenant's.
    links = neighbour_links(admin_client.get(call_url(c2)))
    assert (linked_call_id(links["prev"]), linked_call_id(links["next"])) == ("g-25", "g-15")
    assert c1 and c3


def test_filters_naming_another_tenant_show_no_foreign_neighbour(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    own = make_call(tenant, "c-1", 10)
    foreign = [make_call(other_tenant, "g-1", 5), make_call(other_tenant, "g-2", 15)]

    for filters in (f"tenant__id__exact={other_tenant.pk}", "q=g-1", "o=99", "bogus=1", "p=x"):
        page = staff_client.get(call_url(own, filters))
        assert page.status_code == 200, filters
        assert neighbour_links(page) == {}, filters
        for call in foreign:
            assert f"/call/{call.pk}/" not in page.text, filters


def test_neighbours_cost_two_keyset_queries(staff_client: Client, tenant: Tenant) -> None:
    agent = Agent.objects.create(tenant=tenant, model_id="m-1", name="Sofia")
    calls = [make_call(tenant, f"c-{n}", n, agent=agent) for n in range(20)]
    filters = f"agent__id__exact={agent.pk}"

    with CaptureQueriesContext(connection) as queries:
        page = staff_client.get(call_url(calls[10], filters))

    assert page.status_code == 200
    # Queries of the calls table that read more than the page's own call (by its key).
    listed = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "calls_call"' in q["sql"] and "LIMIT 1" in q["sql"] and "ORDER BY" in q["sql"]
    ]
    assert len(listed) == 2, listed
    for sql in listed:
        assert "OFFSET" not in sql and "COUNT(" not in sql.upper()
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


# --- the keyset itself --------------------------------------------------------------------------


ORDERINGS = [
    ("-start_time", "-id"),
    ("start_time", "id"),
    ("call_id", "-id"),
    ("duration", "-id"),  # nullable: NULLs sort where the database puts them
    ("-duration", "id"),
    ("agent__name", "-duration", "-id"),  # through a relation, two nullable columns
]


@pytest.mark.parametrize("ordering", ORDERINGS, ids=lambda o: ",".join(o))
def test_walking_the_neighbours_visits_the_list_in_its_order(
    ordering: tuple[str, ...], tenant: Tenant, other_tenant: Tenant
) -> None:
    jake = Agent.objects.create(tenant=tenant, model_id="m-j", name="Jake")
    ava = Agent.objects.create(tenant=tenant, model_id="m-a", name="Ava")
    durations = [None, 30, 30, None, 12, 90, 30, None, 5, 12]
    for n, duration in enumerate(durations):
        make_call(
            tenant,
            f"c-{(n * 7) % 10}",
            n // 3,  # start times tie in threes
            duration=duration,
            agent=[jake, ava, None][n % 3],
        )
    make_call(other_tenant, "g-1", 1, duration=30)
    queryset: QuerySet[Call] = Call.objects.filter(tenant=tenant).order_by(*ordering)
    listed = list(queryset)

    forward, row = [listed[0].pk], listed[0]
    while (found := neighbours_in_order(queryset, row, ("pk",))) and found[1]:
        row = Call.objects.get(pk=found[1]["pk"])
        forward.append(row.pk)
    backward, row = [listed[-1].pk], listed[-1]
    while (found := neighbours_in_order(queryset, row, ("pk",))) and found[0]:
        row = Call.objects.get(pk=found[0]["pk"])
        backward.append(row.pk)

    assert forward == [c.pk for c in listed]
    assert backward == [c.pk for c in reversed(listed)]
    assert connection.vendor in {"sqlite", "postgresql"}


def test_an_ordering_no_keyset_can_follow_has_no_neighbours(tenant: Tenant) -> None:
    call = make_call(tenant, "c-1", 0)
    make_call(tenant, "c-2", 1)

    assert neighbours_in_order(Call.objects.order_by("?"), call, ("pk",)) is None
    assert neighbours_in_order(Call.objects.order_by("agent"), call, ("pk",)) is None
