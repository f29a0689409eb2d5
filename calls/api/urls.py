from django.urls import path, register_converter
from django.urls.converters import StringConverter

from calls.api import directory, native, platform_webhooks, synthflow, views


class IdConverter(StringConverter):
    """A path segment without NUL characters. No call id or webhook token holds one (the
    database cannot even be asked about it), so such a path is a 404 before any view runs."""

    regex = r"[^/\x00]+"


register_converter(IdConverter, "id")

urlpatterns = [
    # Native: ingestion (POST) and the call list (GET) share the collection URL.
    path("api/v1/calls", views.CallCollectionView.as_view(), name="calls"),
    # Before the detail route, which would take "export.csv" for a call id.
    path("api/v1/calls/export.csv", native.CallExportView.as_view(), name="calls-export"),
    path("api/v1/calls/<id:call_id>", native.CallDetailView.as_view(), name="call-detail"),
    path("api/v1/agents", directory.AgentListView.as_view(), name="agents"),
    path("api/v1/workflows", directory.WorkflowListView.as_view(), name="workflows"),
    path("api/v1/leads", views.LeadUpsertView.as_view(), name="leads-upsert"),
    path(
        "api/v1/webhooks/synthflow/<id:token>",
        views.SynthflowWebhookView.as_view(),
        name="webhook-synthflow",
    ),
    # Every other platform, by connection (after Synthflow's own route).
    path(
        "api/v1/webhooks/<id:platform>/<id:token>",
        platform_webhooks.PlatformWebhookView.as_view(),
        name="webhook-platform",
    ),
    # Synthflow-compatible reads.
    path("v2/calls", synthflow.SynthflowCallListView.as_view(), name="synthflow-calls"),
    path(
        "v2/calls/<id:call_id>",
        synthflow.SynthflowCallDetailView.as_view(),
        name="synthflow-call-detail",
    ),
]
