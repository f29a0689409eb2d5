"""The calls admin: tenant scoping, read-only ingested data, the call page, filters, search and
the bounded counting that keeps changelists fast at millions of rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core import checks
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calls.admin.call import phone_candidates
from calls.models import (
    ActivityEvent,
    Agent,
    Call,
    CollectedVariable,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    Lead,
    Tenant,
    TenantMembership,
    TranscriptTurn,
    Workflow,
)
from calls.paginators import EstimatedCountPaginator
from config.admin.scoping import TenantScopedAdminMixin

CALL_CHANGELIST = "/admin/calls/call/"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_call(tenant: Tenant, call_id: str, start: datetime | None = None, **fields: Any) -> Call:
    fields.setdefault("status", "completed")
    return Call.objects.create(
        tenant=tenant, call_id=call_id, start_time=start or at(2026, 3, 1, 10), **fields
    )


def call_url(call: Call) -> str:
    return reverse("admin:calls_call_change", args=[call.pk])


def listed_call_ids(response: Any) -> set[str]:
    """The call ids linked from the rows of a call changelist."""
    return set(
        re.findall(
            r'<th class="field-call_id_display"><a href="[^"]*"><span class="cs-call-id" '
            r'title="[^"]*">([^<]+)</span></a>',
            response.text,
        )
    )


@pytest.fixture
def staff_user(tenant: Tenant) -> User:
    user = User.objects.create_user("ada", password="x", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=user)
    return user


@pytest.fixture
def staff_client(staff_user: User) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture(params=["one page", "several pages"])
def page_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a changelist test with every row on one page (the date drill-down reads its bounds
    off the page) and with one row per page (it asks MIN/MAX of the database)."""
    if request.param == "several pages":
        monkeypatch.setattr(admin.site._registry[Call], "list_per_page", 1)
    return str(request.param)


@pytest.fixture
def full_call(tenant: Tenant) -> Call:
    """A call with everything a call carries."""
    agent = Agent.objects.create(tenant=tenant, model_id="m-jake", name="Jake", type="outbound")
    call = make_call(
        tenant,
        "c-full",
        agent=agent,
        duration=113,
        end_call_reason="agent_goodbye",
        sentiment="positive",
        lead_name="Eddie",
        lead_phone_number="+4915758658647",
        recording_url="https://cdn.example.com/rec/c-full.mp3",
    )
    TranscriptTurn.objects.create(call=call, position=0, role="bot", text="Hi, Eddie!", start_ms=0)
    TranscriptTurn.objects.create(
        call=call, position=1, role="human", text="<script>alert(1)</script>", start_ms=61_500
    )
    TranscriptTurn.objects.create(call=call, position=2, role="tool", text="lookup()")
    CollectedVariable.objects.create(call=call, agent_key="agent_1", name="user_name", value="Jo")
    ExecutedAction.objects.create(
        tenant=tenant,
        call=call,
        start_time=call.start_time,
        position=0,
        name="book_meeting",
        action_type="REAL_TIME_BOOKING",
        success=True,
    )
    LatencySample.objects.create(
        tenant=tenant,
        call=call,
        start_time=call.start_time,
        position=0,
        provider_type="llm",
        provider_name="openai-gpt",
        latency_ms=280.3,
    )
    ErrorLog.objects.create(
        tenant=tenant,
        call=call,
        timestamp=call.start_time,
        service="tts",
        level="warning",
        message="Slow first byte",
    )
    return call


# --- scoping -----------------------------------------------------------------------------------


def test_superuser_changelist_lists_calls_of_every_tenant(
    admin_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    make_call(tenant, "c-acme")
    make_call(other_tenant, "c-globex")

    response = admin_client.get(CALL_CHANGELIST)

    assert response.status_code == 200
    assert listed_call_ids(response) == {"c-acme", "c-globex"}
    # Several tenants visible: each row says whose call it is.
    assert '<td class="field-tenant nowrap">Globex</td>' in response.text


def test_changelist_excludes_other_tenants_calls(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    make_call(tenant, "c-acme")
    make_call(other_tenant, "c-globex")

    response = staff_client.get(CALL_CHANGELIST)

    assert response.status_code == 200
    assert listed_call_ids(response) == {"c-acme"}
    assert "c-globex" not in response.text
    assert '<td class="field-tenant' not in response.text


def test_other_tenants_call_page_is_404_like_a_missing_one(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    own = make_call(tenant, "c-acme")
    foreign = make_call(other_tenant, "c-globex")

    assert staff_client.get(call_url(own)).status_code == 200
    assert staff_client.get(call_url(foreign)).status_code == 404
    assert staff_client.get(reverse("admin:calls_call_history", args=[foreign.pk])).status_code == (
        404
    )
    assert staff_client.get(reverse("admin:calls_call_change", args=[10**9])).status_code == 404


def test_other_tenants_children_are_404(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    foreign_call = make_call(other_tenant, "c-globex")
    agent = Agent.objects.create(tenant=other_tenant, model_id="m-x", name="Gina")
    lead = Lead.objects.create(tenant=other_tenant, lead_id="lead_x", name="Zed")
    error = ErrorLog.objects.create(
        tenant=other_tenant,
        call=foreign_call,
        timestamp=at(2026, 3, 1),
        service="llm",
        message="boom",
    )

    for name, obj in [("agent", agent), ("lead", lead), ("errorlog", error)]:
        url = reverse(f"admin:calls_{name}_change", args=[obj.pk])
        assert staff_client.get(url).status_code == 404, name
    assert staff_client.get(
        reverse("admin:calls_tenant_change", args=[other_tenant.pk])
    ).status_code == (404)


def test_staff_user_without_membership_sees_nothing(client: Client, tenant: Tenant) -> None:
    make_call(tenant, "c-acme")
    user = User.objects.create_user("drifter", password="x", is_staff=True)
    client.force_login(user)

    assert client.get(CALL_CHANGELIST).status_code == 403
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert "/admin/calls/" not in index.text


def test_membership_alone_grants_viewing_the_calls_app(
    staff_client: Client, staff_user: User
) -> None:
    assert not staff_user.user_permissions.exists()

    index = staff_client.get(reverse("admin:index"))

    for model in ("call", "lead", "agent", "workflow", "errorlog", "activityevent", "apikey"):
        assert f"/admin/calls/{model}/" in index.text
    # Memberships are managed by superusers only.
    assert "/admin/calls/tenantmembership/" not in index.text
    assert staff_client.get("/admin/calls/tenantmembership/").status_code == 403


def test_agent_filter_lists_only_agents_of_the_users_tenants(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    jake = Agent.objects.create(tenant=tenant, model_id="m-1", name="Jake")
    Agent.objects.create(tenant=other_tenant, model_id="m-2", name="Gina-of-Globex")
    make_call(tenant, "c-jake", agent=jake)
    make_call(tenant, "c-nobody")

    response = staff_client.get(CALL_CHANGELIST)
    assert f"agent__id__exact={jake.pk}" in response.text
    assert "Gina-of-Globex" not in response.text

    filtered = staff_client.get(CALL_CHANGELIST, {"agent__id__exact": jake.pk})
    assert listed_call_ids(filtered) == {"c-jake"}


def test_autocomplete_offers_only_the_users_tenants(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "calls", "model_name": "apikey", "field_name": "tenant", "term": ""},
    )

    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Acme"]


def test_every_calls_admin_is_tenant_scoped() -> None:
    from calls import models as calls_models

    for model, model_admin in admin.site._registry.items():
        if model.__module__ != calls_models.__name__:
            continue
        assert isinstance(model_admin, TenantScopedAdminMixin), model.__name__
        for inline in model_admin.inlines:
            assert issubclass(inline, TenantScopedAdminMixin), inline.__name__
    errors = [m for m in checks.run_checks(tags=[checks.Tags.admin]) if m.id.startswith("calls.")]
    assert errors == []


def test_admin_without_tenant_path_fails_system_checks() -> None:
    class Unscoped(TenantScopedAdminMixin, admin.ModelAdmin):
        pass

    class WrongPath(TenantScopedAdminMixin, admin.ModelAdmin):
        tenant_path = "agent"

    site = admin.AdminSite(name="scratch")
    assert [m.id for m in Unscoped(Call, site).check()] == ["calls.E001"]
    assert [m.id for m in WrongPath(Call, site).check()] == ["calls.E002"]


# --- read-only ingested data ------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["call", "lead", "agent", "workflow", "errorlog", "activityevent"]
)
def test_ingested_data_cannot_be_added_even_by_superusers(admin_client: Client, model: str) -> None:
    assert admin_client.get(reverse(f"admin:calls_{model}_add")).status_code == 403
    changelist = admin_client.get(reverse(f"admin:calls_{model}_changelist"))
    assert changelist.status_code == 200
    assert reverse(f"admin:calls_{model}_add") not in changelist.text


def test_call_cannot_be_changed_or_deleted_even_by_superusers(
    admin_client: Client, full_call: Call
) -> None:
    delete_url = reverse("admin:calls_call_delete", args=[full_call.pk])
    assert admin_client.get(delete_url).status_code == 403
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert admin_client.post(call_url(full_call), {"status": "failed"}).status_code == 403

    page = admin_client.get(call_url(full_call))
    assert 'name="_save"' not in page.text
    assert delete_url not in page.text
    full_call.refresh_from_db()
    assert full_call.status == "completed"
    # Bulk deletion is not offered either.
    assert "delete_selected" not in admin_client.get(CALL_CHANGELIST).text


def test_read_only_inlines_offer_no_add_or_delete(admin_client: Client, full_call: Call) -> None:
    page = admin_client.get(call_url(full_call)).text

    for prefix in ("variables", "actions", "latencies", "errors"):
        assert f'name="{prefix}-MAX_NUM_FORMS" value="0"' in page, prefix
        assert f'name="{prefix}-0-DELETE"' not in page, prefix
        assert f'name="{prefix}-INITIAL_FORMS" value="1"' in page, prefix


# --- the call page ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["superuser", "tenant staff"])
def test_call_page_shows_the_transcript_as_a_conversation(
    who: str, admin_client: Client, staff_client: Client, full_call: Call
) -> None:
    client = admin_client if who == "superuser" else staff_client

    page = client.get(call_url(full_call))

    assert page.status_code == 200
    text = page.text
    assert '<div class="cs-turn cs-turn-bot" data-start-ms="0">' in text
    assert '<div class="cs-turn cs-turn-human" data-start-ms="61500">' in text
    assert '<div class="cs-turn cs-turn-tool">' in text
    assert "Hi, Eddie!" in text
    # Transcript text is untrusted: escaped, never markup.
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # Offsets as mm:ss; a turn without one shows none.
    assert "<time>00:00</time>" in text
    assert "<time>01:01</time>" in text
    assert text.index("Hi, Eddie!") < text.index("&lt;script&gt;") < text.index("lookup()")


def test_call_page_has_a_recording_player(admin_client: Client, full_call: Call) -> None:
    page = admin_client.get(call_url(full_call))

    assert (
        '<audio controls preload="metadata" src="https://cdn.example.com/rec/c-full.mp3" '
        "data-cs-recording></audio>" in page.text
    )
    # Shown by call_page.js when the browser cannot load the recording.
    assert "Recording could not be loaded from cdn.example.com." in page.text


def test_call_page_has_no_player_without_a_playable_recording(
    admin_client: Client, tenant: Tenant
) -> None:
    plain = make_call(tenant, "c-plain")
    scripted = make_call(tenant, "c-js", recording_url="javascript:alert(1)")

    assert "<audio" not in admin_client.get(call_url(plain)).text
    page = admin_client.get(call_url(scripted))
    assert "<audio" not in page.text
    assert 'href="javascript:' not in page.text


def test_call_page_shows_what_the_call_carries(staff_client: Client, full_call: Call) -> None:
    text = staff_client.get(call_url(full_call)).text

    for expected in ("user_name", "book_meeting", "openai-gpt", "Slow first byte", "Jake"):
        assert expected in text


# --- filters, search and the date drill-down ----------------------------------------------------


def test_filters_render(staff_client: Client, tenant: Tenant) -> None:
    agent = Agent.objects.create(tenant=tenant, model_id="m-1", name="Jake")
    make_call(tenant, "c-1", agent=agent)

    text = staff_client.get(CALL_CHANGELIST).text

    for title in (
        "status",
        "agent",
        "type of call",
        "end reason",
        "sentiment",
        "date",
        "transcript",
    ):
        assert f"By {title}" in text, title
    assert 'type="date" id="start_time_from" name="start_time_from"' in text
    assert 'type="date" id="start_time_to" name="start_time_to"' in text
    assert "end_call_reason=agent_goodbye" in text


def test_date_range_filter_keeps_whole_days_from_to_inclusive(
    staff_client: Client, tenant: Tenant
) -> None:
    make_call(tenant, "c-before", at(2026, 3, 1, 23, 59, 59))
    make_call(tenant, "c-first", at(2026, 3, 2, 0, 0))
    make_call(tenant, "c-last", at(2026, 3, 3, 23, 59, 59))
    make_call(tenant, "c-after", at(2026, 3, 4, 0, 0))

    response = staff_client.get(
        CALL_CHANGELIST, {"start_time_from": "2026-03-02", "start_time_to": "2026-03-03"}
    )
    assert listed_call_ids(response) == {"c-first", "c-last"}

    only_from = staff_client.get(CALL_CHANGELIST, {"start_time_from": "2026-03-03"})
    assert listed_call_ids(only_from) == {"c-last", "c-after"}


def test_date_range_filter_rejects_a_malformed_date(staff_client: Client, tenant: Tenant) -> None:
    make_call(tenant, "c-1")

    response = staff_client.get(CALL_CHANGELIST, {"start_time_from": "yesterday"})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_end_reason_filter(staff_client: Client, tenant: Tenant) -> None:
    make_call(tenant, "c-goodbye", end_call_reason="agent_goodbye")
    make_call(tenant, "c-custom", end_call_reason="transferred_to_sales")
    make_call(tenant, "c-none")

    def ids(value: str) -> set[str]:
        return listed_call_ids(staff_client.get(CALL_CHANGELIST, {"end_call_reason": value}))

    assert ids("agent_goodbye") == {"c-goodbye"}
    assert ids("_other") == {"c-custom"}
    assert ids("_none") == {"c-none"}


def test_search_by_call_id_phone_and_lead_name(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    make_call(tenant, "c-eddie", lead_name="Eddie Vedder", lead_phone_number="+4915758658647")
    make_call(tenant, "c-ann", lead_name="Ann", lead_phone_number="+12315593024")
    make_call(other_tenant, "c-foreign", lead_phone_number="+4915758658647")

    def found(term: str) -> set[str]:
        return listed_call_ids(staff_client.get(CALL_CHANGELIST, {"q": term}))

    assert found("c-eddie") == {"c-eddie"}
    assert found("c-edd") == {"c-eddie"}  # the beginning of a call id
    assert found("+4915758658647") == {"c-eddie"}
    assert found("+49 157 5865 8647") == {"c-eddie"}
    assert found("004915758658647") == {"c-eddie"}
    assert found("vedder") == {"c-eddie"}
    assert found("c-foreign") == set()


def test_phone_search_needs_the_country_code_and_the_help_says_so(
    staff_client: Client, tenant: Tenant
) -> None:
    make_call(tenant, "c-ann", lead_phone_number="+15408476738")

    def found(term: str) -> set[str]:
        return listed_call_ids(staff_client.get(CALL_CHANGELIST, {"q": term}))

    assert found("+1 (540) 847-6738") == {"c-ann"}
    assert found("1 540 847 6738") == {"c-ann"}
    # A national number names no country: not guessed at.
    assert found("(540) 847-6738") == set()
    help_text = staff_client.get(CALL_CHANGELIST).context["cl"].search_help_text
    assert "with its country code (spaces and punctuation ignored)" in help_text
    assert "any format" not in help_text


def test_transcript_filter_finds_calls_by_what_was_said(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    for t, call_id, text in [
        (tenant, "c-refund", "I would like a refund for my order."),
        (tenant, "c-hello", "Hello, who is this?"),
        (other_tenant, "c-foreign-refund", "Refund, please."),
    ]:
        call = make_call(t, call_id)
        TranscriptTurn.objects.create(call=call, position=0, role="human", text=text)

    response = staff_client.get(CALL_CHANGELIST, {"transcript": "refund"})

    assert listed_call_ids(response) == {"c-refund"}
    assert 'name="transcript" value="refund"' in response.text


def test_phone_candidates() -> None:
    assert phone_candidates("+49 (157) 586-58647") == [
        "+49 (157) 586-58647",
        "+4915758658647",
        "4915758658647",
    ]
    assert "+4915758658647" in phone_candidates("004915758658647")
    assert phone_candidates("Eddie") == []
    assert phone_candidates("c-0001") == []


def test_date_hierarchy_offers_years_then_months_then_days(
    staff_client: Client, tenant: Tenant, page_size: str
) -> None:
    make_call(tenant, "c-sep", at(2025, 9, 2, 10))
    make_call(tenant, "c-nov", at(2025, 11, 20, 10))
    make_call(tenant, "c-jan", at(2026, 1, 5, 10))
    make_call(tenant, "c-jan-late", at(2026, 1, 7, 10))

    years = staff_client.get(CALL_CHANGELIST).text
    assert "start_time__year=2025" in years
    assert "start_time__year=2026" in years

    months_2025 = staff_client.get(CALL_CHANGELIST, {"start_time__year": "2025"}).text
    # Every month from the first to the last call of the year (October too: the months come
    # from MIN/MAX, not from a DISTINCT over the calls).
    for month in ("September 2025", "October 2025", "November 2025"):
        assert month in months_2025
    assert "August 2025" not in months_2025
    assert "December 2025" not in months_2025

    days = staff_client.get(
        CALL_CHANGELIST, {"start_time__year": "2026", "start_time__month": "1"}
    ).text
    for day in ("January 5", "January 6", "January 7"):
        assert day in days
    assert "January 4" not in days
    assert "January 8" not in days


def test_date_hierarchy_opens_the_only_month_there_is(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant, page_size: str
) -> None:
    make_call(tenant, "c-1", at(2026, 3, 2, 10))
    make_call(tenant, "c-2", at(2026, 3, 4, 10))
    make_call(other_tenant, "c-foreign", at(2024, 6, 1, 10))  # not this user's range

    text = staff_client.get(CALL_CHANGELIST).text

    assert "March 2" in text
    assert "March 4" in text
    assert "2024" not in text


# --- bounded counting ---------------------------------------------------------------------------


def test_changelist_never_counts_or_lists_distinct_over_the_whole_table(
    staff_client: Client,
    admin_client: Client,
    tenant: Tenant,
    other_tenant: Tenant,
    page_size: str,
    django_assert_max_num_queries: Any,
) -> None:
    agent = Agent.objects.create(tenant=tenant, model_id="m-1", name="Jake")
    for i in range(5):
        make_call(tenant, f"c-{i}", at(2026, 3, 1 + i, 10), agent=agent)
    make_call(other_tenant, "c-foreign")

    for client in (staff_client, admin_client):
        for params in ({}, {"q": "c-1"}, {"start_time__year": "2026"}, {"status__exact": "failed"}):
            with django_assert_max_num_queries(14) as queries:
                response = client.get(CALL_CHANGELIST, params)
            assert response.status_code == 200
            statements = [q["sql"].upper() for q in queries.captured_queries]
            counts = [sql for sql in statements if "COUNT(" in sql]
            assert counts, "the changelist counts its rows"
            for sql in counts:
                assert "LIMIT 10001" in sql, sql
            assert not [sql for sql in statements if "DISTINCT" in sql]
            bounds = [sql for sql in statements if "MIN(" in sql]
            # MIN/MAX only when the rows span several pages; else they come from the page.
            assert len(bounds) == int(response.context["cl"].multi_page), params
            if not params:
                assert response.context["cl"].multi_page is (page_size == "several pages")


def test_list_pages_leave_heavy_columns_out(staff_client: Client, tenant: Tenant) -> None:
    make_call(tenant, "c-1", prompt_variables={"big": "x" * 100})

    with CaptureQueriesContext(connection) as queries:
        staff_client.get(CALL_CHANGELIST)

    row_queries = [
        q["sql"] for q in queries.captured_queries if '"calls_call"."call_id"' in q["sql"]
    ]
    assert row_queries
    for sql in row_queries:
        assert "prompt_variables" not in sql
        assert "child_hashes" not in sql


def test_paginator_counts_exactly_up_to_the_cap(tenant: Tenant) -> None:
    for i in range(3):
        make_call(tenant, f"c-{i}")

    paginator = EstimatedCountPaginator(Call.objects.all(), 2, count_cap=3)

    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 3
    assert paginator.count_is_exact
    assert len(queries.captured_queries) == 1
    assert "LIMIT 4" in queries.captured_queries[0]["sql"]


def test_paginator_beyond_the_cap_without_an_estimate_is_a_lower_bound_and_pages_on(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("calls.paginators.planner_row_estimate", lambda queryset: None)
    for i in range(5):
        make_call(tenant, f"c-{i}", at(2026, 3, 1, 10, i))

    paginator = EstimatedCountPaginator(Call.objects.all(), 2, count_cap=3)

    assert paginator.count == 4
    assert paginator.count_is_lower_bound
    assert paginator.num_pages == 2
    # Page 3 is past the lower bound but holds the oldest call; page 4 is simply empty.
    assert [c.call_id for c in paginator.page(3)] == ["c-0"]
    assert list(paginator.page(4)) == []


@pytest.mark.postgres
def test_paginator_beyond_the_cap_uses_the_planners_estimate_on_postgres(tenant: Tenant) -> None:
    Call.objects.bulk_create(
        Call(tenant=tenant, call_id=f"c-{i}", status="completed", start_time=at(2026, 3, 1))
        for i in range(40)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE calls_call")

    paginator = EstimatedCountPaginator(Call.objects.filter(tenant=tenant), 10, count_cap=5)

    with CaptureQueriesContext(connection) as queries:
        count = paginator.count
    assert paginator.count_is_estimate
    assert 6 <= count <= 400  # an estimate, but from the table's statistics
    statements = [q["sql"] for q in queries.captured_queries]
    assert statements[0].startswith("SELECT COUNT(*)") and "LIMIT 6" in statements[0]
    assert statements[1].startswith("EXPLAIN (FORMAT JSON)")


def test_estimated_counts_are_labelled_as_such(
    staff_client: Client, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EstimatedCountPaginator, "count_cap", 2)
    monkeypatch.setattr("calls.paginators.planner_row_estimate", lambda queryset: 12_345)
    for i in range(3):
        make_call(tenant, f"c-{i}")

    text = staff_client.get(CALL_CHANGELIST).text

    assert "about 12,345 calls (estimated)" in text


def test_the_search_bar_counts_and_links_to_the_whole_list_only_when_narrowed(
    staff_client: Client, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EstimatedCountPaginator, "count_cap", 2)
    for i in range(3):
        make_call(tenant, f"c-{i}", status="failed" if i else "completed")
    show_all = re.compile(r'<span class="small quiet[^"]*">(.*?) \(<a href="([^"]*)"', re.S)

    # The whole list: nothing to show all of (Django would link to this same page).
    whole = staff_client.get(CALL_CHANGELIST, {"o": "1"}).text
    assert show_all.search(whole) is None
    assert "Show all" not in whole

    searched = show_all.search(staff_client.get(CALL_CHANGELIST, {"q": "c-1"}).text)
    assert searched is not None and searched.groups() == ("1 call", "?")
    filtered = staff_client.get(CALL_CHANGELIST, {"status__exact": "failed"}).text
    assert show_all.search(filtered).groups() == ("2 calls", "?")  # type: ignore[union-attr]
    # Above the cap, in the pagination line's words.
    narrowed = staff_client.get(CALL_CHANGELIST, {"start_time__year": "2026"}).text
    assert show_all.search(narrowed).groups() == ("more than 2 calls", "?")  # type: ignore[union-attr]


# --- the other admins -------------------------------------------------------------------------


def test_other_ingested_admins_render_scoped(
    staff_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    call = make_call(tenant, "c-acme")
    for t, suffix in ((tenant, "acme"), (other_tenant, "globex")):
        Agent.objects.create(tenant=t, model_id=f"model-{suffix}", name=f"agent-{suffix}")
        Workflow.objects.create(tenant=t, slug=f"flow-{suffix}", name=f"flow-{suffix}")
        lead = Lead.objects.create(tenant=t, lead_id=f"lead_{suffix}", name=f"lead-{suffix}")
        ErrorLog.objects.create(
            tenant=t, timestamp=at(2026, 3, 1), service="llm", message=f"error-{suffix}"
        )
        ActivityEvent.objects.create(
            tenant=t,
            type="lead.created",
            lead=lead,
            call=call if t == tenant else None,
            occurred_at=at(2026, 3, 1),
            description=f"event-{suffix}",
            dedupe_key=f"lead.created:{suffix}",
        )

    for model, prefix in [
        ("agent", "agent-"),
        ("workflow", "flow-"),
        ("lead", "lead-"),
        ("errorlog", "error-"),
        ("activityevent", "event-"),
    ]:
        response = staff_client.get(reverse(f"admin:calls_{model}_changelist"))
        assert response.status_code == 200, model
        assert f"{prefix}acme" in response.text, model
        assert f"{prefix}globex" not in response.text, model


def test_lead_page_links_to_its_calls_and_shows_its_activity(
    staff_client: Client, tenant: Tenant
) -> None:
    lead = Lead.objects.create(tenant=tenant, lead_id="lead_1", name="Eddie")
    make_call(tenant, "c-with-lead", lead=lead)
    make_call(tenant, "c-without")
    ActivityEvent.objects.create(
        tenant=tenant,
        type="lead.qualified",
        lead=lead,
        occurred_at=at(2026, 3, 1),
        metadata={"previousStatus": "new", "newStatus": "qualified"},
        dedupe_key="lead.qualified:1",
    )

    page = staff_client.get(reverse("admin:calls_lead_change", args=[lead.pk])).text
    assert "previousStatus" in page
    link = re.search(r'href="(/admin/calls/call/\?lead__id__exact=\d+)"', page)
    assert link is not None
    assert listed_call_ids(staff_client.get(link.group(1))) == {"c-with-lead"}


# --- tenants and memberships --------------------------------------------------------------------


def test_tenant_staff_view_their_tenant_without_its_webhook_secret(
    staff_client: Client, admin_client: Client, tenant: Tenant
) -> None:
    url = reverse("admin:calls_tenant_change", args=[tenant.pk])

    staff_page = staff_client.get(url)
    assert staff_page.status_code == 200
    assert tenant.webhook_token in staff_page.text
    assert tenant.webhook_secret not in staff_page.text
    assert staff_client.post(url, {"name": "Renamed"}).status_code == 403
    assert staff_client.get(reverse("admin:calls_tenant_add")).status_code == 403

    assert tenant.webhook_secret in admin_client.get(url).text


def test_superuser_adds_a_tenant_with_a_member(admin_client: Client) -> None:
    member = User.objects.create_user("bo", is_staff=True)

    response = admin_client.post(
        reverse("admin:calls_tenant_add"),
        {
            "name": "Initech",
            "slug": "initech",
            "timezone": "Europe/Berlin",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": str(member.pk),
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    tenant = Tenant.objects.get(slug="initech")
    assert list(tenant.memberships.values_list("user__username", flat=True)) == ["bo"]
    # Tenants are never deleted from the admin.
    assert admin_client.get(reverse("admin:calls_tenant_delete", args=[tenant.pk])).status_code == (
        403
    )
