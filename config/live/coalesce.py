"""Coalescing updates: however fast changes arrive, a connection sends at most one update per
interval, and connections of one process asking the same question share one computation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any
from weakref import WeakKeyDictionary


class Coalescer:
    """Runs ``update(since)`` after ``poke()``, at most once per ``interval`` seconds; pokes that
    arrive meanwhile are folded into the next run. ``since`` is the monotonic time of the
    earliest change the run must include."""

    def __init__(self, interval: float, update: Callable[[float], Awaitable[None]]) -> None:
        self.interval = interval
        self.update = update
        self._dirty_since: float | None = None
        self._last_run = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def ran(self) -> None:
        """Counts an update sent by other means (the first message) as a run."""
        self._last_run = time.monotonic()

    async def _run(self) -> None:
        while self._dirty_since is not None:
            wait = self._last_run + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            since, self._dirty_since = self._dirty_since, None
            self._last_run = time.monotonic()
            await self.update(since)

    async def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


class SharedAnswers:
    """The latest answer per key, computed once for every connection of this event loop that
    needs one including the changes since a given moment."""

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._answers: dict[Hashable, tuple[float, Any]] = {}

    async def get(
        self, key: Hashable, *, fresher_than: float, compute: Callable[[], Awaitable[Any]]
    ) -> Any:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._answers.get(key)
            if cached is not None and cached[0] >= fresher_than:
                return cached[1]
            started = time.monotonic()
            answer = await compute()
            if len(self._answers) >= self.MAX_KEYS:
                self._answers.clear()
            self._answers[key] = (started, answer)
            return answer


_shared: WeakKeyDictionary[asyncio.AbstractEventLoop, SharedAnswers] = WeakKeyDictionary()


def shared_answers() -> SharedAnswers:
    """The answers shared by the connections of the running event loop (one per daphne
    process)."""
    loop = asyncio.get_running_loop()
    answers = _shared.get(loop)
    if answers is None:
        answers = _shared[loop] = SharedAnswers()
    return answers
