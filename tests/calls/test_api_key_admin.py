"""API keys in the admin: created with a tenant, a name, a scope and an expiry, shown once (post,
redirect, get), stored as a hash, revoked by an action, never edited; tenant staff manage only
their tenants' keys."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls.keys import create_api_key, revoke_api_key
from calls.models import (
    API_KEY_PUBLIC_PREFIX_LENGTH,
    ApiKey,
    ApiKeyScope,
    Tenant,
    TenantMembership,
    hash_api_key,
)

ADD_URL = "/admin/calls/apikey/add/"
CHANGELIST_URL = "/admin/calls/apikey/"


def staff_with(tenant: Tenant, *codenames: str) -> Client:
    user = User.objects.create_user(f"staff-{len(codenames)}", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=user)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="calls", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


def raw_key_on(response: Any) -> str:
    return response.context["raw_key"]


def create(client: Client, tenant: Tenant, name: str, **fields: str) -> Any:
    """POSTs the add form (scope ``all``, no expiry unless given) and follows its redirect."""
    data = {"tenant": tenant.pk, "name": name, "scope": "all", **fields}
    return client.post(ADD_URL, data, follow=True)


def revoke(client: Client, *keys: ApiKey) -> Any:
    return client.post(
        CHANGELIST_URL,
        {"action": "revoke_keys", "_selected_action": [str(k.pk) for k in keys], "index": "0"},
    )


def test_created_key_is_shown_once_and_stored_only_as_a_hash(
    admin_client: Client, tenant: Tenant
) -> None:
    posted = admin_client.post(ADD_URL, {"tenant": tenant.pk, "name": "BI export", "scope": "all"})

    # Post/redirect/get: the POST answers with a redirect, never with the secret.
    assert posted.status_code == 302
    key = ApiKey.objects.get()
    created_url = reverse("admin:calls_apikey_created", args=[key.pk])
    assert posted["Location"] == created_url
    assert "cs_" not in posted.content.decode()

    response = admin_client.get(created_url)
    assert response.status_code == 200
    raw = raw_key_on(response)
    assert raw.startswith("cs_")
    assert raw in response.text
    assert "no-store" in response["Cache-Control"]

    assert (key.tenant, key.name, key.scope, key.expires_at) == (tenant, "BI export", "all", None)
    assert key.key_hash == hash_api_key(raw)
    assert key.prefix == raw[:API_KEY_PUBLIC_PREFIX_LENGTH]
    stored = [
        str(v) for v in ApiKey.objects.values_list(*[f.attname for f in ApiKey._meta.fields]).get()
    ]
    assert not [value for value in stored if raw in value]

    # Popped from the session by that GET: not kept anywhere for a later page.
    assert raw not in str(admin_client.session.items())
    assert all(raw not in morsel.value for morsel in admin_client.cookies.values())
    for url in (CHANGELIST_URL, reverse("admin:calls_apikey_change", args=[key.pk])):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert raw not in page.text
        assert key.prefix in page.text


def test_reloading_the_created_page_neither_creates_a_key_nor_shows_the_secret_again(
    admin_client: Client, tenant: Tenant
) -> None:
    first = create(admin_client, tenant, "reloaded")
    raw = raw_key_on(first)
    assert first.redirect_chain[-1][1] == 302
    created_url = first.redirect_chain[-1][0]

    again = admin_client.get(created_url)

    assert again.status_code == 200
    assert ApiKey.objects.count() == 1
    assert again.context["raw_key"] is None
    assert raw not in again.text
    assert "cannot be shown again" in again.text


def test_the_created_page_of_another_key_does_not_show_a_pending_secret(
    admin_client: Client, tenant: Tenant
) -> None:
    older, _ = create_api_key(tenant=tenant, name="older")
    admin_client.post(ADD_URL, {"tenant": tenant.pk, "name": "new", "scope": "read"})

    other_page = admin_client.get(reverse("admin:calls_apikey_created", args=[older.pk]))

    assert other_page.context["raw_key"] is None
    new = ApiKey.objects.get(name="new")
    own_page = admin_client.get(reverse("admin:calls_apikey_created", args=[new.pk]))
    assert hash_api_key(raw_key_on(own_page)) == new.key_hash


def test_a_key_is_created_with_the_scope_and_expiry_chosen_in_utc(
    admin_client: Client, tenant: Tenant, settings: Any
) -> None:
    # Expiries are UTC whatever the server's zone.
    settings.TIME_ZONE = "Europe/Berlin"
    form = admin_client.get(ADD_URL).text
    assert "In UTC. Leave empty for a key that does not expire." in form

    page = create(
        admin_client, tenant, "bi", scope="read", expires_at_0="2031-05-01", expires_at_1="12:00:00"
    )

    key = ApiKey.objects.get()
    assert key.scope == "read"
    assert key.expires_at is not None and key.expires_at.isoformat() == "2031-05-01T12:00:00+00:00"
    assert "Scope: <strong>read</strong>." in page.text
    assert "Expires 2031-05-01 12:00 UTC." in page.text
    listing = admin_client.get(CHANGELIST_URL).text
    assert "column-scope" in listing and "column-expires_at" in listing


def test_scope_labels_say_the_values_the_command_and_the_api_use(
    admin_client: Client, tenant: Tenant
) -> None:
    assert [label.split(" ")[0] for label in ApiKeyScope.labels] == ApiKeyScope.values

    form = admin_client.get(ADD_URL).text
    assert '<option value="read">read</option>' in form
    assert '<option value="all" selected>all (read and ingest)</option>' in form


def test_the_add_form_preselects_the_only_tenant_the_user_can_see(
    admin_client: Client, tenant: Tenant
) -> None:
    only = admin_client.get(ADD_URL)
    assert only.context["adminform"].form["tenant"].value() == str(tenant.pk)
    staff = staff_with(tenant, "add_apikey")
    assert staff.get(ADD_URL).context["adminform"].form["tenant"].value() == str(tenant.pk)

    Tenant.objects.create(name="Initech", slug="initech")
    several = admin_client.get(ADD_URL)
    assert several.context["adminform"].form["tenant"].value() is None


def test_the_status_filter_tells_expired_keys_apart(admin_client: Client, tenant: Tenant) -> None:
    create_api_key(tenant=tenant, name="live-key")
    create_api_key(tenant=tenant, name="old-key", expires_at=timezone.now() - timedelta(minutes=1))

    expired = admin_client.get(CHANGELIST_URL, {"status": "expired"}).text
    active = admin_client.get(CHANGELIST_URL, {"status": "active"}).text

    assert "old-key" in expired and "live-key" not in expired
    assert "live-key" in active and "old-key" not in active


def test_keys_cannot_be_edited_or_deleted(admin_client: Client, tenant: Tenant) -> None:
    key, _ = create_api_key(tenant=tenant, name="old name")
    change_url = reverse("admin:calls_apikey_change", args=[key.pk])

    page = admin_client.get(change_url)
    assert 'name="name"' not in page.text
    assert admin_client.post(change_url, {"tenant": tenant.pk, "name": "new"}).status_code == 403
    delete_url = reverse("admin:calls_apikey_delete", args=[key.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    key.refresh_from_db()
    assert key.name == "old name"


def test_revoke_action_revokes_the_selected_keys_only(admin_client: Client, tenant: Tenant) -> None:
    first, _ = create_api_key(tenant=tenant, name="first")
    second, _ = create_api_key(tenant=tenant, name="second")
    kept, _ = create_api_key(tenant=tenant, name="kept")

    response = revoke(admin_client, first, second)

    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    kept.refresh_from_db()
    assert first.revoked_at is not None
    assert second.revoked_at is not None
    assert kept.revoked_at is None

    revoked_at = first.revoked_at
    revoke(admin_client, first)
    first.refresh_from_db()
    assert first.revoked_at == revoked_at


def test_list_shows_prefix_name_tenant_and_state(
    admin_client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    key, _ = create_api_key(tenant=tenant, name="Metabase")

    text = admin_client.get(CHANGELIST_URL).text

    assert f"<code>{key.prefix}…</code>" in text
    assert "Metabase" in text
    assert '<td class="field-tenant nowrap">Acme</td>' in text
    for column in ("created_at", "expires_at", "last_used_at", "status"):
        assert f"column-{column}" in text


def test_the_status_column_tells_active_expired_and_revoked_apart(
    admin_client: Client, tenant: Tenant
) -> None:
    create_api_key(tenant=tenant, name="live")
    create_api_key(tenant=tenant, name="old", expires_at=timezone.now() - timedelta(days=1))
    revoked, _ = create_api_key(tenant=tenant, name="gone")
    revoke_api_key(key=revoked)

    text = admin_client.get(CHANGELIST_URL).text
    rows = re.findall(r"<tr>.*?</tr>", text, re.S)
    status = {
        name: re.search(r'<td class="field-status">(.*?)</td>', row, re.S).group(1)  # type: ignore[union-attr]
        for row in rows
        for name in ("live", "old", "gone")
        if f">{name}<" in row
    }
    assert status["live"] == "active"
    assert status["old"] == "expired"
    assert status["gone"].startswith('<span title="revoked ') and "revoked</span>" in status["gone"]


def test_tenant_staff_see_only_their_tenants_keys(tenant: Tenant, other_tenant: Tenant) -> None:
    create_api_key(tenant=tenant, name="acme-key")
    foreign, _ = create_api_key(tenant=other_tenant, name="globex-key")
    client = staff_with(tenant)

    text = client.get(CHANGELIST_URL).text

    assert "acme-key" in text
    assert "globex-key" not in text
    assert client.get(reverse("admin:calls_apikey_change", args=[foreign.pk])).status_code == 404


def test_tenant_staff_need_the_add_permission_to_create_keys(tenant: Tenant) -> None:
    client = staff_with(tenant)

    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, {"tenant": tenant.pk, "name": "x"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_tenant_staff_create_keys_for_their_tenants_only(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    client = staff_with(tenant, "add_apikey")

    refused = client.post(ADD_URL, {"tenant": other_tenant.pk, "name": "sneaky", "scope": "all"})
    assert refused.status_code == 200
    assert "tenant" in refused.context["adminform"].form.errors
    assert not ApiKey.objects.exists()

    created = create(client, tenant, "mine")
    assert created.status_code == 200
    assert ApiKey.objects.get().key_hash == hash_api_key(raw_key_on(created))


@pytest.mark.parametrize("may_revoke", [False, True])
def test_tenant_staff_revoke_only_with_the_change_permission_and_only_their_keys(
    may_revoke: bool, tenant: Tenant, other_tenant: Tenant
) -> None:
    own, _ = create_api_key(tenant=tenant)
    foreign, _ = create_api_key(tenant=other_tenant)
    client = staff_with(tenant, *(["change_apikey"] if may_revoke else []))

    assert ("revoke_keys" in client.get(CHANGELIST_URL).text) is may_revoke
    revoke(client, own, foreign)

    own.refresh_from_db()
    foreign.refresh_from_db()
    assert (own.revoked_at is not None) is may_revoke
    assert foreign.revoked_at is None


def test_tenant_staff_cannot_open_the_created_page_of_another_tenants_key(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    own, _ = create_api_key(tenant=tenant)
    foreign, _ = create_api_key(tenant=other_tenant)
    client = staff_with(tenant, "add_apikey")

    assert client.get(reverse("admin:calls_apikey_created", args=[own.pk])).status_code == 200
    assert client.get(reverse("admin:calls_apikey_created", args=[foreign.pk])).status_code == 404
