"""Admin login throttling: a username is locked out from an address after
``ADMIN_LOGIN_FAILURE_LIMIT`` wrong passwords, for ``ADMIN_LOGIN_COOLOFF_MINUTES``; API keys are
never throttled by it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


def log_in(
    client: Client, password: str, *, username: str = "root", address: str = "10.0.0.1"
) -> Any:
    return client.post(
        LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail(client: Client, times: int, **kwargs: Any) -> None:
    for _ in range(times):
        log_in(client, "wrong", **kwargs)


def test_the_defaults_are_five_failures_and_fifteen_minutes():
    limit, cool_off = settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME
    assert (limit, cool_off) == (5, timedelta(minutes=15))


def test_after_the_limit_the_right_password_is_refused_with_429(client, admin_user):
    fail(client, settings.AXES_FAILURE_LIMIT)

    response = log_in(client, PASSWORD)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "Try again in 15" in response.content.decode()
    assert not logged_in(client)


def test_below_the_limit_the_right_password_logs_in_and_clears_the_failures(client, admin_user):
    fail(client, settings.AXES_FAILURE_LIMIT - 1)

    response = log_in(client, PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)
    # The success cleared the count: as many failures again do not lock the account.
    other = Client()
    fail(other, settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(other, PASSWORD).status_code == 302
    assert logged_in(other)


def test_the_lock_is_per_username_and_address(client, admin_user):
    User.objects.create_superuser("ada", "ada@example.com", PASSWORD)
    fail(client, settings.AXES_FAILURE_LIMIT, address="10.0.0.1")

    assert log_in(Client(), PASSWORD, address="10.0.0.1").status_code == 429
    # The same user from another address, and another user from the same address, still log in.
    assert log_in(Client(), PASSWORD, address="10.0.0.2").status_code == 302
    assert log_in(Client(), PASSWORD, username="ada", address="10.0.0.1").status_code == 302


def test_the_lock_lifts_after_the_cool_off(client, admin_user):
    fail(client, settings.AXES_FAILURE_LIMIT)
    assert log_in(client, PASSWORD).status_code == 429

    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )

    assert log_in(client, PASSWORD).status_code == 302
    assert logged_in(client)


def test_api_keys_are_not_throttled_by_the_admin_lockout(client, admin_user, api_client):
    fail(client, settings.AXES_FAILURE_LIMIT, address="127.0.0.1")
    assert log_in(Client(), PASSWORD, address="127.0.0.1").status_code == 429
    attempts = AccessAttempt.objects.count()

    bad = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT * 2):
        assert bad.get("/api/v1/calls", HTTP_AUTHORIZATION="Bearer cs_wrong").status_code == 401

    assert api_client.get("/api/v1/calls").status_code == 200
    assert AccessAttempt.objects.count() == attempts


def test_without_proxies_a_forged_forwarded_for_does_not_dodge_the_lock(client, admin_user):
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            LOGIN,
            {"username": "root", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )

    response = Client().post(
        LOGIN,
        {"username": "root", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.99",
    )

    assert response.status_code == 429


def test_behind_a_proxy_the_lock_is_per_client_address(client, admin_user, settings):
    settings.ADMIN_LOGIN_PROXY_COUNT = 1

    def through_proxy(password: str, forwarded_for: str) -> Any:
        return Client().post(
            LOGIN,
            {"username": "root", "password": password},
            REMOTE_ADDR="10.0.0.254",  # the proxy
            HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    for _ in range(settings.AXES_FAILURE_LIMIT):
        through_proxy("wrong", "203.0.113.7")

    assert through_proxy(PASSWORD, "203.0.113.7").status_code == 429
    # What the client writes in front of the proxy's entry is not believed.
    assert through_proxy(PASSWORD, "198.51.100.1, 203.0.113.7").status_code == 429
    # Another client behind the same proxy is not locked out.
    assert through_proxy(PASSWORD, "198.51.100.1").status_code == 302
