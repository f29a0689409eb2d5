"""Statements compiled once per shape (``config.statements.compiled``) read what a fresh
compilation of the same read would."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db.models import Count

from calls.models import Call, Tenant
from config import statements as db
from config.statements import Statement, compiled, queryset_statement, run

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _calls(values: Sequence[Any]) -> Statement:
    tenant_id, start, end, status = values
    return queryset_statement(
        Call.objects.filter(
            tenant_id=tenant_id, start_time__gte=start, start_time__lt=end, status=status
        )
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
    )


def make_call(tenant: Tenant, minute: int, status: str) -> None:
    Call.objects.create(
        tenant=tenant,
        call_id=f"{tenant.slug}-{minute}",
        start_time=T0 + timedelta(minutes=minute),
        status=status,
    )


@pytest.fixture
def two_tenants(tenant, other_tenant):
    for minute in range(0, 60, 10):
        make_call(tenant, minute, "completed")
        make_call(other_tenant, minute, "failed")
    make_call(tenant, 5, "failed")
    return tenant, other_tenant


def test_each_read_gets_its_own_values(two_tenants):
    first, second = two_tenants
    key = ("test.calls", "status")
    asked = [
        ([first.pk, T0, T0 + timedelta(hours=1), "completed"], [("completed", 6)]),
        ([second.pk, T0, T0 + timedelta(hours=1), "failed"], [("failed", 6)]),
        ([first.pk, T0, T0 + timedelta(minutes=25), "completed"], [("completed", 3)]),
        ([first.pk, T0, T0 + timedelta(hours=1), "failed"], [("failed", 1)]),
        ([second.pk, T0, T0 + timedelta(hours=1), "completed"], []),
    ]
    for values, expected in asked:
        assert run(compiled(key, _calls, values)) == expected
        # The same statement as a fresh compilation of these values.
        assert compiled(key, _calls, values) == _calls(values)


@pytest.mark.postgres
def test_a_shape_is_compiled_once(two_tenants, monkeypatch):
    first, _ = two_tenants
    built = []

    def counting(values: Sequence[Any]) -> Statement:
        built.append(list(values))
        return _calls(values)

    monkeypatch.setattr(db, "_statements", {})
    for minutes in (10, 20, 30):
        compiled("test.once", counting, [first.pk, T0, T0 + timedelta(minutes=minutes), "x"])
    assert len(built) == 1
    assert built[0][0] < 0  # built with stand-ins, not with the first read's values


@pytest.mark.postgres
def test_a_value_the_statement_transforms_is_never_cached(two_tenants, monkeypatch):
    first, _ = two_tenants
    monkeypatch.setattr(db, "_statements", {})

    def shifted(values: Sequence[Any]) -> Statement:
        # The bound is not passed through as given: no stand-in can say where it went.
        tenant_id, start = values
        return queryset_statement(
            Call.objects.filter(tenant_id=tenant_id, start_time__gte=start + timedelta(minutes=30))
            .order_by()
            .values("tenant_id")
            .annotate(n=Count("pk"))
        )

    assert run(compiled("test.shifted", shifted, [first.pk, T0])) == [(first.pk, 3)]
    assert run(compiled("test.shifted", shifted, [first.pk, T0 - timedelta(hours=1)])) == [
        (first.pk, 7)
    ]
    assert db._statements == {}


def test_stand_ins_are_refused_for_flags_and_unknown_types():
    with pytest.raises(TypeError):
        db._stand_in(True, 0)
    with pytest.raises(TypeError):
        db._stand_in(1.5, 0)
    assert db._stand_in(date(2026, 1, 1), 3) == date(1001, 1, 4)
    assert db._stand_in(T0, 3) == datetime(1001, 1, 1, 0, 0, 3, tzinfo=UTC)


@pytest.mark.postgres
def test_the_cache_is_bounded(two_tenants, monkeypatch):
    first, _ = two_tenants
    monkeypatch.setattr(db, "_statements", {})
    monkeypatch.setattr(db, "_MAX_STATEMENTS", 3)
    for n in range(7):
        compiled(("test.bounded", n), _calls, [first.pk, T0, T0, "x"])
        assert len(db._statements) <= 3


def test_the_key_lookup_reads_what_select_related_reads(tenant, other_tenant):
    from calls.keys import create_api_key
    from calls.models import ApiKey, hash_api_key
    from config.api.authentication import key_with_tenant

    for owner in (tenant, other_tenant, tenant):
        key, raw = create_api_key(tenant=owner, name=f"key of {owner.slug}")
        found = key_with_tenant(hash_api_key(raw))
        expected = ApiKey.objects.select_related("tenant").get(pk=key.pk)
        assert found is not None
        fields = [f.attname for f in ApiKey._meta.concrete_fields]
        assert [getattr(found, f) for f in fields] == [getattr(expected, f) for f in fields]
        tenant_fields = [f.attname for f in type(owner)._meta.concrete_fields]
        assert [getattr(found.tenant, f) for f in tenant_fields] == [
            getattr(expected.tenant, f) for f in tenant_fields
        ]
        assert found.tenant.pk == owner.pk
    assert key_with_tenant(hash_api_key("cs_not-a-key")) is None
