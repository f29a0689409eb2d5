"""The signature helpers every platform shares, and the registry of platforms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calls.platforms import PLATFORMS, Delivery, SignatureInvalid, get_platform, signing

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_registry_holds_the_five_platforms() -> None:
    assert set(PLATFORMS) == {"vapi", "retell", "elevenlabs", "bland", "twilio"}
    for name, module in PLATFORMS.items():
        assert module.name == name
        assert module.schemes
        assert isinstance(module.generates_secret, bool)
    # Only Vapi lets the tenant paste a secret Callscope chose; the others issue their own.
    assert [n for n, m in PLATFORMS.items() if m.generates_secret] == ["vapi"]
    assert get_platform("synthflow") is None


def test_window_is_inclusive_and_symmetric() -> None:
    tolerance = timedelta(minutes=5)
    signing.check_window(NOW - tolerance, NOW, tolerance, "h")
    signing.check_window(NOW + tolerance, NOW, tolerance, "h")
    with pytest.raises(SignatureInvalid, match="stale"):
        signing.check_window(NOW - tolerance - timedelta(milliseconds=1), NOW, tolerance, "h")
    with pytest.raises(SignatureInvalid, match="future"):
        signing.check_window(NOW + tolerance + timedelta(milliseconds=1), NOW, tolerance, "h")


def test_default_tolerance_is_five_minutes() -> None:
    assert timedelta(minutes=5) == signing.DEFAULT_TOLERANCE
    from calls.platforms import Credentials

    assert Credentials(secrets=("s",)).timestamp_tolerance == signing.DEFAULT_TOLERANCE


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("1700000000", "s", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000000", "ms", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000", "auto", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000000", "auto", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ],
)
def test_epoch_instants(text: str, unit: str, expected: datetime) -> None:
    assert signing.epoch_instant(text, "h", unit=unit) == expected


# Arabic-Indic digits read as a number by int(), but no platform sends them.
ARABIC_INDIC = "\u0661\u0667" + "\u0660" * 8


@pytest.mark.parametrize("text", ["", "-1", "1e9", ARABIC_INDIC, "9" * 17, "9" * 16])
def test_malformed_epoch_instants(text: str) -> None:
    with pytest.raises(SignatureInvalid, match="malformed"):
        signing.epoch_instant(text, "h", unit="s")


def test_header_lookup_ignores_case_and_refuses_empty_or_huge_values() -> None:
    delivery = Delivery(body=b"", headers={"X-Sig": " abc "}, url="")
    assert signing.header(delivery, "x-sig") == "abc"
    for value in ("", "   ", "a" * (signing.MAX_HEADER_LENGTH + 1)):
        with pytest.raises(SignatureInvalid):
            signing.header(Delivery(body=b"", headers={"x-sig": value}, url=""), "x-sig")


def test_any_secret_matches_checks_every_pair() -> None:
    calls: list[str] = []

    def expected(secret: str) -> str:
        calls.append(secret)
        return f"sig-{secret}"

    assert signing.any_secret_matches(["a", "b", "c"], expected, ["sig-a", "zzz"])
    # No early exit: the time taken says nothing about which secret matched.
    assert calls == ["a", "b", "c"]
    assert not signing.any_secret_matches(["a"], expected, ["sig-A"])
    assert not signing.any_secret_matches([], expected, ["sig-"])
    # An empty secret never verifies anything.
    assert not signing.any_secret_matches([""], lambda s: "", [""])
