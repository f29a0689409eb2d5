"""A real daphne server in a subprocess, on the test database, for the end-to-end tests.

The test database must be one another process can open (PostgreSQL), and the rows the server
reads must be committed (``django_db(transaction=True)``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_url() -> str:
    """The URL of the test database this process uses."""
    conf = connection.settings_dict
    assert conf["ENGINE"].endswith("postgresql"), "the server needs a database it can share"
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    return (
        f"postgres://{conf['USER']}{password}@{conf['HOST'] or '127.0.0.1'}:"
        f"{conf['PORT'] or 5432}/{conf['NAME']}"
    )


@contextmanager
def daphne(
    *, redis_url: str = "", env: dict[str, str] | None = None, runserver: bool = False
) -> Iterator[str]:
    """Serves ``config.asgi:application`` with daphne (``runserver``: through ``manage.py
    runserver``, daphne's, which also serves the static files as ``make run`` does); yields its
    ``host:port``."""
    port = free_port()
    server_env = {
        **os.environ,
        # The test settings: the test's users' passwords are hashed with their fast hasher.
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DEBUG": "1",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    command = (
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        if runserver
        else [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ]
    )
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("daphne did not start within 30 s") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
