"""What the platform modules share once a delivery is verified: decoding bodies, reading payload
fields so that an error names the field, unit conversions, and redaction.

Defensive, because a verified sender (or an export file) can still send anything: bodies must be
UTF-8 with finite numbers (``1e400`` is refused, not read as infinity; ``json.loads`` raises
``RecursionError`` on very deep input, which becomes :class:`PayloadInvalid` too), and
:func:`storable`, with which every ``parse_payload`` starts, refuses nesting deeper than
``calls.documents.MAX_JSON_DEPTH`` levels and NUL characters or lone UTF-16 surrogates in any
string or key, which PostgreSQL cannot store. Errors name the payload field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from calls.documents import E164, EARLIEST_INSTANT, LATEST_INSTANT, MAX_JSON_DEPTH
from calls.platforms.base import PayloadInvalid

BODY = "(body)"
# Cost breakdown components (``cost_breakdown`` keys of a call document).
STT, LLM, TTS, TELEPHONY, PLATFORM, OTHER = "stt", "llm", "tts", "telephony", "platform", "other"
# Costs are stored to the micro-dollar; larger totals than this are not a call's.
_USD_QUANTUM = Decimal("0.000001")
_MAX_USD = Decimal(1_000_000_000)
REDACTED = "[redacted]"
_TOO_DEEP = f"must not be nested deeper than {MAX_JSON_DEPTH} levels"


# Decoding ------------------------------------------------------------------------------------


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("numbers must be finite")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def decode_json(body: bytes) -> Any:
    """The JSON value of a delivery body: UTF-8, finite numbers, no nesting deep enough to
    exhaust the parser (``parse_payload`` checks the rest)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadInvalid(BODY, "must be UTF-8 encoded JSON") from None
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise PayloadInvalid(BODY, _TOO_DEEP) from None
    except ValueError as exc:
        # JSONDecodeError, a non-finite number, or an integer too long to convert.
        message = "numbers must be finite" if "finite" in str(exc) else "must be valid JSON"
        raise PayloadInvalid(BODY, message) from None
    return value


def decode_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (a repeated field keeps its last
    value; the signature check reads every value itself)."""
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise PayloadInvalid(BODY, "must be form-encoded UTF-8 fields") from None
    return dict(pairs)


def check_storable(value: Any) -> None:
    """Refuses what jsonb cannot hold or what is nested too deeply, naming the field. Walked
    without recursion, so no payload can exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, path or BODY)
        elif isinstance(item, float) and not math.isfinite(item):
            raise PayloadInvalid(path or BODY, "numbers must be finite")
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise PayloadInvalid(path or BODY, _TOO_DEEP)
            if isinstance(item, list):
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
                continue
            for key, child in item.items():
                key_path = f"{path}.{key}" if path else str(key)
                _check_text(str(key), key_path)
                stack.append((child, key_path, depth + 1))


def storable(payload: Any, keys: frozenset[str] | None = None) -> Any:
    """``payload`` as it may be stored: checked like :func:`check_storable`, and when it holds a
    credential under one of ``keys`` (default ``SECRET_KEYS``), a copy with those values
    redacted; else the payload itself, uncopied. Every ``parse_payload`` starts with it, since
    payloads come from deliveries and from export files alike.

    One quick walk that builds no field paths (most of the cost of mapping a delivery); only a
    payload it finds fault with is walked again by :func:`check_storable`, to name the field."""
    keys = SECRET_KEYS if keys is None else keys
    holds_secret = False
    stack: list[tuple[Any, int]] = [(payload, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _fine_text(item):
                _refuse(payload)
        elif isinstance(item, dict):
            if depth >= MAX_JSON_DEPTH:
                _refuse(payload)
            for key, child in item.items():
                if not isinstance(key, str) or not _fine_text(key):
                    _refuse(payload)
                if key.lower() in keys and child not in (None, ""):
                    holds_secret = True
                if isinstance(child, str | dict | list | float):
                    stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth >= MAX_JSON_DEPTH:
                _refuse(payload)
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            _refuse(payload)
    return redacted(payload, keys) if holds_secret else payload


def _fine_text(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse(payload: Any) -> NoReturn:
    check_storable(payload)
    # Not reached for JSON values: check_storable finds what the quick walk found.
    raise PayloadInvalid("(payload)", "cannot be stored")


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise PayloadInvalid(_printable(path), "must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadInvalid(_printable(path), "must not contain lone UTF-16 surrogates") from None


def _printable(path: str) -> str:
    # A field name quoted back may itself hold what was refused.
    return path.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


# Reading fields ------------------------------------------------------------------------------


class Fields:
    """One JSON object of a payload, read together with its path, so that every error names the
    field (``message.call.id``, ``call.start_timestamp`` …)."""

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, dict):
            raise PayloadInvalid(path or "(payload)", "must be an object")
        self.data: dict[str, Any] = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def __contains__(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def obj(self, key: str, *, required: bool = False) -> Fields | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise PayloadInvalid(self.at(key), "is required")
            return None
        return Fields(value, self.at(key))

    def objects(self, key: str) -> list[Fields]:
        """A list of objects (null or absent: empty)."""
        return [Fields(item, f"{self.at(key)}[{i}]") for i, item in enumerate(self.array(key))]

    def array(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise PayloadInvalid(self.at(key), "must be a list")
        return value

    def text(self, key: str, *, required: bool = False, max_length: int | None = None) -> str:
        """A string field; absent, null and (unless required) empty give ``""``."""
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise PayloadInvalid(self.at(key), "is required")
            return ""
        if not isinstance(value, str):
            raise PayloadInvalid(self.at(key), "must be a string")
        if max_length is not None and len(value) > max_length:
            raise PayloadInvalid(self.at(key), f"must be at most {max_length} characters")
        return value

    def number(self, key: str, *, required: bool = False) -> int | float | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise PayloadInvalid(self.at(key), "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PayloadInvalid(self.at(key), "must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise PayloadInvalid(self.at(key), "numbers must be finite")
        return value

    def numeric_text(self, key: str, *, max_digits: int = 9) -> int | None:
        """A whole number sent as a string of ASCII digits (Twilio's and Bland's durations), or
        as a JSON integer."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, str):
            text = value.strip()
        else:
            raise PayloadInvalid(self.at(key), "must be a whole number")
        if not (text.isascii() and text.isdigit()) or len(text) > max_digits:
            raise PayloadInvalid(self.at(key), "must be a whole number")
        return int(text)

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise PayloadInvalid(self.at(key), "must be true or false")
        return value


def call_id(fields: Fields, key: str) -> str:
    """The platform's call id: a non-empty string that fits ``CallDocument.call_id``."""
    return fields.text(key, required=True, max_length=100)


# Units ---------------------------------------------------------------------------------------


def in_range(instant: datetime, path: str) -> datetime:
    """``instant`` when call documents can hold it (1970 to 2200), else ``PayloadInvalid``."""
    if not EARLIEST_INSTANT <= instant < LATEST_INSTANT:
        raise PayloadInvalid(path, "must lie between 1970 and 2200")
    return instant


def from_epoch(value: int | float, path: str, *, unit: str) -> datetime:
    """An instant from epoch seconds (``unit="s"``) or milliseconds (``"ms"``)."""
    seconds = value / 1000 if unit == "ms" else value
    try:
        instant = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise PayloadInvalid(path, "must lie between 1970 and 2200") from None
    return in_range(instant, path)


def from_iso(text: str, path: str) -> datetime:
    """An ISO 8601 instant; one without an offset is UTC."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(candidate)
    except ValueError:
        raise PayloadInvalid(path, "must be an ISO 8601 date and time") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    try:
        return in_range(instant.astimezone(UTC), path)
    except OverflowError:
        raise PayloadInvalid(path, "must lie between 1970 and 2200") from None


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat()


def whole_seconds(start: datetime, end: datetime) -> int | None:
    """``end - start`` rounded to whole seconds, or None when the end lies before the start."""
    seconds = round((end - start).total_seconds())
    return seconds if seconds >= 0 else None


def offset_ms(seconds: int | float | None) -> int | None:
    """A turn offset in ms from seconds since the call started (negative or huge: unknown)."""
    if seconds is None or seconds < 0:
        return None
    ms = round(seconds * 1000)
    return ms if ms <= 2_147_483_647 else None


def decimal_of(value: int | float | str, path: str) -> Decimal:
    """A JSON number as an exact decimal (``0.0529`` stays ``0.0529``, not its binary twin)."""
    try:
        number = Decimal(value) if isinstance(value, int | str) else Decimal(repr(value))
    except InvalidOperation:
        raise PayloadInvalid(path, "must be a number") from None
    if not number.is_finite():
        raise PayloadInvalid(path, "numbers must be finite")
    return number


def usd(amount: Decimal, path: str) -> str:
    """A USD amount as the decimal string call documents carry, to the micro-dollar."""
    if amount < 0:
        raise PayloadInvalid(path, "must not be negative")
    if amount >= _MAX_USD:
        raise PayloadInvalid(path, "is not a plausible cost of one call")
    rounded = amount.quantize(_USD_QUANTUM, rounding=ROUND_HALF_EVEN).normalize()
    return format(rounded, "f")


def breakdown(parts: Iterable[tuple[str, Decimal]], path: str) -> dict[str, str]:
    """Sums the (component, USD amount) parts per component."""
    totals: dict[str, Decimal] = {}
    for component, amount in parts:
        totals[component] = totals.get(component, Decimal(0)) + amount
    return {component: usd(amount, path) for component, amount in totals.items()}


def latency(provider_type: str, provider_name: str, ms: int | float) -> dict[str, Any] | None:
    """A latency sample of a call document, or None for a value no sample can hold."""
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not 0 <= ms <= 86_400_000:
        return None
    return {"provider_type": provider_type, "provider_name": provider_name[:64], "latency_ms": ms}


def phone(value: str) -> str:
    """A phone number (or SIP address) for the document's ``phone_number_*`` fields, which hold
    32 characters: a longer one stays only in the stored payload."""
    compact = "".join(ch for ch in value if ch not in " -().\t")
    return compact if len(compact) <= 32 else ""


def lead_phone(value: str) -> str:
    """The caller's number as the document's ``lead_phone_number`` (which links the call to a
    lead with that number) when it is E.164, else ``""``: a SIP address is not a lead's phone."""
    compact = phone(value)
    return compact if E164.match(compact) else ""


# Redaction -----------------------------------------------------------------------------------

# Keys that hold a credential wherever they occur in a payload (compared in lower case).
SECRET_KEYS = frozenset(
    {
        "access_token",
        "accesstoken",
        "apikey",
        "apisecret",
        "authorization",
        "authtoken",
        "clientsecret",
        "password",
        "secret",
        "secretkey",
        "token",
        "x-vapi-secret",
    }
)


def redacted(value: Any, keys: frozenset[str] = SECRET_KEYS) -> Any:
    """A copy of ``value`` in which every value of a key in ``keys`` (any case) reads
    ``[redacted]``. Copied without recursion (``value`` is already depth-checked)."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        item, parent, slot = stack.pop()
        if isinstance(item, dict):
            copy: Any = {}
            for key, child in item.items():
                if isinstance(key, str) and key.lower() in keys and child not in (None, ""):
                    copy[key] = REDACTED
                else:
                    stack.append((child, copy, key))
        elif isinstance(item, list):
            copy = [None] * len(item)
            stack.extend((child, copy, i) for i, child in enumerate(item))
        else:
            copy = item
        parent[slot] = copy
    return root[0]
