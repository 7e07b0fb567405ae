"""Cohort benchmark: the full cohort computation against loading the same check-ins into a DataFrame,
and the trajectory endpoint against the episode endpoint.

- Seed (in this process, Django on the bench database, ``MOBILIZE_ENV=test``): the clinic
  ``bench-cohort`` is deleted (every row that hangs off it, found through the foreign keys; rows the
  append-only audit trail points at stay, and the old clinic is then retired under another slug)
  and rebuilt by ``bench.cohort_seed`` with ``COPY ... FROM STDIN``, never the ORM: ``--episodes``
  episodes (10,000) of one surgeon with ``--days`` days (180) of check-ins after surgery plus a
  pre-operative week (about 1.9 million check-in rows), assignments, exercise logs, questionnaire
  responses, walks and milestones; and one episode of a second surgeon with ``--year-days`` (365)
  days of the same. The tables are ANALYZEd. A clinic seeded the same day with the same sizes is
  reused (``--reseed`` rebuilds it anyway).
- Cohort, ``--rounds`` (3) alternating rounds, medians:
  (a) floor: ``recovery.trajectories.frames.load_checkins_floor`` for the surgeon's 10,000 episodes:
      the same non-deleted check-in rows, loaded into a DataFrame the plainest fast way;
  (b) full: the whole cohort computation for the surgeon, ``cohort_for(surgeon, now=..., filters=...)``
      of ``recovery.trajectories.selectors`` (access scoping, loading every frame, the daily series,
      the expected band, the signals, the assessment, open alerts and the rows: status, risk,
      reasons, latest pains and adherence for all 10,000 episodes). Its frames are each episode's
      recent rows (``selectors.recent_analysis``: 21 days up to the last check-in day, the whole
      history again for an episode whose run above the band reaches back that far), which give
      exactly the status computed over the whole history (tests/test_cohort_recent.py).
  Ratio full / floor, aim <= 2.
- Latency, ``--requests`` (50) alternating requests each, medians, through Django's test ``Client``
  in this process with the year surgeon's bearer token: ``GET /api/v1/episodes/{id}/trajectory/``
  against ``GET /api/v1/episodes/{id}/`` for the episode with a year of data, twice: cold (every
  trajectory cache lookup misses, so the trajectory is computed and stored: a first view, or the
  first after new data) and warm (a repeated view with no new data, served from the cache after the
  one query that makes the key). Ratios, aim <= 3 for both.

Exit status 1 when something breaks (a request that is not 200, a count that does not match); slow
figures never fail the run.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.common import BenchError, add_database_argument, ensure_database, setup_django
from bench.reminders_plan import median, ratio, table, verdict
from recovery.env import env_int

COHORT_CLINIC_SLUG = "bench-cohort"
TARGET_COHORT_RATIO = 2.0
TARGET_LATENCY_RATIO = 3.0
#: Library exercises the seeded assignments prescribe (shipped with the app).
EXERCISE_SLUGS = ("ankle-pumps", "abdominal-bracing", "bird-dog")


@dataclass(frozen=True)
class Options:
    episodes: int
    days: int
    year_days: int
    rounds: int
    requests: int
    reseed: bool
    database_url: str


def add_arguments(parser: argparse._ActionsContainer) -> None:
    """This benchmark's options, but ``--database-url`` (``bench.common.add_database_argument``)."""
    parser.add_argument(
        "--episodes",
        type=int,
        default=env_int("BENCH_COHORT_EPISODES", 10_000, minimum=1),
        help="episodes of the cohort surgeon (env BENCH_COHORT_EPISODES, default 10000)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=env_int("BENCH_COHORT_DAYS", 180, minimum=1),
        help="days of check-ins after surgery per episode (env BENCH_COHORT_DAYS, default 180)",
    )
    parser.add_argument(
        "--year-days",
        type=int,
        default=365,
        help="days of data of the episode whose trajectory latency is measured (default 365)",
    )
    parser.add_argument("--cohort-rounds", type=int, default=3, help="cohort rounds, medians (default 3)")
    parser.add_argument(
        "--latency-requests", type=int, default=50, help="requests per endpoint, medians (default 50)"
    )
    parser.add_argument(
        "--reseed", action="store_true", help="rebuild the seeded clinic even when it could be reused"
    )


def options_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Options:
    for name in ("episodes", "days", "year_days", "cohort_rounds", "latency_requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return Options(
        episodes=args.episodes,
        days=args.days,
        year_days=args.year_days,
        rounds=args.cohort_rounds,
        requests=args.latency_requests,
        reseed=args.reseed,
        database_url=args.database_url,
    )


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench cohort", description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    add_database_argument(parser)
    return options_from(parser, parser.parse_args(argv))


# ---------------------------------------------------------------------------------------------
# Seed
# ---------------------------------------------------------------------------------------------


def _clinic_name(episodes: int, days: int, year_days: int, now: datetime) -> str:
    return f"Bench Cohort {episodes}x{days}+{year_days} seeded {now.date().isoformat()}"


def _foreign_keys(cursor: Any) -> dict[str, list[tuple[str, str, str]]]:
    """For each table: the (table, column, referenced column) pairs of the foreign keys pointing at it."""
    cursor.execute(
        """
        SELECT c.confrelid::regclass::text, c.conrelid::regclass::text, a.attname, pa.attname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
        """
    )
    referencing: dict[str, list[tuple[str, str, str]]] = {}
    for parent, child, column, parent_column in cursor.fetchall():
        referencing.setdefault(parent, []).append((child, column, parent_column))
    return referencing


def _append_only(cursor: Any) -> set[str]:
    """Tables whose rows may never be updated or deleted (the audit trail's triggers)."""
    cursor.execute(
        "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE %s",
        ["%append_only%"],
    )
    return {row[0] for row in cursor.fetchall()}


def delete_clinic(cursor: Any, slug: str) -> None:
    """Delete a clinic and every row that references it, directly or not, in plain SQL.

    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so the order of the deletes inside the
    transaction does not matter; what matters is reaching every referencing table, including tables
    of apps added after this benchmark was written. Append-only tables (the audit trail) are never
    touched: a row they reference stays, and if the clinic itself stays it is retired (its slug and
    its remaining users' emails renamed, the users deactivated) so that a new one can take its place.
    """
    referencing = _foreign_keys(cursor)
    append_only = _append_only(cursor)

    def delete(table: str, where: str, path: tuple[str, ...]) -> None:
        keep: list[str] = []
        for child, column, parent_column in referencing.get(table, []):
            if child in append_only:
                keep.append(
                    f"NOT EXISTS (SELECT 1 FROM {child} kept WHERE kept.{column} = {table}.{parent_column})"
                )
                continue
            if child in path or child == table:
                continue
            delete(child, f"{column} IN (SELECT {parent_column} FROM {table} WHERE {where})", (*path, child))
        condition = " AND ".join([f"({where})", *keep])
        cursor.execute(f"DELETE FROM {table} WHERE {condition}", [slug] * where.count("%s"))

    delete("accounts_clinic", "slug = %s", ("accounts_clinic",))
    retired = uuid.uuid4().hex[:8]
    cursor.execute(
        "UPDATE accounts_user SET email = %s || email, is_active = false "
        "WHERE clinic_id IN (SELECT id FROM accounts_clinic WHERE slug = %s)",
        [f"retired-{retired}-", slug],
    )
    cursor.execute(
        "UPDATE accounts_clinic SET slug = %s, name = name || ' (retired)' WHERE slug = %s",
        [f"{slug}-retired-{retired}", slug],
    )


def _with_defaults(table: str, frame: Any) -> Any:
    """The frame plus any column the model has gained since the generator was written, filled with
    its Django default (COPY does not know Python-side defaults). A new required column without a
    plain default stops the run: the generator must learn it."""
    from django.apps import apps
    from django.db.models import NOT_PROVIDED

    model = next((m for m in apps.get_models(include_auto_created=True) if m._meta.db_table == table), None)
    if model is None:
        raise BenchError(f"no model for table {table}")
    extra = {}
    for field in model._meta.concrete_fields:
        column = field.column
        database_fills = (
            field.get_internal_type().endswith("AutoField") or field.db_default is not NOT_PROVIDED
        )
        if column in frame.columns or field.null or database_fills:
            continue
        if field.default is NOT_PROVIDED or callable(field.default):
            raise BenchError(
                f"{table}.{column} is required and has no plain default: teach bench.cohort_seed"
            )
        extra[column] = field.default
    return frame.assign(**extra) if extra else frame


@dataclass(frozen=True)
class Seeded:
    cohort_surgeon_id: uuid.UUID
    year_surgeon_id: uuid.UUID
    year_episode_id: uuid.UUID
    checkins: int
    rows: int
    seconds: float
    reused: bool


def seed(options: Options, now: datetime) -> Seeded:
    from django.db import connection, transaction

    from bench.cohort_seed import Plan, generate, write
    from recovery.accounts.models import Clinic, Role, User
    from recovery.episodes.models import Episode
    from recovery.rehab.models import Exercise

    started = time.perf_counter()
    name = _clinic_name(options.episodes, options.days, options.year_days, now)
    clinic = Clinic.objects.filter(slug=COHORT_CLINIC_SLUG).first()
    if clinic is not None and clinic.name == name and not options.reseed:
        surgeons = list(
            User.objects.filter(clinic=clinic, role=Role.SURGEON)
            .order_by("email")
            .values_list("id", flat=True)
        )
        year_episode = Episode.objects.filter(surgeon_id=surgeons[1]).values_list("id", flat=True).first()
        if len(surgeons) == 2 and year_episode is not None:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM checkins_checkin c JOIN episodes_episode e ON e.id = c.episode_id "
                    "WHERE e.clinic_id = %s",
                    [clinic.pk],
                )
                (checkins,) = cursor.fetchone()
            return Seeded(surgeons[0], surgeons[1], year_episode, checkins, 0, 0.0, True)

    exercises = dict(
        Exercise.objects.filter(clinic__isnull=True, slug__in=EXERCISE_SLUGS).values_list("slug", "id")
    )
    missing = [slug for slug in EXERCISE_SLUGS if slug not in exercises]
    if missing:
        raise BenchError(f"the shipped exercise library lacks {', '.join(missing)}")
    clinic_id = uuid.uuid4()
    plan = Plan(
        clinic_id=str(clinic_id),
        clinic_slug=COHORT_CLINIC_SLUG,
        clinic_name=name,
        episodes=options.episodes,
        days=options.days,
        year_days=options.year_days,
        now=now,
        exercise_ids=tuple(str(exercises[slug]) for slug in EXERCISE_SLUGS),  # type: ignore[arg-type]
        id_prefix=uuid.uuid4().int,
    )
    generated = generate(plan)
    tables = {table: _with_defaults(table, frame) for table, frame in generated.tables.items()}
    with transaction.atomic(), connection.cursor() as cursor:
        delete_clinic(cursor, COHORT_CLINIC_SLUG)
        cursor.execute(
            "INSERT INTO accounts_clinic (id, name, slug, is_demo, created_at) VALUES (%s, %s, %s, false, %s)",
            [clinic_id, name, COHORT_CLINIC_SLUG, now],
        )
        write(cursor.cursor, tables)
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")
    assert generated.year_episode_id is not None
    checkins = generated.tables["checkins_checkin"]
    return Seeded(
        uuid.UUID(generated.cohort_surgeon_id),
        uuid.UUID(generated.year_surgeon_id),
        uuid.UUID(generated.year_episode_id),
        len(checkins),
        generated.rows(),
        time.perf_counter() - started,
        False,
    )


# ---------------------------------------------------------------------------------------------
# Cohort: full computation against the floor
# ---------------------------------------------------------------------------------------------


def cohort_computation() -> tuple[str, Callable[[Any, datetime], int]]:
    """The full cohort computation for a user (returns the rows it made), and its name."""
    try:
        from recovery.trajectories.selectors import cohort_for
    except ImportError as exc:
        raise BenchError(f"the cohort selector is not there: {exc}") from None

    def full(user: Any, now: datetime) -> int:
        return len(cohort_for(user, now=now, filters={}))

    return "recovery.trajectories.selectors.cohort_for(surgeon, now=..., filters={})", full


@dataclass(frozen=True)
class CohortFigures:
    computation: str
    floor: list[float]
    full: list[float]
    floor_rows: int
    full_rows: int
    queries: int
    profile: list[tuple[str, float]]
    #: ``cohort_outcomes`` for every procedure of the cohort, which reads every check-in (the cohort
    #: list reads only each episode's recent weeks): one timing per round.
    outcomes: list[float]


def _profile_top(function: Callable[[], Any], top: int = 12) -> list[tuple[str, float]]:
    """Cumulative seconds of the project's own functions (recovery/, api/) in one profiled call."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        function()
    finally:
        profiler.disable()
    stats: Any = pstats.Stats(profiler)
    entries: list[tuple[str, float]] = []
    for (filename, line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():
        path = filename.replace("\\", "/")
        for package in ("/recovery/", "/api/"):
            if package in path:
                short = path[path.rindex(package) + 1 :]
                entries.append((f"{short}:{line} {name}", cumulative))
    entries.sort(key=lambda entry: -entry[1])
    return entries[:top]


def measure_cohort(surgeon_id: uuid.UUID, rounds: int, now: datetime, profile: bool) -> CohortFigures:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recovery.accounts.models import User
    from recovery.episodes.models import Episode
    from recovery.trajectories.frames import load_checkins_floor

    surgeon = User.objects.get(pk=surgeon_id)
    episode_ids = list(Episode.objects.filter(surgeon=surgeon).values_list("id", flat=True))
    name, full = cohort_computation()
    floor_times: list[float] = []
    full_times: list[float] = []
    outcome_times: list[float] = []
    floor_rows = full_rows = 0
    from recovery.trajectories.selectors import cohort_outcomes

    procedures = sorted(set(Episode.objects.filter(surgeon=surgeon).values_list("procedure_id", flat=True)))
    for _ in range(rounds):
        started = time.perf_counter()
        floor_rows = len(load_checkins_floor(episode_ids))
        floor_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        full_rows = full(surgeon, now)
        full_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        for procedure in procedures:
            cohort_outcomes(surgeon, procedure=procedure, now=now)
        outcome_times.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as queries:
        full(surgeon, now)
    top = _profile_top(lambda: full(surgeon, now)) if profile else []
    return CohortFigures(
        name, floor_times, full_times, floor_rows, full_rows, len(queries), top, outcome_times
    )


# ---------------------------------------------------------------------------------------------
# Latency: the trajectory endpoint against the episode endpoint
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyFigures:
    episode: list[float]
    #: Trajectory requests that missed the cache (computed, then stored): a first view, or the
    #: first view after new data.
    trajectory: list[float]
    #: Trajectory requests served from the cache: a repeated view with no new data.
    trajectory_warm: list[float]
    episode_queries: int
    trajectory_queries: int
    trajectory_warm_queries: int
    days: int


@contextmanager
def _cache_misses() -> Iterator[None]:
    """Every trajectory cache lookup misses (the key is still computed and the result stored):
    the cold path, without emptying a cache other processes may share."""
    from recovery.trajectories import selectors

    found = getattr(selectors, "_cache_get", None)
    if found is None:
        yield
        return
    selectors._cache_get = lambda key: None
    try:
        yield
    finally:
        selectors._cache_get = found


def measure_latency(surgeon_id: uuid.UUID, episode_id: uuid.UUID, requests: int) -> LatencyFigures:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from recovery.accounts.models import User
    from recovery.accounts.services import token_issue
    from recovery.checkins.models import CheckIn

    raw, _ = token_issue(user=User.objects.get(pk=surgeon_id), client="bench-cohort")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    urls = {
        "episode": f"/api/v1/episodes/{episode_id}/",
        "trajectory": f"/api/v1/episodes/{episode_id}/trajectory/",
        "trajectory_warm": f"/api/v1/episodes/{episode_id}/trajectory/",
    }

    def get(key: str) -> Any:
        if key == "trajectory":
            with _cache_misses():
                return client.get(urls[key])
        return client.get(urls[key])

    counts: dict[str, int] = {}
    for key, url in urls.items():
        with CaptureQueriesContext(connection) as queries:
            response = get(key)
        if response.status_code != 200:
            raise BenchError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
        counts[key] = len(queries)
    timings: dict[str, list[float]] = {key: [] for key in urls}
    for _ in range(requests):
        for key, url in urls.items():
            started = time.perf_counter()
            response = get(key)
            timings[key].append(time.perf_counter() - started)
            if response.status_code != 200:
                raise BenchError(f"GET {url} answered {response.status_code}")
    dates = CheckIn.objects.filter(episode_id=episode_id, deleted_at__isnull=True).dates("local_date", "day")
    return LatencyFigures(
        timings["episode"],
        timings["trajectory"],
        timings["trajectory_warm"],
        counts["episode"],
        counts["trajectory"],
        counts["trajectory_warm"],
        dates.count(),
    )


# ---------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def run(options: Options, *, profile: bool = True) -> int:
    started = time.monotonic()
    name = ensure_database(options.database_url)
    setup_django(options.database_url)
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    print("Cohort: the full cohort computation against loading its check-ins; trajectory against episode GET")
    seeded = seed(options, now)
    how = (
        "reused (same sizes, seeded today; --reseed to rebuild)"
        if seeded.reused
        else f"{seeded.rows} rows by COPY in {seeded.seconds:.0f} s"
    )
    print(
        f"seed: clinic {COHORT_CLINIC_SLUG}, {options.episodes} episodes x {options.days} days after surgery "
        f"(+ a pre-operative week) and 1 episode x {options.year_days} days; {seeded.checkins} check-ins; "
        f"{how}; PostgreSQL database {name}"
    )
    cohort = measure_cohort(seeded.cohort_surgeon_id, options.rounds, now, profile)
    print(f"full: {cohort.computation}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM checkins_checkin c JOIN episodes_episode e ON e.id = c.episode_id "
            "WHERE e.surgeon_id = %s AND c.deleted_at IS NULL",
            [seeded.cohort_surgeon_id],
        )
        (expected_rows,) = cursor.fetchone()
    latency = measure_latency(seeded.year_surgeon_id, seeded.year_episode_id, options.requests)

    floor_s, full_s = median(cohort.floor), median(cohort.full)
    cohort_ratio = ratio(full_s, floor_s)
    episode_s, trajectory_s = median(latency.episode), median(latency.trajectory)
    latency_ratio = ratio(trajectory_s, episode_s)
    warm_s = median(latency.trajectory_warm)
    warm_ratio = ratio(warm_s, episode_s)
    rows = [
        (
            "floor: load_checkins_floor (check-ins -> DataFrame)",
            _seconds(floor_s),
            f"{cohort.floor_rows} rows",
        ),
        (
            "full: cohort computation",
            _seconds(full_s),
            f"{cohort.full_rows} episodes, {cohort.queries} queries",
        ),
        (
            "full / floor",
            f"{cohort_ratio:.2f}x",
            f"aim <= {TARGET_COHORT_RATIO:g}x: {verdict(cohort_ratio <= TARGET_COHORT_RATIO)}",
        ),
        (
            "outcomes: cohort_outcomes for every procedure",
            _seconds(median(cohort.outcomes)),
            f"{ratio(median(cohort.outcomes), floor_s):.2f}x the floor; reads every check-in",
        ),
        ("GET /api/v1/episodes/{id}/", _ms(episode_s), f"{latency.episode_queries} queries"),
        (
            "GET .../trajectory/, cold (cache miss)",
            _ms(trajectory_s),
            f"{latency.trajectory_queries} queries, {latency.days} days of check-ins",
        ),
        (
            "cold trajectory / episode",
            f"{latency_ratio:.2f}x",
            f"aim <= {TARGET_LATENCY_RATIO:g}x: {verdict(latency_ratio <= TARGET_LATENCY_RATIO)}",
        ),
        (
            "GET .../trajectory/, warm (repeated view)",
            _ms(warm_s),
            f"{latency.trajectory_warm_queries} queries",
        ),
        (
            "warm trajectory / episode",
            f"{warm_ratio:.2f}x",
            f"aim <= {TARGET_LATENCY_RATIO:g}x: {verdict(warm_ratio <= TARGET_LATENCY_RATIO)}",
        ),
    ]
    print(
        f"medians: cohort of {options.rounds} alternating rounds; latency of {options.requests} alternating "
        "requests each (Django test Client, in process, bearer token)"
    )
    for line in table(rows):
        print(line)
    print(
        "rounds (s): floor "
        + ", ".join(f"{t:.2f}" for t in cohort.floor)
        + "; full "
        + ", ".join(f"{t:.2f}" for t in cohort.full)
    )
    best_floor, best_full = min(cohort.floor), min(cohort.full)
    best_episode, best_trajectory = min(latency.episode), min(latency.trajectory)
    best_warm = min(latency.trajectory_warm)
    print(
        f"best rounds (less noise on a busy machine): floor {best_floor:.2f} s, full {best_full:.2f} s, "
        f"{ratio(best_full, best_floor):.2f}x; episode {best_episode * 1000:.1f} ms, trajectory cold "
        f"{best_trajectory * 1000:.1f} ms, {ratio(best_trajectory, best_episode):.2f}x, warm "
        f"{best_warm * 1000:.1f} ms, {ratio(best_warm, best_episode):.2f}x"
    )
    if cohort.profile:
        print("where the full computation spends its time (one profiled run, cumulative s, project code):")
        for label, seconds in cohort.profile:
            print(f"  {seconds:7.2f}  {label}")
    ok = cohort.floor_rows == expected_rows and cohort.full_rows == options.episodes
    if cohort.floor_rows != expected_rows:
        print(f"the floor loaded {cohort.floor_rows} check-ins; the table holds {expected_rows}")
    if cohort.full_rows != options.episodes:
        print(f"the cohort has {cohort.full_rows} rows; the surgeon has {options.episodes} episodes")
    print(f"{'OK' if ok else 'FAIL'} (whole run {time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_args(argv))


def run_main(options: Options) -> int:
    try:
        return run(options)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
