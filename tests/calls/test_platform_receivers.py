"""Each platform's real module behind the webhook receiver, end to end over HTTP: a reference
delivery signed the platform's way creates the call its mapping describes and keeps the
redacted payload; a forged one writes nothing; another tenant's token writes only there."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.test import Client

from calls.models import Call, PlatformConnection, Tenant, WebhookDelivery
from calls.platform_connections import create_connection
from calls.platforms import PLATFORMS
from calls.platforms.twilio import compute_signature
from tests.calls.platforms.helpers import payload

pytestmark = pytest.mark.django_db

SECRET = "whsec-" + "k" * 32
HOST = "testserver"


def _hex(message: bytes) -> str:
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


def _vapi(body: bytes, url: str) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    return {"x-timestamp": stamp, "x-signature": _hex(stamp.encode() + b"." + body)}


def _retell(body: bytes, url: str) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    return {"x-retell-signature": f"v={stamp},d={_hex(body + stamp.encode())}"}


def _elevenlabs(body: bytes, url: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"elevenlabs-signature": f"t={stamp},v0={_hex(stamp.encode() + b'.' + body)}"}


def _bland(body: bytes, url: str) -> dict[str, str]:
    return {"x-webhook-signature": _hex(body)}


def _twilio(body: bytes, url: str) -> dict[str, str]:
    fields = json.loads(body)  # the fixture: form fields rendered as JSON
    return {"x-twilio-signature": compute_signature(SECRET, url, sorted(fields.items()))}


# platform -> (reference payload, signer, credential scheme)
CASES: dict[str, tuple[str, Callable[[bytes, str], dict[str, str]], str]] = {
    "vapi": ("vapi-end-of-call-report", _vapi, "hmac"),
    "retell": ("retell-call_ended", _retell, ""),
    "elevenlabs": ("elevenlabs-post_call_transcription", _elevenlabs, ""),
    "bland": ("bland-post_call", _bland, ""),
    "twilio": ("twilio-status_callback-completed", _twilio, ""),
}


def connect(tenant: Tenant, platform: str) -> PlatformConnection:
    scheme = CASES[platform][2]
    return create_connection(
        tenant=tenant, platform=platform, secret=SECRET, scheme=scheme
    ).connection


def post(connection: PlatformConnection, *, forged: bool = False, data: Any = None) -> Any:
    """Posts the platform's reference delivery (or ``data``), signed with ``SECRET`` (or with
    its signature's last two digits changed)."""
    fixture, signer, _ = CASES[connection.platform]
    data = payload(fixture) if data is None else data
    path = f"/api/v1/webhooks/{connection.platform}/{connection.webhook_token}"
    url = f"http://{HOST}{path}"
    signed = json.dumps(data).encode()
    headers = signer(signed, url)
    if forged:
        headers = {
            header: value[:-2] + ("00" if not value.endswith("00") else "11")
            for header, value in headers.items()
        }
    if connection.platform == "twilio":
        body, content_type = urlencode(data).encode(), "application/x-www-form-urlencoded"
    else:
        body, content_type = signed, "application/json"
    meta = {"HTTP_" + key.upper().replace("-", "_"): value for key, value in headers.items()}
    return Client().post(path, body, content_type=content_type, HTTP_HOST=HOST, **meta)


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model._default_manager.count()
        for model in apps.get_app_config("calls").get_models()
        if model is not PlatformConnection
    }


@pytest.mark.parametrize("platform", sorted(CASES))
def test_a_signed_reference_delivery_creates_the_mapped_call(tenant, platform):
    connection = connect(tenant, platform)
    expected = PLATFORMS[platform].parse_payload(payload(CASES[platform][0]))
    assert expected.document is not None

    response = post(connection)

    assert response.status_code == 200, response.content
    call = Call.objects.get(tenant=tenant, call_id=expected.call_id)
    assert call.platform == platform
    assert call.status == expected.document["status"]
    if "cost_usd" in expected.document:
        assert call.cost_usd == Decimal(expected.document["cost_usd"])
    if "platform_end_reason" in expected.document:
        assert call.platform_end_reason == expected.document["platform_end_reason"]
    kept = WebhookDelivery.objects.get(tenant=tenant, platform=platform)
    assert kept.call_id == expected.call_id
    assert kept.payload == expected.payload
    # A resend is recognised and writes nothing.
    before = row_counts()
    again = post(connection)
    assert again.status_code == 200
    assert row_counts() == before


def _values_of(value: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in a JSON value."""
    found: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.extend(v for k, v in item.items() if k == key)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_vapi_embedded_credentials_are_never_stored(tenant):
    connection = connect(tenant, "vapi")
    data = payload("vapi-end-of-call-report")
    # A phone number imported from Twilio carries its account's credentials.
    token = "twilio-auth-" + "7" * 24
    data["message"]["phoneNumber"] = {"provider": "twilio", "twilioAuthToken": token}

    assert post(connection, data=data).status_code == 200

    stored = WebhookDelivery.objects.get().payload
    assert token not in json.dumps(stored)
    assert _values_of(stored, "twilioAuthToken") != [token]


@pytest.mark.parametrize("platform", sorted(CASES))
def test_a_forged_delivery_is_401_and_writes_nothing(tenant, platform):
    connection = connect(tenant, platform)
    before = row_counts()

    response = post(connection, forged=True)

    assert response.status_code == 401
    assert "application/json" in response["Content-Type"]
    assert row_counts() == before


@pytest.mark.parametrize("platform", sorted(CASES))
def test_another_tenants_token_writes_only_into_that_tenant(tenant, other_tenant, platform):
    connect(tenant, platform)
    theirs = connect(other_tenant, platform)

    assert post(theirs).status_code == 200

    assert not Call.objects.filter(tenant=tenant).exists()
    assert Call.objects.filter(tenant=other_tenant, platform=platform).count() == 1


def test_a_late_event_without_the_calls_start_does_not_move_it(tenant):
    connection = connect(tenant, "twilio")
    assert post(connection).status_code == 200  # completed: the call's start is known
    call = Call.objects.get(tenant=tenant)
    ringing = payload("twilio-status_callback-ringing")
    assert PLATFORMS["twilio"].parse_payload(ringing).start_time_estimated

    assert post(connection, data=ringing).status_code == 200

    after = Call.objects.get(pk=call.pk)
    assert after.start_time == call.start_time
    assert after.status == call.status == "completed"
