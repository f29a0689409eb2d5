"""The ASGI application: HTTP through Django, ``/ws/…`` WebSockets through Channels.

In production daphne serves only the WebSocket streams (``daphne config.asgi:application``,
routed ``/ws/`` by the proxy) and gunicorn the HTTP API (``config.wsgi``); ``make run`` serves
both from this one application on one port.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django is set up before anything imports models.
django_asgi_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.live.auth import BrowserOriginValidator, LiveAuthMiddleware  # noqa: E402
from config.live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_application,
        # A browser page may connect only from Callscope's own hosts.
        "websocket": BrowserOriginValidator(LiveAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
