from django.urls import path

from calls.api import views

urlpatterns = [
    path("api/v1/calls", views.CallCollectionView.as_view(), name="calls"),
    path("api/v1/leads", views.LeadUpsertView.as_view(), name="leads-upsert"),
    path(
        "api/v1/webhooks/synthflow/<str:token>",
        views.SynthflowWebhookView.as_view(),
        name="webhook-synthflow",
    ),
]
