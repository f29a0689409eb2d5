"""Creating an API key in a real browser: the form takes a scope and an expiry, the secret is
shown once on the page the form redirects to, and reloading that page creates nothing and
shows the secret no more."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from calls.models import ApiKey, Tenant, hash_api_key
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_key_is_created_shown_once_and_a_reload_creates_nothing(
    page: Any,
    log_in: Callable[[str, str, str], None],
    artifacts: Path,
    page_errors: list[str],
) -> None:
    Tenant.objects.create(name="Acme", slug="acme")
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    log_in("root", PASSWORD, "/admin/calls/apikey/add/")

    # The only tenant is picked already.
    assert "Acme" in page.inner_text(".field-tenant .select2-selection")
    assert "In UTC." in page.inner_text(".field-expires_at")
    page.fill("#id_name", "Metabase")
    page.select_option("#id_scope", "read")
    page.fill("#id_expires_at_0", "2031-05-01")
    page.fill("#id_expires_at_1", "12:00:00")
    page.screenshot(path=str(artifacts / "api-key-add-form.png"), full_page=True)
    page.click("input[name=_save]")
    page.wait_for_load_state("load")

    assert page.url.endswith("/created/")
    raw = page.input_value("#cs-raw-key")
    key = ApiKey.objects.get()
    assert key.key_hash == hash_api_key(raw)
    assert (key.scope, key.expires_at.isoformat()) == ("read", "2031-05-01T12:00:00+00:00")
    summary = page.inner_text("#content-main")
    assert "Scope: read." in summary
    assert "Expires 2031-05-01 12:00 UTC." in summary
    page.screenshot(path=str(artifacts / "api-key-created.png"), full_page=True)

    page.reload()
    page.wait_for_load_state("load")

    assert ApiKey.objects.count() == 1
    assert page.locator("#cs-raw-key").count() == 0
    assert raw not in page.content()
    assert page.locator("#cs-key-shown").is_visible()
    page.screenshot(path=str(artifacts / "api-key-created-reloaded.png"), full_page=True)

    page.goto("/admin/calls/apikey/")
    assert "Metabase" in page.inner_text("#result_list")
    page.screenshot(path=str(artifacts / "api-key-list.png"), full_page=True)
    assert not page_errors
