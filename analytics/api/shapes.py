"""Typed analytics results on the wire and in the OpenAPI schema.

The query layer returns frozen dataclasses whose fields are named as the wire fields. Both the
body (``to_wire``) and its documentation (``openapi_schema``) are derived from their type hints,
so each response shape is written once, as a dataclass.

Field metadata read here:

- ``help``: the field's description;
- ``format``: the OpenAPI format of a ``str`` field (instants are formatted by the query layer,
  whose formats differ per family: ``analytics.windows.iso_utc``, ``iso_local``, ``iso_utc_ms``);
- ``schema``: a hand-written schema for a value whose keys are not known in advance.

Every dataclass is documented once, as a named component (``#/components/schemas/<class
name>``) that the answers referring to it point at, so a client generated from the schema gets one
type per shape; ``add_components`` (a drf-spectacular post-processing hook) adds them.

Rendering is one pass of plain function calls per value, compiled once per type: these bodies
hold thousands of values, which a serializer per field would take many milliseconds to render.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal, Union

# Renders one value of a known type; ``None`` where the value is its own wire form.
Converter = Callable[[Any], Any] | None

_SCALARS: dict[Any, dict[str, Any]] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number", "format": "double"},
    str: {"type": "string"},
    date: {"type": "string", "format": "date"},
    Any: {},
}


def to_wire(result: Any) -> Any:
    """A typed result (a dataclass, or a list of them) as JSON-ready dicts and lists."""
    if isinstance(result, list):
        return [to_wire(item) for item in result]
    result_type: Any = type(result)
    convert = _converter(result_type)
    return result if convert is None else convert(result)


# Component name -> schema, filled as the views' schemas are declared.
_COMPONENTS: dict[str, dict[str, Any]] = {}


def register_component(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Records ``schema`` as the component ``name`` and returns a reference to it. Two shapes
    may not share a name: a generated client would have one type for both."""
    if _COMPONENTS.setdefault(name, schema) != schema:
        raise ValueError(f"two different shapes are both called {name!r}")
    return {"$ref": f"#/components/schemas/{name}"}


def add_components(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Post-processing hook (``SPECTACULAR_SETTINGS``): the registered components."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in _COMPONENTS.items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"component {name!r} is also declared elsewhere")
    return result


def object_schema(result_type: Any) -> dict[str, Any]:
    """The OpenAPI 3.0 object of a dataclass: every field required, nullable exactly where the
    type says ``| None``; nested dataclasses are references to their components."""
    hints = typing.get_type_hints(result_type)
    fields = dataclasses.fields(result_type)
    return {
        "type": "object",
        "properties": {f.name: _field_schema(f, hints[f.name]) for f in fields},
        "required": [f.name for f in fields],
    }


def openapi_schema(result_type: Any) -> dict[str, Any]:
    """The OpenAPI 3.0 schema of a result type; a dataclass is a reference to its component."""
    if dataclasses.is_dataclass(result_type):
        name = typing.cast(type, result_type).__name__
        return register_component(name, object_schema(result_type))
    if result_type in _SCALARS:
        return dict(_SCALARS[result_type])
    origin, args = typing.get_origin(result_type), typing.get_args(result_type)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        schema = openapi_schema(inner)
        # OpenAPI 3.0 ignores keywords beside a ``$ref``: a nullable reference wraps it.
        if "$ref" in schema:
            return {"allOf": [schema], "nullable": True}
        return {**schema, "nullable": True}
    if origin in (list, tuple):
        return {"type": "array", "items": openapi_schema(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": openapi_schema(args[1])}
    if origin is Literal:
        return {"type": "string", "enum": list(args)}
    raise TypeError(f"no OpenAPI schema for {result_type!r}")


def _field_schema(field: dataclasses.Field[Any], hint: Any) -> dict[str, Any]:
    meta = field.metadata
    schema = dict(meta["schema"]) if "schema" in meta else openapi_schema(hint)
    if "format" in meta:
        schema["format"] = meta["format"]
    if "help" in meta:
        schema["description"] = meta["help"]
    return schema


@functools.cache
def _converter(value_type: Any) -> Converter:
    """How to render a value of ``value_type``, worked out once per type."""
    if dataclasses.is_dataclass(value_type):
        return _object_converter(value_type)
    if isinstance(value_type, type) and issubclass(value_type, date):
        # A ``datetime`` would need a zone and a format: the query layer formats instants.
        if issubclass(value_type, datetime):
            raise TypeError("results carry instants as formatted strings")
        return date.isoformat
    origin, args = typing.get_origin(value_type), typing.get_args(value_type)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        convert = _converter(inner)
        return None if convert is None else (lambda v: None if v is None else convert(v))
    if origin in (list, tuple):
        item = _converter(args[0])
        return None if item is None else (lambda v: [item(x) for x in v])
    if origin is dict:
        value = _converter(args[1])
        return None if value is None else (lambda v: {k: value(x) for k, x in v.items()})
    return None


def _object_converter(result_type: Any) -> Callable[[Any], dict[str, Any]]:
    hints = typing.get_type_hints(result_type)
    fields = [(f.name, _converter(hints[f.name])) for f in dataclasses.fields(result_type)]

    def convert(value: Any) -> dict[str, Any]:
        return {
            name: getattr(value, name) if to is None else to(getattr(value, name))
            for name, to in fields
        }

    return convert
