"""Publishing events to the WebSocket streams, after the writing transaction commits.

A writer calls ``publish_on_commit`` inside its transaction with a function that builds the
messages; the function runs only once the transaction has committed (never for a rolled-back
write), and its messages go to the channel layer's group of a tenant and stream
(``group_name``). Nothing here can fail or slow down the write:

- Building errors and channel layer errors are caught and logged at most once per
  ``FAILURE_LOG_INTERVAL`` seconds per process (with how many were not logged since).
- With a networked channel layer (Redis), messages are handed to one background thread per
  process, which keeps its own event loop and connections and gives each send
  ``SEND_TIMEOUT_SECONDS``; a writer only puts them on a bounded queue. A full queue (the layer
  unreachable for long) drops messages rather than holding writers.
- With the in-memory layer (embedded default) the message is delivered at once: it only reaches
  connections served by this same process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from config.live import limits

logger = logging.getLogger(__name__)

FAILURE_LOG_INTERVAL = 60.0
SEND_TIMEOUT_SECONDS = 2.0
QUEUE_SIZE = 10_000

Message = tuple[str, dict[str, Any]]


def group_name(tenant_id: int, stream: str) -> str:
    """The channel layer group of a tenant's stream: the only way a message reaches a
    connection, and a connection joins only its own tenant's groups."""
    return f"live.{int(tenant_id)}.{stream}"


def wire(value: Any) -> Any:
    """``value`` as plain JSON types (what the Redis layer can carry and clients read)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


class _FailureLog:
    """Logs a failure at most once per ``FAILURE_LOG_INTERVAL`` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logged_at: float | None = None
        self._suppressed = 0

    def report(self, what: str) -> None:
        with self._lock:
            now = time.monotonic()
            if self._logged_at is not None and now - self._logged_at < FAILURE_LOG_INTERVAL:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._logged_at = self._suppressed, 0, now
        logger.warning(
            "live event not published (%s); %d more failure(s) since the last report; writes "
            "are not affected",
            what,
            suppressed,
            exc_info=True,
        )

    def reset(self) -> None:
        with self._lock:
            self._logged_at, self._suppressed = None, 0


failures = _FailureLog()


class _Publisher:
    """The background sender of one process: a thread running its own event loop."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.queue: queue.Queue[Message] = queue.Queue(maxsize=QUEUE_SIZE)
        self.thread = threading.Thread(target=self._run, name="live-publisher", daemon=True)
        self.thread.start()

    def put(self, message: Message) -> None:
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            failures.report("the publish queue is full")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        while True:
            batch = [self.queue.get()]
            while len(batch) < 500:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                loop.run_until_complete(self._send(batch))
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _send(self, batch: list[Message]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        results = await asyncio.gather(
            *(
                asyncio.wait_for(layer.group_send(group, message), SEND_TIMEOUT_SECONDS)
                for group, message in batch
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                try:
                    raise result
                except BaseException:
                    failures.report("the channel layer failed")
                break


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def _background() -> _Publisher:
    global _publisher
    with _publisher_lock:
        # A forked worker (gunicorn) starts its own thread: threads do not survive a fork.
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _Publisher()
        return _publisher


def send(messages: Iterable[Message]) -> None:
    """Sends ``(group, message)`` pairs to the channel layer now; never raises."""
    try:
        layer = get_channel_layer()
    except Exception:
        failures.report("the channel layer is misconfigured")
        return
    if layer is None:
        return
    for group, message in messages:
        if isinstance(layer, InMemoryChannelLayer):
            try:
                async_to_sync(layer.group_send)(group, message)
            except Exception:
                failures.report("the in-memory channel layer failed")
        else:
            _background().put((group, message))


def wait_until_sent(timeout: float = 5.0) -> bool:
    """Waits until the background sender has sent everything queued so far (tests, benchmarks).
    Returns whether it did within ``timeout`` seconds."""
    publisher = _publisher
    if publisher is None or publisher.pid != os.getpid():
        return True
    deadline = time.monotonic() + timeout
    while publisher.queue.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def publish_on_commit(tenant_id: int, build: Callable[[], Iterable[Message]]) -> None:
    """Runs ``build`` once the current transaction commits and sends its messages to the
    tenant's streams.

    ``build`` may read the database (it sees the committed rows). Outside a transaction it runs
    at once. A rolled-back transaction never runs it, nor a commit when the tenant has no open
    connection (``limits.listening``): most writes are seen by nobody, and building a message
    (reading and rendering the calls) costs about as much as the write of one call.
    """

    try:
        if get_channel_layer() is None:  # no layer configured: nobody to tell
            return
    except Exception:
        failures.report("the channel layer is misconfigured")
        return

    def after_commit() -> None:
        if not limits.listening(tenant_id):
            return
        try:
            messages = list(build())
        except Exception:
            failures.report("its message could not be built")
            return
        send(messages)

    transaction.on_commit(after_commit)
