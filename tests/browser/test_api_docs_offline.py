"""The API docs with the network off: Swagger UI (``/api/docs/``) and ReDoc (``/api/redoc/``)
come from the project's own static files (drf-spectacular's sidecar), so both render when every
request to anywhere but Callscope itself fails, as on a laptop without internet."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offline(page: Any, live_server: Any) -> tuple[Any, list[str]]:
    """The page, with every request off the live server failed and remembered."""
    elsewhere: list[str] = []

    def refuse(route: Any) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", refuse)
    return page, elsewhere


def test_swagger_ui_renders_offline(offline: tuple[Any, list[str]], artifacts: Any) -> None:
    page, elsewhere = offline
    page.goto("/api/docs/")

    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    assert page.evaluate("() => typeof SwaggerUIBundle") == "function"
    assert page.locator(".opblock").count() > 10
    assert elsewhere == []
    page.screenshot(path=str(artifacts / "api-docs-swagger-offline.png"))


def test_redoc_renders_offline(offline: tuple[Any, list[str]], artifacts: Any) -> None:
    page, elsewhere = offline
    page.goto("/api/redoc/")

    page.wait_for_selector("h1:has-text('Callscope API')", timeout=30_000)
    assert page.locator("[data-section-id^='operation/']").count() > 10
    # ReDoc's bundle may try its maker's logo; nothing it needs to render comes from elsewhere.
    assert all("redoc" in url for url in elsewhere), elsewhere
    page.screenshot(path=str(artifacts / "api-docs-redoc-offline.png"))
