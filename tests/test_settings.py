"""Settings come from the environment, with loud errors for bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CALL_COUNT_CACHE"}
    }
    code = (
        "import config.settings as s, json; print(json.dumps({'engine': s.DATABASES['default']"
        "['ENGINE'], 'eager': s.CELERY_TASK_ALWAYS_EAGER, 'cache': s.CACHES['default']"
        "['BACKEND'], 'broker': s.CELERY_BROKER_URL, 'count_cache': s.CALL_COUNT_CACHE}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_is_required_when_debug_is_off():
    result = load_settings(DEBUG="0")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


def test_embedded_default_is_sqlite_and_in_process_tasks():
    result = load_settings(DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert '"engine": "django.db.backends.sqlite3"' in result.stdout
    assert '"eager": true' in result.stdout


def test_database_and_redis_urls_switch_to_production_services():
    result = load_settings(
        SECRET_KEY="s", DATABASE_URL="postgres://u@db:5432/cs", REDIS_URL="redis://cache:6379/0"
    )

    assert result.returncode == 0, result.stderr
    assert '"engine": "django.db.backends.postgresql"' in result.stdout
    assert '"eager": false' in result.stdout
    assert "RedisCache" in result.stdout
    assert '"broker": "redis://cache:6379/0"' in result.stdout
    assert '"count_cache": true' in result.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # Embedded: every process has its own local-memory cache, so totals are not cached.
        ({}, "false"),
        ({"REDIS_URL": "redis://cache:6379/0"}, "true"),
        ({"REDIS_URL": "redis://cache:6379/0", "CALL_COUNT_CACHE": "0"}, "false"),
        ({"CALL_COUNT_CACHE": "1"}, "true"),
    ],
)
def test_call_count_cache_defaults_to_the_shared_cache(env, expected):
    result = load_settings(DEBUG="1", **env)

    assert result.returncode == 0, result.stderr
    assert f'"count_cache": {expected}' in result.stdout


@pytest.mark.parametrize(
    "env",
    [
        {"DEBUG": "maybe"},
        {"DEBUG": "1", "MAX_REQUEST_BODY_BYTES": "x"},
        {"DEBUG": "1", "CALL_COUNT_CACHE": "sometimes"},
    ],
)
def test_bad_values_are_improperly_configured(env):
    result = load_settings(**env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
