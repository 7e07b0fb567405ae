"""Benchmark: a check-in POST through the full stack against a bare Django view doing the same insert.

Both endpoints run on the same gunicorn server, against the same PostgreSQL database, in the same run:

- ``full``: ``POST /api/v1/episodes/{id}/check-ins/`` with ``Authorization: Bearer <token>``, i.e. DRF,
  token authentication, the input serializer, the episode-scoped base view and the access policy,
  ``checkin_record`` and the output serializer;
- ``bare``: ``POST /bench/checkins/{id}/`` (``bench.bare``), the same validated insert by hand, with no
  authentication.

Load comes from client processes (http.client, keep-alive), each request carrying a fresh uuid4
``id``; every response must be 201. After a warm-up of each endpoint, measured rounds alternate
(bare, full, bare, full, ...) so that drift on the machine hits both; req/s is the median of rounds.
The aim is ``full >= 0.60 x bare``; it is reported as PASS or BELOW TARGET and never fails the run.

The server is one gunicorn gthread worker with 4 threads by default. On a 2-core machine that leaves
the other core to PostgreSQL and the clients, so the server's Python is the bottleneck, which is
what the ratio is about. With 2 workers they all fight over both cores, and keep-alive connections
spread unevenly over the workers from round to round: rounds then vary by about 20% instead of
about 5%. (``--workers 2`` is still there; ``sync`` workers were noisier still.)

Set-up: the database (``--database-url``, else ``BENCH_DATABASE_URL``, else a local ``mobilize_bench``)
is created if missing and migrated; a clinic, surgeon, patient (Europe/Madrid) and episode are
created once and reused, their old check-ins and tokens deleted at the start of every run. The
server runs with ``MOBILIZE_ENV=test`` (development secret key), ``MOBILIZE_BENCH=1`` and ``DEBUG=false``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.common import (
    HOST,
    BenchError,
    add_database_argument,
    ensure_database,
    free_port,
    inprocess_environment,
    running_gunicorn,
    setup_django,
)
from recovery.env import env_int

TARGET_RATIO = 0.60
BENCH_CLINIC_SLUG = "bench"


@dataclass(frozen=True)
class Options:
    requests: int
    rounds: int
    warmup: int
    concurrency: int
    workers: int
    threads: int
    worker_class: str
    database_url: str


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    token: str | None


@dataclass(frozen=True)
class Job:
    port: int
    path: str
    token: str | None
    count: int


@dataclass(frozen=True)
class Batch:
    start: float
    end: float
    latencies: list[float]


@dataclass(frozen=True)
class Round:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def add_arguments(parser: argparse._ActionsContainer) -> None:
    """This benchmark's options, but ``--database-url`` (``bench.common.add_database_argument``)."""
    parser.add_argument(
        "--requests",
        type=int,
        default=env_int("BENCH_REQUESTS", 2000, minimum=1),
        help="measured requests per endpoint per round (env BENCH_REQUESTS, default 2000)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=env_int("BENCH_ROUNDS", 3, minimum=1),
        help="measured rounds per endpoint, alternating (env BENCH_ROUNDS, default 3)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=env_int("BENCH_WARMUP", 300, minimum=0),
        help="unmeasured requests per endpoint first (env BENCH_WARMUP, default 300)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=env_int("BENCH_CONCURRENCY", 4, minimum=1),
        help="client processes, one keep-alive connection each (env BENCH_CONCURRENCY, default 4)",
    )
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1, see above)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("--worker-class", choices=["gthread", "sync"], default="gthread")


def options_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Options:
    for name in ("requests", "rounds", "concurrency", "workers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return Options(
        requests=args.requests,
        rounds=args.rounds,
        warmup=args.warmup,
        concurrency=args.concurrency,
        workers=args.workers,
        threads=args.threads,
        worker_class=args.worker_class,
        database_url=args.database_url,
    )


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    add_database_argument(parser)
    return options_from(parser, parser.parse_args(argv))


# ---------------------------------------------------------------------------------------------
# Database and seed data (in this process, with Django set up against the bench database)
# ---------------------------------------------------------------------------------------------


def server_environment(database_url: str) -> dict[str, str]:
    return inprocess_environment(database_url)


def seed() -> tuple[str, str]:
    """The bench episode (created once, reused) emptied of check-ins, and a fresh bearer token.

    Returns ``(episode_id, raw_token)``.
    """
    from datetime import date, timedelta

    from django.db import transaction
    from django.utils import timezone

    from recovery.accounts.models import ApiToken, Clinic, PatientProfile, Role, User
    from recovery.accounts.services import token_issue
    from recovery.checkins.models import CheckIn
    from recovery.episodes.models import Episode, EpisodeStatus, Procedure

    def user(clinic: Clinic, email: str, role: str, full_name: str) -> User:
        existing = User.objects.filter(email=email).first()
        if existing is not None:
            return existing
        return User.objects.create_user(email, full_name=full_name, role=role, clinic=clinic)

    surgery_date = timezone.now().date() - timedelta(days=10)
    with transaction.atomic():
        clinic, _ = Clinic.objects.get_or_create(slug=BENCH_CLINIC_SLUG, defaults={"name": "Bench Clinic"})
        surgeon = user(clinic, "bench-surgeon@example.org", Role.SURGEON, "Dr Bench")
        patient = user(clinic, "bench-patient@example.org", Role.PATIENT, "Pat Bench")
        PatientProfile.objects.update_or_create(
            user=patient, defaults={"date_of_birth": date(1968, 4, 12), "time_zone": "Europe/Madrid"}
        )
        episode = Episode.objects.filter(clinic=clinic, patient=patient).first()
        if episode is None:
            episode = Episode.objects.create(
                clinic=clinic,
                patient=patient,
                surgeon=surgeon,
                procedure=Procedure.objects.get(code="lumbar_microdiscectomy"),
                levels=["L4-L5"],
                surgery_date=surgery_date,
                status=EpisodeStatus.RECOVERING,
                created_by=surgeon,
            )
        else:
            # Keep the surgery 10 days back, so that "now" stays a plausible check-in time.
            Episode.objects.filter(pk=episode.pk).update(surgery_date=surgery_date)
        CheckIn.objects.filter(episode__clinic=clinic).delete()
        ApiToken.objects.filter(user__clinic=clinic).delete()
        raw, _ = token_issue(user=patient, client="bench")
    return str(episode.pk), raw


def count_queries(targets: Sequence[Target]) -> dict[str, int]:
    """ORM queries per request of each endpoint, measured in-process after one unmeasured request.

    Django's test client skips the per-request connection health check, so the real server runs one
    ``SELECT 1`` more per request on both endpoints (``CONN_HEALTH_CHECKS``).
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    counts: dict[str, int] = {}
    for target in targets:
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        for attempt in range(2):
            with CaptureQueriesContext(connection) as captured:
                response = client.post(target.path, _body(), content_type="application/json", headers=headers)
            if response.status_code != 201:
                raise BenchError(
                    f"{target.name}: expected 201, got {response.status_code}: {response.content[:300]!r}"
                )
            if attempt:
                counts[target.name] = len(captured.captured_queries)
    return counts


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


@contextmanager
def running_server(options: Options, port: int) -> Iterator[None]:
    with running_gunicorn(
        port=port,
        workers=options.workers,
        threads=options.threads,
        worker_class=options.worker_class,
        env={**os.environ, **server_environment(options.database_url)},
    ):
        yield


# ---------------------------------------------------------------------------------------------
# The load (runs in spawned client processes: nothing here may need Django)
# ---------------------------------------------------------------------------------------------


def _body() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "axial_pain": 4,
        "limb_pain": 3,
        "walking_minutes": 20,
        "red_flags": [],
        "note": "Walked to the corner shop and back.",
    }


def client_batch(job: Job) -> Batch:
    """Send ``job.count`` check-ins over one keep-alive connection; every answer must be 201."""
    headers = {"Content-Type": "application/json"}
    if job.token:
        headers["Authorization"] = f"Bearer {job.token}"
    latencies: list[float] = []
    conn = http.client.HTTPConnection(HOST, job.port, timeout=30)
    try:
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        for _ in range(job.count):
            payload = json.dumps(_body()).encode()
            sent = time.monotonic()
            conn.request("POST", job.path, payload, headers)
            response = conn.getresponse()
            content = response.read()
            latencies.append(time.monotonic() - sent)
            if response.status != 201:
                raise BenchError(f"POST {job.path}: expected 201, got {response.status}: {content[:300]!r}")
        end = time.monotonic()
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"POST {job.path}: {type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
    return Batch(start, end, latencies)


def _split(total: int, parts: int) -> list[int]:
    return [count for i in range(parts) if (count := total // parts + (1 if i < total % parts else 0))]


def run_round(pool: Any, target: Target, port: int, requests: int, concurrency: int) -> Round:
    jobs = [Job(port, target.path, target.token, count) for count in _split(requests, concurrency)]
    # time.monotonic is CLOCK_MONOTONIC on Linux: comparable across the client processes.
    batches: list[Batch] = pool.map(client_batch, jobs)
    seconds = max(b.end for b in batches) - min(b.start for b in batches)
    return Round(requests, seconds, [latency for b in batches for latency in b.latencies])


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def report(targets: Sequence[Target], rounds: dict[str, list[Round]], queries: dict[str, int]) -> float:
    print(
        f"{'endpoint':<9}{'requests':>9}{'seconds':>9}{'req/s (median)':>16}{'rounds min-max':>17}"
        f"{'p50 ms':>8}{'p95 ms':>8}{'queries':>9}"
    )
    medians: dict[str, float] = {}
    for target in targets:
        measured = rounds[target.name]
        rates = [r.rate for r in measured]
        latencies = sorted(latency for r in measured for latency in r.latencies)
        medians[target.name] = statistics.median(rates)
        print(
            f"{target.name:<9}{sum(r.requests for r in measured):>9}{sum(r.seconds for r in measured):>9.1f}"
            f"{medians[target.name]:>16.1f}{f'{min(rates):.0f}-{max(rates):.0f}':>17}"
            f"{_percentile(latencies, 0.50) * 1000:>8.1f}{_percentile(latencies, 0.95) * 1000:>8.1f}"
            f"{queries[target.name]:>9}"
        )
    ratio = medians["full"] / medians["bare"]
    verdict = "PASS" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(f"ratio full/bare = {ratio:.2f} (target >= {TARGET_RATIO:.2f}): {verdict}")
    return ratio


def run(options: Options) -> None:
    started = time.monotonic()
    name = ensure_database(options.database_url)
    setup_django(options.database_url)
    episode_id, token = seed()
    targets = (
        Target("bare", f"/bench/checkins/{episode_id}/", None),
        Target("full", f"/api/v1/episodes/{episode_id}/check-ins/", token),
    )
    queries = count_queries(targets)
    from django.db import connections

    connections.close_all()

    port = free_port()
    print("Check-in POST: full stack vs bare Django view (same server, database and run)")
    print(
        f"server: gunicorn {options.worker_class}, {options.workers} worker{'s' if options.workers > 1 else ''}"
        + (f" x {options.threads} threads" if options.worker_class == "gthread" else "")
        + f", {HOST}:{port}; PostgreSQL database {name}"
    )
    print(
        f"load: {options.concurrency} client processes with keep-alive; {options.warmup} warm-up, then "
        f"{options.rounds} rounds x {options.requests} requests per endpoint, alternating"
    )
    print()
    rounds: dict[str, list[Round]] = {target.name: [] for target in targets}
    with (
        running_server(options, port),
        multiprocessing.get_context("spawn").Pool(options.concurrency) as pool,
    ):
        if options.warmup:
            for target in targets:
                run_round(pool, target, port, options.warmup, options.concurrency)
        for _ in range(options.rounds):
            for target in targets:
                rounds[target.name].append(
                    run_round(pool, target, port, options.requests, options.concurrency)
                )
    report(targets, rounds, queries)
    print(f"(whole run {time.monotonic() - started:.0f} s; queries = ORM queries per request, in-process)")


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_args(argv))


def run_main(options: Options) -> int:
    try:
        run(options)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    return 0
