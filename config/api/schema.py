"""OpenAPI pieces of every API: the Bearer key scheme, the error bodies of the ``platform`` and
``synthflow`` families (``config.api.errors``), and the schema's post-processing hook."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers


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
