"""What a voice-agent platform's webhook receiver needs from each platform.

A platform module verifies a delivery with that platform's own signature scheme, then maps the
payload to a :class:`PlatformEvent`: the platform's event name, its idempotency key, the payload
as it may be stored (secrets redacted) and a partial native call document, which
``calls.services.ingest_call_documents`` upserts like any other. Because the upsert keeps fields a
document leaves out and only moves a status forward, events of one call that arrive out of order
or more than once converge to the call in-order delivery gives.

Platform modules are pure: no database, no settings, no clock of their own (``now`` is passed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

# How far a signed timestamp may lie from the time of receipt, in either direction, by default.
DEFAULT_TIMESTAMP_TOLERANCE = timedelta(minutes=5)


class SignatureInvalid(Exception):
    """The delivery's signature is missing, malformed, wrong, stale or from the future. The
    message says which, in words safe to return to the sender (never a secret or a digest)."""


class PayloadInvalid(Exception):
    """A verified delivery whose payload cannot be mapped; ``field`` names the payload field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Delivery:
    """One HTTP delivery as received, before anything is parsed."""

    body: bytes
    # Header names in lower case.
    headers: Mapping[str, str]
    # The absolute URL the platform posted to, query string included (Twilio signs it).
    url: str
    content_type: str = ""


@dataclass(frozen=True)
class Credentials:
    """What a tenant's connection verifies with."""

    # The current secret first, then earlier secrets still inside their rotation overlap.
    secrets: tuple[str, ...]
    # The platform's credential kind, one of the platform's ``schemes`` (the first is the default).
    scheme: str = ""
    # The header that carries the secret, for schemes that send the secret itself in a header.
    header_name: str = ""
    # How far a signed timestamp may lie from ``now``, in either direction, for the platforms
    # whose signatures carry one (Retell, ElevenLabs, Vapi HMAC).
    timestamp_tolerance: timedelta = DEFAULT_TIMESTAMP_TOLERANCE


@dataclass(frozen=True)
class PlatformEvent:
    """One verified delivery, mapped."""

    # The platform's own event name (``end-of-call-report``, ``call_analyzed``, ``completed``…).
    event_type: str
    # The platform's call id; also the call document's ``call_id``. Empty only for an ignored
    # event that concerns no call (Vapi's ``chat.created``…).
    call_id: str
    # Unique per platform, call and event: a delivery seen again under this key is a resend.
    idempotency_key: str
    # The payload as it may be stored: secrets the platform embeds are redacted.
    payload: Any
    # The partial native call document, or ``None`` for an event Callscope does not use (the
    # receiver answers 200 so that the platform does not retry it).
    document: dict[str, Any] | None = field(default=None)
    # True when the event does not carry the call's start and ``document["start_time"]`` is the
    # best instant it has (when the event was sent, the call was created…), which CallDocument
    # requires: the receiver should then not let it replace the start of a call already stored,
    # or a late event would move a start an earlier event knew exactly.
    start_time_estimated: bool = False


class Platform(Protocol):
    """A platform module (``calls.platforms.vapi`` …) satisfies this protocol."""

    # The URL segment and the stored ``platform`` value: ``vapi``, ``retell``…
    name: str
    # Credential kinds the platform offers; the first is the default.
    schemes: tuple[str, ...]
    # Whether Callscope may choose the secret (else it is the platform's, pasted in).
    generates_secret: bool

    def verify(self, delivery: Delivery, credentials: Credentials, now: datetime) -> None:
        """Raises :class:`SignatureInvalid` unless ``delivery`` is signed with one of the
        credentials' secrets inside the platform's time window. Compares in constant time."""

    def decode(self, delivery: Delivery) -> Any:
        """The payload of a verified delivery (JSON, or a dict of form fields).
        Raises :class:`PayloadInvalid`."""

    def parse_payload(self, payload: Any) -> PlatformEvent:
        """Maps one decoded payload (a delivery's, or one line of an export file).
        Raises :class:`PayloadInvalid`."""
