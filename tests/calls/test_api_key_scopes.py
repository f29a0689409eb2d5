"""API key scopes and expiry on every operation of the REST APIs: a ``read`` key may not write,
an ``ingest`` key may not read (live tickets included), an expired key is refused like a
revoked one, and a scope value this version does not know grants nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from calls.keys import create_api_key, revoke_api_key
from calls.models import ApiKey, Tenant
from calls.services import ingest_call_documents
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

# Every operation's path filled in, with the parameters it needs to get past validation.
PATH_VALUES = {"call_id": "c-1"}
REQUIRED_QUERY = {"/v2/calls": {"model_id": "agent-1"}}
BODIES: dict[str, Any] = {
    "/api/v1/calls": call_doc("c-new"),
    "/api/v1/leads": {"phone_number": "+14155550100"},
}
# POSTs that only read: they need the read permission.
READING_POSTS = {"/api/v1/live/tickets"}


def key_operations() -> list[tuple[str, str, str]]:
    """(method, path, permission) of every documented operation that takes an API key."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not any("apiKey" in scheme for scheme in operation.get("security", [])):
                continue  # webhooks: authenticated by their URL token and signature
            permission = "read" if method == "get" or path in READING_POSTS else "ingest"
            operations.append((method, path, permission))
    return sorted(operations)


OPERATIONS = key_operations()


def test_the_operation_list_covers_reads_writes_and_tickets() -> None:
    assert ("post", "/api/v1/calls", "ingest") in OPERATIONS
    assert ("post", "/api/v1/leads", "ingest") in OPERATIONS
    assert ("post", "/api/v1/live/tickets", "read") in OPERATIONS
    assert ("get", "/api/v1/agents", "read") in OPERATIONS
    assert ("get", "/api/v1/analytics/overview", "read") in OPERATIONS
    assert not [op for op in OPERATIONS if "webhooks" in op[1]]
    assert len([op for op in OPERATIONS if op[2] == "read"]) >= 15


def client_for(tenant: Tenant, **key: Any) -> APIClient:
    _, raw = create_api_key(tenant=tenant, name="scoped", **key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def send(client: APIClient, method: str, path: str) -> Any:
    url = path.format(**PATH_VALUES)
    if method == "get":
        return client.get(url, REQUIRED_QUERY.get(path, {}))
    return client.generic(
        method.upper(),
        url,
        data=json.dumps(BODIES.get(path, {})),
        content_type="application/json",
    )


def message_of(body: dict[str, Any]) -> str:
    if "message" in body:  # sales
        return str(body["message"])
    detail = body["detail"]
    return str(detail["description"] if isinstance(detail, dict) else detail)


@pytest.fixture
def with_a_call(tenant: Tenant) -> None:
    ingest_call_documents(tenant=tenant, documents=[call_doc("c-1")])


@pytest.mark.parametrize(("method", "path", "permission"), OPERATIONS)
@pytest.mark.parametrize("scope", ["read", "ingest", "all"])
def test_a_key_does_what_its_scope_grants_and_gets_a_403_otherwise(
    tenant: Tenant, with_a_call: None, method: str, path: str, permission: str, scope: str
) -> None:
    client = client_for(tenant, scope=scope)

    response = send(client, method, path)

    if scope in (permission, "all"):
        assert response.status_code not in (401, 403), response.content
    else:
        assert response.status_code == 403
        assert response["Content-Type"].startswith("application/json")
        message = message_of(response.json())
        assert f"scope is '{scope}'" in message
        assert f"'{permission}'" in message


def test_a_refused_write_writes_nothing(tenant: Tenant) -> None:
    client = client_for(tenant, scope="read")

    assert client.post("/api/v1/calls", call_doc("c-9"), format="json").status_code == 403
    assert not tenant.calls.exists()


@pytest.mark.parametrize("stored", ["", "admin", "READ", "read,ingest"])
def test_a_scope_value_this_version_does_not_know_grants_nothing(
    tenant: Tenant, with_a_call: None, stored: str
) -> None:
    client = client_for(tenant)
    ApiKey.objects.update(scope=stored)

    assert client.get("/api/v1/calls").status_code == 403
    assert client.post("/api/v1/calls", call_doc("c-2"), format="json").status_code == 403
    assert client.post("/api/v1/live/tickets").status_code == 403


def test_a_refused_scope_does_not_spend_the_read_budget(tenant: Tenant, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"read_api": "2/min"},
    }
    ingest_only = client_for(tenant, scope="ingest")
    reader = client_for(tenant, scope="read")

    for _ in range(3):
        assert ingest_only.get("/api/v1/calls").status_code == 403
    assert reader.get("/api/v1/calls").status_code == 200


# --- expiry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "permission"), OPERATIONS)
def test_an_expired_key_is_a_401_on_every_operation(
    tenant: Tenant, method: str, path: str, permission: str
) -> None:
    client = client_for(tenant, expires_at=timezone.now() - timedelta(seconds=1))

    response = send(client, method, path)

    assert response.status_code == 401
    assert message_of(response.json()) == "API key expired."


def test_a_key_works_until_its_expiry(tenant: Tenant, with_a_call: None) -> None:
    expires_at = timezone.now() + timedelta(hours=1)
    client = client_for(tenant, expires_at=expires_at)
    assert client.get("/api/v1/calls").status_code == 200

    ApiKey.objects.update(expires_at=timezone.now())

    assert client.get("/api/v1/calls").status_code == 401


def test_a_revoked_key_stays_refused_whatever_its_expiry(tenant: Tenant) -> None:
    key, raw = create_api_key(tenant=tenant, expires_at=timezone.now() + timedelta(days=30))
    revoke_api_key(key=key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.get("/api/v1/calls")

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked API key."


def test_active_keys_exclude_revoked_and_expired_ones(tenant: Tenant) -> None:
    now = timezone.now()
    live, _ = create_api_key(tenant=tenant, name="live")
    later, _ = create_api_key(tenant=tenant, name="later", expires_at=now + timedelta(days=1))
    create_api_key(tenant=tenant, name="expired", expires_at=now - timedelta(days=1))
    revoked, _ = create_api_key(tenant=tenant, name="revoked")
    revoke_api_key(key=revoked)

    assert set(ApiKey.objects.active().values_list("name", flat=True)) == {"live", "later"}
    assert ApiKey.objects.active(at=now + timedelta(days=2)).get() == live
    assert later.is_active and not later.is_expired


def test_create_api_key_refuses_an_unknown_scope_and_a_naive_expiry(tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="scope"):
        create_api_key(tenant=tenant, scope="write")
    with pytest.raises(ValueError, match="aware"):
        create_api_key(tenant=tenant, expires_at=timezone.now().replace(tzinfo=None))
    assert not ApiKey.objects.exists()
