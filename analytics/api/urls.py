from django.urls import path

from analytics.api import platform, sales, synthflow

urlpatterns = [
    path("v2/analytics/", synthflow.SynthflowAnalyticsView.as_view(), name="synthflow-analytics"),
    path("api/v1/analytics/summary", platform.SummaryView.as_view(), name="analytics-summary"),
    path(
        "api/v1/analytics/call-volume",
        platform.CallVolumeView.as_view(),
        name="analytics-call-volume",
    ),
    path(
        "api/v1/analytics/workflow-stats",
        platform.WorkflowStatsView.as_view(),
        name="analytics-workflow-stats",
    ),
    path(
        "api/v1/analytics/provider-latency",
        platform.ProviderLatencyView.as_view(),
        name="analytics-provider-latency",
    ),
    path("api/v1/analytics/errors", platform.ErrorLogView.as_view(), name="analytics-errors"),
    path(
        "api/v1/analytics/active-calls",
        platform.ActiveCallsView.as_view(),
        name="analytics-active-calls",
    ),
    path("api/v1/analytics/overview", sales.OverviewView.as_view(), name="analytics-overview"),
    path("api/v1/analytics/funnel", sales.FunnelView.as_view(), name="analytics-funnel"),
    path("api/v1/analytics/activity", sales.ActivityView.as_view(), name="analytics-activity"),
]
