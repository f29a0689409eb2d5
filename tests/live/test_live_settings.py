"""The live streams' settings: the channel layer follows REDIS_URL, bad values fail loudly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.test_settings import ROOT

CODE = (
    "import config.settings as s, json; print(json.dumps({'layer': s.CHANNEL_LAYERS['default']"
    "['BACKEND'], 'asgi': s.ASGI_APPLICATION, 'first_app': s.INSTALLED_APPS[0]}))"
)


def load(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"REDIS_URL"} and not k.startswith("LIVE_")
    }
    return subprocess.run(
        [sys.executable, "-c", CODE],
        cwd=ROOT,
        env={**clean, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_embedded_default_uses_the_in_memory_layer_and_daphnes_runserver() -> None:
    result = load()
    assert result.returncode == 0, result.stderr
    assert '"layer": "channels.layers.InMemoryChannelLayer"' in result.stdout
    assert '"asgi": "config.asgi.application"' in result.stdout
    assert '"first_app": "daphne"' in result.stdout


def test_redis_carries_events_between_processes() -> None:
    result = load(REDIS_URL="redis://cache:6379/0")
    assert result.returncode == 0, result.stderr
    assert '"layer": "channels_redis.core.RedisChannelLayer"' in result.stdout


@pytest.mark.parametrize(
    "env",
    [
        {"LIVE_HEARTBEAT_SECONDS": "0"},
        {"LIVE_HEARTBEAT_SECONDS": "31"},
        {"LIVE_AUTH_RECHECK_SECONDS": "soon"},
        {"LIVE_MAX_CONNECTIONS_PER_TENANT": "-1"},
        {"LIVE_TICKET_TTL_SECONDS": "0"},
        {"LIVE_SUMMARY_MIN_INTERVAL_MS": "0"},
    ],
)
def test_bad_live_values_are_improperly_configured(env: dict[str, str]) -> None:
    result = load(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
