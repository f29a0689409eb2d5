"""Migration 0012 gives every existing tenant the hash its webhook token is looked up by."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from calls.models import Tenant
from calls.webhooks import sign_call_id

BEFORE = [("calls", "0011_variable_filter_index")]
AFTER = [("calls", "0012_webhook_replay")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


# Going back to 0011 unapplies the later migrations, which only PostgreSQL can undo.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_existing_tenants_keep_working_webhook_urls():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = migrate(BEFORE)
        OldTenant = old.get_model("calls", "Tenant")
        tokens = {
            slug: OldTenant.objects.create(
                slug=slug, name=slug, webhook_token=f"token-{slug}", webhook_secret="s"
            ).webhook_token
            for slug in ("a", "b")
        }

        new = migrate(AFTER)

        hashes = dict(
            new.get_model("calls", "Tenant").objects.values_list("slug", "webhook_token_hash")
        )
        assert hashes == {
            slug: hashlib.sha256(token.encode()).hexdigest() for slug, token in tokens.items()
        }
    finally:
        migrate(latest)
    tenant = Tenant.objects.get(slug="a")
    payload = {"call": {"call_id": "m-1", "status": "completed", "start_time": "2026-03-01T10:00Z"}}
    response = APIClient().post(
        f"/api/v1/webhooks/synthflow/{tokens['a']}",
        json.dumps(payload),
        content_type="application/json",
        HTTP_SYNTHFLOW_SIGNATURE=sign_call_id(tenant.webhook_secret, "m-1"),
    )
    assert response.status_code == 201
