"""Admin building blocks every app's admin uses.

- ``scoping``: which tenants a staff user sees, and the mixins that scope an admin to them
  (``TenantScopedAdminMixin``) and grant tenant members view access.
"""
