from csp.decorators import csp_update
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path, reverse
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from calls.demo.recordings import recording as demo_recording
from config.api import schema as _schema  # noqa: F401  (registers the OpenAPI auth extension)
from config.live.views import LiveTicketView

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
redoc = SpectacularRedocView.as_view(url_name="schema")


def home(request: HttpRequest) -> HttpResponseRedirect:
    """Callscope's front door is the admin: ``/`` leads there (to its login when signed out)."""
    return HttpResponseRedirect(reverse("admin:index"))


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for ``/favicon.ico`` on pages that name no icon (the API's JSON, ReDoc)."""
    return HttpResponseRedirect(static("calls/favicon.svg"))


urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("demo/recordings/<str:name>", demo_recording, name="demo-recording"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own, so the page needs
    # no inline script under the Content-Security-Policy.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    # ReDoc's bundle draws its maker's logo from their CDN, an image it cannot be told to drop.
    path("api/redoc/", csp_update({"img-src": [REDOC_LOGO]})(redoc), name="redoc"),
    path("api/v1/live/tickets", LiveTicketView.as_view(), name="live-tickets"),
    path("", include("calls.api.urls")),
    path("", include("analytics.api.urls")),
]

# JSON in the API family's error shape on API paths, Django's pages elsewhere.
handler400 = "config.api.handlers.bad_request"
handler404 = "config.api.handlers.page_not_found"
handler500 = "config.api.handlers.server_error"
