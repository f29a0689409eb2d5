"""Phone numbers and numeric times take ASCII digits only: ``\\d`` and ``str.isdigit`` also
accept other scripts' digits (Arabic-Indic, Devanagari, fullwidth…), which no stored number
equals."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError
from pydantic import ValidationError

from calls.admin.call import phone_candidates
from calls.api.filters import normalize_phone
from calls.documents import E164, CallDocument, LeadIn, parse_timestamp
from calls.management.commands.create_api_key import find_tenant
from calls.models import Call, Lead
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

ARABIC_INDIC_ZERO, DEVANAGARI_ZERO, FULLWIDTH_ZERO = "\u0660", "\u0966", "\uff10"


def in_digits(text: str, zero: str) -> str:
    """``text`` with its ASCII digits written in the script whose digit zero is ``zero``."""
    return text.translate({ord("0") + d: chr(ord(zero) + d) for d in range(10)})


ARABIC_INDIC = "+1" + in_digits("2345678901", ARABIC_INDIC_ZERO)
NON_ASCII_PHONES = [
    ARABIC_INDIC,
    in_digits("+4915510277534", DEVANAGARI_ZERO),
    in_digits("+14155552671", FULLWIDTH_ZERO),
    "+1415555267" + in_digits("1", ARABIC_INDIC_ZERO),
]


@pytest.mark.parametrize("phone", NON_ASCII_PHONES)
def test_e164_pattern_takes_ascii_digits_only(phone):
    assert E164.match("+14155552671")
    assert not E164.match(phone)
    assert not E164.match("+14155552671\n")


@pytest.mark.parametrize("phone", NON_ASCII_PHONES)
def test_documents_reject_non_ascii_phone_digits(phone):
    with pytest.raises(ValidationError, match=r"E\.164"):
        LeadIn.model_validate({"lead_id": "l1", "phone_number": phone})
    with pytest.raises(ValidationError, match=r"E\.164"):
        CallDocument.model_validate(call_doc("c-1", lead_phone_number=phone))


def test_ingestion_rejects_a_call_with_a_non_ascii_phone(tenant, api_client):
    response = api_client.post(
        "/api/v1/calls", call_doc("c-1", lead_phone_number=ARABIC_INDIC), format="json"
    )

    assert response.status_code == 400
    assert "E.164" in str(response.json())
    assert not Call.objects.exists()


def test_lead_upsert_rejects_a_non_ascii_phone(tenant, api_client):
    response = api_client.post(
        "/api/v1/leads", {"lead_id": "l1", "phone_number": ARABIC_INDIC}, format="json"
    )

    assert response.status_code == 400
    assert not Lead.objects.exists()


@pytest.mark.parametrize("phone", [*NON_ASCII_PHONES, in_digits("12345678901", ARABIC_INDIC_ZERO)])
def test_query_string_phones_take_ascii_digits_only(phone):
    from django.core.exceptions import ValidationError as FormError

    assert normalize_phone("14155552671") == "+14155552671"
    with pytest.raises(FormError):
        normalize_phone(phone)


@pytest.mark.parametrize(
    ("url", "name"),
    [("/api/v1/calls", "lead_phone"), ("/v2/calls", "lead_phone_number")],
)
def test_phone_filters_with_non_ascii_digits_are_400(tenant, api_client, url, name):
    params = {name: ARABIC_INDIC, **({"model_id": "agent-1"} if url == "/v2/calls" else {})}

    response = api_client.get(url, params)

    assert response.status_code == 400
    assert name in str(response.json())


def test_epoch_times_take_ascii_digits_only(tenant, api_client):
    assert parse_timestamp("1732546200000").year == 2024
    with pytest.raises(ValueError):
        parse_timestamp(in_digits("1732546200000", ARABIC_INDIC_ZERO))

    arabic_ms = in_digits("1732546200000", ARABIC_INDIC_ZERO)
    response = api_client.get("/v2/calls", {"model_id": "agent-1", "from_date": arabic_ms})

    assert response.status_code == 400
    assert "from_date" in str(response.json())


def test_admin_phone_search_ignores_non_ascii_digits():
    assert "+4915510277534" in phone_candidates("0049 155 1027 7534")
    assert phone_candidates(in_digits("+4915510277534", ARABIC_INDIC_ZERO)) == []


def test_tenant_reference_by_id_takes_ascii_digits_only(tenant):
    assert find_tenant(str(tenant.pk)) == tenant
    with pytest.raises(CommandError):
        find_tenant(in_digits(str(tenant.pk), ARABIC_INDIC_ZERO))
