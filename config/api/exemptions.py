"""Statements a request runs outside the read statement limit
(``config.api.middleware.ReadStatementTimeoutMiddleware``). Kept apart from the middleware so
that authentication can use it without importing the middleware's dependencies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_EXEMPT: ContextVar[bool] = ContextVar("statement_limit_exempt", default=False)


@contextmanager
def without_statement_limit() -> Iterator[None]:
    """Runs the block's statements without first applying the read limit: for the bounded
    probe every API request makes before its answer (the API key, one unique-index lookup). A
    request answered without any other statement (a ``304``) then costs that one round trip,
    not two more to set and reset the limit. A limit already applied stays in force."""
    token = _EXEMPT.set(True)
    try:
        yield
    finally:
        _EXEMPT.reset(token)


def limit_exempt() -> bool:
    """Whether the current statement runs inside ``without_statement_limit``."""
    return _EXEMPT.get()
