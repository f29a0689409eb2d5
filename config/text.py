"""Text that came from a client, made safe to show."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` safe to put in a response or a log line: a lone surrogate becomes its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
