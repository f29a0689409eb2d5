"""Live streams: WebSocket endpoints under ``/ws/v1/`` (Django Channels, served by daphne).

What every stream shares lives here; the streams themselves are ``calls.live`` (call lifecycle
events) and ``analytics.live`` (active calls, the live summary, new error logs).

- ``auth``: who a connection is. ``Authorization: Bearer <api key>`` on the handshake (scripts),
  or ``?ticket=<ticket>`` (browsers, which cannot set that header): a single-use ticket valid for
  ``LIVE_TICKET_TTL_SECONDS``, issued by ``POST /api/v1/live/tickets`` (an API key) or to the
  admin dashboard's session (``analytics.admin``). The key itself never travels in a URL.
- ``consumers``: the base consumer. It closes with a documented code (``CLOSE_CODES``) after an
  ``{"type": "error", "code", "detail"}`` message (daphne drops close reasons), sends a heartbeat
  every ``LIVE_HEARTBEAT_SECONDS`` and re-checks its credentials every
  ``LIVE_AUTH_RECHECK_SECONDS``.
- ``limits``: open connections per tenant, counted in the cache across processes.
- ``coalesce``: at most one update per interval per connection, and one computation per answer
  for all the connections of a process.
- ``publish``: events go out after the writing transaction commits, through the channel layer,
  to groups named per tenant and stream (``group_name``); a publish never fails or slows a write.
"""
