"""``manage.py import_calls FILE.jsonl --tenant SLUG [--format FORMAT]``: load call documents, or
a platform's exported payloads (``--format vapi|retell|elevenlabs|bland``), one per line."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from calls.management.commands.create_api_key import find_tenant
from calls.models import Tenant
from calls.platform_ingest import map_payload
from calls.platforms import PLATFORMS, PayloadInvalid, Platform
from calls.services import DocumentsInvalid, ingest_call_documents, parse_documents
from config.api.parsers import parse_json_text


@contextmanager
def _open(path: str) -> Iterator[tuple[IO[bytes], int | None]]:
    if path == "-":
        yield sys.stdin.buffer, None
        return
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"{path}: no such file.")
    with file.open("rb") as handle:
        yield handle, file.stat().st_size


# Platforms whose exported payloads can be imported: each line is what the platform's webhook
# (or its API) gives for one call, mapped by the platform's module like a delivery.
IMPORT_FORMATS = ("native", "vapi", "retell", "elevenlabs", "bland")


def _describe(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors)


class Command(BaseCommand):
    help = (
        "Imports call documents from a JSON Lines file (one document per line; '-' reads stdin) "
        "through the same upsert as POST /api/v1/calls, so a rerun reports the calls as "
        "unchanged. With --format vapi|retell|elevenlabs|bland each line is one of that "
        "platform's payloads, mapped as its webhook deliveries are. Bad lines (invalid JSON or "
        "an invalid document) are reported on stderr with their line numbers and skipped; the "
        "exit status is 0 unless --strict is given and a line was bad."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of a .jsonl file, or - for stdin.")
        parser.add_argument("--tenant", required=True, help="Tenant slug or id.")
        parser.add_argument(
            "--batch",
            type=int,
            default=500,
            help=f"Documents per transaction (500; at most {settings.MAX_CALLS_PER_BATCH}).",
        )
        parser.add_argument(
            "--strict", action="store_true", help="Exit with status 1 when any line was bad."
        )
        parser.add_argument(
            "--format",
            choices=IMPORT_FORMATS,
            default="native",
            help="native call documents (default) or a platform's payloads.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch"]
        if not 1 <= batch_size <= settings.MAX_CALLS_PER_BATCH:
            raise CommandError(f"--batch must be between 1 and {settings.MAX_CALLS_PER_BATCH}.")
        tenant = find_tenant(options["tenant"])
        self.format: str = options["format"]
        self.module: Platform | None = None
        if self.format != "native":
            self.module = PLATFORMS.get(self.format)
            if self.module is None:
                raise CommandError(f"The {self.format} platform module is not installed.")
        counts: Counter[str] = Counter()
        pending: list[tuple[int, Any]] = []
        with (
            _open(options["file"]) as (handle, size),
            tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                file=sys.stderr,
                disable=options["verbosity"] == 0,
                desc="import_calls",
            ) as bar,
        ):
            for number, line in enumerate(handle, start=1):
                bar.update(len(line))
                if not line.strip():
                    continue
                document = self._parse_line(number, line, counts)
                if document is None:
                    continue
                pending.append((number, document))
                if len(pending) >= batch_size:
                    self._flush(tenant, pending, counts)
                    pending = []
            if pending:
                self._flush(tenant, pending, counts)

        self.stdout.write(
            f"Imported into {tenant.slug}: {counts['created']} created, {counts['updated']} "
            f"updated, {counts['unchanged']} unchanged, {counts['bad']} bad line(s)"
            + (f", {counts['ignored']} ignored (no call in them)." if self.module else ".")
        )
        if counts["bad"] and options["strict"]:
            raise CommandError(f"{counts['bad']} bad line(s) (--strict).")

    def _bad(self, number: int, message: str, counts: Counter[str]) -> None:
        counts["bad"] += 1
        self.stderr.write(f"line {number}: {message}")

    def _parse_line(self, number: int, line: bytes, counts: Counter[str]) -> Any:
        """The line's document when it is valid JSON and a valid call document, else None."""
        # The API's JSON rules: no deep nesting, non-finite numbers or lone surrogates.
        try:
            document = parse_json_text(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            self._bad(number, f"invalid JSON: {exc}", counts)
            return None
        if self.module is not None:
            try:
                event = map_payload(self.module, document)
            except PayloadInvalid as exc:
                self._bad(number, f"invalid {self.format} payload: {exc}", counts)
                return None
            if event.document is None:
                # An event that carries nothing about a call (a delivery would be ignored too).
                counts["ignored"] += 1
                return None
            document = {**event.document, "platform": self.format}
        try:
            parse_documents([document])
        except DocumentsInvalid as exc:
            self._bad(number, f"invalid call document: {_describe(exc.errors)}", counts)
            return None
        return document

    def _flush(self, tenant: Tenant, pending: list[tuple[int, Any]], counts: Counter[str]) -> None:
        try:
            outcomes = ingest_call_documents(tenant=tenant, documents=[d for _, d in pending])
        except DocumentsInvalid as exc:
            # Lines were validated one by one; report what the batch found and store the rest.
            bad_indexes: dict[int, list[dict[str, Any]]] = {}
            for error in exc.errors:
                bad_indexes.setdefault(error.get("index", -1), []).append(error)
            for index, errors in bad_indexes.items():
                if 0 <= index < len(pending):
                    self._bad(
                        pending[index][0], f"invalid call document: {_describe(errors)}", counts
                    )
            rest = [item for i, item in enumerate(pending) if i not in bad_indexes]
            if -1 in bad_indexes or len(rest) == len(pending):
                raise
            if rest:
                self._flush(tenant, rest, counts)
            return
        counts.update(outcome.outcome for outcome in outcomes)
