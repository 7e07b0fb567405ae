"""Load benchmark: patients write and clinicians read, concurrently, through gunicorn with production settings.

- Server: gunicorn ``recovery.wsgi:application`` with ``MOBILIZE_ENV=production`` (a random secret
  key, ``DEBUG=false``, loopback hosts, no HTTPS redirect since there is no TLS on loopback, Redis,
  in-memory email), 2 gthread workers x 4 threads by default, on a free loopback port.
- Seed (in this process, same database as ``python -m bench checkin``): a clinic ``bench-load``
  with a surgeon, two physiotherapists and ``--patients`` patients in several time zones, each with
  an episode 10 days after a lumbar microdiscectomy and two exercises prescribed three times a
  day. The clinic's check-ins, exercise logs and tokens are deleted at the start of every run.
- Load: locust (``bench/locustfile.py``, endpoints and weights in ``bench/load_plan.py``), headless,
  as a subprocess: patients (4 of 5 users) post check-ins and exercise logs and read today's plan;
  clinicians read their worklist, a patient's trajectory and adherence. Each endpoint is probed
  once first; one without a route yet (404) is left out and named.
- Report: requests, failures, req/s and p50/p95/p99 per endpoint, then every acknowledged write
  (201, or 200 for a replay) looked up in the database by id.

Exit status 1 on any failed request (not 2xx, or no answer), an error in the locustfile, or an
acknowledged write that is not stored; a stored write whose answer the client never got is only
reported. Slow figures never fail the run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from bench.common import (
    HOST,
    PROJECT_ROOT,
    BenchError,
    add_database_argument,
    ensure_database,
    free_port,
    log_tail,
    running_gunicorn,
    setup_django,
)
from bench.load_plan import (
    CLINICIAN,
    CSV_ENV,
    ENDPOINTS,
    SEED_ENV,
    THINK_SECONDS,
    ClinicianSeed,
    Endpoint,
    PatientSeed,
    Seed,
    endpoint_named,
    request_body,
    select_endpoints,
)
from bench.load_report import (
    ack_report,
    compare_acks,
    parse_exceptions_csv,
    parse_failures_csv,
    parse_stats_csv,
    read_acks,
    stats_table,
)
from bench.load_seed import LOAD_CLINIC_SLUG, TIME_ZONES, seed, stored_ids
from recovery.env import env_int, env_str

LOCUSTFILE = PROJECT_ROOT / "bench" / "locustfile.py"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Locust is stopped this long after the run time at most, to let users finish the request in flight.
STOP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Options:
    users: int
    spawn_rate: float
    think: tuple[float, float]
    duration: int
    patients: int
    workers: int
    threads: int
    database_url: str


def add_arguments(parser: argparse._ActionsContainer) -> None:
    """This benchmark's options, but ``--database-url`` (``bench.common.add_database_argument``)."""
    parser.add_argument(
        "--users",
        type=int,
        default=env_int("BENCH_LOAD_USERS", 50, minimum=1),
        help="simulated people, patients:clinicians 4:1 (env BENCH_LOAD_USERS, default 50)",
    )
    parser.add_argument(
        "--spawn-rate", type=float, default=25.0, help="users started per second (default 25)"
    )
    parser.add_argument(
        "--think",
        default=f"{THINK_SECONDS[0]:g}-{THINK_SECONDS[1]:g}",
        metavar="MIN-MAX",
        help="seconds each user pauses between requests, uniform (default %(default)s; 0-0 for none)",
    )
    parser.add_argument(
        "--duration",
        type=int,
        default=env_int("BENCH_LOAD_DURATION", 60, minimum=1),
        help="seconds of load (env BENCH_LOAD_DURATION, default 60)",
    )
    parser.add_argument(
        "--patients",
        type=int,
        default=env_int("BENCH_LOAD_PATIENTS", 40, minimum=1),
        help="seeded patients, each with an episode; patient users share them in turn (default 40)",
    )
    parser.add_argument("--load-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--load-threads", type=int, default=4, help="threads per gthread worker (default 4)")


def options_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Options:
    for name in ("users", "duration", "patients", "load_workers", "load_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.spawn_rate <= 0:
        parser.error("--spawn-rate must be positive")
    think = parse_think(args.think)
    if think is None:
        parser.error(f"--think must be MIN-MAX seconds with 0 <= MIN <= MAX, got {args.think!r}")
    return Options(
        users=args.users,
        spawn_rate=args.spawn_rate,
        think=think,
        duration=args.duration,
        patients=args.patients,
        workers=args.load_workers,
        threads=args.load_threads,
        database_url=args.database_url,
    )


def parse_think(raw: str) -> tuple[float, float] | None:
    low, sep, high = raw.partition("-")
    try:
        think = (float(low), float(high))
    except ValueError:
        return None
    return think if sep and 0 <= think[0] <= think[1] else None


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    add_database_argument(parser)
    return options_from(parser, parser.parse_args(argv))


# ---------------------------------------------------------------------------------------------
# Server environment
# ---------------------------------------------------------------------------------------------


def redis_url() -> str:
    return env_str("REDIS_URL", DEFAULT_REDIS_URL)


def server_environment(database_url: str) -> dict[str, str]:
    """The production settings, with what a loopback benchmark must supply (see the module docstring)."""
    from django.core.management.utils import get_random_secret_key

    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MOBILIZE_BENCH", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "recovery.settings",
            "MOBILIZE_ENV": "production",
            # The bench's routes refuse to load in production; be explicit in case the caller set it.
            "MOBILIZE_BENCH": "false",
            "SECRET_KEY": get_random_secret_key(),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url(),
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
    )
    return env


# ---------------------------------------------------------------------------------------------
# Probe: which endpoints exist on the running server
# ---------------------------------------------------------------------------------------------


def _routed(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def probe(
    port: int, patients: Sequence[PatientSeed], clinicians: Sequence[ClinicianSeed], acks: Path
) -> tuple[list[str], list[str]]:
    """One real request to every endpoint, as the load will send it. Returns ``(available, skipped)``.

    A 404 for a path that no route matches means the endpoint is not built yet: skipped. Any other
    answer but the expected one stops the benchmark before the load, with the answer. Writes that
    succeed are acknowledged like the load's own.
    """
    available: list[str] = []
    skipped: list[str] = []
    patient, clinician = patients[0], clinicians[0]
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        with acks.open("a", encoding="utf-8") as ack_file:
            for endpoint in ENDPOINTS:
                is_clinician = endpoint.role == CLINICIAN
                path = endpoint.path(clinician["episodes"][0] if is_clinician else patient["episode"])
                body = request_body(endpoint, None if is_clinician else patient)
                headers = {"Authorization": f"Bearer {(clinician if is_clinician else patient)['token']}"}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                conn.request(endpoint.method, path, json.dumps(body) if body is not None else None, headers)
                response = conn.getresponse()
                content = response.read()
                if response.status in endpoint.ok_statuses:
                    available.append(endpoint.name)
                    if body is not None and endpoint.writes is not None:
                        ack_file.write(f"{endpoint.writes} {body['id']}\n")
                elif response.status == 404 and not _routed(path):
                    skipped.append(endpoint.name)
                else:
                    raise BenchError(
                        f"probe {endpoint.name} ({path}): expected {sorted(endpoint.ok_statuses)}, "
                        f"got {response.status}: {content[:300]!r}"
                    )
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"probe: {type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
    return available, skipped


# ---------------------------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------------------------


def run_locust(
    options: Options, port: int, seed_path: Path, workdir: Path
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(options.users),
        "--spawn-rate",
        f"{options.spawn_rate:g}",
        "--run-time",
        f"{options.duration}s",
        "--stop-timeout",
        str(STOP_TIMEOUT_SECONDS),
        "--host",
        f"http://{HOST}:{port}",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {
        **os.environ,
        SEED_ENV: str(seed_path),
        CSV_ENV: str(workdir / "load"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    try:
        return subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=options.duration + STOP_TIMEOUT_SECONDS + 60,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"locust did not finish within {options.duration + STOP_TIMEOUT_SECONDS + 60} s"
        ) from None


def _stand_in_lines(enabled: Sequence[Endpoint]) -> list[str]:
    lines = []
    for endpoint in enabled:
        if endpoint.stands_in_for:
            real = endpoint_named(endpoint.stands_in_for)
            lines.append(
                f"{endpoint.label} = {endpoint.name} ({endpoint.description}) until "
                f"{real.method} /api/v1{real.template} exists"
            )
    return lines


def run(options: Options) -> int:
    started = time.monotonic()
    name = ensure_database(options.database_url)
    setup_django(options.database_url)
    patients, clinicians = seed(options.patients)
    from django.db import connections

    connections.close_all()

    port = free_port()
    print("Load: patients writing and clinicians reading at once, through gunicorn with production settings")
    print(
        f"server: gunicorn gthread, {options.workers} worker{'s' if options.workers > 1 else ''} x "
        f"{options.threads} threads, {HOST}:{port}, MOBILIZE_ENV=production; "
        f"PostgreSQL database {name}, Redis {redis_url()}"
    )
    print(
        f"load: locust {version('locust')}, {options.users} users (patients 4 : clinicians 1) for "
        f"{options.duration} s, started at {options.spawn_rate:g}/s, "
        f"pausing {options.think[0]:g}-{options.think[1]:g} s between requests"
    )
    print(
        f"seed: clinic {LOAD_CLINIC_SLUG}: {len(patients)} patients in {min(len(patients), len(TIME_ZONES))} time zones, "
        "each 10 days after a lumbar microdiscectomy with 2 exercises x 3 sessions a day; "
        f"clinicians: 1 surgeon (all episodes), 2 physiotherapists (half each)"
    )
    with tempfile.TemporaryDirectory(prefix="mobilize-bench-load-") as tmp:
        workdir = Path(tmp)
        with running_gunicorn(
            port=port,
            workers=options.workers,
            threads=options.threads,
            worker_class="gthread",
            env=server_environment(options.database_url),
            # Longer than any pause, so that the server never closes a connection a user is about to reuse.
            extra_args=[f"--keep-alive={max(5, math.ceil(options.think[1]) + 5)}"],
        ) as server_log:
            available, skipped = probe(port, patients, clinicians, workdir / f"acks-{os.getpid()}.txt")
            enabled = select_endpoints(available)
            for line in _stand_in_lines(enabled):
                print(line)
            if skipped:
                print(f"skipped, no route yet (404 on the probe): {', '.join(skipped)}")
            seed_data: Seed = {
                "patients": patients,
                "clinicians": clinicians,
                "endpoints": available,
                "acks_dir": str(workdir),
                "think_seconds": options.think,
            }
            seed_path = workdir / "seed.json"
            seed_path.write_text(json.dumps(seed_data))
            print()
            result = run_locust(options, port, seed_path, workdir)
            server_tail = log_tail(server_log, 20)
            stats_path = workdir / "load_stats.csv"
            if not stats_path.exists():
                raise BenchError(
                    f"locust wrote no statistics (exit {result.returncode}):\n{result.stderr[-3000:]}\n"
                    f"gunicorn:\n{server_tail}"
                )
        rows, total = parse_stats_csv(stats_path.read_text())
        failures = parse_failures_csv((workdir / "load_failures.csv").read_text())
        exceptions = parse_exceptions_csv((workdir / "load_exceptions.csv").read_text())
        acknowledged = read_acks(workdir)

    check = compare_acks(acknowledged, stored_ids())
    for line in stats_table(rows, total, order=[endpoint.name for endpoint in enabled]):
        print(line)
    errors = total.failures + sum(count for count, _ in exceptions)
    if not errors:
        print("errors: none")
    else:
        print(f"errors: {total.failures} failed requests, {errors - total.failures} errors in the locustfile")
        for failure in failures:
            print(f"  {failure.occurrences} x {failure.name}: {failure.error}")
        for count, message in exceptions:
            print(f"  {count} x locustfile: {message}")
    cpu_warnings = [line for line in result.stderr.splitlines() if "CPU usage" in line]
    if cpu_warnings:
        print(
            f"note: locust warned about its own CPU use ({len(cpu_warnings)}x): client-side latency is included"
        )
    for line in ack_report(check):
        print(line)
    ok = not errors and check.ok
    if errors and server_tail.strip():
        print("server log (last lines):")
        print(server_tail)
    print(
        f"{'OK' if ok else 'FAIL'} (whole run {time.monotonic() - started:.0f} s; "
        f"percentiles are locust's, in ms)"
    )
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_args(argv))


def run_main(options: Options) -> int:
    try:
        return run(options)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
