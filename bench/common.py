"""Shared helpers for Callscope's benchmarks.

Every benchmark runs against PostgreSQL at ``BENCH_DATABASE_URL`` (default the local server's
``callscope_bench`` database), prints the machine it ran on first, and loads the same data set
(``ensure_loaded``) so figures are comparable between runs and between benchmarks::

    from bench.common import bench_database_url, ensure_database, ensure_loaded, setup_django

    setup_django(bench_database_url())
    ensure_database()
    tenant = ensure_loaded()
"""

from __future__ import annotations

import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/callscope_bench"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_database_url() -> str:
    """``BENCH_DATABASE_URL``, else the local PostgreSQL's ``callscope_bench`` database."""
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_BENCH_DATABASE_URL


def setup_django(database_url: str | None = None) -> None:
    """Points Django at ``database_url`` (default ``bench_database_url()``) and sets it up."""
    os.environ["DATABASE_URL"] = database_url or bench_database_url()
    os.environ["DEBUG"] = "1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def ensure_database(*, migrate: bool = True) -> None:
    """Creates the benchmark database when it does not exist, then applies migrations."""
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("Benchmarks need PostgreSQL: set BENCH_DATABASE_URL=postgres://…")
    url = os.environ["DATABASE_URL"]
    name = db["NAME"]
    parts = urlsplit(url)
    maintenance_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", file=sys.stderr)
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)


def ensure_loaded(
    *,
    calls: int = 1_000_000,
    days: int = 365,
    seed: int = 1,
    tenant: str = "bench",
    timezone: str = "Europe/Berlin",
    transcripts: bool = True,
) -> Any:
    """Returns the benchmark tenant, loaded with ``calls`` demo calls over ``days`` days.

    Runs ``seed_demo`` only when the tenant has fewer calls than asked; the generator is
    deterministic per seed and skips the calls it already wrote, so an interrupted load resumes.
    Runs ``VACUUM ANALYZE`` after loading so plans and visibility maps are those of a settled
    database. Without ``transcripts`` calls are loaded without transcript turns (quicker for
    very large tenants).
    """
    from django.core.management import call_command
    from django.db import connection

    from calls.models import Call, Tenant

    obj = Tenant.objects.filter(slug=tenant).first()
    have = Call.objects.filter(tenant=obj).count() if obj else 0
    if have < calls:
        print(f"loading {calls - have:,} calls into tenant {tenant!r} …", file=sys.stderr)
        started = time.perf_counter()
        call_command(
            "seed_demo",
            tenant=tenant,
            calls=calls,
            days=days,
            seed=seed,
            timezone=timezone,
            verbosity=1,
            without_transcripts=not transcripts,
        )
        print(
            f"loaded in {time.perf_counter() - started:,.0f} s; vacuum analyze …", file=sys.stderr
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return Tenant.objects.get(slug=tenant)


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by linear interpolation between order statistics."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """``{"p50", "p95", "p99", "min", "max", "n"}`` of ``samples``."""
    return {
        "n": float(len(samples)),
        "min": min(samples) if samples else math.nan,
        "p50": percentile(samples, 0.50),
        "p95": percentile(samples, 0.95),
        "p99": percentile(samples, 0.99),
        "max": max(samples) if samples else math.nan,
    }


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: …`` then ``t[0]`` is the elapsed wall time in seconds."""
    holder: list[float] = []
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder.append(time.perf_counter() - started)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """Cores, memory, CPU model, Python and (when Django is set up) PostgreSQL version."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1) if (mem := _memory_gib()) is not None else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        from django.db import connection

        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SHOW server_version")
                info["postgresql"] = cursor.fetchone()[0]
                cursor.execute("SELECT current_database()")
                info["database"] = cursor.fetchone()[0]
            else:
                info["database"] = connection.vendor
    except Exception as exc:  # printed, never fatal: a benchmark still says where it ran
        info["database_error"] = str(exc)
    return info


def print_machine_info(title: str = "") -> dict[str, Any]:
    """Prints ``machine_info()`` as a header block and returns it."""
    info = machine_info()
    if title:
        print(f"== {title} ==")
    for key, value in info.items():
        print(f"{key:>12}: {value}")
    print()
    return info


def table_sizes(tables: Sequence[str] = ()) -> list[tuple[str, int, str]]:
    """``(table, estimated rows, total size)`` of the ``calls_`` tables (or ``tables``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.reltuples::bigint, pg_size_pretty(pg_total_relation_size(c.oid))
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname = 'public'
              AND (c.relname = ANY(%s::text[])
                   OR (cardinality(%s::text[]) = 0 AND c.relname LIKE 'calls\\_%%'))
            ORDER BY pg_total_relation_size(c.oid) DESC
            """,
            [list(tables), list(tables)],
        )
        # reltuples is -1 for a table never vacuumed or analyzed.
        return [(name, max(int(rows), 0), size) for name, rows, size in cursor.fetchall()]


# --- Call documents ------------------------------------------------------------------------------

TURNS = (
    ("bot", "Hi {name}, this is Jake from Acme Cloud. You asked for a demo. Is now a good time?"),
    ("human", "Yes, I have a few minutes."),
    ("bot", "Great. How many people on your team would use the product?"),
    ("human", "Around forty agents in our support center."),
    ("bot", "And what are you using today to handle calls?"),
    ("human", "A mix of an old IVR and manual callbacks."),
    ("bot", "Could I book you a thirty-minute demo with one of our solution engineers?"),
    ("human", "Sure, Thursday afternoon is good."),
    ("bot", "Booked for Thursday at 3 PM. You will receive an invite by email."),
    ("human", "Perfect, thank you."),
)
NAMES = ("Eddie", "Julian", "Maria", "Chen", "Aisha", "Lukas", "Priya", "Tom", "Sara", "Diego")
STATUSES = ("completed",) * 7 + ("no-answer", "busy", "failed")
REASONS = ("agent_goodbye", "human_goodbye", "goodbye_detected", "human_ended_call")
DOCUMENTS_START = datetime(2026, 3, 1, tzinfo=UTC)
DOCUMENTS_SPAN = timedelta(days=30)


def make_documents(
    count: int,
    *,
    seed: int = 1,
    lead_share: float = 0.0,
    start: datetime = DOCUMENTS_START,
    span: timedelta = DOCUMENTS_SPAN,
) -> list[dict[str, Any]]:
    """``count`` call documents in the native shape, like a voice platform posts them, started at
    random whole seconds from ``start`` to ``start + span``."""
    rng = Random(seed)
    agents = [
        {"model_id": f"bench-agent-{i}", "name": name, "type": kind}
        for i, (name, kind) in enumerate(
            (("Jake", "outbound"), ("Ava", "inbound"), ("Leo", "widget"))
        )
    ]
    workflows = [
        {"slug": "lead-qualification", "name": "Lead Qualification"},
        {"slug": "customer-support", "name": "Customer Support"},
    ]
    run = secrets.token_hex(4)
    documents = []
    for i in range(count):
        begin = start + timedelta(seconds=rng.randrange(0, int(span.total_seconds())))
        duration = rng.randrange(30, 400)
        name = rng.choice(NAMES)
        phone = f"+1{rng.randrange(201, 990)}{rng.randrange(2_000_000, 10_000_000)}"
        status = rng.choice(STATUSES)
        agent = rng.choice(agents)
        turns, at = [], 500
        for role, text in TURNS:
            length = 400 + len(text) * 65
            turns.append(
                {
                    "role": role,
                    "text": text.replace("{name}", name),
                    "start_ms": at,
                    "end_ms": at + length,
                }
            )
            at += length + rng.randrange(300, 1200)
        document: dict[str, Any] = {
            "call_id": f"{run}-{i:08d}",
            "agent": agent,
            "workflow": rng.choice(workflows),
            "status": status,
            "type_of_call": agent["type"],
            "channel": "web_chat" if agent["type"] == "widget" else "phone",
            "start_time": begin.isoformat().replace("+00:00", "Z"),
            "end_time": (begin + timedelta(seconds=duration)).isoformat().replace("+00:00", "Z"),
            "end_call_reason": rng.choice(REASONS) if status == "completed" else "error",
            "lead_name": name,
            "lead_phone_number": phone,
            "phone_number_from": "+12315593024",
            "phone_number_to": phone,
            "recording_url": f"https://recordings.example.com/{run}-{i}.wav",
            "timezone": "Europe/Berlin",
            "campaign_type": "live",
            "transcript": turns,
            "collected_variables": {
                agent["model_id"]: {
                    "user_name": {"value": name, "collected": True},
                    "team_size": {"value": rng.choice((5, 40, 200)), "collected": True},
                    "timeline": {"value": "this quarter", "collected": rng.random() < 0.8},
                }
            },
            "executed_actions": [
                {
                    "name": "book_meeting",
                    "action_type": "REAL_TIME_BOOKING",
                    "success": rng.random() < 0.9,
                    "latency_ms": round(rng.lognormvariate(6, 0.3), 1),
                }
            ],
            "latencies": [
                {
                    "provider_type": kind,
                    "provider_name": provider,
                    "latency_ms": round(rng.lognormvariate(mu, 0.35), 1),
                    **({"tokens": rng.randrange(60, 400)} if kind == "llm" else {}),
                }
                for _ in range(2)
                for kind, provider, mu in (
                    ("stt", "deepgram", 5.1),
                    ("llm", "openai", 6.0),
                    ("tts", "elevenlabs", 5.4),
                )
            ],
            "sentiment": rng.choice(("positive", "neutral", "negative")),
            "success": status == "completed",
            "handoff": rng.random() < 0.05,
            "total_tokens": rng.randrange(500, 4000),
            "response_time_ms": round(rng.lognormvariate(6.8, 0.3), 1),
        }
        if rng.random() < lead_share:
            document["lead"] = {
                "phone_number": phone,
                "name": name,
                "source": "chat",
                "status": rng.choice(("new", "qualified")),
                "score": rng.randrange(10, 90),
            }
        documents.append(document)
    return documents


# --- Servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(**overrides: str) -> dict[str, str]:
    """The environment of a server a benchmark starts: production settings (``DEBUG`` off) on
    the benchmark database, plain HTTP on loopback (production's HTTPS redirect would answer
    every request 301), then ``overrides``."""
    return {
        **os.environ,
        "DATABASE_URL": bench_database_url(),
        "DEBUG": "0",
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **overrides,
    }


def start_server(
    command: Sequence[str], port: int, env: dict[str, str], *, root: Path = ROOT
) -> subprocess.Popen[bytes]:
    """Starts ``command`` (a program of this interpreter's environment, then its arguments) in
    ``root`` and returns once it accepts connections on ``port``; stop it with ``stop_server``."""
    program = Path(sys.executable).parent / command[0]
    if not program.exists():
        raise SystemExit(f"{program} is missing: install the project (make install).")
    # BENCH_SERVER_LOGS=<folder>: each server's output in <folder>/<program>-<port>.log.
    logs = os.environ.get("BENCH_SERVER_LOGS")
    output: Any = subprocess.DEVNULL
    if logs:
        Path(logs).mkdir(parents=True, exist_ok=True)
        output = (Path(logs) / f"{command[0]}-{port}.log").open("ab")
    process = subprocess.Popen(
        [str(program), *command[1:]],
        cwd=root,
        env=env,
        stdout=output,
        stderr=output,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{command[0]} exited with {process.returncode} during startup")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    raise SystemExit(f"{command[0]} did not start on port {port} within 60 s")


def start_gunicorn(
    port: int, *, workers: int = 1, root: Path = ROOT, **overrides: str
) -> subprocess.Popen[bytes]:
    """gunicorn serving ``config.wsgi`` of the checkout at ``root`` with ``workers`` sync
    workers, in ``server_env(**overrides)``."""
    command = ["gunicorn", "config.wsgi:application", f"--workers={workers}"]
    command += [f"--bind=127.0.0.1:{port}", "--timeout=300"]
    env = server_env(**overrides)
    env["PYTHONPATH"] = str(root)
    return start_server(command, port, env, root=root)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stops a server ``start_server`` started, with the workers it forked."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def drop_tenant(slug: str) -> None:
    """Deletes a benchmark tenant and every row that points at it with plain SQL (the ORM's
    cascade would load every row): calls' children, calls and leads first, then every other
    table with a foreign key to the tenant."""
    from django.apps import apps
    from django.db import connection, models, transaction

    from calls.bulk import BulkWriter
    from calls.models import Tenant

    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        return
    existing = set(connection.introspection.table_names())
    calls_of = "SELECT id FROM calls_call WHERE tenant_id = %s"
    ordered = [
        ("calls_activityevent", "tenant_id = %s"),
        ("calls_errorlog", "tenant_id = %s"),
        ("calls_latencysample", "tenant_id = %s"),
        ("calls_transcriptturn", f"call_id IN ({calls_of})"),
        ("calls_collectedvariable", f"call_id IN ({calls_of})"),
        ("calls_executedaction", f"call_id IN ({calls_of})"),
        ("calls_call", "tenant_id = %s"),
        ("calls_lead", "tenant_id = %s"),
    ]
    done = {table for table, _ in ordered}
    for model in apps.get_models():
        table = model._meta.db_table
        for field in model._meta.concrete_fields:
            if (
                isinstance(field, models.ForeignKey)
                and field.related_model is Tenant
                and table not in done
            ):
                ordered.append((table, f"{connection.ops.quote_name(field.column)} = %s"))
                done.add(table)
    # Every row pointing at the tenant's calls and leads is deleted here, so the per-row
    # foreign-key checks at commit (minutes for a million calls) can be skipped.
    with (
        transaction.atomic(),
        BulkWriter().foreign_key_checks_skipped(),
        connection.cursor() as cursor,
    ):
        for table, where in ordered:
            if table in existing:
                cursor.execute(f"DELETE FROM {table} WHERE {where}", [tenant.pk])
        cursor.execute("DELETE FROM calls_tenant WHERE id = %s", [tenant.pk])
