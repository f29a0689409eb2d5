"""The admin's call list: times in the tenant's zone, the drill-down banner, sorting by indexed
columns, call-id prefix search, transcript snippets and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse

from calls import queries
from calls.admin.call import CallAdmin
from calls.admin.ingested import TENANT_FILTER_PARAM
from calls.models import Agent, Call, Tenant, TenantMembership, TranscriptTurn
from tests.calls.test_admin import CALL_CHANGELIST, listed_call_ids, make_call

pytestmark = pytest.mark.django_db

EXPORT_URL = "/admin/calls/call/export.csv"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def berlin() -> Tenant:
    return Tenant.objects.create(name="Berlin", slug="berlin", timezone="Europe/Berlin")


def member_client(*tenants: Tenant) -> Client:
    user = User.objects.create_user(f"staff-{len(tenants)}-{tenants[0].slug}", is_staff=True)
    for t in tenants:
        TenantMembership.objects.create(tenant=t, user=user)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def berlin_client(berlin: Tenant) -> Client:
    return member_client(berlin)


def listed_in_order(response: Any) -> list[str]:
    return re.findall(r'<span class="cs-call-id" title="[^"]*">([^<]+)</span>', response.text)


def column(response: Any, name: str) -> int:
    return list(response.context["cl"].list_display).index(name)


# --- time zones ----------------------------------------------------------------------------------


def test_one_tenant_in_view_lists_times_in_its_zone_and_names_it(
    berlin_client: Client, berlin: Tenant
) -> None:
    make_call(berlin, "c-late", at(2026, 12, 2, 23, 30))

    text = berlin_client.get(CALL_CHANGELIST).text

    assert "Started (Europe/Berlin)" in text
    assert "2026-12-03 00:30" in text
    assert "2026-12-02 23:30" not in text
    assert "By date (Europe/Berlin)" in text


def test_date_filters_cut_days_at_the_tenants_midnight(
    berlin_client: Client, berlin: Tenant
) -> None:
    # 23:30 UTC is 00:30 the next day in Berlin (UTC+1 in December).
    make_call(berlin, "c-late", at(2026, 12, 2, 23, 30))
    make_call(berlin, "c-early", at(2026, 12, 2, 22, 30))

    def ids(params: dict[str, str]) -> set[str]:
        return listed_call_ids(berlin_client.get(CALL_CHANGELIST, params))

    day = {"start_time__year": "2026", "start_time__month": "12"}
    assert ids({**day, "start_time__day": "3"}) == {"c-late"}
    assert ids({**day, "start_time__day": "2"}) == {"c-early"}
    assert ids({"start_time_from": "2026-12-03", "start_time_to": "2026-12-03"}) == {"c-late"}
    assert ids({"start_time_to": "2026-12-02"}) == {"c-early"}
    # The date bar offers the local days the calls fall on.
    days = berlin_client.get(CALL_CHANGELIST, day).text
    assert "start_time__day=3" in days
    assert "start_time__day=2" in days


def test_date_bar_of_a_local_day_spans_that_day_only(berlin_client: Client, berlin: Tenant) -> None:
    # A whole Berlin day in UTC: 23:00 the day before to 23:00.
    make_call(berlin, "c-first", at(2026, 12, 2, 23, 0))
    make_call(berlin, "c-last", at(2026, 12, 3, 22, 59))

    text = berlin_client.get(
        CALL_CHANGELIST,
        {"start_time__gte": "2026-12-02T23:00:00Z", "start_time__lt": "2026-12-03T23:00:00Z"},
    ).text

    assert "December 3" in text
    assert "December 2" not in text
    assert "December 4" not in text


def test_several_tenants_in_view_are_listed_in_utc_until_one_is_picked(
    admin_client: Client, tenant: Tenant, berlin: Tenant
) -> None:
    make_call(berlin, "c-late", at(2026, 12, 2, 23, 30))

    everyone = admin_client.get(CALL_CHANGELIST).text
    assert "Started (UTC)" in everyone
    assert "2026-12-02 23:30" in everyone

    picked = admin_client.get(CALL_CHANGELIST, {"tenant__id__exact": str(berlin.pk)}).text
    assert "Started (Europe/Berlin)" in picked
    assert "2026-12-03 00:30" in picked


def test_a_superuser_of_the_only_tenant_sees_its_zone_and_no_tenant_column(
    admin_client: Client, berlin: Tenant
) -> None:
    make_call(berlin, "c-late", at(2026, 12, 2, 23, 30))

    alone = admin_client.get(CALL_CHANGELIST)

    assert "Started (Europe/Berlin)" in alone.text
    assert "2026-12-03 00:30" in alone.text
    assert "By date (Europe/Berlin)" in alone.text
    assert "tenant" not in alone.context["cl"].list_display
    assert TENANT_FILTER_PARAM not in alone.text

    # A second tenant: the rows say whose call each is, and the list is in UTC until one is
    # picked.
    Tenant.objects.create(name="Tokyo", slug="tokyo", timezone="Asia/Tokyo")
    several = admin_client.get(CALL_CHANGELIST)
    assert "Started (UTC)" in several.text
    assert "tenant" in several.context["cl"].list_display
    assert TENANT_FILTER_PARAM in several.text


def test_a_tenant_the_user_does_not_see_lends_no_zone(
    tenant: Tenant, other_tenant: Tenant, berlin: Tenant
) -> None:
    tokyo = Tenant.objects.create(name="Tokyo", slug="tokyo", timezone="Asia/Tokyo")
    client = member_client(tenant, tokyo)

    foreign = client.get(CALL_CHANGELIST, {"tenant__id__exact": str(berlin.pk)}).text
    own = client.get(CALL_CHANGELIST, {"tenant__id__exact": str(tokyo.pk)}).text

    # (The date filter names the zone too; an empty list has no column headers.)
    assert "By date (UTC)" in foreign
    assert "By date (Asia/Tokyo)" in own


# --- the drill-down banner -----------------------------------------------------------------------


def test_drill_down_banner_names_the_window_in_the_tenants_zone_and_clears_it(
    berlin_client: Client, berlin: Tenant
) -> None:
    emma = Agent.objects.create(tenant=berlin, model_id="m-emma", name="Emma")
    make_call(berlin, "c-1", at(2026, 12, 3, 9), agent=emma)
    # As the analytics dashboard links to a day of a tenant's calls.
    params = {
        "tenant__id__exact": str(berlin.pk),
        "start_time__gte": "2026-12-02T23:00:00Z",
        "start_time__lt": "2026-12-03T23:00:00Z",
        "agent__id__exact": str(emma.pk),
        "duration__isnull": "False",
    }

    response = berlin_client.get(CALL_CHANGELIST, params)

    banner = re.search(r'<div class="cs-drill-down"[^>]*>(.*?)</div>', response.text, re.S)
    assert banner is not None
    words = re.sub(r"<[^>]+>", "", banner.group(1))
    assert re.sub(r"\s+", " ", words).strip() == (
        "Calls started 3 Dec 2026 00:00 \u2013 4 Dec 2026 00:00 (Europe/Berlin), agent Emma, "
        "with a duration Clear"
    )
    clear = re.search(r'class="cs-drill-down-clear"', banner.group(1))
    assert clear is not None
    href = re.search(r'<a href="([^"]*)" class="cs-drill-down-clear"', banner.group(1))
    assert href is not None
    assert href.group(1) == f"?tenant__id__exact={berlin.pk}"


def test_no_banner_without_a_window(berlin_client: Client, berlin: Tenant) -> None:
    make_call(berlin, "c-1")

    text = berlin_client.get(CALL_CHANGELIST, {"status__exact": "failed"}).text
    assert 'class="cs-drill-down"' not in text


# --- search --------------------------------------------------------------------------------------


def test_search_finds_calls_by_the_beginning_of_their_id(
    berlin_client: Client, berlin: Tenant, other_tenant: Tenant
) -> None:
    make_call(berlin, "call_7f3a91d2c4", lead_name="Anna")
    make_call(berlin, "call_7f3b00aa11", lead_name="Ben")
    make_call(berlin, "call_0000", lead_name="call_7f3 Smith")
    make_call(other_tenant, "call_7f3a_foreign")

    def found(term: str) -> set[str]:
        return listed_call_ids(berlin_client.get(CALL_CHANGELIST, {"q": term}))

    assert found("call_7f3a") == {"call_7f3a91d2c4"}
    assert found("call_7f3") == {"call_7f3a91d2c4", "call_7f3b00aa11"}
    assert found("7f3a91") == set()  # the beginning, not any part
    assert found("smith") == {"call_0000"}  # no call id starts with it: a lead's name


# --- transcript snippets -------------------------------------------------------------------------


def test_transcript_search_shows_the_match_marked_and_everything_else_escaped(
    berlin_client: Client, berlin: Tenant
) -> None:
    call = make_call(berlin, "c-refund")
    TranscriptTurn.objects.create(call=call, position=0, role="bot", text="Hello, how can I help?")
    TranscriptTurn.objects.create(
        call=call,
        position=1,
        role="human",
        text="<script>alert(1)</script> Tom & Jerry say 1 < 2 and want a refund now",
    )

    response = berlin_client.get(CALL_CHANGELIST, {"transcript": "refund"})

    assert listed_call_ids(response) == {"c-refund"}
    cell = re.search(r'<td class="field-transcript_match">(.*?)</td>', response.text, re.S)
    assert cell is not None
    assert "<mark>refund</mark>" in cell.group(1)
    assert "Tom &amp; Jerry say 1 &lt; 2" in cell.group(1)
    assert "<script" not in cell.group(1)
    if connection.vendor != "postgresql":
        # (PostgreSQL's headline leaves out what its parser reads as tags.)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in cell.group(1)
    assert '<td class="field-transcript_match">' not in berlin_client.get(CALL_CHANGELIST).text


def test_substring_snippets_mark_every_match_around_the_first(berlin: Tenant) -> None:
    call = make_call(berlin, "c-1")
    other = make_call(berlin, "c-2")
    TranscriptTurn.objects.create(call=call, position=0, role="bot", text="nothing here")
    text = "x" * 100 + " Refund, refund! " + "y" * 100
    TranscriptTurn.objects.create(call=call, position=1, role="human", text=text)
    TranscriptTurn.objects.create(call=other, position=0, role="human", text="no match")

    snippets = queries._substring_snippets([call.pk, other.pk], ["refund"])

    assert list(snippets) == [call.pk]
    pieces = snippets[call.pk]
    assert [p for p, hit in pieces if hit] == ["Refund", "refund"]
    assert pieces[0] == ("…", False)
    assert pieces[-1] == ("…", False)
    assert len("".join(p for p, _ in pieces)) < len(text)


@pytest.mark.postgres
def test_transcript_snippets_on_postgres_are_ts_headline_of_the_stemmed_query(
    berlin: Tenant,
) -> None:
    call = make_call(berlin, "c-1")
    TranscriptTurn.objects.create(call=call, position=0, role="bot", text="Welcome!")
    TranscriptTurn.objects.create(call=call, position=1, role="human", text="Two refunds, please.")

    snippets = queries.transcript_snippets([call.pk], "refunded -angry")

    # Stemming: "refunded" matches and marks "refunds", which no substring search would.
    assert snippets == {call.pk: [("Two ", False), ("refunds", True), (", please.", False)]}


# --- sorting -------------------------------------------------------------------------------------


def test_columns_sort_by_their_index_both_ways(berlin_client: Client, berlin: Tenant) -> None:
    anna = Agent.objects.create(tenant=berlin, model_id="m-a", name="Anna")
    zoe = Agent.objects.create(tenant=berlin, model_id="m-z", name="Zoe")
    make_call(berlin, "c-b", at(2026, 3, 2), status="failed", agent=zoe, lead_phone_number="+1")
    make_call(berlin, "c-a", at(2026, 3, 1), status="completed", agent=anna, lead_phone_number="+3")
    make_call(berlin, "c-c", at(2026, 3, 3), status="completed", agent=anna, lead_phone_number="+2")

    first = berlin_client.get(CALL_CHANGELIST)
    assert listed_in_order(first) == ["c-c", "c-b", "c-a"]  # newest first
    expected = {
        "call_id_display": ["c-a", "c-b", "c-c"],
        "started": ["c-a", "c-b", "c-c"],
        # Then newest first within the column's value.
        "status": ["c-c", "c-a", "c-b"],
        "lead_display": ["c-b", "c-c", "c-a"],
    }
    assert set(expected) == set(CallAdmin.list_orderings)
    for name, ascending in expected.items():
        index = column(first, name)
        assert f'class="sortable column-{name}' in first.text, name
        up = berlin_client.get(CALL_CHANGELIST, {"o": str(index)})
        down = berlin_client.get(CALL_CHANGELIST, {"o": f"-{index}"})
        assert listed_in_order(up) == ascending, name
        assert listed_in_order(down) == ascending[::-1], name


def test_a_column_without_an_index_does_not_sort_even_when_asked(
    berlin_client: Client, berlin: Tenant
) -> None:
    # Zoe's agent row comes first, so sorting by the agent's id would put c-long first.
    zoe = Agent.objects.create(tenant=berlin, model_id="m-z", name="Zoe")
    anna = Agent.objects.create(tenant=berlin, model_id="m-a", name="Anna")
    make_call(berlin, "c-long", at(2026, 3, 1), duration=600, agent=zoe)
    make_call(berlin, "c-short", at(2026, 3, 2), duration=5, agent=anna)
    first = berlin_client.get(CALL_CHANGELIST)
    duration = column(first, "duration_display")
    agent = column(first, "agent_display")
    started = column(first, "started")

    # No sort links: the agent column would sort by id (meaningless) or join every call.
    assert 'class="column-duration_display"' in first.text
    assert 'class="column-agent_display"' in first.text
    for unsorted in (duration, agent):
        ignored = berlin_client.get(CALL_CHANGELIST, {"o": str(unsorted)})
        assert listed_in_order(ignored) == ["c-short", "c-long"]
    # Only the first sortable column counts: a second key would leave the index.
    both = berlin_client.get(CALL_CHANGELIST, {"o": f"{duration}.{started}.-{started}"})
    assert listed_in_order(both) == ["c-long", "c-short"]
    assert both.context["cl"].get_ordering_field_columns() == {started: "asc"}


# --- CSV export ----------------------------------------------------------------------------------


def read_csv(response: Any) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_export_action_streams_the_selected_calls_of_the_users_tenants_only(
    berlin_client: Client, berlin: Tenant, other_tenant: Tenant
) -> None:
    mine = make_call(berlin, "c-mine", at(2026, 12, 2, 23, 30))
    make_call(berlin, "c-not-selected")
    foreign = make_call(other_tenant, "c-foreign")

    response = berlin_client.post(
        CALL_CHANGELIST,
        {"action": "export_selected", "index": "0", "_selected_action": [mine.pk, foreign.pk]},
    )

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="calls-')
    rows = read_csv(response)
    assert [row["call_id"] for row in rows] == ["c-mine"]
    # The list's zone, as the API's export writes it.
    assert rows[0]["start_time"] == "2026-12-03T00:30:00+01:00"


def test_export_link_streams_the_whole_filtered_list_within_the_users_tenants(
    berlin_client: Client, berlin: Tenant, other_tenant: Tenant
) -> None:
    for i in range(3):
        make_call(berlin, f"c-failed-{i}", at(2026, 3, 1 + i), status="failed")
    make_call(berlin, "c-completed", status="completed")
    make_call(other_tenant, "c-foreign-failed", status="failed")

    page = berlin_client.get(CALL_CHANGELIST, {"status__exact": "failed"})
    link = re.search(r'<a href="([^"]*)" class="cs-export">', page.text)
    assert link is not None
    assert link.group(1).replace("&amp;", "&") == f"{EXPORT_URL}?status__exact=failed"

    response = berlin_client.get(EXPORT_URL, {"status__exact": "failed"})
    assert [row["call_id"] for row in read_csv(response)] == [
        "c-failed-2",
        "c-failed-1",
        "c-failed-0",
    ]
    # Asking for another tenant's calls exports none of them.
    foreign = berlin_client.get(
        EXPORT_URL, {"tenant__id__exact": str(other_tenant.pk), "status__exact": "failed"}
    )
    assert foreign.status_code in (200, 302)
    if foreign.status_code == 200:
        assert "c-foreign-failed" not in [row["call_id"] for row in read_csv(foreign)]


def test_export_link_with_a_bad_filter_goes_back_to_the_list(
    berlin_client: Client, berlin: Tenant
) -> None:
    response = berlin_client.get(EXPORT_URL, {"start_time_from": "yesterday"})

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:calls_call_changelist')}?e=1"


def test_export_needs_a_tenant(tenant: Tenant) -> None:
    user = User.objects.create_user("nobody", is_staff=True)
    client = Client()
    client.force_login(user)
    make_call(tenant, "c-1")

    assert client.get(EXPORT_URL).status_code == 403


def test_a_call_pages_neighbours_follow_the_lists_local_day(
    berlin_client: Client, berlin: Tenant
) -> None:
    # Berlin's 3 December: 23:00 UTC on the 2nd to 23:00 UTC on the 3rd.
    make_call(berlin, "c-10", at(2026, 12, 3, 10, 0))
    middle = make_call(berlin, "c-mid", at(2026, 12, 3, 5, 0))
    make_call(berlin, "c-late", at(2026, 12, 2, 23, 30))
    make_call(berlin, "c-before", at(2026, 12, 2, 22, 30))
    day = "start_time__year=2026&start_time__month=12&start_time__day=3"
    url = reverse("admin:calls_call_change", args=[middle.pk])

    page = berlin_client.get(url, {"_changelist_filters": day}).text

    linked = re.findall(r'<a href="/admin/calls/call/(\d+)/change/[^"]*" rel="(prev|next)"', page)
    # Not c-before, which starts on the 2nd in Berlin, though on the 2nd in UTC like c-late.
    assert {rel: Call.objects.get(pk=int(pk)).call_id for pk, rel in linked} == {
        "prev": "c-10",
        "next": "c-late",
    }


def test_a_call_page_shows_its_times_in_its_tenants_zone_and_says_so(
    berlin_client: Client, berlin: Tenant
) -> None:
    call = make_call(
        berlin, "c-berlin", at(2026, 3, 1, 10, 0, 7), end_time=at(2026, 3, 1, 10, 0, 52)
    )

    page = berlin_client.get(reverse("admin:calls_call_change", args=[call.pk])).text

    assert "Times are in Europe/Berlin, the tenant's time zone." in page
    # To the second: a call shorter than a minute starts and ends at different times.
    assert '<div class="readonly">2026-03-01 11:00:07</div>' in page
    assert '<div class="readonly">2026-03-01 11:00:52</div>' in page
    assert "2026-03-01 10:00:07" not in page


def test_a_change_page_out_of_reach_lends_no_zone(berlin: Tenant) -> None:
    tokyo = Tenant.objects.create(name="Tokyo", slug="tokyo", timezone="Asia/Tokyo")
    foreign = make_call(tokyo, "c-tokyo", at(2026, 3, 1, 10, 0))
    own = make_call(berlin, "c-berlin", at(2026, 3, 1, 10, 0))
    user = User.objects.create_user("berliner", is_staff=True)
    TenantMembership.objects.create(tenant=berlin, user=user)
    request = RequestFactory().get("/admin/calls/call/")
    request.user = user
    model_admin = admin.site._registry[Call]

    assert isinstance(model_admin, CallAdmin)
    assert model_admin.object_zone(request, str(own.pk)).key == "Europe/Berlin"
    assert model_admin.object_zone(request, str(foreign.pk)).key == "UTC"
    assert model_admin.object_zone(request, "not-a-number").key == "UTC"
