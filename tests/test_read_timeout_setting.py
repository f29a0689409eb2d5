"""``API_READ_STATEMENT_TIMEOUT_MS``: milliseconds, ``0``/``off`` disables, anything else is a
loud configuration error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def read_timeout_setting(raw: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "API_READ_STATEMENT_TIMEOUT_MS"}
    env["DEBUG"] = "1"
    if raw is not None:
        env["API_READ_STATEMENT_TIMEOUT_MS"] = raw
    code = "import config.settings as s; print(s.API_READ_STATEMENT_TIMEOUT_MS)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, "5000"), ("", "5000"), ("250", "250"), ("0", "0"), ("off", "0")]
)
def test_read_timeout_is_milliseconds_and_off_disables(raw, expected):
    result = read_timeout_setting(raw)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize("raw", ["-1", "5s", "soon"])
def test_a_bad_read_timeout_is_refused(raw):
    result = read_timeout_setting(raw)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "API_READ_STATEMENT_TIMEOUT_MS" in result.stderr
