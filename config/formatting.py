"""Values as the admin pages show them (the call list, the analytics dashboard)."""

from __future__ import annotations


def format_seconds(seconds: int | None) -> str:
    """A duration as ``m:ss``, or ``h:mm:ss`` from an hour on; ``-`` when unknown."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
