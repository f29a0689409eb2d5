"""What the platforms' signature schemes share: reading signature headers, HMACs, constant-time
comparison against every secret of a connection, and the timestamp window.

Every check raises :class:`~calls.platforms.base.SignatureInvalid` with a message that is safe to
return to the sender: it names the header and what is wrong with it, never a digest or a secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from calls.platforms.base import DEFAULT_TIMESTAMP_TOLERANCE, Delivery, SignatureInvalid

DEFAULT_TOLERANCE = DEFAULT_TIMESTAMP_TOLERANCE
# A signature header longer than this is not one any platform sends; refusing it early keeps a
# hostile header from costing more than a few HMACs.
MAX_HEADER_LENGTH = 2048
# Epoch values at or above this are milliseconds: as seconds they would lie after the year 5138.
_MS_THRESHOLD = 100_000_000_000


def header(delivery: Delivery, name: str) -> str:
    """The value of header ``name`` (any case), stripped; missing, empty or oversized headers
    are refused."""
    value = delivery.headers.get(name.lower())
    if value is None:
        # Receivers lower-case header names; a caller that did not is still served.
        value = next((v for k, v in delivery.headers.items() if k.lower() == name.lower()), None)
    if value is None or not value.strip():
        raise SignatureInvalid(f"missing {name} header")
    if len(value) > MAX_HEADER_LENGTH:
        raise SignatureInvalid(f"malformed {name} header")
    return value.strip()


def parse_pairs(value: str, name: str) -> list[tuple[str, str]]:
    """``k=v,k=v`` pairs of a signature header (Retell's ``v=…,d=…``, ElevenLabs' ``t=…,v0=…``),
    in order, repeats kept."""
    pairs = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep or not key or not item:
            raise SignatureInvalid(f"malformed {name} header")
        pairs.append((key, item))
    return pairs


def epoch_instant(text: str, name: str, *, unit: str) -> datetime:
    """An epoch timestamp of a signature header: ``unit`` is ``"s"``, ``"ms"`` or ``"auto"``
    (seconds or milliseconds, told apart by size)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        raise SignatureInvalid(f"malformed timestamp in {name} header")
    number = int(text)
    if unit == "ms" or (unit == "auto" and number >= _MS_THRESHOLD):
        number_s = number / 1000
    else:
        number_s = float(number)
    try:
        return datetime.fromtimestamp(number_s, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise SignatureInvalid(f"malformed timestamp in {name} header") from None


def check_window(signed_at: datetime, now: datetime, tolerance: timedelta, name: str) -> None:
    """Refuses a signed timestamp further than ``tolerance`` from ``now`` in either direction:
    an old one is a replay, one from the future would stay replayable until it is old."""
    if signed_at < now - tolerance:
        raise SignatureInvalid(f"stale timestamp in {name} header")
    if signed_at > now + tolerance:
        raise SignatureInvalid(f"timestamp from the future in {name} header")


def hmac_digest(secret: str, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret.encode(), message, getattr(hashlib, algorithm)).digest()


def hmac_hex(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return hmac_digest(secret, message, algorithm).hex()


def any_secret_matches(
    secrets: Iterable[str], expected_for: Callable[[str], str], given: Iterable[str]
) -> bool:
    """Whether some secret's expected signature equals one of the ``given`` signatures.

    Each pair is compared in constant time, and every pair is compared (no early exit), so the
    time taken says nothing about which secret or which signature came close."""
    given_bytes = [item.encode() for item in given]
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = expected_for(secret).encode()
        for candidate in given_bytes:
            matched |= hmac.compare_digest(expected, candidate)
    return matched
