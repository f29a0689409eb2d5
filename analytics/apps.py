from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Ingestion marks the days it touches dirty inside its own transaction.
        from analytics import live, rollups
        from calls.models import rows_written

        rows_written.connect(rollups.on_rows_written, dispatch_uid="analytics.rows_written")
        # The live analytics streams learn of the write once it has committed.
        rows_written.connect(live.on_rows_written, dispatch_uid="analytics.live.rows_written")
