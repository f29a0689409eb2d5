from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Ingestion marks the days it touches dirty inside its own transaction.
        from analytics import rollups
        from calls.signals import calls_written, leads_written

        calls_written.connect(rollups.on_calls_written, dispatch_uid="analytics.calls_written")
        leads_written.connect(rollups.on_leads_written, dispatch_uid="analytics.leads_written")
