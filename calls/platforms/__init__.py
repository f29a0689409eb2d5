"""Voice-agent platforms whose webhooks Callscope receives (see ``calls.platforms.base``)."""

from __future__ import annotations

from calls.platforms.base import (
    Credentials,
    Delivery,
    PayloadInvalid,
    Platform,
    PlatformEvent,
    SignatureInvalid,
)

# Filled with one module per platform: ``{"vapi": calls.platforms.vapi, …}``.
PLATFORMS: dict[str, Platform] = {}


def get_platform(name: str) -> Platform | None:
    return PLATFORMS.get(name)


__all__ = [
    "PLATFORMS",
    "Credentials",
    "Delivery",
    "PayloadInvalid",
    "Platform",
    "PlatformEvent",
    "SignatureInvalid",
    "get_platform",
]
