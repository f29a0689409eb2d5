"""Values as the admin pages show them (the call list, the analytics dashboard)."""

from __future__ import annotations

from decimal import Decimal


def format_seconds(seconds: int | None) -> str:
    """A duration as ``m:ss``, or ``h:mm:ss`` from an hour on; ``-`` when unknown."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_usd(amount: Decimal | str | None) -> str:
    """US dollars with at least two decimals and no trailing zeros past them (``$0.1234``,
    ``$1.50``); ``-`` when unknown."""
    if amount is None or amount == "":
        return "-"
    value = Decimal(amount)
    text = format(value.normalize(), "f") if value else "0"
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"
