"""Cursors of ``GET /api/v1/calls``: signed, tenant-bound, carrying no primary key, and exact
through every ordering, both directions and search pages."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from calls import queries
from calls.models import Call
from calls.services import ingest_call_documents
from tests.calls.factories import call_doc

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls"
BASE = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def spec(i: int) -> dict[str, Any]:
    """Call ``i``: many share a duration (or have none), and pairs share a start time."""
    start = BASE + timedelta(minutes=10 * (i // 2))
    duration = None if i % 5 == 4 else 30 * (i % 3)
    return {
        "call_id": f"k-{i:02d}",
        "start": start,
        "duration": duration,
        "end": start + timedelta(seconds=duration) if duration is not None else None,
        "words": "please cancel it" if i % 4 == 0 else "just checking",
    }


SPECS = [spec(i) for i in range(14)]


def document(s: dict[str, Any]) -> dict[str, Any]:
    return call_doc(
        s["call_id"],
        start_time=s["start"].isoformat(),
        end_time=s["end"].isoformat() if s["end"] else None,
        duration=s["duration"],
        status="completed" if s["duration"] is not None else "in-progress",
        transcript=[{"role": "human", "text": s["words"]}],
    )


@pytest.fixture
def calls(tenant, other_tenant):
    # The other tenant holds the same call ids: only the cursor's signature tells them apart.
    for owner in (tenant, other_tenant):
        ingest_call_documents(tenant=owner, documents=[document(s) for s in SPECS])
    return SPECS


def expected(ordering: str, keep: Any = lambda s: True) -> list[str]:
    """Call ids in ``ordering``: NULLs as the smallest values, ties in insertion order."""
    field = {"start_time": "start", "end_time": "end", "duration": "duration"}[ordering.lstrip("-")]
    ordered = sorted(
        enumerate(SPECS),
        key=lambda pair: (pair[1][field] is not None, pair[1][field] or 0, pair[0]),
        reverse=ordering.startswith("-"),
    )
    return [s["call_id"] for _, s in ordered if keep(s)]


def follow(client: Any, url: str, params: dict[str, Any], link: str) -> list[dict[str, Any]]:
    """Every page from the first request, following ``link`` ("next" or "previous")."""
    response = client.get(url, params)
    pages = []
    while True:
        assert response.status_code == 200, response.json()
        pages.append(response.json())
        if pages[-1][link] is None:
            return pages
        response = client.get(pages[-1][link])


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [c["call_id"] for page in pages for c in page["results"]]


def cursor_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


def decoded(token: str) -> Any:
    """What a client can read from a cursor: the JSON before the signature."""
    data = token.split(":")[0]
    return json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))


def test_a_cursor_carries_the_sort_value_and_call_id_and_no_primary_key(calls, api_client):
    page = api_client.get(URL, {"limit": 3, "ordering": "duration"}).json()
    last = page["results"][-1]

    payload = decoded(cursor_of(page["next"]))

    assert payload == {
        "o": "duration",
        "v": last["duration"],
        "c": last["call_id"],
        "p": False,
        "i": False,
    }
    pks = set(Call.objects.values_list("pk", flat=True))
    assert not any(
        isinstance(value, int) and not isinstance(value, bool) and value in pks
        for key, value in payload.items()
        if key != "v"
    )


@pytest.mark.parametrize("ordering", ["-start_time", "end_time"])
def test_no_cursor_of_a_whole_walk_holds_a_primary_key(calls, api_client, ordering):
    pages = follow(api_client, URL, {"limit": 2, "ordering": ordering}, "next")
    pks = set(Call.objects.values_list("pk", flat=True))

    payloads = [decoded(cursor_of(page["next"])) for page in pages if page["next"]]

    assert len(payloads) == len(pages) - 1 > 0
    for payload in payloads:
        assert set(payload) == {"o", "v", "c", "p", "i"}
        assert payload["c"] in {s["call_id"] for s in SPECS}
        assert payload["v"] is None or isinstance(payload["v"], str)  # a time, never a key
        assert not {v for v in payload.values() if type(v) is int} & pks


def altered(token: str) -> list[str]:
    data, _, signature = token.partition(":")
    payload = decoded(token)
    swapped = "A" if data[5] != "A" else "B"
    return [
        data[:5] + swapped + data[6:] + ":" + signature,  # a byte of the payload
        data + ":" + signature[:-1] + ("A" if signature[-1] != "A" else "B"),  # of the signature
        token[:-3],  # truncated
        data,  # no signature
        # A well-formed payload of someone's making: re-encoded, keeping the old signature.
        base64.urlsafe_b64encode(json.dumps({**payload, "c": "k-00"}).encode()).decode()
        + ":"
        + signature,
    ]


def test_an_altered_cursor_is_400_naming_cursor(calls, api_client):
    page = api_client.get(URL, {"limit": 3}).json()
    token = cursor_of(page["next"])

    for bad in altered(token):
        response = api_client.get(URL, {"limit": 3, "cursor": bad})

        assert response.status_code == 400, bad
        body = response.json()
        assert body["detail"].startswith("Invalid query parameter(s): cursor:")
        assert body["errors"][0]["field"] == "cursor"


def test_another_tenants_cursor_is_400(calls, api_client, other_api_client):
    theirs = other_api_client.get(URL, {"limit": 3}).json()

    response = api_client.get(theirs["next"])

    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]
    assert api_client.get(URL, {"limit": 3}).json()["next"] != theirs["next"]


@pytest.mark.parametrize("ordering", sorted(queries.ORDERINGS))
def test_every_ordering_pages_both_ways_through_every_call_once(calls, api_client, ordering):
    forwards = follow(api_client, URL, {"limit": 3, "ordering": ordering}, "next")
    backwards = follow(api_client, forwards[-1]["previous"], {}, "previous")

    assert ids(forwards) == expected(ordering)
    assert ids(list(reversed(backwards))) + ids(forwards[-1:]) == expected(ordering)


@pytest.mark.parametrize("ordering", sorted(queries.ORDERINGS))
def test_search_pages_with_inclusive_cursors_reach_every_match_once(
    calls, api_client, monkeypatch, ordering
):
    # An excluded word is checked call by call: each page reads at most 3 calls, so some pages
    # come back empty and their links are the inclusive cursors.
    monkeypatch.setattr(queries, "SEARCH_WINDOW", 3)
    want = expected(ordering, lambda s: "cancel" in s["words"])

    forwards = follow(api_client, URL, {"q": "-checking", "limit": 2, "ordering": ordering}, "next")
    backwards = follow(api_client, forwards[-1]["previous"], {}, "previous")

    assert ids(forwards) == want
    assert any(not page["results"] for page in forwards[:-1])
    assert any(decoded(cursor_of(p["previous"]))["i"] for p in forwards if p["previous"])
    assert ids(list(reversed(backwards))) + ids(forwards[-1:]) == want


def test_a_cursor_on_a_deleted_call_with_a_unique_value_still_pages_exactly(calls, api_client):
    first = api_client.get(URL, {"limit": 4}).json()  # -start_time: k-13, k-12, k-11, k-10
    last = first["results"][-1]["call_id"]
    assert last == "k-10"  # its start time is shared only with k-11, which is on this page
    Call.objects.filter(call_id="k-11").delete()
    Call.objects.filter(call_id=last).delete()

    rest = follow(api_client, first["next"], {}, "next")

    assert ids(rest) == expected("-start_time")[4:]


def test_a_cursor_on_a_deleted_call_among_ties_is_400(calls, tenant, api_client):
    first = api_client.get(URL, {"limit": 2, "ordering": "duration"}).json()
    last = first["results"][-1]["call_id"]
    assert first["results"][-1]["duration"] is None  # NULLs first: several calls share it
    Call.objects.filter(tenant=tenant, call_id=last).delete()

    response = api_client.get(first["next"])

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "cursor",
            "message": "the call at this cursor was deleted and others share its position; "
            "start again from the first page",
        }
    ]


def test_a_cursor_on_a_call_that_left_the_filter_still_pages_exactly(calls, tenant, api_client):
    live = {"status": "in-progress"}
    want = expected("-start_time", lambda s: s["duration"] is None)
    first = api_client.get(URL, {"limit": 1, **live}).json()
    moved = first["results"][0]["call_id"]
    Call.objects.filter(tenant=tenant, call_id=moved).update(status="completed")

    rest = follow(api_client, first["next"], {}, "next")

    assert [moved, *ids(rest)] == want


def test_a_long_non_ascii_call_id_gives_a_cursor_within_the_documented_length(tenant, api_client):
    long_ids = ["é" * 99 + str(i) for i in range(3)]
    ingest_call_documents(tenant=tenant, documents=[call_doc(c) for c in long_ids])

    pages = follow(api_client, URL, {"limit": 1}, "next")

    assert sorted(ids(pages)) == sorted(long_ids)
    assert all(len(cursor_of(p["next"])) <= 1000 for p in pages if p["next"])
