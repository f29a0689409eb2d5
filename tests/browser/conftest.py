"""Browser tests: Playwright for Python driving Debian's headless chromium against pytest-django's
``live_server``.

No browser is ever downloaded: the tests use ``/usr/bin/chromium`` and, when it is missing, the
setup installs Debian's ``chromium`` package (as root, with apt-get); otherwise they skip, except
under CI (``CI=true``), where a missing browser is a failure. The pages may reach the live server
only: every other request is answered by the test (a recording) or aborted.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import struct
import subprocess
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test thread; Django would otherwise refuse
# database access from it.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
# The address chromium reaches the live server at, without asking a resolver.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The password of the users the tests log in as (``superuser``, ``staff``).
PASSWORD = "correct horse battery staple"
RECORDINGS_HOST = "https://cdn.example.com/"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"Browser tests must run under CI: {reason}")
    pytest.skip(reason)


def _install_chromium() -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], env=env, check=False, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "chromium"], env=env, check=False, capture_output=True
    )


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, installed when missing and possible."""
    if not CHROMIUM.exists():
        _install_chromium()
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing and could not be installed (apt-get as root).")
    return str(CHROMIUM)


# Per module, not per session: while Playwright's synchronous API is open it keeps an event
# loop running in the main thread, where the live stream tests (which pytest-django may order
# after some browser tests) run their coroutines with ``async_to_sync``.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[dev]').")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=LAUNCH_ARGS
        )
        yield launched
        launched.close()


def _tone_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A short 440 Hz tone as a WAV file: a recording chromium can decode."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = (
            struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        out.writeframes(b"".join(frames))
    return buffer.getvalue()


class PageErrors(list[str]):
    """Uncaught exceptions and console errors of a page."""


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


def _stream_refused(text: str) -> bool:
    """Whether a console error is the dashboard's WebSocket stream refused by ``live_server``,
    which serves HTTP only (WSGI); ``test_dashboard_live.py`` runs the dashboard on a server
    that serves the streams too."""
    return text.startswith("WebSocket connection to ") and "/ws/v1/" in text


@pytest.fixture
def page(browser: Any, live_server: Any, page_errors: PageErrors) -> Iterator[Any]:
    """A fresh browser context on the live server, collecting the page's errors."""
    recording = _tone_wav()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(live_server.url):
            request_route.continue_()
        elif url.startswith(RECORDINGS_HOST):
            request_route.fulfill(status=200, content_type="audio/wav", body=recording)
        else:
            request_route.abort()

    context.route("**/*", route)
    opened = context.new_page()
    opened.on("pageerror", lambda error: page_errors.append(f"pageerror: {error}"))
    opened.on(
        "console",
        lambda message: (
            page_errors.append(f"console.{message.type}: {message.text}")
            if message.type == "error" and not _stream_refused(message.text)
            else None
        ),
    )
    yield opened
    context.close()


@pytest.fixture
def log_in(page: Any) -> Callable[[str, str, str], None]:
    """Logs in through the admin's login form and lands on ``next_path``."""

    def log_in_as(username: str, password: str, next_path: str) -> None:
        page.goto(f"/admin/login/?next={next_path}")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_load_state("load")
        assert "/admin/login/" not in page.url, "login failed"

    return log_in_as


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def superuser() -> Any:
    """``root``, a superuser (sees every tenant)."""
    from django.contrib.auth.models import User

    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


@pytest.fixture
def staff(acme: Any) -> Any:
    """``ada``, staff of the test module's ``acme`` tenant only."""
    from django.contrib.auth.models import User

    from calls.models import TenantMembership

    user = User.objects.create_user("ada", password=PASSWORD, is_staff=True)
    TenantMembership.objects.create(tenant=acme, user=user)
    return user
