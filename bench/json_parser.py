"""What the API's JSON body parser costs over DRF's: ``python -m bench.json_parser``.

``config.api.parsers.JSONBodyParser`` checks nesting depth (bytes translate and regex passes, in
C) before ``json.loads``, reads floats through a Python callback, and walks the parsed value only
when a number was not finite or the text holds a lone surrogate escape. This prints, per body,
the median CPU time of several parses by each parser and the difference, plus the cost of
refusing a body whose too-deep part comes at its very end (the worst case for naming the refused
path). No database is used.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("DEBUG", "1")
# No database is queried; the machine header's database line then names an in-memory SQLite.
os.environ.setdefault("SQLITE_PATH", ":memory:")
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from rest_framework.exceptions import ValidationError  # noqa: E402
from rest_framework.parsers import JSONParser  # noqa: E402

from bench.common import print_machine_info  # noqa: E402
from config.api.parsers import JSONBodyParser  # noqa: E402
from tests.calls.factories import call_doc  # noqa: E402

RUNS = 7


def batch_body(calls: int, turns: int) -> bytes:
    """``{"calls": [...]}`` of ``calls`` documents with ``turns`` transcript turns each."""
    documents = []
    for i in range(calls):
        transcript = [
            {"role": "bot" if t % 2 else "human", "text": f"turn {t} of call {i}, some words"}
            for t in range(turns)
        ]
        documents.append(call_doc(f"bench-{i}", transcript=transcript))
    return json.dumps({"calls": documents}).encode()


def median_seconds(parse: Callable[[bytes], Any], body: bytes) -> float:
    samples = []
    for _ in range(RUNS):
        # CPU time of this process: the parse is single-threaded CPU work, and other load on
        # the machine would otherwise show up in wall times.
        started = time.process_time()
        parse(body)
        samples.append(time.process_time() - started)
    return statistics.median(samples)


def with_parser(parser: JSONParser) -> Callable[[bytes], Any]:
    return lambda body: parser.parse(io.BytesIO(body), "application/json", {"encoding": "utf-8"})


def refusal(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def run(body: bytes) -> Any:
        try:
            parse(body)
        except ValidationError:
            return None
        raise AssertionError("the body was accepted")

    return run


def main() -> None:
    print_machine_info("JSON body parser")
    drf, ours = with_parser(JSONParser()), with_parser(JSONBodyParser())
    bodies = {
        "1 call, 20 turns": batch_body(1, 20),
        "1,000 calls, 20 turns": batch_body(1_000, 20),
        "1,000 calls, 200 turns": batch_body(1_000, 200),
    }
    print(f"{'body':<28}{'bytes':>12}{'DRF ms':>10}{'ours ms':>10}{'extra ms':>10}")
    for name, body in bodies.items():
        base, checked = median_seconds(drf, body), median_seconds(ours, body)
        print(
            f"{name:<28}{len(body):>12,}{base * 1e3:>10.2f}{checked * 1e3:>10.2f}"
            f"{(checked - base) * 1e3:>10.2f}"
        )
    # The refused part at the end: the path is located by walking every token before it.
    big = bodies["1,000 calls, 200 turns"]
    deep_tail = big[:-2] + b', {"prompt_variables": ' + b'{"a": ' * 100 + b"1" + b"}" * 101 + b"]}"
    print(
        f"{'refused, deep at the end':<28}{len(deep_tail):>12,}{'':>10}"
        f"{median_seconds(refusal(ours), deep_tail) * 1e3:>10.2f}"
    )


if __name__ == "__main__":
    main()
