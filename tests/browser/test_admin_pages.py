"""The admin in a real browser: the analytics dashboard draws every chart, its drill-down links
open call lists with the same counts, the call page plays its recording (or says it cannot),
seeks it from the transcript, draws its latency chart by the agent's replies and leads to the
previous and next call of the list it was opened from, and tenant staff cannot open another
tenant's dashboard."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from calls.demo.catalogue import RECORDED_CONVERSATIONS
from calls.demo.recordings import recording_url
from calls.demo.writer import seed_demo
from calls.models import Call, LatencySample, Tenant, TranscriptTurn
from tests.analytics.test_dashboard import seed_dashboard_data
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DASHBOARD = "/admin/analytics/dashboard/"
CHARTS = ("volume", "latency", "end_reasons", "agents", "workflows", "funnel")

LogIn = Callable[[str, str, str], None]


@pytest.fixture
def acme() -> Tenant:
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="Europe/Berlin")
    seed_dashboard_data(tenant, timezone.now())
    return tenant


@pytest.fixture
def globex() -> Tenant:
    tenant = Tenant.objects.create(name="Globex", slug="globex", timezone="UTC")
    seed_dashboard_data(tenant, timezone.now(), scale=2)
    return tenant


def listed_count(page: Any) -> int:
    """The count the call list's paginator shows ("42 calls")."""
    text = page.locator("p.paginator").inner_text()
    match = re.search(r"([\d,]+) calls?\b", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def chart_points(page: Any, name: str) -> int:
    """How many data points the Chart.js instance on the chart ``name``'s canvas holds."""
    return int(
        page.evaluate(
            """(name) => {
                const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
                const chart = canvas && Chart.getChart(canvas);
                if (!chart) { return -1; }
                return chart.data.datasets.reduce(
                    (n, d) => n + d.data.filter((v) => v !== null && v !== 0).length, 0);
            }""",
            name,
        )
    )


def test_dashboard_draws_every_chart_with_data(
    page: Any, log_in: LogIn, superuser: User, acme: Tenant, artifacts: Path, page_errors: list[str]
) -> None:
    log_in("root", PASSWORD, DASHBOARD)
    page.wait_for_selector('canvas[data-chart="funnel"][data-drawn="true"]')

    assert page.locator("h1").first.inner_text() == "Analytics"
    assert "Europe/Berlin" in page.locator(".cs-dash-window").inner_text()
    assert page.locator(".cs-tile").count() == 7
    for name in CHARTS:
        assert page.evaluate(
            '(n) => Chart.getChart(document.querySelector(`canvas[data-chart="${n}"]`))'
            ".data.datasets[0].data.length > 0",
            name,
        ), name
        assert chart_points(page, name) > 0, name
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    assert page_errors == []


def test_a_tile_and_a_chart_bar_open_call_lists_with_their_counts(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, artifacts: Path, page_errors: list[str]
) -> None:
    log_in("ada", PASSWORD, f"{DASHBOARD}?range=30d")
    tile = page.locator('a.cs-tile[data-tile="completed"]')
    counted = int(tile.get_attribute("data-count") or -1)
    assert counted > 0

    tile.click()
    page.wait_for_url("**/admin/calls/call/**")
    assert listed_count(page) == counted
    page.screenshot(path=str(artifacts / "call-list.png"), full_page=True)

    # A bar of the "top agents" chart leads to that agent's calls.
    page.go_back()
    page.wait_for_selector('canvas[data-chart="agents"][data-drawn="true"]')
    canvas = page.locator('canvas[data-chart="agents"]')
    canvas.scroll_into_view_if_needed()
    bar = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.querySelector('canvas[data-chart="agents"]'));
            const point = chart.getDatasetMeta(0).data[0].getCenterPoint();
            return {x: point.x, y: point.y, value: chart.data.datasets[0].data[0]};
        }"""
    )
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + bar["x"], box["y"] + bar["y"])
    page.wait_for_url("**/admin/calls/call/**agent__id__exact=*")
    assert listed_count(page) == bar["value"]
    assert page_errors == []


def test_a_long_range_draws_weekly_bars_and_its_points_open_the_calls_they_count(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, artifacts: Path, page_errors: list[str]
) -> None:
    today = timezone.now().astimezone(acme.zone).date()
    first = today - timedelta(days=119)
    log_in("ada", PASSWORD, DASHBOARD)
    page.goto(f"{DASHBOARD}?from_date={first}&to_date={today}")
    page.wait_for_selector('canvas[data-chart="latency"][data-drawn="true"]')
    labels = page.evaluate(
        """() => Chart.getChart(document.querySelector('canvas[data-chart="volume"]'))
            .data.labels"""
    )
    # 120 local days in weeks, Monday to Sunday: one bar per week the range touches (18 for any
    # first weekday, as 120 days are 17 weeks and a day).
    weeks = {
        first + timedelta(days=n) - timedelta(days=(first + timedelta(days=n)).weekday())
        for n in range(120)
    }
    assert len(labels) == len(weeks) == 18
    page.screenshot(path=str(artifacts / "dashboard-weekly.png"), full_page=True)

    def click(name: str, dataset: int, index: int) -> None:
        canvas = page.locator(f'canvas[data-chart="{name}"]')
        canvas.scroll_into_view_if_needed()
        point = page.evaluate(
            """([name, dataset, index]) => {
                const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
                return Chart.getChart(canvas).getDatasetMeta(dataset).data[index].getCenterPoint();
            }""",
            [name, dataset, index],
        )
        box = canvas.bounding_box()
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        page.wait_for_url("**/admin/calls/call/**")

    # The last week's "completed" segment opens exactly that week's completed calls.
    bar = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.querySelector('canvas[data-chart="volume"]'));
            const dataset = chart.data.datasets.findIndex((d) => d.label === "completed");
            const data = chart.data.datasets[dataset].data;
            return {dataset: dataset, index: data.length - 1, value: data[data.length - 1]};
        }"""
    )
    assert bar["value"] > 0
    click("volume", bar["dataset"], bar["index"])
    assert "status__exact=completed" in page.url
    assert listed_count(page) == bar["value"]

    # The highest latency point (a p99 line, whose links its provider's p50 line carries) opens
    # the calls with samples from its provider that day, as many as its tooltip says.
    page.go_back()
    page.wait_for_selector('canvas[data-chart="latency"][data-drawn="true"]')
    top = page.evaluate(
        """() => {
            const canvas = document.querySelector('canvas[data-chart="latency"]');
            const chart = Chart.getChart(canvas);
            const spec = JSON.parse(document.getElementById(canvas.dataset.source).textContent)
                .latency;
            let best = null;
            spec.datasets.forEach((d, dataset) => d.data.forEach((value, index) => {
                if (value !== null && (best === null || value > best.value)) {
                    best = {dataset: dataset, index: index, value: value, label: d.label,
                            note: spec.links[d.links].notes[index]};
                }
            }));
            return best;
        }"""
    )
    assert top["label"].endswith("p99")
    click("latency", top["dataset"], top["index"])
    assert "provider=" in page.url
    assert listed_count(page) == int(top["note"].split(" calls")[0].replace(",", ""))
    assert page_errors == []


def test_call_page_shows_the_transcript_plays_the_recording_and_draws_latency(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, artifacts: Path, page_errors: list[str]
) -> None:
    call = Call.objects.get(tenant=acme, call_id="c-1")
    call.end_time = call.start_time + timedelta(seconds=47)
    call.save(update_fields=["end_time"])
    TranscriptTurn.objects.filter(call=call).delete()
    TranscriptTurn.objects.bulk_create(
        [
            TranscriptTurn(call=call, position=0, role="bot", text="Hi, Eddie!", start_ms=0),
            TranscriptTurn(
                call=call, position=1, role="human", text="Hello, who is this?", start_ms=1_200
            ),
            TranscriptTurn(
                call=call, position=2, role="bot", text="Your clinic's assistant.", start_ms=65_000
            ),
        ]
    )
    LatencySample.objects.filter(call=call).delete()
    LatencySample.objects.bulk_create(
        LatencySample(
            tenant=acme,
            call=call,
            start_time=call.start_time,
            position=turn * 3 + k,
            provider_type=provider_type,
            provider_name=provider_name,
            latency_ms=base + 37 * ((turn * 5 + k) % 4),
        )
        for turn in range(6)
        for k, (provider_type, provider_name, base) in enumerate(
            [("stt", "deepgram", 120.0), ("llm", "openai", 380.0), ("tts", "elevenlabs", 210.0)]
        )
    )
    log_in("ada", PASSWORD, f"/admin/calls/call/{call.pk}/change/")

    # Start and end to the second, in the tenant's zone.
    for field, value in (("start", call.start_time), ("end", call.end_time)):
        shown = page.locator(f".fieldBox.field-{field}_time_display .readonly").inner_text()
        assert shown == f"{value.astimezone(acme.zone):%Y-%m-%d %H:%M:%S}", field
    turns = page.locator(".cs-conversation .cs-turn")
    assert turns.count() == 3
    assert "Hi, Eddie!" in turns.nth(0).inner_text()
    assert page.locator(".cs-turn-meta time").all_inner_texts() == ["00:00", "00:01", "01:05"]
    audio = page.locator("fieldset audio")
    assert audio.get_attribute("src") == call.recording_url
    playable = page.evaluate(
        """async () => {
            const audio = document.querySelector("fieldset audio");
            audio.muted = true;
            await audio.play();
            audio.pause();
            return {error: audio.error, duration: audio.duration};
        }"""
    )
    assert playable["error"] is None
    assert playable["duration"] > 0
    page.wait_for_selector('canvas[data-chart="latency"][data-drawn="true"]')
    assert chart_points(page, "latency") == 18  # six samples each of stt, llm and tts
    # The x-axis is the agent's replies: the one reply the transcript has, then numbers.
    labels = page.evaluate(
        """() => Chart.getChart(document.querySelector('canvas[data-chart="latency"]'))
            .data.labels"""
    )
    assert labels == ["Turn 3 · agent · 01:05", *(f"Reply {n}" for n in range(2, 7))]
    assert page.locator(".cs-recording-error").is_hidden()
    page.screenshot(path=str(artifacts / "call.png"), full_page=True)
    assert page_errors == []


def test_call_page_says_when_its_recording_cannot_be_loaded(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, artifacts: Path
) -> None:
    call = Call.objects.get(tenant=acme, call_id="c-1")
    # Not the test recordings host: the request is refused, like a link to nowhere.
    call.recording_url = "https://recordings.callscope.example/c-1.wav"
    call.save()

    log_in("ada", PASSWORD, f"/admin/calls/call/{call.pk}/change/")

    message = page.locator(".cs-recording-error")
    message.wait_for(state="visible")
    assert message.inner_text() == (
        "Recording could not be loaded from recordings.callscope.example."
    )
    assert page.evaluate('() => document.querySelector("audio").error !== null')
    page.screenshot(path=str(artifacts / "call-recording-unavailable.png"))


def test_a_demo_recording_plays_and_its_turns_seek_it(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, artifacts: Path, page_errors: list[str]
) -> None:
    seed_demo(tenant=acme, calls=400, days=5, seed=1)
    call = (
        Call.objects.filter(tenant=acme, recording_url__startswith="/demo/recordings/")
        .order_by("pk")
        .first()
    )
    assert call is not None
    (recorded,) = (r for r in RECORDED_CONVERSATIONS if call.recording_url == recording_url(r))

    log_in("ada", PASSWORD, f"/admin/calls/call/{call.pk}/change/")

    # The shipped file loads from this server. Django's static serving answers no byte ranges,
    # so chromium cannot read an Ogg file's length off its end: the duration is then unbounded
    # (behind a proxy that serves ranges it is the call's; tests/calls/test_demo_coherence.py
    # checks the files' lengths).
    page.wait_for_function('() => document.querySelector("audio").readyState >= 1')
    duration = page.evaluate('() => document.querySelector("audio").duration')
    assert duration > 0
    assert call.duration == recorded.seconds
    page.evaluate('() => { document.querySelector("audio").muted = true; }')
    turns = page.locator(".cs-conversation .cs-turn")
    assert turns.count() == len(recorded.turns)

    # A click on the third turn plays the recording from that turn's start.
    start_ms = recorded.turns[2][0]
    turns.nth(2).locator(".cs-bubble").click()
    page.wait_for_function(
        """(start) => {
            const audio = document.querySelector("audio");
            return !audio.paused && audio.currentTime > start;
        }""",
        arg=start_ms / 1000,
    )
    assert page.evaluate('() => document.querySelector("audio").error') is None
    # While it plays, the turn being spoken is marked.
    page.wait_for_selector(".cs-turn:nth-child(3).cs-turn-playing")
    page.evaluate('() => document.querySelector("audio").pause()')
    page.screenshot(path=str(artifacts / "call-demo-recording.png"), full_page=True)

    # The keyboard works too: Enter on the first turn goes back to the start.
    turns.nth(0).focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        """(start) => Math.abs(document.querySelector("audio").currentTime - start) < 0.5""",
        arg=recorded.turns[0][0] / 1000,
    )
    assert page_errors == []


def test_a_demo_recording_lasts_as_long_as_its_call(
    page: Any, log_in: LogIn, staff: User, acme: Tenant
) -> None:
    seed_demo(tenant=acme, calls=400, days=5, seed=1)
    calls = Call.objects.filter(tenant=acme, recording_url__startswith="/demo/recordings/")
    durations = dict(calls.values_list("recording_url", "duration"))
    assert len(durations) == len(RECORDED_CONVERSATIONS)

    log_in("ada", PASSWORD, "/admin/")
    for url, seconds in durations.items():
        call = calls.filter(recording_url=url).first()
        assert call is not None
        page.goto(f"/admin/calls/call/{call.pk}/change/")
        page.wait_for_function(
            '() => Number.isFinite(document.querySelector("audio").duration)', timeout=10_000
        )
        duration = page.evaluate('() => document.querySelector("audio").duration')
        assert abs(duration - seconds) < 0.1, (url, duration, seconds)


def test_previous_and_next_follow_the_list_the_call_was_opened_from(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, artifacts: Path, page_errors: list[str]
) -> None:
    listing = "/admin/calls/call/?status__exact=completed"
    log_in("ada", PASSWORD, listing)
    rows = page.locator("#result_list tbody tr")
    listed = [
        row.locator('a[href*="/change/"]').first.get_attribute("href") or "" for row in rows.all()
    ]
    pks = [int(re.search(r"/call/(\d+)/change/", href).group(1)) for href in listed]  # type: ignore[union-attr]
    assert len(pks) >= 4
    assert {c.status for c in Call.objects.filter(pk__in=pks)} == {"completed"}

    rows.nth(1).locator('a[href*="/change/"]').first.click()
    page.wait_for_url(f"**/call/{pks[1]}/change/**")
    assert "_changelist_filters=status__exact%3Dcompleted" in page.url
    page.screenshot(path=str(artifacts / "call-previous-next.png"))

    def opened() -> int:
        return int(re.search(r"/call/(\d+)/change/", page.url).group(1))  # type: ignore[union-attr]

    for expected in pks[2:4]:
        page.click("a[rel=next]")
        page.wait_for_load_state("load")
        assert opened() == expected
        assert "_changelist_filters=status__exact%3Dcompleted" in page.url
    for expected in reversed(pks[:3]):
        page.click("a[rel=prev]")
        page.wait_for_load_state("load")
        assert opened() == expected
    # The first call of the list has no previous one.
    assert page.locator("a[rel=prev]").count() == 0
    assert page_errors == []


def test_tenant_staff_cannot_open_another_tenants_dashboard(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, globex: Tenant, page_errors: list[str]
) -> None:
    log_in("ada", PASSWORD, DASHBOARD)
    assert "Acme" in page.locator("#content").inner_text()
    assert page.locator('select[name="tenant"]').count() == 0

    response = page.goto(f"{DASHBOARD}?tenant={globex.pk}")

    assert response.status == 404
    assert "Globex" not in page.content()
