"""The WSGI application of the platform-receiver benchmark: Callscope's own, plus, when
``CALLSCOPE_BENCH_STUB_PLATFORM`` names a platform without a module, the test suite's stub
platform module under that name (``tests/calls/platform_stub.py``), so the receiver can be
measured before the real modules exist."""

from __future__ import annotations

import os

from config.wsgi import application

stub_name = os.environ.get("CALLSCOPE_BENCH_STUB_PLATFORM", "")
if stub_name:
    from calls.platforms import PLATFORMS
    from tests.calls.platform_stub import StubPlatform

    PLATFORMS.setdefault(stub_name, StubPlatform(stub_name))

__all__ = ["application"]
