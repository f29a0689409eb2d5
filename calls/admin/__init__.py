"""The calls app in the Django admin.

- ``ingested``: the read-only base of the admins of ingested tables, scoped to the user's tenants
  (``config.admin.scoping``).
- ``call``: the call log and the call page.
- ``records``: agents, workflows, leads, activity events and error logs (read-only).
- ``tenants``: tenants, memberships and API keys.
- ``platforms``: platform webhook connections and the deliveries they received.
"""

from django.contrib import admin

from calls.admin import call, platforms, records, tenants  # noqa: F401  (registers the admins)

admin.site.site_header = "Callscope"
admin.site.site_title = "Callscope admin"
admin.site.index_title = "Call log and analytics"
# Callscope has no public site for "View site" to open: the link is hidden, and "/" leads to the
# admin (config/urls.py).
admin.site.site_url = None
