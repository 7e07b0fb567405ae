"""Reminder benchmark: the dispatcher's select-and-enqueue of the due schedules against a bare SELECT
of the same rows, and end-to-end delivery through real Celery workers to a local push endpoint.

- Seed (in this process, Django on the bench database, ``MOBILIZE_ENV=test``): the clinic
  ``bench-reminders`` is deleted and rebuilt with bulk inserts: ``--schedules`` active schedules over
  episodes of 10 (one walk, nine questionnaire schedules with distinct targets), of which ``--due``
  walks are due within the last minute and the rest due in 1 hour to 14 days. Each due patient has one
  push subscription ``http://127.0.0.1:<port>/push/<n>`` (one browser key pair shared by all). The
  tables are ANALYZEd.
- Select-and-enqueue, repeated ``--rounds`` times, medians: (a) the bare
  ``SELECT id FROM reminders_reminderschedule WHERE active AND next_due_at <= now()`` through a raw
  cursor; (b) the dispatcher's query alone (``selectors.due_pages``, fetched in one page of the due
  count); (c) what ``dispatch_due`` does with the due rows, ``tasks.enqueue_due``: the advisory lock,
  the query fetched ``PAGE`` rows at a time, one ``send_reminders`` task per ``SEND_CHUNK`` reminders,
  to a Redis queue no worker consumes, purged after each round. The dispatcher writes nothing per row,
  so every round finds the same due rows.
- End to end: the push endpoint (``bench.reminders_push``, in ``--push-processes`` processes of its
  own sharing one listening socket: an asyncio HTTP/1.1 keep-alive server standing in for the push
  services and the browsers; it checks every message's VAPID header, the signature of each distinct
  header once, and decrypts every body with the browser's keys), ``--workers`` Celery worker processes
  (``--pool``, ``--concurrency``) on their own queue with VAPID keys from ``vapid_keys_generate``
  (what ``manage.py vapid_keys`` prints); the due rows are handed out as in (c) (and again every 60 s
  while waiting, as beat would, since send tasks expire after 50 s), and the clock runs from the first
  publish until every due schedule's delivery is ``sent`` in the database. Checked: pushes received =
  pushes decrypted = deliveries sent = due schedules, none refused, every push path received exactly
  once. Also printed: the CPU time (user + system, from ``/proc``) the workers and the endpoint spent
  per reminder, and the load average, as the wall-clock rate depends on what else the machine runs.

Exit status 1 when something breaks or the end-to-end check fails; slow figures never fail the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO, Any

from bench.common import (
    HOST,
    PROJECT_ROOT,
    BenchError,
    add_database_argument,
    ensure_database,
    log_tail,
    setup_django,
)
from bench.reminders_plan import (
    PUSH_PATH_PREFIX,
    Layout,
    check_pushes,
    layout,
    median,
    ratio,
    table,
    verdict,
)
from recovery.env import env_int, env_str

REMINDERS_CLINIC_SLUG = "bench-reminders"
TARGET_RATIO = 3.0
TARGET_RATE = 1000.0
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: The end-to-end run stops waiting after this long (the rate is then sent / elapsed, and the run says
#: the due rows were not drained); it keeps ``python -m bench reminders`` to about 3 minutes.
DELIVERY_TIMEOUT_SECONDS = 90
BARE_SQL = "SELECT id FROM reminders_reminderschedule WHERE active AND next_due_at <= now()"


@dataclass(frozen=True)
class Options:
    schedules: int
    due: int
    rounds: int
    workers: int
    concurrency: int
    pool: str
    push_processes: int
    database_url: str


def add_arguments(parser: argparse._ActionsContainer) -> None:
    """This benchmark's options, but ``--database-url`` (``bench.common.add_database_argument``)."""
    parser.add_argument(
        "--schedules",
        type=int,
        default=env_int("BENCH_REMINDER_SCHEDULES", 100_000, minimum=1),
        help="active reminder schedules (env BENCH_REMINDER_SCHEDULES, default 100000)",
    )
    parser.add_argument(
        "--due",
        type=int,
        default=env_int("BENCH_REMINDER_DUE", 10_000, minimum=1),
        help="of them due within the last minute (env BENCH_REMINDER_DUE, default 10000)",
    )
    parser.add_argument(
        "--select-rounds", type=int, default=3, help="select-and-enqueue repetitions (default 3)"
    )
    parser.add_argument("--celery-workers", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument(
        "--celery-concurrency",
        type=int,
        default=5,
        # With a prefetch multiplier of 1 a worker still reserves one task per free thread: with 8
        # threads the first worker took 8 of the 10 chunks and ran them on one core (one GIL) while
        # the other had 2 (426/s against 735/s with 5, same machine, same hour). Chunks / workers.
        help="pool size of each worker (default 5: the 10 chunks of the default run over 2 workers)",
    )
    parser.add_argument(
        "--celery-pool",
        choices=("prefork", "threads"),
        default="threads",
        # On the 2-core machine (shared with other jobs) threads x 8 delivered 387-427/s, prefork x 2
        # 362/s: sending is CPU-bound here (encryption, HTTP and the push endpoint on the same cores).
        help="worker pool (default threads)",
    )
    parser.add_argument(
        "--push-processes",
        type=int,
        default=1,
        help="processes of the local push endpoint, sharing one socket (default 1)",
    )


def options_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Options:
    for name in (
        "schedules",
        "due",
        "select_rounds",
        "celery_workers",
        "celery_concurrency",
        "push_processes",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.due > args.schedules:
        parser.error("--due cannot exceed --schedules")
    return Options(
        schedules=args.schedules,
        due=args.due,
        rounds=args.select_rounds,
        workers=args.celery_workers,
        concurrency=args.celery_concurrency,
        pool=args.celery_pool,
        push_processes=args.push_processes,
        database_url=args.database_url,
    )


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench reminders", description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    add_database_argument(parser)
    return options_from(parser, parser.parse_args(argv))


def redis_url() -> str:
    return env_str("REDIS_URL", DEFAULT_REDIS_URL)


# ---------------------------------------------------------------------------------------------
# The push endpoint
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrowserKeys:
    """The browser side of every seeded subscription (one key pair shared by all): the private scalar
    goes to the push endpoint, which decrypts with it; the public point and auth secret to the rows."""

    private: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Vapid:
    public_key: str
    private_key: str
    subject: str


@dataclass(frozen=True)
class PushStats:
    """What the push endpoint processes received, added up over them."""

    paths: list[str]
    decrypted: int
    errors: int
    error_samples: list[str]
    cpu_seconds: float


def browser_keys() -> BrowserKeys:
    from cryptography.hazmat.primitives.asymmetric import ec

    from recovery.notifications.vapid import b64url_encode, point_of

    private = ec.generate_private_key(ec.SECP256R1())
    return BrowserKeys(
        private=b64url_encode(private.private_numbers().private_value.to_bytes(32, "big")),
        p256dh=b64url_encode(point_of(private.public_key())),
        auth=b64url_encode(os.urandom(16)),
    )


def vapid_keys() -> Vapid:
    from recovery.notifications.vapid import vapid_keys_generate

    keys = vapid_keys_generate()
    return Vapid(keys.public_key, keys.private_key, "mailto:bench@example.org")


class PushEndpoint:
    """``bench.reminders_push`` in ``processes`` processes sharing one listening socket."""

    def __init__(self, *, processes: int, vapid: Vapid, browser: BrowserKeys) -> None:
        self.processes = processes
        self.vapid = vapid
        self.browser = browser
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((HOST, 0))
        self.socket.listen(1024)
        self.port: int = self.socket.getsockname()[1]
        self._children: list[subprocess.Popen[bytes]] = []
        self._dir = tempfile.TemporaryDirectory(prefix="mobilize-bench-push-")

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _stats_file(self, n: int) -> str:
        return os.path.join(self._dir.name, f"push-{n}.json")

    def start(self) -> None:
        for n in range(self.processes):
            self._children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.reminders_push",
                        # name=value: a base64url value may begin with "-".
                        f"--fd={self.socket.fileno()}",
                        f"--origin={self.origin}",
                        f"--vapid-public-key={self.vapid.public_key}",
                        f"--subject={self.vapid.subject}",
                        f"--browser-key={self.browser.private}",
                        f"--auth={self.browser.auth}",
                        f"--stats={self._stats_file(n)}",
                    ],
                    cwd=PROJECT_ROOT,
                    pass_fds=(self.socket.fileno(),),
                    stdout=subprocess.PIPE,
                )
            )
        for child in self._children:
            # Each prints "ready" once it serves, or exits (an empty line) when it cannot.
            assert child.stdout is not None
            if child.stdout.readline().strip() != b"ready":
                child.wait(timeout=10)
                raise BenchError(f"a push endpoint process exited with {child.returncode} before serving")

    def stop(self) -> PushStats:
        """Stop the processes (SIGTERM: each writes its figures) and add their figures up."""
        for child in self._children:
            child.send_signal(signal.SIGTERM)
        paths: list[str] = []
        decrypted = errors = 0
        samples: list[str] = []
        cpu = 0.0
        for n, child in enumerate(self._children):
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                raise BenchError("a push endpoint process did not stop within 20 s") from None
            try:
                with open(self._stats_file(n), encoding="utf-8") as stats_file:
                    stats = json.load(stats_file)
            except (OSError, ValueError) as exc:
                raise BenchError(f"push endpoint process {n} left no figures: {exc}") from None
            paths.extend(stats["paths"])
            decrypted += int(stats["decrypted"])
            errors += int(stats["errors"])
            samples.extend(stats["error_samples"])
            cpu += float(stats["cpu_seconds"])
        for child in self._children:
            if child.stdout is not None:
                child.stdout.close()
        self._children.clear()
        return PushStats(paths, decrypted, errors, samples, cpu)

    def close(self) -> None:
        for child in self._children:
            child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
        self._children.clear()
        self.socket.close()
        self._dir.cleanup()


@contextmanager
def running_push_endpoint(*, processes: int, vapid: Vapid, browser: BrowserKeys) -> Iterator[PushEndpoint]:
    """The endpoint started; ``stop()`` it to read its figures (it is closed on exit either way)."""
    endpoint = PushEndpoint(processes=processes, vapid=vapid, browser=browser)
    try:
        endpoint.start()
        yield endpoint
    finally:
        endpoint.close()


# ---------------------------------------------------------------------------------------------
# Seed
# ---------------------------------------------------------------------------------------------


def _clean() -> None:
    from django.db import connection

    from recovery.accounts.models import Clinic

    clinic = Clinic.objects.filter(slug=REMINDERS_CLINIC_SLUG).first()
    if clinic is None:
        return
    # Bulk SQL in dependency order: the Django collector would walk 100,000 rows in Python.
    users = "SELECT id FROM accounts_user WHERE clinic_id = %s"
    episodes = "SELECT id FROM episodes_episode WHERE clinic_id = %s"
    schedules = f"SELECT id FROM reminders_reminderschedule WHERE episode_id IN ({episodes})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM reminders_reminderdelivery WHERE schedule_id IN ({schedules})", [clinic.pk]
        )
        cursor.execute(
            f"DELETE FROM reminders_reminderschedule WHERE episode_id IN ({episodes})", [clinic.pk]
        )
        cursor.execute(f"DELETE FROM notifications_pushsubscription WHERE user_id IN ({users})", [clinic.pk])
    # What is left (episodes, users and whatever hangs off them) is small enough for the ORM.
    from recovery.accounts.models import User
    from recovery.episodes.models import Episode

    Episode.objects.filter(clinic=clinic).delete()
    User.objects.filter(clinic=clinic).delete()


def seed(plan: Layout, push_origin: str, browser: BrowserKeys) -> datetime:
    """The bench-reminders clinic, rebuilt; returns the seeding time (due slots are before it)."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from recovery.accounts.models import Clinic, PatientProfile, Role, User
    from recovery.episodes.models import Episode, EpisodeStatus, Procedure
    from recovery.notifications.models import PushSubscription
    from recovery.reminders.models import ReminderKind, ReminderSchedule

    _clean()
    now = timezone.now()
    rng = random.Random(20261121)
    password = make_password(None)
    batch = 5000
    with transaction.atomic():
        clinic, _ = Clinic.objects.get_or_create(
            slug=REMINDERS_CLINIC_SLUG, defaults={"name": "Bench Reminders Clinic"}
        )
        surgeon = User.objects.create_user(
            "bench-reminders-surgeon@example.org", full_name="Dr Reminders", role=Role.SURGEON, clinic=clinic
        )
        procedure = Procedure.objects.get(code="lumbar_microdiscectomy")
        patients = [
            User(
                id=uuid.uuid4(),
                email=f"bench-reminders-{n:06d}@example.org",
                full_name=f"Patient Reminders {n:06d}",
                role=Role.PATIENT,
                clinic=clinic,
                password=password,
            )
            for n in range(plan.episodes)
        ]
        User.objects.bulk_create(patients, batch_size=batch)
        PatientProfile.objects.bulk_create(
            [
                PatientProfile(user=p, date_of_birth=date(1960, 1, 1), time_zone="Europe/Madrid")
                for p in patients
            ],
            batch_size=batch,
        )
        surgery = now.date() - timedelta(days=3)
        episodes = [
            Episode(
                id=uuid.uuid4(),
                clinic=clinic,
                patient=p,
                surgeon=surgeon,
                procedure=procedure,
                levels=["L4-L5"],
                surgery_date=surgery,
                status=EpisodeStatus.RECOVERING,
                created_by=surgeon,
            )
            for p in patients
        ]
        Episode.objects.bulk_create(episodes, batch_size=batch)
        schedules: list[ReminderSchedule] = []
        for n, (episode, count) in enumerate(zip(episodes, plan.per_episode, strict=True)):
            for k in range(count):
                if k == 0:
                    kind, target = ReminderKind.WALK, ""
                    if n < plan.due:
                        due_at = now - timedelta(seconds=rng.uniform(1, 55))
                    else:
                        due_at = now + timedelta(seconds=rng.uniform(3600, 14 * 86400))
                else:
                    kind, target = ReminderKind.QUESTIONNAIRE, f"bench-{k}"
                    due_at = now + timedelta(seconds=rng.uniform(3600, 14 * 86400))
                schedules.append(
                    ReminderSchedule(
                        episode=episode,
                        kind=kind,
                        target=target,
                        recipient_id=episode.patient_id,
                        next_due_at=due_at,
                        active=True,
                    )
                )
        ReminderSchedule.objects.bulk_create(schedules, batch_size=batch)
        PushSubscription.objects.bulk_create(
            [
                PushSubscription(
                    user=p,
                    endpoint=f"{push_origin}{PUSH_PATH_PREFIX}{n}",
                    p256dh=browser.p256dh,
                    auth=browser.auth,
                )
                for n, p in enumerate(patients[: plan.due])
            ],
            batch_size=batch,
        )
    with connection.cursor() as cursor:
        for name in (
            "accounts_user",
            "episodes_episode",
            "reminders_reminderschedule",
            "reminders_reminderdelivery",
            "notifications_pushsubscription",
        ):
            cursor.execute(f"ANALYZE {name}")
    return now


# ---------------------------------------------------------------------------------------------
# Select and enqueue
# ---------------------------------------------------------------------------------------------


def bare_select() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(BARE_SQL)
        return len(cursor.fetchall())


def dispatcher_select(limit: int) -> int:
    """The dispatcher's query alone (``selectors.due_pages``), fetched in pages of ``limit`` rows."""
    from django.db import transaction
    from django.utils import timezone

    from recovery.reminders import selectors

    with transaction.atomic():
        return sum(len(rows) for rows in selectors.due_pages(now=timezone.now(), page=limit))


def dispatcher_enqueue(queue: str) -> int:
    """What ``dispatch_due`` does with the due schedules (``tasks.enqueue_due``): take the dispatcher
    lock, read them all page by page, publish one ``send_reminders`` task per chunk, here to
    ``queue``."""
    from django.utils import timezone

    from recovery.reminders.tasks import enqueue_due

    return enqueue_due(now=timezone.now(), queue=queue)


def drop_queue(queue: str) -> None:
    from recovery.celery import app

    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel  # kombu's Channel; the stubs only know StdChannel
        channel.queue_purge(queue)
        channel.queue_delete(queue)


@dataclass(frozen=True)
class SelectFigures:
    bare: list[float]
    select: list[float]
    select_enqueue: list[float]
    bare_rows: int
    dispatcher_rows: int


def measure_select(limit: int, rounds: int) -> SelectFigures:
    parked = f"bench-rem-parked-{uuid.uuid4().hex[:8]}"
    bare: list[float] = []
    select: list[float] = []
    both: list[float] = []
    bare_rows = dispatcher_rows = 0
    # Warm-up: connection, plans, the producer pool.
    bare_select()
    dispatcher_select(10)
    dispatcher_enqueue(parked)
    drop_queue(parked)
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            bare_rows = bare_select()
            bare.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            dispatcher_rows = dispatcher_select(limit)
            select.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            handed = dispatcher_enqueue(parked)
            both.append(time.perf_counter() - t0)
            drop_queue(parked)
            if handed != dispatcher_rows:
                raise BenchError(
                    f"the dispatcher handed out {handed} rows, its query returned {dispatcher_rows}"
                )
    finally:
        drop_queue(parked)
    return SelectFigures(bare, select, both, bare_rows, dispatcher_rows)


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------


def worker_environment(database_url: str, queue: str, vapid: Vapid) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "MOBILIZE_BENCH"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "recovery.settings",
            "MOBILIZE_ENV": "test",
            "DEBUG": "false",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_QUEUE": queue,
            "VAPID_PUBLIC_KEY": vapid.public_key,
            "VAPID_PRIVATE_KEY": vapid.private_key,
            "VAPID_SUBJECT": vapid.subject,
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
    )
    return env


@contextmanager
def running_workers(
    options: Options, queue: str, vapid: Vapid
) -> Iterator[tuple[list[IO[bytes]], list[int]]]:
    """The workers, answering pings; yields their logs and process ids."""
    from recovery.celery import app

    names = [f"bench-rem-{n}-{queue[-8:]}@{HOST}" for n in range(options.workers)]
    logs: list[IO[bytes]] = []
    with ExitStack() as files:
        for _ in names:
            logs.append(files.enter_context(tempfile.TemporaryFile(prefix="mobilize-bench-worker-")))
        with _worker_processes(options, queue, names, logs, vapid) as processes:
            deadline = time.monotonic() + 60
            while True:
                for process, output in zip(processes, logs, strict=True):
                    if process.poll() is not None:
                        raise BenchError(
                            f"a Celery worker exited with {process.returncode}:\n{log_tail(output)}"
                        )
                replies = app.control.ping(destination=names, timeout=1.0) or []
                if len(replies) == len(names):
                    break
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"the Celery workers did not answer a ping within 60 s:\n{log_tail(logs[0])}"
                    )
            yield logs, [process.pid for process in processes]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants so far (``/proc``; 0 elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
        # Fields 14 and 15 of proc(5) (utime, stime), counted after the ")" that ends the name.
        total = (int(fields[11]) + int(fields[12])) / ticks
        children: list[int] = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listed:
                children.extend(int(child) for child in listed.read().split())
    except (OSError, ValueError, IndexError):
        return total
    return total + sum(process_cpu_seconds(child) for child in children)


@contextmanager
def _worker_processes(
    options: Options, queue: str, names: Sequence[str], logs: Sequence[IO[bytes]], vapid: Vapid
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One ``celery worker`` per name, writing to its log; stopped (warm shutdown) on exit."""
    env = worker_environment(options.database_url, queue, vapid)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, log in zip(names, logs, strict=True):
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "recovery",
                        "worker",
                        "--pool",
                        options.pool,
                        "--concurrency",
                        str(options.concurrency),
                        "-Q",
                        queue,
                        "-n",
                        name,
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel",
                        "WARNING",
                    ],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class DeliveryFigures:
    due: int
    enqueue_seconds: float
    seconds: float
    #: Deliveries ``sent`` when the clock stopped (all of them, unless timed out).
    sent: int
    timed_out: bool


def _delivery_states() -> dict[str, int]:
    from django.db.models import Count

    from recovery.reminders.models import ReminderDelivery

    rows = (
        ReminderDelivery.objects.filter(schedule__episode__clinic__slug=REMINDERS_CLINIC_SLUG)
        .values("state")
        .annotate(n=Count("id"))
    )
    return {str(row["state"]): int(row["n"]) for row in rows}


def measure_delivery(limit: int, queue: str) -> DeliveryFigures:
    from django.db import connection

    start = time.perf_counter()
    due = dispatcher_enqueue(queue)
    enqueued = time.perf_counter() - start
    deadline = start + DELIVERY_TIMEOUT_SECONDS
    # As beat would: every minute the dispatcher hands out what is still due (send tasks expire first).
    next_tick = start + 60
    timed_out = False
    while True:
        if time.perf_counter() >= next_tick:
            dispatcher_enqueue(queue)
            next_tick += 60
        states = _delivery_states()
        finished = sum(n for state, n in states.items() if state not in ("pending", "sending"))
        if finished >= due:
            break
        if time.perf_counter() > deadline:
            timed_out = True
            break
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    connection.close()
    return DeliveryFigures(due, enqueued, elapsed, states.get("sent", 0), timed_out)


# ---------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _per(seconds: float, count: int) -> str:
    return f"{seconds / count * 1e6:.0f} us" if count else "n/a"


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def run(options: Options) -> int:
    started = time.monotonic()
    name = ensure_database(options.database_url)
    os.environ.setdefault("REDIS_URL", redis_url())
    setup_django(options.database_url)
    from recovery.celery import app
    from recovery.reminders.tasks import PAGE, SEND_CHUNK

    app.conf.task_always_eager = False
    plan = layout(options.schedules, options.due)
    print(
        "Reminders: the dispatcher's select-and-enqueue, and delivery through Celery workers to a local push endpoint"
    )
    vapid, browser = vapid_keys(), browser_keys()
    with running_push_endpoint(processes=options.push_processes, vapid=vapid, browser=browser) as endpoint:
        t0 = time.monotonic()
        seed(plan, endpoint.origin, browser)
        print(
            f"seed: clinic {REMINDERS_CLINIC_SLUG}, {plan.schedules} active schedules over {plan.episodes} "
            f"episodes (1 walk + questionnaires each), {plan.due} walks due in the last minute, "
            f"{plan.due} push subscriptions -> {endpoint.origin}/push/<n>; "
            f"PostgreSQL database {name}, Redis {redis_url()} ({time.monotonic() - t0:.0f} s)"
        )
        print(
            f"dispatcher (tasks.enqueue_due, what dispatch_due runs): advisory lock, selectors.due_pages "
            f"(one query, fetched {PAGE} rows at a time) + one send_reminders task per {SEND_CHUNK} reminders; again every "
            "60 s during the end-to-end run, as beat would"
        )
        select = measure_select(plan.due, options.rounds)
        if select.dispatcher_rows != plan.due:
            raise BenchError(f"the dispatcher selected {select.dispatcher_rows} rows, expected {plan.due}")

        queue = f"bench-rem-{uuid.uuid4().hex[:8]}"
        print(
            f"workers: {options.workers} x celery {options.pool} --concurrency {options.concurrency} "
            f"on queue {queue}; push endpoint: {options.push_processes} process(es) of bench.reminders_push "
            "(asyncio HTTP/1.1 keep-alive; checks every VAPID header's claims, each distinct signature once, "
            "and decrypts every message)"
        )
        try:
            with running_workers(options, queue, vapid) as (logs, pids):
                cpu_before = [process_cpu_seconds(pid) for pid in pids]
                delivery = measure_delivery(plan.due, queue)
                worker_cpus = [
                    process_cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)
                ]
                worker_cpu = sum(worker_cpus)
                worker_tail = log_tail(logs[0], 15)
        finally:
            drop_queue(queue)
        # The workers are stopped (warm shutdown: tasks in flight finish), so the rows are final.
        final_states = _delivery_states()
        received = endpoint.stop()
        pushes = check_pushes(received.paths)

    bare_ms, select_ms, both_ms = median(select.bare), median(select.select), median(select.select_enqueue)
    select_ratio = ratio(both_ms, bare_ms)
    sent = final_states.get("sent", 0)
    rate = delivery.sent / delivery.seconds if delivery.seconds > 0 else 0.0
    rows = [
        (
            "bare SELECT id ... WHERE active AND next_due_at <= now()",
            _ms(bare_ms),
            f"{select.bare_rows} rows",
        ),
        ("dispatcher select (due_pages)", _ms(select_ms), f"{ratio(select_ms, bare_ms):.1f}x bare"),
        (
            "dispatcher select + enqueue (enqueue_due)",
            _ms(both_ms),
            f"{select_ratio:.1f}x bare (aim <= {TARGET_RATIO:g}x): {verdict(select_ratio <= TARGET_RATIO)}",
        ),
        (
            "end to end: enqueue",
            f"{delivery.enqueue_seconds:.2f} s",
            f"{delivery.due} reminders in {math.ceil(delivery.due / SEND_CHUNK)} tasks",
        ),
        (
            "end to end: until all sent",
            f"{delivery.seconds:.2f} s",
            f"NOT DRAINED: {delivery.sent} sent when stopped at {DELIVERY_TIMEOUT_SECONDS} s"
            if delivery.timed_out
            else f"{delivery.sent} sent",
        ),
        (
            "delivery rate",
            f"{rate:.0f}/s",
            f"aim >= {TARGET_RATE:g}/s: {verdict(rate >= TARGET_RATE)}",
        ),
    ]
    print(f"medians of {options.rounds} rounds:")
    for line in table(rows):
        print(line)
    states = ", ".join(f"{state} {n}" for state, n in sorted(final_states.items()))
    print(f"deliveries after the workers stopped: {states or 'none'}")
    print(
        f"pushes received {pushes.received} ({pushes.distinct} distinct endpoints, "
        f"{pushes.duplicated_paths} received more than once, {pushes.stray} stray); "
        f"sent {sent}; due {plan.due}"
    )
    print(
        f"push endpoint: {received.decrypted} decrypted and verified, {received.errors} refused"
        + (f" (e.g. {received.error_samples[0]})" if received.error_samples else "")
    )
    print(
        "CPU per reminder sent (user + system, whole run): "
        f"workers {_per(worker_cpu, delivery.sent)} ({' + '.join(f'{cpu:.1f}' for cpu in worker_cpus)} s), "
        f"push endpoint {_per(received.cpu_seconds, received.decrypted)} (load average {_load()})"
    )
    # Broken (exit 1): a push without a sent row or the reverse, a duplicate, a failed delivery, or
    # (when drained) fewer deliveries than due schedules. Not draining in time is only slow.
    expected = sent if delivery.timed_out else plan.due
    ok = (
        sent == expected
        and pushes.ok(expected)
        and pushes.stray == 0
        and received.errors == 0
        and set(final_states) <= {"sent", "pending"}
        and (delivery.timed_out or final_states.get("pending", 0) == 0)
    )
    if delivery.timed_out:
        print(
            f"not drained: stopped waiting after {DELIVERY_TIMEOUT_SECONDS} s; the rate is sent / elapsed, "
            "the rest left queued and dropped"
        )
    if not ok:
        print("worker log (last lines):")
        print(worker_tail)
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
