"""Bearer API keys: only an active key of a tenant opens the API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from calls.keys import create_api_key, revoke_api_key
from calls.models import ApiKey, Call, hash_api_key
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db
URL = "/api/v1/calls"


def post_with(header: str | None):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client.post(URL, call_doc(), format="json")


def test_key_is_stored_as_hash_and_prefix(tenant):
    key, raw = create_api_key(tenant=tenant, name="ci")

    assert raw.startswith("cs_") and len(raw) >= 3 + 43  # 32 random bytes, base64url
    assert key.key_hash == hash_api_key(raw)
    assert raw not in {key.key_hash, key.prefix}
    assert raw.startswith(key.prefix)
    assert not ApiKey.objects.filter(key_hash=raw).exists()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing Authorization header"),
        ("Token cs_abc", "Malformed Authorization header"),
        ("Bearer", "Malformed Authorization header"),
        ("Bearer a b", "Malformed Authorization header"),
        ("Bearer not-a-callscope-key", "Malformed API key"),
        ("Bearer cs_unknownkeyunknownkeyunknownkeyunknownkey", "Invalid or revoked API key"),
    ],
)
def test_bad_credentials_are_401_json(tenant, header, message):
    response = post_with(header)

    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Call.objects.count() == 0


def test_revoked_key_is_401(tenant):
    key, raw = create_api_key(tenant=tenant)
    revoke_api_key(key=key)

    response = post_with(f"Bearer {raw}")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked API key."}


def test_valid_key_writes_to_its_own_tenant_and_marks_last_use(tenant, other_tenant):
    key, raw = create_api_key(tenant=tenant)
    assert key.last_used_at is None

    response = post_with(f"Bearer {raw}")

    assert response.status_code == 201
    assert Call.objects.get().tenant == tenant
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_tenant_in_the_body_is_ignored(tenant, other_tenant):
    _, raw = create_api_key(tenant=tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    client.post(URL, call_doc(tenant=other_tenant.pk, tenant_id=other_tenant.pk), format="json")

    assert Call.objects.get().tenant == tenant


def test_error_responses_carry_a_request_id(tenant):
    response = post_with(None)

    assert len(response["X-Request-ID"]) >= 8
