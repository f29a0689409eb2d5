"""The client address the admin login lockout counts failures against."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client behind ``ADMIN_LOGIN_PROXY_COUNT`` reverse proxies.

    Each proxy appends the address it received the request from to ``X-Forwarded-For``, so
    with ``n`` proxies the ``n``-th entry from the right is the address the outermost one saw:
    everything to its left was written by the client and may be forged. Without proxies (the
    default), or when the header has fewer entries than there are proxies (the request did not
    come through them), it is the connection's own address.
    """
    proxies = settings.ADMIN_LOGIN_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR")
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]
