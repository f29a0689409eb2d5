"""Voice-agent platforms whose webhooks Callscope receives (see ``calls.platforms.base``).

One module per platform: ``vapi``, ``retell``, ``elevenlabs``, ``bland``, ``twilio``. Each
module's docstring names the platform's envelope, units, signature scheme, who chooses the
secret, and the idempotency key of its events.
"""

from __future__ import annotations

from calls.platforms import bland, elevenlabs, retell, twilio, vapi
from calls.platforms.base import (
    Credentials,
    Delivery,
    PayloadInvalid,
    Platform,
    PlatformEvent,
    SignatureInvalid,
)

PLATFORMS: dict[str, Platform] = {
    module.name: module for module in (vapi, retell, elevenlabs, bland, twilio)
}


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
