"""Synthflow's post-call webhook: signature check, mapping to a call document, and keeping the
URL token out of log lines."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from typing import Any

from calls.enums import CallPlatform

SIGNATURE_HEADER = "Synthflow-Signature"
# A webhook URL's last segment is a secret token; log lines show this instead.
REDACTED_TOKEN = "<token>"
_WEBHOOK_TOKEN_IN_PATH = re.compile(r"(/api/v1/webhooks/[A-Za-z0-9_-]+/)[^/\s\"'?#]+")


def sign_call_id(secret: str, call_id: str) -> str:
    """Synthflow signs the call id (not the body): base64(HMAC-SHA256(secret, call_id))."""
    digest = hmac.new(secret.encode(), call_id.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(secret: str, call_id: str, signature: str) -> bool:
    if not signature or not call_id:
        return False
    return hmac.compare_digest(sign_call_id(secret, call_id), signature.strip())


def webhook_call_id(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    call = payload.get("call")
    call_id = call.get("call_id") if isinstance(call, dict) else None
    call_id = call_id or payload.get("call_id")
    return call_id if isinstance(call_id, str) else ""


def webhook_to_document(payload: dict[str, Any]) -> dict[str, Any]:
    """The call document for a post-call webhook payload (``call``, ``lead``,
    ``executed_actions``, ``analysis``, ``collected_variables`` sections)."""
    raw_call, raw_lead = payload.get("call"), payload.get("lead")
    call: dict[str, Any] = raw_call if isinstance(raw_call, dict) else {}
    lead: dict[str, Any] = raw_lead if isinstance(raw_lead, dict) else {}
    document: dict[str, Any] = {
        key: value for key, value in call.items() if key not in {"diversion", "external_id"}
    }
    document.setdefault("call_id", webhook_call_id(payload))
    document["platform"] = CallPlatform.SYNTHFLOW.value
    if "status" not in document and "status" in payload:
        document["status"] = payload["status"]
    if "error_message" in payload and "error_message" not in document:
        document["error_message"] = payload["error_message"]
    if lead.get("name") is not None:
        document.setdefault("lead_name", lead["name"])
    if lead.get("phone_number") is not None:
        document.setdefault("lead_phone_number", lead["phone_number"])
    if isinstance(lead.get("prompt_variables"), dict):
        document.setdefault("prompt_variables", lead["prompt_variables"])
    for key in ("executed_actions", "collected_variables"):
        if key in payload:
            document[key] = payload[key]
    if "analysis" in payload:
        document["judge_results"] = payload["analysis"]
    return document


def redact_webhook_tokens(text: str) -> str:
    """``text`` with the token of every webhook URL path in it replaced by ``<token>``."""
    return _WEBHOOK_TOKEN_IN_PATH.sub(rf"\g<1>{REDACTED_TOKEN}", text)


class RedactWebhookTokens(logging.Filter):
    """Logging filter for the loggers that print request paths (``django.request``,
    ``django.server``, ``callscope.request``): the webhook URL token is a credential, so it
    never reaches a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_webhook_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_webhook_tokens(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, dict):
            record.args = {
                key: redact_webhook_tokens(arg) if isinstance(arg, str) else arg
                for key, arg in record.args.items()
            }
        return True
