"""The per-tenant connection count: exact while processes live, self-healing when one dies."""

from __future__ import annotations

from typing import Any

import pytest

from config.live import limits


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_000_000 * limits.LEASE_SECONDS + 1.0]
    monkeypatch.setattr(limits.time, "time", lambda: now[0])
    return now


def test_the_limit_counts_open_connections_and_frees_closed_ones(
    settings: Any, clock: list[float]
) -> None:
    settings.LIVE_MAX_CONNECTIONS_PER_TENANT = 2
    first, second = limits.claim(1), limits.claim(1)
    assert first is not None and second is not None
    assert limits.claim(1) is None
    assert limits.claim(2) is not None  # another tenant's count is its own
    limits.release(1, first)
    assert limits.claim(1) is not None


def test_open_connections_stay_counted_across_slots_while_they_renew(
    settings: Any, clock: list[float]
) -> None:
    settings.LIVE_MAX_CONNECTIONS_PER_TENANT = 1
    lease = limits.claim(1)
    assert lease is not None
    for _ in range(3):
        clock[0] += limits.LEASE_SECONDS
        # Not renewed yet in the new slot: the previous slot's count still holds.
        assert limits.claim(1) is None
        lease = limits.renew(1, lease)
        assert limits.claim(1) is None
        assert limits.claim(1) is None


def test_a_connection_closed_after_renewing_frees_its_place_at_once(
    settings: Any, clock: list[float]
) -> None:
    settings.LIVE_MAX_CONNECTIONS_PER_TENANT = 1
    lease = limits.claim(1)
    assert lease is not None
    clock[0] += limits.LEASE_SECONDS
    lease = limits.renew(1, lease)
    limits.release(1, lease)
    assert limits.claim(1) is not None


def test_connections_of_a_dead_process_stop_counting_within_two_slots(
    settings: Any, clock: list[float]
) -> None:
    settings.LIVE_MAX_CONNECTIONS_PER_TENANT = 1
    assert limits.claim(1) is not None  # its process dies: never renewed nor released
    clock[0] += limits.LEASE_SECONDS
    assert limits.claim(1) is None
    clock[0] += limits.LEASE_SECONDS
    assert limits.claim(1) is not None
