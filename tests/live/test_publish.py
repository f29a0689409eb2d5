"""Publishing never fails or holds a write: an unreachable channel layer is logged once a
minute, and the write succeeds."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from calls.models import Call, Tenant
from calls.services import ingest_call_documents
from config.live import limits, publish
from tests.live.conftest import document


@pytest.fixture
def listener(tenant: Tenant) -> Any:
    """The tenant counted as having one open connection (as a daphne process counts it)."""
    lease = limits.claim(tenant.pk)
    assert lease is not None
    yield lease
    limits.release(tenant.pk, lease)


@pytest.mark.django_db(transaction=True)
def test_writes_succeed_and_one_warning_is_logged_while_the_layer_is_unreachable(
    tenant: Tenant, listener: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens on port 9: every connection is refused.
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},
        }
    }
    with caplog.at_level(logging.WARNING, logger="config.live.publish"):
        for n in range(3):
            ingest_call_documents(tenant=tenant, documents=[document(f"c-{n}")])
        assert publish.wait_until_sent(timeout=10)
    assert Call.objects.filter(tenant=tenant).count() == 3
    warnings = [r for r in caplog.records if r.name == "config.live.publish"]
    assert len(warnings) == 1
    assert "not published" in warnings[0].getMessage()


@pytest.mark.django_db(transaction=True)
def test_a_message_that_cannot_be_built_does_not_fail_the_write(
    tenant: Tenant,
    listener: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("calls.live.call_messages", broken)
    with caplog.at_level(logging.WARNING, logger="config.live.publish"):
        outcomes = ingest_call_documents(tenant=tenant, documents=[document("c-1")])
    assert [o.outcome for o in outcomes] == ["created"]
    assert any("could not be built" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_nothing_is_built_for_a_tenant_nobody_listens_to(
    tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    monkeypatch.setattr(
        "calls.live.call_messages", lambda tenant_id, events: built.append(tenant_id) or []
    )
    lease = limits.claim(other_tenant.pk)  # someone listens to the other tenant only
    assert lease is not None
    try:
        ingest_call_documents(tenant=tenant, documents=[document("c-1")])
        ingest_call_documents(tenant=other_tenant, documents=[document("c-1")])
    finally:
        limits.release(other_tenant.pk, lease)
    assert built == [other_tenant.pk]
