"""What every API of Callscope shares (the call APIs in ``calls.api``, the analytics APIs in
``analytics.api``): API key authentication, tenant scoping, error bodies and handlers, the JSON
body parser, the read throttle, request middleware, query-parameter bounds and OpenAPI pieces."""
