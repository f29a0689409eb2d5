"""OpenAPI pieces of every API: the Bearer key scheme, the error bodies of the ``platform`` and
``synthflow`` families (``config.api.errors``), the conditional reads
(``config.api.conditional``) and the schema's post-processing hook."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from config.api.conditional import ConditionalReadMixin


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "config.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A Callscope API key: `Authorization: Bearer cs_…`.",
        }


class SynthflowErrorDetailSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"error"')
    description = serializers.CharField()
    request_id = serializers.CharField(help_text="Also in the server's log line for the request.")
    category = serializers.CharField(help_text="bad_request, unauthorized, not_found, …")


class SynthflowErrorSerializer(serializers.Serializer):
    detail = SynthflowErrorDetailSerializer()


class ErrorItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(required=False)
    field = serializers.CharField()
    message = serializers.CharField()


class PlatformErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = ErrorItemSerializer(many=True, required=False)  # type: ignore[assignment]


# Marks a parameter whose empty value means "not sent" (``allow_empty_values``).
EMPTY_IS_ABSENT = "x-empty-is-absent"


def postprocess_schema(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Post-processing hook (``SPECTACULAR_SETTINGS``) for what ``extend_schema`` has no argument
    for: a parameter marked ``EMPTY_IS_ABSENT`` says ``allowEmptyValue``, and every request body
    is required (each write of the API reads one; without it the answer is a 400 or 401)."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.pop(EMPTY_IS_ABSENT, False):
                    parameter["allowEmptyValue"] = True
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result


class ApiAutoSchema(AutoSchema):
    """Documents every conditional read (a ``GET`` of a ``ConditionalReadMixin`` view) once: the
    ``If-None-Match`` request header, the ``304`` answer, and the ``ETag`` and
    ``Cache-Control`` headers of the answer and of the ``304``. Added to the finished operation,
    so every ``extend_schema`` of the views keeps its own responses and parameters."""

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        operation = super().get_operation(*args, **kwargs)
        max_age = (
            self.view.cache_max_age
            if self.method == "GET" and isinstance(self.view, ConditionalReadMixin)
            else None
        )
        if operation is None or max_age is None:
            return operation
        operation.setdefault("parameters", []).append(
            {
                "in": "header",
                "name": "If-None-Match",
                "schema": {"type": "string"},
                "description": (
                    "`ETag`s of answers the client holds (weak or strong, comma-separated, or "
                    "`*`): when one is current the answer is `304` without a body, which the "
                    "read throttle does not count."
                ),
            }
        )
        headers = {
            "ETag": {
                "schema": {"type": "string"},
                "description": (
                    "Weak tag of the answer: current until the tenant's data changes or the "
                    "clock moves the answer past a row, a bucket or the stale-after limit of "
                    "active calls. Absent when the server keeps no write generation."
                ),
            },
            "Cache-Control": {
                "schema": {"type": "string"},
                "description": f"`private, max-age={max_age}`: how often to poll.",
            },
        }
        responses = operation["responses"]
        responses["200"].setdefault("headers", {}).update(headers)
        responses["304"] = {
            "description": "Not modified: the `If-None-Match` tag is current (no body).",
            "headers": headers,
        }
        return operation
