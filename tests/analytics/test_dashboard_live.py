"""The dashboard's live parts: the session's WebSocket ticket, the tiles as JSON, the calls in
progress panel and the way from a live call to its page, all scoped to the user's tenants."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from calls.models import Call, Tenant, TenantMembership
from config.live.auth import LivePrincipal, redeem_ticket
from tests.analytics.test_dashboard import (  # noqa: F401  (fixtures)
    dashboard,
    data,
    fixed_now,
    seed_dashboard_data,
    staff_client,
    tiles,
)

DASHBOARD = reverse("admin:analytics_dashboard_changelist")
TICKET = reverse("admin:analytics_dashboard_live_ticket")
TILES = reverse("admin:analytics_dashboard_tiles")


def csrf_client(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_the_session_gets_a_ticket_for_its_own_tenant_only(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    user = User.objects.create_user("ada", password="x", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=user)
    client = csrf_client(user)
    page = client.get(DASHBOARD)
    token = page.context["csrf_token"]
    issued = client.post(f"{TICKET}?tenant={tenant.pk}", HTTP_X_CSRFTOKEN=str(token))
    assert issued.status_code == 200
    assert "no-store" in issued["Cache-Control"]
    assert redeem_ticket(issued.json()["ticket"]) == LivePrincipal(
        tenant_id=tenant.pk, tenant_zone="UTC", user_id=user.pk
    )
    other = client.post(f"{TICKET}?tenant={other_tenant.pk}", HTTP_X_CSRFTOKEN=str(token))
    assert other.status_code == 404
    # Without the CSRF token a page of another site cannot obtain one.
    assert client.post(f"{TICKET}?tenant={tenant.pk}").status_code == 403
    assert client.get(f"{TICKET}?tenant={tenant.pk}").status_code == 405


def test_anonymous_and_staff_without_membership_get_no_ticket(tenant: Tenant) -> None:
    assert Client().post(f"{TICKET}?tenant={tenant.pk}").status_code == 302  # to the login
    loner = User.objects.create_user("loner", password="x", is_staff=True)
    client = Client()
    client.force_login(loner)
    assert client.post(f"{TICKET}?tenant={tenant.pk}").status_code == 403


def test_the_tiles_json_equals_the_page_tiles(
    staff_client: Client,  # noqa: F811
    data: Tenant,  # noqa: F811
) -> None:
    page = tiles(dashboard(staff_client, range="24h"))
    response = staff_client.get(TILES, {"range": "24h", "tenant": data.pk})
    assert response.status_code == 200
    listed = {tile["key"]: tile for tile in response.json()["tiles"]}
    assert set(listed) == set(page)
    for key, tile in page.items():
        assert listed[key]["display"] == tile.display
        change = tile.change
        assert listed[key]["change"] == (
            None
            if change is None
            else {"display": change.display, "versus": change.versus, "trend": change.trend}
        )
        assert listed[key]["count_label"] == tile.count_label
    # Active calls now is a count at an instant: nothing to compare it with, live or not.
    assert listed["active"]["change"] is None
    assert listed["calls"]["change"]["display"]
    assert staff_client.get(TILES, {"range": "bogus"}).status_code == 400


def test_the_panel_lists_the_live_calls_and_links_to_them(
    staff_client: Client,  # noqa: F811
    data: Tenant,  # noqa: F811
    fixed_now: datetime,  # noqa: F811
) -> None:
    response = staff_client.get(DASHBOARD, {"range": "24h"})
    listed = {call.call_id for call in response.context["in_progress"]}
    expected = set(
        Call.objects.filter(tenant=data).active(at=fixed_now).values_list("call_id", flat=True)
    )
    assert listed == expected
    assert listed  # the seeded data has live calls
    call_id = sorted(listed)[0]
    link = reverse("admin:analytics_dashboard_call", args=[call_id])
    assert link in response.text
    followed = staff_client.get(link)
    assert followed.status_code == 302
    target = Call.objects.get(tenant=data, call_id=call_id)
    assert followed["Location"] == reverse("admin:calls_call_change", args=[target.pk])


def test_a_call_of_another_tenant_is_a_404_from_the_panel_link(
    staff_client: Client,  # noqa: F811
    tenant: Tenant,
    other_tenant: Tenant,
    fixed_now: datetime,  # noqa: F811
) -> None:
    seed_dashboard_data(other_tenant, fixed_now, prefix="o-")
    theirs = Call.objects.filter(tenant=other_tenant).values_list("call_id", flat=True)[0]
    link = reverse("admin:analytics_dashboard_call", args=[theirs])
    assert staff_client.get(link).status_code == 404
    assert staff_client.get(f"{link}?tenant={other_tenant.pk}").status_code == 404


def test_the_page_carries_the_live_urls_and_no_inline_script(
    staff_client: Client,  # noqa: F811
    data: Tenant,  # noqa: F811
) -> None:
    text = staff_client.get(DASHBOARD, {"range": "24h"}).text
    assert 'id="cs-live"' in text
    assert 'data-live-tiles="1"' in text
    assert "analytics/live.js" in text
    assert "<script>" not in text
    past = staff_client.get(
        DASHBOARD, {"range": "custom", "from_date": "2026-01-01", "to_date": "2026-01-02"}
    ).text
    assert 'data-live-tiles="0"' in past
