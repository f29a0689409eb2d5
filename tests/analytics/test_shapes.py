"""Typed results render to the wire and to OpenAPI from one set of type hints."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import pytest

from analytics.api.shapes import (
    add_components,
    object_schema,
    openapi_schema,
    register_component,
    to_wire,
)


@dataclass(frozen=True, slots=True)
class Point:
    date: date
    value: int


@dataclass(frozen=True, slots=True)
class Sample:
    name: str = field(metadata={"help": "A name."})
    share: float | None
    done: bool
    at: str = field(metadata={"format": "date-time"})
    kind: Literal["a", "b"]
    points: list[Point]
    first: Point | None
    extra: dict[str, Any]
    counts: list[dict[str, int]] = field(metadata={"schema": {"type": "array"}})


SAMPLE = Sample(
    name="n",
    share=None,
    done=True,
    at="2026-03-01T00:00:00Z",
    kind="a",
    points=[Point(date(2026, 3, 1), 2)],
    first=None,
    extra={"k": [1]},
    counts=[{"x": 1}],
)


def test_to_wire_renders_fields_in_order_dates_as_iso_and_nested_results() -> None:
    body = to_wire(SAMPLE)
    assert list(body) == [
        "name",
        "share",
        "done",
        "at",
        "kind",
        "points",
        "first",
        "extra",
        "counts",
    ]
    assert body["points"] == [{"date": "2026-03-01", "value": 2}]
    assert body["first"] is None
    assert body["extra"] == {"k": [1]}
    assert to_wire([Point(date(2026, 3, 2), 1)]) == [{"date": "2026-03-02", "value": 1}]


def test_openapi_schema_follows_the_type_hints() -> None:
    schema = object_schema(Sample)
    assert schema["required"] == list(schema["properties"])
    props = schema["properties"]
    assert props["name"] == {"type": "string", "description": "A name."}
    assert props["share"] == {"type": "number", "format": "double", "nullable": True}
    assert props["done"] == {"type": "boolean"}
    assert props["at"] == {"type": "string", "format": "date-time"}
    assert props["kind"] == {"type": "string", "enum": ["a", "b"]}
    assert props["points"]["items"] == {"$ref": "#/components/schemas/Point"}
    assert props["first"] == {"allOf": [{"$ref": "#/components/schemas/Point"}], "nullable": True}
    assert props["extra"] == {"type": "object", "additionalProperties": {}}
    assert props["counts"] == {"type": "array"}
    assert openapi_schema(list[Point])["type"] == "array"


def test_an_unknown_type_has_no_schema() -> None:
    with pytest.raises(TypeError):
        openapi_schema(bytes)


def test_each_dataclass_is_one_named_component() -> None:
    assert openapi_schema(Sample) == {"$ref": "#/components/schemas/Sample"}
    served = add_components({"components": {"schemas": {}}})["components"]["schemas"]
    assert served["Sample"] == object_schema(Sample)
    assert served["Point"]["properties"]["date"] == {"type": "string", "format": "date"}


def test_two_shapes_may_not_share_a_name() -> None:
    register_component("SampleTwin", {"type": "object", "properties": {}})
    with pytest.raises(ValueError, match="SampleTwin"):
        register_component("SampleTwin", {"type": "string"})
