from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Cached call totals and answer tags are invalidated once a write of the tenant's calls,
        # or a roll of its analytics, has committed.
        from calls import counts, live
        from calls.models import answers_changed, rows_written
        from config import postgres

        postgres.install()

        rows_written.connect(counts.on_rows_written, dispatch_uid="calls.counts.rows_written")
        answers_changed.connect(
            counts.on_answers_changed, dispatch_uid="calls.counts.answers_changed"
        )
        # Call lifecycle events go to the live streams once the write has committed.
        rows_written.connect(live.on_rows_written, dispatch_uid="calls.live.rows_written")
