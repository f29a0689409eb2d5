"""The JSON body parser of every API endpoint.

Python's ``json`` accepts more than the database can store and more than the stack can hold:
``1e400`` becomes ``inf`` (jsonb refuses it), ``"\\ud800"`` becomes a lone surrogate (neither
text nor jsonb takes it, and it cannot be encoded back to UTF-8), and nesting near the recursion
limit raises ``RecursionError``. This parser refuses all three before a view sees the body, with
a 400 naming where in the body the bad value is, so a sender's mistake is never a 500 (which
senders that retry server errors would repeat forever).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from config.text import printable

# Deepest accepted nesting of arrays and objects. A batch of call documents needs two levels
# around each document and a document a few more; JSON values sent by agents (variables, action
# payloads, judge results) stay far below this.
MAX_DEPTH = 64

# Error paths longer than this are cut (a refused deep body would name 64 keys).
MAX_PATH_PARTS = 12

# The depth check works on the UTF-8 bytes, where no byte of a multi-byte character is ASCII:
# escapes dropped, then everything but quotes and brackets, then the quoted runs (string
# contents). What is left is the body's structure, one byte per bracket.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_QUOTED = re.compile(rb'"[^"]*"')
_EMPTY_CONTAINER = re.compile(rb"\[\]|\{\}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# Strings, and brackets outside them (captured): the walk that locates a too-deep container.
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|([\[\]{}])', re.DOTALL)
# Only an escape can put a surrogate into a string decoded from valid UTF-8; a high one followed
# by a low one is a character (an emoji, say), either alone is refused.
_LONE_SURROGATE_ESCAPE = re.compile(
    r"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|[c-fC-F](?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F]))"
)


class _NonFinite:
    """Stands in for a number Python would read as infinite or not a number."""

    def __init__(self, text: str) -> None:
        self.text = text


class JSONBodyError(ValueError):
    """A body ``parse_json_text`` refuses: ``message`` and ``path`` (keys and list indexes)."""

    def __init__(self, message: str, path: list[str | int]) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def parse_json_text(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``text`` as JSON, refusing nesting deeper than ``max_depth``, numbers that are not finite
    (``1e400``, ``NaN``, ``Infinity``) and strings or keys holding a lone UTF-16 surrogate.

    Raises ``JSONBodyError`` with the path (keys and list indexes) of the first refused value,
    or another ``ValueError`` for text that is not JSON at all.
    """
    data = text.encode("utf-8", "surrogatepass")
    if _nested_deeper_than(data, max_depth):
        raise JSONBodyError(f"nested deeper than {max_depth} levels", _path_below(data, max_depth))
    non_finite: list[str] = []

    def number(token: str) -> Any:
        value = float(token)
        if value - value != 0:  # inf or nan
            non_finite.append(token)
            return _NonFinite(token)
        return value

    # A Python call per float (integers never become infinite): bodies hold few floats, and
    # a regex pass over the whole text for huge exponents costs more.
    value = json.loads(text, parse_float=number, parse_constant=number)
    if non_finite or (("\\ud" in text or "\\uD" in text) and _LONE_SURROGATE_ESCAPE.search(text)):
        _check_values(value)
    return value


def _nested_deeper_than(data: bytes, max_depth: int) -> bool:
    """Whether JSON ``data`` nests arrays and objects deeper than ``max_depth``. Every step runs
    in C (translate, replace, regex passes), so it costs little next to ``json.loads``."""
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    # Quotes alternate opening and closing, so dropping adjacent pairs only drops string
    # contents without brackets (or joins two strings with no structure between them).
    structure = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = _QUOTED.sub(b"", structure)
    # Each pass drops exactly the innermost level (pairs formed by a pass wait for the next),
    # so a body at most max_depth deep is gone after max_depth passes; most are after a
    # handful, each shorter than the one before.
    remaining = structure
    for _ in range(max_depth):
        if not remaining:
            return False
        remaining = _EMPTY_CONTAINER.sub(b"", remaining)
    if not remaining:
        return False
    # Too deep, or brackets that do not pair up (then json.loads says where): count. A quote
    # left unpaired (an unterminated string) is not structure.
    steps = map(_DEPTH_STEP.__getitem__, structure.replace(b'"', b""))
    return max(accumulate(steps), default=0) > max_depth


def _path_below(data: bytes, max_depth: int) -> list[str | int]:
    """The path of the first container nested deeper than ``max_depth`` (only computed for a
    refused body). The body up to that container, closed with ``null`` and the brackets still
    open, is parsed (at most ``max_depth`` deep); the path follows its last keys and items."""
    closers: list[bytes] = []
    for match in _STRING_OR_BRACKET.finditer(data):
        bracket = match.group(1)
        if bracket is None:
            continue
        if bracket in (b"[", b"{"):
            if len(closers) < max_depth:
                closers.append(b"]" if bracket == b"[" else b"}")
                continue
            prefix = data[: match.start()] + b"null" + b"".join(reversed(closers))
            try:
                value = json.loads(prefix)
            except ValueError:  # invalid before the deep part: no path to name
                return []
            return _last_path(value)
        if closers:
            closers.pop()
    return []


def _last_path(value: Any) -> list[str | int]:
    path: list[str | int] = []
    while isinstance(value, dict | list) and value:
        if isinstance(value, dict):
            key = next(reversed(value))
            path.append(key)
            value = value[key]
        else:
            path.append(len(value) - 1)
            value = value[-1]
    return path


def _check_values(root: Any) -> None:
    """Raises ``JSONBodyError`` for the first non-finite number or lone surrogate under ``root``."""
    stack: list[tuple[Any, list[str | int]]] = [(root, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, _NonFinite):
            number = value.text if len(value.text) <= 24 else value.text[:20] + "…"
            raise JSONBodyError(f"{number} is not a finite number", path)
        if isinstance(value, str):
            if _has_surrogate(value):
                raise JSONBodyError("strings must not contain lone UTF-16 surrogates", path)
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                if _has_surrogate(key):
                    raise JSONBodyError(
                        "keys must not contain lone UTF-16 surrogates", [*path, printable(key)]
                    )
                stack.append((item, [*path, key]))
        elif isinstance(value, list):
            stack.extend((item, [*path, index]) for index, item in reversed(list(enumerate(value))))


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class JSONBodyParser(JSONParser):
    """DRF's JSON parser with the limits of ``parse_json_text``.

    A refused body is a 400 in the view's error family with ``errors`` naming the field. On a
    view with ``json_documents_key`` (a body that is one document or ``{key: [documents]}``) the
    error names the document's index and its field, as document validation does.
    """

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        # Imported here: DRF loads the parser classes while ``config.api.errors`` is importing
        # ``rest_framework.views``.
        from config.api.errors import InvalidRequest

        context = parser_context or {}
        encoding = context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise InvalidRequest(f"The body is not valid {encoding} text.") from None
        try:
            return parse_json_text(text)
        except JSONBodyError as problem:
            view = context.get("view")
            error = _located(problem, getattr(view, "json_documents_key", None))
            field = error["field"]
            raise InvalidRequest(f"Invalid JSON at {field}: {problem.message}.", [error]) from None
        except ValueError as exc:
            raise InvalidRequest(f"JSON parse error - {printable(str(exc))}") from None
        except RecursionError:  # pragma: no cover - the depth check runs first
            raise InvalidRequest(f"JSON nested deeper than {MAX_DEPTH} levels.") from None


def _located(problem: JSONBodyError, documents_key: str | None) -> dict[str, Any]:
    path = [printable(part) if isinstance(part, str) else part for part in problem.path]
    if documents_key is None:
        return {"field": _dotted(path), "message": problem.message}
    if len(path) >= 2 and path[0] == documents_key and isinstance(path[1], int):
        return {"index": path[1], "field": _dotted(path[2:]), "message": problem.message}
    if path and isinstance(path[0], str):  # a single document
        return {"index": 0, "field": _dotted(path), "message": problem.message}
    return {"field": _dotted(path), "message": problem.message}


def _dotted(path: list[str | int]) -> str:
    if len(path) > MAX_PATH_PARTS:
        path = [*path[:MAX_PATH_PARTS], "…"]
    return ".".join(str(part) for part in path) or "(document)"
