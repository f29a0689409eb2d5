"""Keeps request content out of the logs.

Call documents carry phone numbers, names and transcripts. They reach log records by three
routes, all closed here: the message of an exception logged with its traceback (database
errors quote the offending value, e.g. ``Key (phone_number)=(+4915…) already exists`` or the
JSON text jsonb refused), an exception passed as a log argument (``calls.retry`` logs the
race it lost), and the request object Django attaches to ``django.request`` records (an admin
error email prints its POST data and every frame's local variables).
"""

from __future__ import annotations

import logging
import traceback

WITHHELD = "(message withheld: it may quote request data)"
REDACTED_MARK = "request_data_redacted"


def redacted_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` and of the exceptions it was raised from or while handling,
    with file, line and function of every frame and the exception types, but no messages."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for position, item in enumerate(reversed(chain)):
        if position:
            parts.append("\nThe above exception led to the following one:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        parts.append(f"{_qualified_name(type(item))}: {WITHHELD}\n")
    return "".join(parts).rstrip("\n")


def _qualified_name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _redacted(value: object) -> object:
    if isinstance(value, BaseException):
        return f"{_qualified_name(type(value))} {WITHHELD}"
    return value


class RedactRequestData(logging.Filter):
    """Logging filter: exception messages become ``(message withheld…)`` (in the traceback and
    as arguments or message), and the request object is dropped from the record. Frames, types,
    the log message, the request's method, path and id stay, so a log line still says what
    failed where."""

    def filter(self, record: logging.LogRecord) -> bool:
        # A record passes twice when both its logger and a handler carry this filter.
        if getattr(record, REDACTED_MARK, False):
            return True
        setattr(record, REDACTED_MARK, True)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redacted_traceback(record.exc_info[1])
            record.exc_info = None
        elif record.exc_text:
            # Formatted before reaching this filter (another handler): nothing safe to keep.
            record.exc_text = WITHHELD
        record.msg = _redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(arg) for key, arg in record.args.items()}
        if getattr(record, "request", None) is not None:
            record.request = None
        return True
