"""Deployment defaults: with DEBUG off Callscope is HTTPS-only (redirect, HSTS, Secure cookies)
and ``check --deploy`` is clean; every page carries a Content-Security-Policy that allows no
inline script, and none of the pages has one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from calls.models import Call, Tenant
from tests.analytics.test_dashboard import seed_dashboard_data

ROOT = Path(__file__).resolve().parent.parent
# A SECRET_KEY the deploy checks accept (long, varied, not Django's insecure prefix).
SECRET = "pY7v-1Qk9zR2mX8cW4nT6bJ3hL0sD5fG9aE2uI7oK1yV8xC4qB6wN3tM0rZ5pS2dF"
SECURITY_ENV = {
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "CALL_COUNT_CACHE",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "ADMIN_LOGIN_FAILURE_LIMIT",
    "ADMIN_LOGIN_COOLOFF_MINUTES",
    "ADMIN_LOGIN_PROXY_COUNT",
    "DJANGO_SETTINGS_MODULE",
    # Set by the browser tests for Playwright's event loop; a deployment check rightly rejects it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}
SECURITY_SETTINGS = (
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "CONTENT_SECURITY_POLICY",
    "AXES_FAILURE_LIMIT",
)


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """``python args`` in a clean environment: only ``env`` of Callscope's variables is set."""
    clean = {k: v for k, v in os.environ.items() if k not in SECURITY_ENV}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def load_security_settings(**env: str) -> dict[str, Any]:
    code = (
        "import json, config.settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {SECURITY_SETTINGS!r}}}))"
    )
    result = run(["-c", code], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    """The security settings as production gets them: DEBUG off, nothing else set."""
    values = load_security_settings(DEBUG="0", SECRET_KEY=SECRET)
    values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


def test_check_deploy_is_clean_with_only_debug_secret_and_hosts_set():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="0",
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS="callscope.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_production_defaults_are_https_only(production):
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True
    assert production["SECURE_HSTS_SECONDS"] == 31_536_000
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert production["SECURE_HSTS_PRELOAD"] is True
    assert production["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_debug_serves_plain_http():
    values = load_security_settings(DEBUG="1")

    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0


def test_each_default_can_be_relaxed_from_the_environment():
    values = load_security_settings(
        DEBUG="0",
        SECRET_KEY=SECRET,
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="0",
        SECURE_PROXY_SSL_HEADER="0",
        ADMIN_LOGIN_FAILURE_LIMIT="3",
    )

    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["AXES_FAILURE_LIMIT"] == 3


@pytest.mark.parametrize(
    "env",
    [
        {"SECURE_SSL_REDIRECT": "sometimes"},
        {"SECURE_HSTS_SECONDS": "a year"},
        {"SECURE_HSTS_SECONDS": "-1"},
        {"ADMIN_LOGIN_FAILURE_LIMIT": "0"},
        {"ADMIN_LOGIN_COOLOFF_MINUTES": "soon"},
        {"ADMIN_LOGIN_PROXY_COUNT": "-1"},
    ],
)
def test_bad_security_values_are_improperly_configured(env):
    result = run(["-c", "import config.settings"], DEBUG="0", SECRET_KEY=SECRET, **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


# --- Headers under the production settings -----------------------------------------------------


def script_src(policy: str) -> list[str]:
    for directive in policy.split(";"):
        name, _, sources = directive.strip().partition(" ")
        if name == "script-src":
            return sources.split()
    raise AssertionError(f"no script-src in {policy!r}")


def inline_scripts(html: str) -> list[str]:
    """The page's ``<script>`` elements that run inline code (data blocks do not run)."""
    return [
        tag
        for tag in re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE)
        if "src=" not in tag and "application/json" not in tag
    ]


def assert_hardened(response: Any) -> None:
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    policy = response["Content-Security-Policy"]
    assert script_src(policy) == ["'self'"]
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    if response["Content-Type"].startswith("text/html"):
        assert inline_scripts(response.content.decode()) == []


class HttpsClient(Client):
    """A test client whose every request arrives over HTTPS."""

    def generic(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["secure"] = True
        return super().generic(*args, **kwargs)


@pytest.fixture
def https(production, db) -> Any:
    """A client over HTTPS under the production security settings."""
    with override_settings(**production):
        yield HttpsClient()


def test_plain_http_is_redirected_to_https(production, db):
    with override_settings(**production):
        client = Client()
        response = client.get("/admin/login/")
        behind_proxy = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/admin/login/"
    # Behind the TLS-terminating proxy the request counts as HTTPS: no redirect loop.
    assert behind_proxy.status_code == 200
    assert_hardened(behind_proxy)


def test_admin_login_is_hardened_and_its_cookies_secure(https):
    User.objects.create_superuser("root", "root@example.com", "pw-for-tests")

    page = https.get("/admin/login/")
    logged_in = https.post(
        "/admin/login/?next=/admin/",
        {"username": "root", "password": "pw-for-tests", "next": "/admin/"},
    )

    assert page.status_code == 200
    assert_hardened(page)
    assert page.cookies["csrftoken"]["secure"] is True
    assert logged_in.status_code == 302
    assert logged_in.cookies["sessionid"]["secure"] is True
    assert logged_in.cookies["csrftoken"]["secure"] is True


def test_dashboard_and_call_pages_are_hardened(https):
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="UTC")
    seed_dashboard_data(tenant, timezone.now())
    call = Call.objects.filter(tenant=tenant).order_by("pk").first()
    https.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))

    dashboard = https.get("/admin/analytics/dashboard/")
    call_page = https.get(f"/admin/calls/call/{call.pk}/change/")
    call_list = https.get("/admin/calls/call/")

    for response in (dashboard, call_page, call_list):
        assert response.status_code == 200
        assert_hardened(response)
    assert "analytics/charts.js" in dashboard.content.decode()


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_are_hardened_and_load_only_local_files(https, path):
    response = https.get(path)

    assert response.status_code == 200
    assert_hardened(response)
    html = response.content.decode()
    sources = re.findall(r'<(?:script|link)\b[^>]*(?:src|href)="([^"]+)"', html)
    assert sources
    assert all(source.startswith("/") for source in sources), sources


def test_swagger_ui_start_up_script_is_served_as_a_file(https):
    page = https.get("/api/docs/").content.decode()
    (script_url,) = [
        url.replace("&amp;", "&")
        for url in re.findall(r'<script src="([^"]+)"', page)
        if "script" in url.split("?", 1)[-1]
    ]

    script = https.get(script_url)

    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
    assert_hardened(script)
