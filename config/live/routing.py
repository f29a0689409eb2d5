"""The WebSocket URLs (``/ws/v1/…``) and their consumers."""

from __future__ import annotations

from django.urls import path

from analytics.live import ActiveCallsConsumer, ErrorsConsumer, SummaryConsumer
from calls.live import CallsConsumer

websocket_urlpatterns = [
    path("ws/v1/analytics/active-calls", ActiveCallsConsumer.as_asgi()),
    path("ws/v1/analytics/summary", SummaryConsumer.as_asgi()),
    path("ws/v1/calls", CallsConsumer.as_asgi()),
    path("ws/v1/errors", ErrorsConsumer.as_asgi()),
]
